//! `/v1/openapi.json`: an OpenAPI 3 document generated from the route table that also builds the
//! router and checks each route's roles (`service::routes`), so the three cannot drift.

use axum::Json;
use serde_json::{json, Map, Value};

use super::routes;

/// The OpenAPI document for [`routes::table`].
pub fn build() -> Value {
    let mut paths = Map::new();
    for route in routes::table() {
        let roles = route.access.describe();
        let path = route.openapi_path();
        let mut operation = json!({
            "summary": route.summary,
            "x-roles": roles,
            "responses": {
                "200": {"description": "OK"},
                "400": {"description": "Malformed request", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
                "401": {"description": "Missing or unknown token"},
                "403": {"description": "Role not allowed"},
                "404": {"description": "Not found"},
                "422": {"description": "Invalid data, every problem listed"}
            }
        });
        match route.access {
            routes::Access::Session => operation["security"] = json!([{"session": []}]),
            routes::Access::Roles(_) => operation["security"] = json!([{"bearer": []}]),
            routes::Access::Presentation => operation["security"] = json!([{"presentation": []}]),
            routes::Access::Public => {}
        }
        let parameters: Vec<Value> = path
            .split('/')
            .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !parameters.is_empty() {
            operation["parameters"] = Value::Array(parameters);
        }
        let entry = paths
            .entry(path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Some(obj) = entry.as_object_mut() {
            obj.insert(route.method.as_str().to_string(), operation);
        }
    }
    json!({
        "openapi": "3.0.3",
        "info": {"title": "licreg", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Electronic ride-hailing licence registry"},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": super::officer::SESSION_COOKIE},
                "presentation": {"type": "apiKey", "in": "header", "name": super::portraits::PRESENTATION_HEADER,
                                 "description": "A wallet's dynamic code (base64url), at most 90 s old"}
            },
            "schemas": {"Error": {"type": "object", "required": ["error", "detail"], "properties": {
                "error": {"type": "string"}, "detail": {"type": "string"}, "field": {"type": "string"}}}}
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}

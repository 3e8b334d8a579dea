//! The one route table. Each route names its method, path, who may call it and what it does,
//! with its handler; [`router`] serves the table (checking each route's roles before its handler
//! runs, so no query or body is parsed for a caller without the mandate), and
//! `/v1/openapi.json` is generated from the same table. No other list of routes exists.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::MethodRouter;
use axum::Router;

use super::auth::{Caller, RoleKind};
use super::AppState;

/// HTTP methods the registry serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
        }
    }
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (rate-limited where it reads the registry).
    Public,
    /// A signed-in officer of the HTML pages (cookie session, checked by the pages).
    Session,
    /// A bearer token of one of these role kinds, checked by [`router`] before the handler.
    Roles(&'static [RoleKind]),
    /// Anyone holding a fresh wallet code for the resource (a capability, not an identity;
    /// checked by the handler, 403 without one).
    Presentation,
}

impl Access {
    /// As the OpenAPI document's `x-roles` shows it.
    pub fn describe(self) -> String {
        match self {
            Access::Public => "public".into(),
            Access::Session => "officer session".into(),
            Access::Presentation => "fresh wallet code".into(),
            Access::Roles(kinds) => kinds
                .iter()
                .map(|k| k.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}

/// One route of the table.
pub struct Route {
    pub method: Method,
    /// The path as axum matches it (`{name}` parameters, `{*rest}` for the tile tail).
    pub path: &'static str,
    pub access: Access,
    pub summary: &'static str,
    pub handler: MethodRouter<AppState>,
}

impl Route {
    pub fn new(
        method: Method,
        path: &'static str,
        access: Access,
        summary: &'static str,
        handler: MethodRouter<AppState>,
    ) -> Self {
        Route {
            method,
            path,
            access,
            summary,
            handler,
        }
    }

    /// The path as OpenAPI writes it: `{*rest}` becomes `{rest}`.
    pub fn openapi_path(&self) -> String {
        self.path.replace("{*", "{")
    }
}

/// Every route the service serves.
pub fn table() -> Vec<Route> {
    let mut routes = super::route_table();
    routes.extend(super::officer::routes());
    routes
}

/// The router for [`table`]: routes with the same path share one method router, and each route
/// with [`Access::Roles`] checks its caller first.
pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for route in table() {
        let handler = match route.access {
            Access::Roles(kinds) => {
                route
                    .handler
                    .route_layer(axum::middleware::from_fn_with_state(
                        (state.clone(), kinds),
                        require_roles,
                    ))
            }
            Access::Public | Access::Session | Access::Presentation => route.handler,
        };
        router = router.route(route.path, handler);
    }
    router
}

/// Refuses a caller without a valid token (401) or of another role (403), before the handler.
async fn require_roles(
    State((state, kinds)): State<(AppState, &'static [RoleKind])>,
    request: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = request.into_parts();
    let checked = match <Caller as axum::extract::FromRequestParts<AppState>>::from_request_parts(
        &mut parts, &state,
    )
    .await
    {
        Ok(caller) => caller.require(kinds).map(|()| caller),
        Err(e) => Err(e),
    };
    match checked {
        Ok(caller) => {
            // The handler's `Caller` is this one: the token is hashed and compared once.
            parts.extensions.insert(caller);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(e) => e.into_response(),
    }
}

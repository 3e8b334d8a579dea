//! An agency simulator: answers `/v1/checks` from a JSON or CSV records file.
//!
//! JSON: `{"agency": "traffic_police", "records": {"<id>": {facts}}, "default": {facts} | null}`.
//! CSV: a header `key,<fact>,...` and one row per subject; cells that read as JSON (numbers,
//! booleans, arrays) become those values, anything else a string. A subject is looked up by each
//! of its identifiers in turn; with no record and no default the simulator answers 404.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::{CheckAnswer, CheckRequest};

/// Largest records file read.
pub const MAX_RECORDS_BYTES: usize = 64 * 1024 * 1024;

/// A simulated agency's records.
#[derive(Debug, Clone)]
pub struct Records {
    pub agency: String,
    pub records: HashMap<String, Value>,
    pub default: Option<Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordsFile {
    agency: String,
    records: HashMap<String, Value>,
    #[serde(default)]
    default: Option<Value>,
}

impl Records {
    /// Parses a records file; `agency` names the agency for CSV files, which carry no name.
    pub fn parse(text: &str, csv_agency: Option<&str>) -> Result<Self, String> {
        if text.len() > MAX_RECORDS_BYTES {
            return Err(format!(
                "records file over the {MAX_RECORDS_BYTES}-byte limit"
            ));
        }
        if text.trim_start().starts_with('{') {
            let file: RecordsFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
            return Ok(Records {
                agency: file.agency,
                records: file.records,
                default: file.default,
            });
        }
        let agency = csv_agency.ok_or("a CSV records file needs --agency")?;
        parse_csv(text, agency)
    }

    fn lookup(&self, request: &CheckRequest) -> Option<&Value> {
        request
            .subject
            .values()
            .filter_map(Value::as_str)
            .find_map(|id| self.records.get(id))
            .or(self.default.as_ref())
    }
}

fn parse_csv(text: &str, agency: &str) -> Result<Records, String> {
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or("empty CSV")?
        .split(',')
        .map(str::trim)
        .collect();
    if header.first() != Some(&"key") {
        return Err("the first CSV column must be `key`".into());
    }
    let mut records = HashMap::new();
    for (row, line) in lines.enumerate() {
        let cells: Vec<&str> = line.split(',').map(str::trim).collect();
        if cells.len() != header.len() {
            return Err(format!(
                "CSV row {} has {} cells, expected {}",
                row + 2,
                cells.len(),
                header.len()
            ));
        }
        let mut facts = serde_json::Map::new();
        for (name, cell) in header.iter().zip(&cells).skip(1) {
            let value =
                serde_json::from_str(cell).unwrap_or_else(|_| Value::String(cell.to_string()));
            facts.insert(name.to_string(), value);
        }
        let key = cells.first().map(|k| k.to_string()).unwrap_or_default();
        records.insert(key, Value::Object(facts));
    }
    Ok(Records {
        agency: agency.to_string(),
        records,
        default: None,
    })
}

async fn check(
    State(records): State<Arc<Records>>,
    body: Result<Json<CheckRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<CheckAnswer>, (StatusCode, Json<Value>)> {
    let Json(request) = body.map_err(|e| {
        (
            StatusCode::BAD_REQUEST,
            Json(serde_json::json!({"error": "bad_request", "detail": e.body_text()})),
        )
    })?;
    match records.lookup(&request) {
        Some(facts) => Ok(Json(CheckAnswer {
            agency: records.agency.clone(),
            facts: facts.clone(),
        })),
        None => Err((
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "no_record", "detail": "no record of the subject"})),
        )),
    }
}

/// The simulator's routes.
pub fn router(records: Records) -> Router {
    Router::new()
        .route("/v1/checks", post(check))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Arc::new(records))
}

/// Serves the simulator on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    records: Records,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(records))
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds a loopback simulator on an ephemeral port and runs it in the background.
pub async fn spawn_local(records: Records) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = serve(listener, records, std::future::pending()).await {
            tracing::error!(%e, "agency simulator stopped");
        }
    });
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_become_typed_facts() {
        let records = Records::parse(
            "key,drink_driving,full_deductions_last_3_cycles,licence_class\n35020319900101123X,false,0,C1\n",
            Some("traffic_police"),
        )
        .unwrap();
        let facts = &records.records["35020319900101123X"];
        assert_eq!(facts["drink_driving"], Value::Bool(false));
        assert_eq!(facts["full_deductions_last_3_cycles"], Value::from(0));
        assert_eq!(facts["licence_class"], Value::from("C1"));
    }

    #[test]
    fn malformed_records_are_refused() {
        assert!(Records::parse("{\"agency\": 1}", None).is_err());
        assert!(Records::parse("name,x\n", Some("a")).is_err());
        assert!(Records::parse("key,x\nk,1,2\n", Some("a")).is_err());
    }
}

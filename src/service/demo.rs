//! Demo data: the schema examples go through the real application flow (formal review, agency
//! checks over HTTP, the rules, issuance), plus one application the rules refuse, one still
//! waiting for the exam centre (so the officers' queue has a live item), and one passenger
//! report for the report queue.

use axum::extract::{Query, State};
use axum::Json;

use super::applications::{self, Submission, SubmitQuery};
use super::auth::{Caller, Role};
use super::AppState;

const EXAMPLES: [(&str, &str); 5] = [
    ("driver", include_str!("../../schemas/examples/driver.json")),
    (
        "vehicle",
        include_str!("../../schemas/examples/vehicle.json"),
    ),
    (
        "platform",
        include_str!("../../schemas/examples/platform.json"),
    ),
    (
        "driver",
        include_str!("../../schemas/examples/driver-refused.json"),
    ),
    (
        "driver",
        include_str!("../../schemas/examples/driver-pending.json"),
    ),
];

/// The demo passenger report: on the demo vehicle's plate.
const DEMO_REPORT: (&str, &str) = ("闽DD12345", "司机要求线下付款并加价");

/// Submits the examples once (on an empty ledger) and describes what happened.
pub async fn seed(state: &AppState) -> Result<Vec<String>, super::ApiError> {
    if state.ledger.size() > 0 {
        return Ok(vec!["demo data already present".to_string()]);
    }
    let portal = Caller { role: Role::Portal };
    let mut lines = Vec::new();
    for (kind, text) in EXAMPLES {
        let mut record: serde_json::Value =
            serde_json::from_str(text).map_err(super::ApiError::internal)?;
        if let Some(obj) = record.as_object_mut() {
            obj.remove("valid_from");
            obj.remove("valid_until");
        }
        let submission = Submission {
            kind: kind.to_string(),
            record,
            renewal_of: None,
        };
        let response = applications::submit(
            State(state.clone()),
            portal.clone(),
            Query(SubmitQuery { wait: true }),
            Ok(Json(submission)),
        )
        .await?;
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .map_err(super::ApiError::internal)?;
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        lines.push(describe(state, kind, &value));
    }
    let (plate, reason) = DEMO_REPORT;
    let report = super::page::Report {
        plate: plate.to_string(),
        reason: reason.to_string(),
        contact: None,
    };
    let entry = super::events::entry(
        crate::ledger::EventType::Report,
        "passenger",
        vec![crate::ledger::Subject::new(
            crate::ledger::SubjectKind::Plate,
            plate,
        )],
        &report,
    )
    .map_err(super::ApiError::internal)?;
    let appended = state.record(vec![entry]).await?;
    let id = appended.first().map(|a| a.seq.0).unwrap_or_default();
    lines.push(format!(
        "passenger report {id} on {plate}: waiting in the officers' report queue"
    ));
    Ok(lines)
}

fn describe(state: &AppState, kind: &str, value: &serde_json::Value) -> String {
    let id = value["id"]
        .as_str()
        .or(value["application_id"].as_str())
        .unwrap_or("?");
    match value["licence_number"].as_str() {
        Some(number) => {
            let short = state
                .read_view()
                .licence(number)
                .ok()
                .flatten()
                .map(|l| l.short_serial)
                .unwrap_or_default();
            format!(
                "{kind} application {id}: issued {short}\n    status: {}/v1/licences/{short}/status\n    scan:   {}",
                state.public_base_url,
                value["verification_url"].as_str().unwrap_or("")
            )
        }
        None => {
            let reasons: Vec<&str> = value["reasons"]
                .as_array()
                .map(|r| r.iter().filter_map(|x| x["rule"].as_str()).collect())
                .unwrap_or_default();
            format!(
                "{kind} application {id}: {} ({})",
                value["status"].as_str().unwrap_or("?"),
                reasons.join(", ")
            )
        }
    }
}

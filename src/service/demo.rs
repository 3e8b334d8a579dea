//! Demo data: the schema examples go through the real application flow (formal review, agency
//! checks over HTTP, the rules, issuance), plus one application the rules refuse, one still
//! waiting for the exam centre (so the officers' queue has a live item), and one passenger
//! report for the report queue.

use base64::Engine;

use super::applications;
use super::auth::{Caller, Role};
use super::AppState;
use crate::ids::LicenceKind;
use crate::registry::commands::{PassengerReport, Submission};

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

/// A drawn stand-in for a holder's face (no real person), for the demo driver and the tests.
pub const DEMO_PORTRAIT: &[u8] = include_bytes!("../../assets/demo-portrait.jpg");

/// The demo passenger report: on the demo vehicle's plate.
const DEMO_REPORT: (&str, &str) = ("闽DD12345", "司机要求线下付款并加价");

/// Submits the examples once (on an empty ledger) through the registry's commands, runs their
/// agency checks to the end, and describes what happened.
pub async fn seed(state: &AppState) -> Result<Vec<String>, super::ApiError> {
    if state.ledger.size() > 0 {
        return Ok(vec!["demo data already present".to_string()]);
    }
    let portal = Caller { role: Role::Portal }.actor();
    let mut lines = Vec::new();
    for (kind, text) in EXAMPLES {
        let mut record: serde_json::Value =
            serde_json::from_str(text).map_err(super::ApiError::internal)?;
        if let Some(obj) = record.as_object_mut() {
            obj.remove("valid_from");
            obj.remove("valid_until");
        }
        let kind: LicenceKind = kind.parse().map_err(super::ApiError::internal)?;
        if kind == LicenceKind::Driver {
            if let Some(obj) = record.as_object_mut() {
                obj.insert(
                    super::portraits::PORTRAIT_FIELD.into(),
                    base64::engine::general_purpose::STANDARD
                        .encode(DEMO_PORTRAIT)
                        .into(),
                );
            }
            super::portraits::take_portrait(state, &mut record)?;
        }
        let submission = Submission {
            kind,
            record,
            renewal_of: None,
        };
        let submitted = state.registry.submit(&portal, submission).await?;
        let mut activation = None;
        if let Ok(record) = submitted.review {
            let agencies =
                crate::registry::commands::required_agencies(&state.policy, record.kind());
            let id = submitted.id.clone();
            activation =
                applications::run_checks(state.clone(), id, record, agencies, Some(portal.clone()))
                    .await?;
        }
        let response = applications::respond(state, &submitted.id)?;
        let value = serde_json::to_value(&response).map_err(super::ApiError::internal)?;
        lines.push(describe(state, kind.as_str(), &value));
        let issued_driver = response.view.status == crate::registry::ApplicationStatus::Issued
            && kind == LicenceKind::Driver;
        if let (true, Some(number)) = (issued_driver, &response.view.licence_number) {
            let activation = match activation {
                Some(made) if &made.number == number => made,
                _ => state.registry.wallet_activation(&portal, number).await?,
            };
            lines.push(format!(
                "    wallet: {} (activation code {}, valid until {})",
                super::wallet::activation_url(&state.public_base_url, &activation),
                activation.code.display(),
                crate::clock::rfc3339(activation.expires)
            ));
        }
    }
    let (plate, reason) = DEMO_REPORT;
    let report = PassengerReport {
        plate: plate.parse().map_err(super::ApiError::internal)?,
        reason: reason.to_string(),
        contact: None,
    };
    let id = state.registry.report(report).await?;
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

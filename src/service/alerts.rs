//! `POST /v1/alerts`: an agency reports that a holder or vehicle lost a qualification (a new
//! drink-driving record, an expired inspection, a scrapped vehicle). The city's policy decides the
//! outcome: suspend, revoke, or a notice for officers. Affected licences change status in the same
//! atomic append as the alert, which is kept as evidence, and the change reaches the event feed at
//! once. Repeating an alert id has no further effect.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Caller, Role, RoleKind};
use super::error::{json_rejection, ApiError};
use super::events::{self, StatusBody};
use super::licences::effective_status;
use super::registry::LicenceStatus;
use super::AppState;
use crate::ids::{CitizenId, CreditCode, Plate};
use crate::ledger::{EventType, Subject, SubjectKind};
use crate::rules::AlertAction;

/// Longest alert id, type or detail, in characters.
pub const MAX_ALERT_TEXT_CHARS: usize = 128;

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSubject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertRequest {
    pub alert_id: String,
    #[serde(rename = "type")]
    pub alert_type: String,
    pub subject: AlertSubject,
    #[serde(default)]
    pub detail: Option<String>,
}

/// What the ledger keeps of an alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertBody {
    pub alert_id: String,
    pub agency: String,
    pub alert_type: String,
    pub subject: AlertSubject,
    pub detail: Option<String>,
    /// suspend, revoke or notice.
    pub action: String,
    pub affected: Vec<String>,
}

fn check_text(field: &str, text: &str) -> Result<(), ApiError> {
    super::error::check_text(field, text, MAX_ALERT_TEXT_CHARS)
}

/// The index and key the subject is found under, after checking its identifier.
fn subject_key(subject: &AlertSubject) -> Result<(SubjectKind, String), ApiError> {
    let bad =
        |field: &str, e: crate::ids::IdError| ApiError::bad(e.rule(), e.to_string(), Some(field));
    match (&subject.citizen_id, &subject.plate, &subject.credit_code) {
        (Some(id), None, None) => {
            let id: CitizenId = id.parse().map_err(|e| bad("subject.citizen_id", e))?;
            Ok((SubjectKind::Holder, id.as_str().to_string()))
        }
        (None, Some(plate), None) => {
            let plate: Plate = plate.parse().map_err(|e| bad("subject.plate", e))?;
            Ok((SubjectKind::Plate, plate.as_str().to_string()))
        }
        (None, None, Some(code)) => {
            let code: CreditCode = code.parse().map_err(|e| bad("subject.credit_code", e))?;
            Ok((SubjectKind::Holder, code.as_str().to_string()))
        }
        _ => Err(ApiError::bad(
            "subject",
            "name exactly one of citizen_id, plate, credit_code",
            Some("subject"),
        )),
    }
}

/// `POST /v1/alerts`.
pub async fn alert(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<AlertRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[RoleKind::Agency])?;
    let Role::Agency(agency) = caller.role.clone() else {
        return Err(ApiError::Forbidden("agency"));
    };
    let Json(request) = body.map_err(json_rejection)?;
    check_text("alert_id", &request.alert_id)?;
    check_text("type", &request.alert_type)?;
    if let Some(detail) = &request.detail {
        check_text("detail", detail)?;
    }
    let (kind, key) = subject_key(&request.subject)?;
    let _guard = state.lock(&format!("alert:{}", request.alert_id)).await;
    if let Some(previous) = state.read_view().alerts.get(&request.alert_id) {
        return Ok(Json(json!({"alert_id": request.alert_id, "duplicate": true,
            "action": previous.action, "affected": previous.affected}))
        .into_response());
    }
    let action = state.policy.alerts().action(&request.alert_type);
    let now = state.clock.now_unix();
    let affected = affected_licences(&state, kind, &key, action, now);
    let action_name = match action {
        AlertAction::Suspend => "suspend",
        AlertAction::Revoke => "revoke",
        AlertAction::Notice => "notice",
    };
    let body = AlertBody {
        alert_id: request.alert_id.clone(),
        agency: agency.clone(),
        alert_type: request.alert_type.clone(),
        subject: request.subject.clone(),
        detail: request.detail.clone(),
        action: action_name.into(),
        affected: affected.clone(),
    };
    let entries = alert_entries(&caller.actor(), &body, kind, key)?;
    state.record(entries).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"alert_id": request.alert_id, "duplicate": false,
        "action": action_name, "affected": affected})),
    )
        .into_response())
}

/// The licences of the subject the alert's action applies to: valid ones for a suspension,
/// valid or suspended ones for a revocation, none for a notice.
fn affected_licences(
    state: &AppState,
    kind: SubjectKind,
    key: &str,
    action: AlertAction,
    now: i64,
) -> Vec<String> {
    let view = state.read_view();
    let index = if kind == SubjectKind::Plate {
        &view.by_plate
    } else {
        &view.by_holder
    };
    index
        .get(key)
        .into_iter()
        .flatten()
        .filter_map(|n| view.licences.get(n))
        .filter(|l| {
            matches!(
                (action, effective_status(l, now)),
                (AlertAction::Suspend, LicenceStatus::Valid)
                    | (
                        AlertAction::Revoke,
                        LicenceStatus::Valid | LicenceStatus::Suspended
                    )
            )
        })
        .map(|l| l.number.clone())
        .collect()
}

/// The alert as evidence, then one status change per affected licence: appended together.
fn alert_entries(
    actor: &str,
    body: &AlertBody,
    kind: SubjectKind,
    key: String,
) -> Result<Vec<crate::ledger::NewEntry>, ApiError> {
    let mut subjects = vec![Subject::new(kind, key)];
    subjects.extend(body.affected.iter().map(|n| events::licence_subject(n)));
    let mut entries =
        vec![events::entry(EventType::Alert, actor, subjects, body).map_err(ApiError::internal)?];
    let reason = format!(
        "{} alert {} from {}",
        body.alert_type, body.alert_id, body.agency
    );
    let event = if body.action == "revoke" {
        EventType::Revocation
    } else {
        EventType::Suspension
    };
    for number in &body.affected {
        let status = StatusBody {
            number: number.clone(),
            reason: reason.clone(),
            platform: None,
        };
        entries.push(
            events::entry(event, actor, vec![events::licence_subject(number)], &status)
                .map_err(ApiError::internal)?,
        );
    }
    Ok(entries)
}

/// Most alerts one listing returns.
pub const MAX_LISTED_ALERTS: usize = 500;

/// An alert as officers see it: when it came and what it did.
#[derive(Debug, Clone, Serialize)]
pub struct AlertView {
    pub seq: u64,
    pub at_ms: u64,
    #[serde(flatten)]
    pub body: AlertBody,
}

/// The latest alerts, newest first; only those with `action` when it is given.
pub fn latest(view: &super::registry::View, action: Option<&str>, limit: usize) -> Vec<AlertView> {
    view.alert_log
        .iter()
        .rev()
        .filter_map(|(seq, (at_ms, id))| {
            let body = view.alerts.get(id)?;
            Some(AlertView {
                seq: *seq,
                at_ms: *at_ms,
                body: body.clone(),
            })
        })
        .filter(|a| action.is_none_or(|wanted| a.body.action == wanted))
        .take(limit)
        .collect()
}

#[derive(Debug, Deserialize)]
pub struct AlertQuery {
    #[serde(default)]
    pub action: Option<String>,
}

/// `GET /v1/alerts[?action=notice|suspend|revoke]`: the latest alerts, newest first.
pub async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<AlertQuery>,
) -> Result<Response, ApiError> {
    caller.require(&[RoleKind::Officer])?;
    if let Some(action) = query.action.as_deref() {
        if !matches!(action, "notice" | "suspend" | "revoke") {
            return Err(ApiError::bad(
                "enum",
                "action must be notice, suspend or revoke",
                Some("action"),
            ));
        }
    }
    let alerts = latest(
        &state.read_view(),
        query.action.as_deref(),
        MAX_LISTED_ALERTS,
    );
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

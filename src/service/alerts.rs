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
use serde::Deserialize;
use serde_json::json;

use super::auth::{Caller, Role, RoleKind};
use super::error::{json_rejection, ApiError};
use super::events::{self, StatusBody};
use super::licences::effective_status;
use super::registry::LicenceStatus;
use super::AppState;
use crate::ids::{CitizenId, CreditCode, Plate};
use crate::ledger::{EventType, Subject, SubjectKind};
pub use crate::registry::bodies::{AlertBody, AlertSubject};
use crate::rules::AlertAction;

/// Longest alert id, type or detail, in characters.
pub const MAX_ALERT_TEXT_CHARS: usize = 128;

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
    let action = state.policy.alerts().action(&request.alert_type);
    let action_name = match action {
        AlertAction::Suspend => "suspend",
        AlertAction::Revoke => "revoke",
        AlertAction::Notice => "notice",
    };
    // Decide against the view, then let the writer re-check in log order. If a licence changed
    // in between (an officer revoked it as the alert came in), decide again on the new state.
    for _ in 0..MAX_ALERT_ATTEMPTS {
        if let Some(previous) = state.read_view().alert(&request.alert_id)? {
            return Ok(Json(json!({"alert_id": request.alert_id, "duplicate": true,
                "action": previous.body.action, "affected": previous.body.affected}))
            .into_response());
        }
        let now = state.clock.now_unix();
        let affected = affected_licences(&state, kind, &key, action, now)?;
        let body = AlertBody {
            alert_id: request.alert_id.clone(),
            agency: agency.clone(),
            alert_type: request.alert_type.clone(),
            subject: request.subject.clone(),
            detail: request.detail.clone(),
            action: action_name.into(),
            affected: affected.clone(),
        };
        let entries = alert_entries(&caller.actor(), &body, kind, key.clone())?;
        match state.try_record(entries).await {
            Ok(_) => {
                return Ok((
                    StatusCode::CREATED,
                    Json(json!({"alert_id": request.alert_id, "duplicate": false,
                    "action": action_name, "affected": affected})),
                )
                    .into_response())
            }
            Err(super::Recorded::Refused(_)) => continue,
            Err(super::Recorded::Failed(e)) => return Err(ApiError::internal(e)),
        }
    }
    Err(ApiError::Conflict(
        "the subject's licences kept changing while the alert was applied; send it again".into(),
    ))
}

/// How often an alert is decided again when the writer finds the licences changed.
const MAX_ALERT_ATTEMPTS: usize = 4;

/// The licences of the subject the alert's action applies to: valid ones for a suspension,
/// valid or suspended ones for a revocation, none for a notice.
fn affected_licences(
    state: &AppState,
    kind: SubjectKind,
    key: &str,
    action: AlertAction,
    now: i64,
) -> Result<Vec<String>, ApiError> {
    let view = state.read_view();
    let licences = if kind == SubjectKind::Plate {
        view.licences_of_plate(key)?
    } else {
        view.licences_of_holder(key)?
    };
    Ok(licences
        .into_iter()
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
        .map(|l| l.number)
        .collect())
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

pub use crate::registry::AlertView;

/// The latest alerts, newest first; only those with `action` when it is given.
pub fn latest(
    view: &crate::registry::View,
    action: Option<&str>,
    limit: usize,
) -> Result<Vec<AlertView>, ApiError> {
    Ok(view.latest_alerts(action, limit)?)
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
        state.read_view(),
        query.action.as_deref(),
        MAX_LISTED_ALERTS,
    )?;
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

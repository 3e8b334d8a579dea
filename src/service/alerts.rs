//! `POST /v1/alerts`: an agency reports that a holder or vehicle lost a qualification (a new
//! drink-driving record, an expired inspection, a scrapped vehicle). The city's policy decides the
//! outcome: suspend, revoke, or a notice for officers. Affected licences change status in the same
//! atomic append as the alert, which is kept as evidence, and the change reaches the event feed at
//! once. Alert ids are scoped by agency: repeating one with the same content has no further
//! effect, with other content it conflicts (409). An alert outside the agency's mandate (the
//! policy's `[alerts.mandates]`) is refused with 403 and logged for officers to see.

use super::extract::ApiQuery;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::auth::{Caller, Role};
use super::error::{json_rejection, ApiError};
use super::AppState;
pub use crate::registry::bodies::{AlertBody, AlertSubject};
use crate::registry::commands::AlertCommand;
pub use crate::registry::commands::MAX_ALERT_TEXT_CHARS;
use crate::rules::AlertAction;

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

/// `POST /v1/alerts`.
pub async fn alert(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Json<AlertRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Role::Agency(agency) = caller.role.clone() else {
        return Err(ApiError::Forbidden("agency"));
    };
    let Json(request) = body.map_err(json_rejection)?;
    let command = AlertCommand {
        alert_id: request.alert_id,
        alert_type: request.alert_type,
        subject: request.subject,
        detail: request.detail,
    };
    let outcome = state
        .registry
        .apply_alert(&caller.actor(), &agency, command)
        .await?;
    let status = if outcome.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = json!({
        "alert_id": outcome.alert_id,
        "duplicate": outcome.duplicate,
        "action": outcome.action,
        "affected": outcome.affected,
    });
    Ok((status, Json(body)).into_response())
}

/// Most alerts one listing returns.
pub const MAX_LISTED_ALERTS: usize = 500;

pub use crate::registry::AlertView;

/// The latest alerts, newest first; only those with `action` when it is given.
pub fn latest(
    view: &crate::registry::View,
    action: Option<AlertAction>,
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
    ApiQuery(query): ApiQuery<AlertQuery>,
) -> Result<Response, ApiError> {
    let action = match query.action.as_deref() {
        None => None,
        Some(text) => Some(AlertAction::parse(text).ok_or_else(|| {
            ApiError::bad(
                "enum",
                "action must be notice, suspend or revoke",
                Some("action"),
            )
        })?),
    };
    let alerts = latest(state.read_view(), action, MAX_LISTED_ALERTS)?;
    Ok(Json(json!({ "alerts": alerts })).into_response())
}

/// `GET /v1/alerts/refused`: alerts refused for their agency's mandate, newest first.
pub async fn refused(State(state): State<AppState>) -> Result<Response, ApiError> {
    let refused = state.read_view().latest_alert_refusals(MAX_LISTED_ALERTS)?;
    Ok(Json(json!({ "refused": refused })).into_response())
}

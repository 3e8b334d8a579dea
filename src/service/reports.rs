//! The officers' report queue and the credit list (失信名单).
//!
//! A passenger's report (`POST /v1/reports`) waits in the queue until an officer reviews it. A
//! dismissed report is closed with the officer's note; a confirmed one becomes a credit record
//! against the licence holder or the platform, as the policy's behaviour catalogue says, and
//! formal review then refuses that subject's applications until the record runs out. The review
//! and the record are one atomic append, so the ledger never holds one without the other.

use super::extract::{ApiPath, ApiQuery};
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use time::Date;

use super::auth::Caller;
use super::error::{json_rejection, ApiError};
use super::registry::View;
use super::AppState;
pub use crate::registry::bodies::{CreditRecordBody, ReviewBody};
use crate::registry::commands::{ReviewCommand, ReviewOutcome};

pub use crate::registry::commands::MAX_NOTE_CHARS;
/// Most reports or records one listing returns.
pub const MAX_LISTED_REPORTS: usize = 500;

pub use crate::registry::{ReportStatus, ReportView};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `confirm` or `dismiss`.
    pub outcome: String,
    pub note: String,
    #[serde(default)]
    pub behaviour: Option<String>,
    /// The driver the officer identified, when it is not the vehicle's holder.
    #[serde(default)]
    pub citizen_id: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct ReportQuery {
    #[serde(default)]
    pub status: Option<String>,
}

/// `GET /v1/reports[?status=open|confirmed|dismissed]`: newest first.
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let wanted = match query.status.as_deref() {
        None | Some("all") => None,
        Some("open") => Some(ReportStatus::Open),
        Some("confirmed") => Some(ReportStatus::Confirmed),
        Some("dismissed") => Some(ReportStatus::Dismissed),
        Some(_) => {
            return Err(ApiError::bad(
                "enum",
                "status must be open, confirmed, dismissed or all",
                Some("status"),
            ))
        }
    };
    let reports = listed(state.read_view(), wanted)?;
    Ok(Json(json!({ "reports": reports })))
}

/// Reports with `status` (any when `None`), newest first, at most [`MAX_LISTED_REPORTS`].
pub fn listed(view: &View, status: Option<ReportStatus>) -> Result<Vec<ReportView>, ApiError> {
    Ok(view.reports(status, MAX_LISTED_REPORTS)?)
}

/// `POST /v1/reports/{id}/review`.
pub async fn review(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(id): ApiPath<u64>,
    body: Result<Json<ReviewRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(json_rejection)?;
    let outcome = review_report(&state, &caller, id, request).await?;
    Ok((StatusCode::CREATED, Json(outcome)).into_response())
}

/// Reviews report `id` through the registry; shared by the API and the officer pages.
pub async fn review_report(
    state: &AppState,
    caller: &Caller,
    id: u64,
    request: ReviewRequest,
) -> Result<serde_json::Value, ApiError> {
    let outcome = match request.outcome.as_str() {
        "confirm" => ReviewOutcome::Confirm {
            behaviour: request.behaviour.ok_or_else(|| {
                ApiError::bad(
                    "required",
                    "confirming a report needs a behaviour from the catalogue",
                    Some("behaviour"),
                )
            })?,
            citizen_id: request.citizen_id,
        },
        "dismiss" => ReviewOutcome::Dismiss,
        _ => {
            return Err(ApiError::bad(
                "enum",
                "outcome must be confirm or dismiss",
                Some("outcome"),
            ))
        }
    };
    let command = ReviewCommand {
        report_id: id,
        outcome,
        note: request.note,
    };
    let reviewed = state
        .registry
        .review_report(&caller.actor(), command)
        .await?;
    Ok(json!({
        "report_id": reviewed.report_id,
        "outcome": reviewed.outcome,
        "credit_record": reviewed.credit_record,
    }))
}

pub use crate::registry::commands::{iso, parse_iso};

#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    pub subject: String,
}

/// `POST /v1/credit-records/search` with `{"subject": ID}`: every record against a citizen id or
/// credit code. A POST, so the citizen id stays out of URLs, access logs and browser history.
pub async fn records(
    State(state): State<AppState>,
    body: Result<Json<RecordQuery>, JsonRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Json(query) = body.map_err(json_rejection)?;
    if query.subject.is_empty() || query.subject.len() > 32 {
        return Err(ApiError::bad(
            "length",
            "subject must be a citizen id or credit code",
            Some("subject"),
        ));
    }
    let view = state.read_view();
    let records = view.credit_records(&query.subject)?;
    let today = crate::registry::commands::today(state.clock.as_ref());
    let until = barred_until(view, &query.subject, today)?.map(iso);
    Ok(Json(
        json!({ "subject": query.subject, "barred_until": until, "records": records }),
    ))
}

/// The last day a subject's credit records bar new licences, if any does today.
pub fn barred_until(view: &View, subject_id: &str, today: Date) -> Result<Option<Date>, ApiError> {
    Ok(crate::registry::commands::barred_until(
        view, subject_id, today,
    )?)
}

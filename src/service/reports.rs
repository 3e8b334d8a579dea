//! The officers' report queue and the credit list (失信名单).
//!
//! A passenger's report (`POST /v1/reports`) waits in the queue until an officer reviews it. A
//! dismissed report is closed with the officer's note; a confirmed one becomes a credit record
//! against the licence holder or the platform, as the policy's behaviour catalogue says, and
//! formal review then refuses that subject's applications until the record runs out. The review
//! and the record are one atomic append, so the ledger never holds one without the other.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use time::Date;

use super::auth::{Caller, RoleKind};
use super::error::{json_rejection, ApiError};
use super::events;
use super::registry::View;
use super::AppState;
use crate::ids::{CitizenId, CreditCode};
use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
pub use crate::registry::bodies::{CreditRecordBody, ReviewBody};
use crate::rules::credit::CreditSubject;

/// Longest review note, in characters.
pub const MAX_NOTE_CHARS: usize = 200;
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
    caller: Caller,
    Query(query): Query<ReportQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&[RoleKind::Officer])?;
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
    Path(id): Path<u64>,
    body: Result<Json<ReviewRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require(&[RoleKind::Officer])?;
    let Json(request) = body.map_err(json_rejection)?;
    let outcome = review_report(&state, &caller, id, request).await?;
    Ok((StatusCode::CREATED, Json(outcome)).into_response())
}

/// Reviews report `id`; shared by the API and the officer pages.
pub async fn review_report(
    state: &AppState,
    caller: &Caller,
    id: u64,
    request: ReviewRequest,
) -> Result<serde_json::Value, ApiError> {
    let note = request.note.trim().to_string();
    super::error::check_text("note", &note, MAX_NOTE_CHARS)?;
    let confirm = match request.outcome.as_str() {
        "confirm" => true,
        "dismiss" => false,
        _ => {
            return Err(ApiError::bad(
                "enum",
                "outcome must be confirm or dismiss",
                Some("outcome"),
            ))
        }
    };
    let _guard = state.lock(&format!("report:{id}")).await;
    let report = state
        .read_view()
        .report(id)?
        .ok_or_else(|| ApiError::NotFound(format!("report {id}")))?;
    if report.status != ReportStatus::Open {
        return Err(ApiError::Conflict(format!(
            "report {id} was already reviewed"
        )));
    }
    let review = ReviewBody {
        report_id: id,
        outcome: if confirm { "confirmed" } else { "dismissed" }.into(),
        note,
        behaviour: request.behaviour.clone().filter(|_| confirm),
    };
    let plate_subject = Subject::new(SubjectKind::Plate, report.plate.clone());
    let mut entries = vec![events::entry(
        EventType::ReportReview,
        &caller.actor(),
        vec![plate_subject],
        &review,
    )
    .map_err(ApiError::internal)?];
    let record = if confirm {
        let record = credit_record(state, &report, &request)?;
        entries.push(record_entry(caller, &record)?);
        Some(record)
    } else {
        None
    };
    state.record(entries).await?;
    Ok(json!({ "report_id": id, "outcome": review.outcome, "credit_record": record }))
}

fn record_entry(caller: &Caller, record: &CreditRecordBody) -> Result<NewEntry, ApiError> {
    let mut subjects = vec![Subject::new(SubjectKind::Holder, record.subject_id.clone())];
    if let Some(plate) = &record.plate {
        subjects.push(Subject::new(SubjectKind::Plate, plate.clone()));
    }
    events::entry(EventType::CreditRecord, &caller.actor(), subjects, record)
        .map_err(ApiError::internal)
}

/// The credit record a confirmation creates: the behaviour from the catalogue, the subject from
/// the officer's finding or the plate's licence.
fn credit_record(
    state: &AppState,
    report: &ReportView,
    request: &ReviewRequest,
) -> Result<CreditRecordBody, ApiError> {
    let code = request.behaviour.as_deref().ok_or_else(|| {
        ApiError::bad(
            "required",
            "confirming a report needs a behaviour from the catalogue",
            Some("behaviour"),
        )
    })?;
    let credit = state.policy.credit();
    let behaviour = credit.behaviour(code).ok_or_else(|| {
        ApiError::bad(
            "unknown_behaviour",
            format!("{code} is not in the policy's behaviour catalogue"),
            Some("behaviour"),
        )
    })?;
    let vehicle = plate_licence(state.read_view(), &report.plate)?
        .map(|l| (l.number, l.holder_id, l.platform));
    let subject_id = match (behaviour.against, &request.citizen_id) {
        (CreditSubject::Holder, Some(id)) => id
            .parse::<CitizenId>()
            .map_err(|e| ApiError::bad(e.rule(), e.to_string(), Some("citizen_id")))?
            .as_str()
            .to_string(),
        (CreditSubject::Holder, None) => {
            vehicle.as_ref().map(|v| v.1.clone()).ok_or_else(|| {
                ApiError::Conflict(format!(
                    "no licence is known for plate {}; name the driver's citizen_id",
                    report.plate
                ))
            })?
        }
        (CreditSubject::Platform, _) => {
            let code = vehicle.as_ref().and_then(|v| v.2.clone()).ok_or_else(|| {
                ApiError::Conflict(format!("no platform is known for plate {}", report.plate))
            })?;
            code.parse::<CreditCode>()
                .map_err(ApiError::internal)?
                .as_str()
                .to_string()
        }
    };
    let today = super::rules_glue::today(state.clock.as_ref());
    Ok(CreditRecordBody {
        report_id: Some(report.id),
        against: behaviour.against.as_str().into(),
        subject_id,
        behaviour: code.to_string(),
        behaviour_zh: behaviour.zh.clone(),
        behaviour_en: behaviour.en.clone(),
        confirmed_on: iso(today),
        barred_until: credit.barred_until(behaviour, today).map(iso),
        plate: Some(report.plate.clone()),
        licence: vehicle.map(|v| v.0),
        policy: state.policy.label(),
    })
}

/// The plate's current vehicle licence: valid or suspended first, else the latest.
fn plate_licence(
    view: &View,
    plate: &str,
) -> Result<Option<super::registry::LicenceView>, ApiError> {
    let licences: Vec<_> = view
        .licences_of_plate(plate)?
        .into_iter()
        .filter(|l| l.kind == "vehicle")
        .collect();
    let holding = licences
        .iter()
        .filter(|l| l.status.holds())
        .max_by_key(|l| l.issue_seq);
    Ok(holding
        .or_else(|| licences.iter().max_by_key(|l| l.issue_seq))
        .cloned())
}

/// `YYYY-MM-DD`, as the rules engine writes dates in its reasons.
pub fn iso(date: Date) -> String {
    crate::rules::show_date(date)
}

pub fn parse_iso(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok()
}

#[derive(Debug, Deserialize)]
pub struct RecordQuery {
    pub subject: String,
}

/// `GET /v1/credit-records?subject=ID`: every record against a citizen id or credit code.
pub async fn records(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<RecordQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    caller.require(&[RoleKind::Officer])?;
    if query.subject.is_empty() || query.subject.len() > 32 {
        return Err(ApiError::bad(
            "length",
            "subject must be a citizen id or credit code",
            Some("subject"),
        ));
    }
    let view = state.read_view();
    let records = view.credit_records(&query.subject)?;
    let today = super::rules_glue::today(state.clock.as_ref());
    let until = barred_until(view, &query.subject, today)?.map(iso);
    Ok(Json(
        json!({ "subject": query.subject, "barred_until": until, "records": records }),
    ))
}

/// The last day `subject_id` is barred by an active credit record on `today`, if it is.
pub fn barred_until(view: &View, subject_id: &str, today: Date) -> Result<Option<Date>, ApiError> {
    let records = view.credit_records(subject_id)?;
    Ok(crate::rules::credit::active_until(
        records
            .iter()
            .filter_map(|r| r.barred_until.as_deref().and_then(parse_iso)),
        today,
    ))
}

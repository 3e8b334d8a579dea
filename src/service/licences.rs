//! The licence lifecycle and public status.
//!
//! Every transition is a ledger event and changes the status verifiers see at once: renewal,
//! reissue, rebinding and cancellation for the holder (through the portal); suspension,
//! reinstatement and revocation for officers; expiry by the registry itself.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::applications::{self, Submission};
use super::auth::{Caller, RoleKind};
use super::error::{json_rejection, ApiError};
use super::events::{self, StatusBody};
use super::registry::{LicenceStatus, LicenceView};
use super::AppState;
use crate::clock::rfc3339;
use crate::ids::{CreditCode, LicenceKind, LicenceNumber};
use crate::issuance::{self, IssueContext};
use crate::ledger::EventType;
use crate::model::LicenceRecord;
use crate::qr;

/// Longest licence number or short serial looked up.
pub const MAX_NUMBER_BYTES: usize = 128;
/// Longest reason text, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// Renewal opens this many days before expiry.
pub const RENEWAL_WINDOW_DAYS: i64 = 90;

/// `GET /v1/keys`: the trust list, cacheable for an hour.
pub async fn trust_list(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        state.trust.to_json(),
    )
        .into_response()
}

/// The status as of now: a valid licence past its end is expired even before the sweep logs it.
pub fn effective_status(licence: &LicenceView, now: i64) -> LicenceStatus {
    match licence.status {
        LicenceStatus::Valid | LicenceStatus::Suspended if now > licence.expires => {
            LicenceStatus::Expired
        }
        other => other,
    }
}

/// `GET /v1/licences/{number}/status`: public and rate-limited per client address.
pub async fn status(
    State(state): State<AppState>,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    if number.len() > MAX_NUMBER_BYTES {
        return Err(ApiError::NotFound("licence".into()));
    }
    let now = state.clock.now_unix();
    let licence = state
        .read_view()
        .licence(&number)?
        .ok_or_else(|| ApiError::NotFound(format!("licence {number}")))?;
    let licence = &licence;
    let status = effective_status(licence, now);
    let since_ms = if status == licence.status {
        licence.since_ms
    } else {
        u64::try_from(licence.expires.saturating_mul(1000)).unwrap_or(0)
    };
    let body = json!({
        "number": licence.number,
        "short_serial": licence.short_serial,
        "kind": licence.kind,
        "status": status,
        "since": rfc3339(i64::try_from(since_ms / 1000).unwrap_or(0)),
        "reason": licence.reason,
        "valid_from": rfc3339(licence.not_before),
        "valid_until": rfc3339(licence.expires),
        "platform": licence.platform,
    });
    Ok(([(header::CACHE_CONTROL, "no-cache")], Json(body)).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub platform_credit_code: Option<String>,
}

/// `POST /v1/licences/{number}/{action}`.
pub async fn action(
    State(state): State<AppState>,
    caller: Caller,
    Path((number, action)): Path<(String, String)>,
    body: Result<Json<ActionBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let allowed: &[RoleKind] = match action.as_str() {
        "renew" | "reissue" | "rebind" | "cancel" => &[RoleKind::Portal],
        "suspend" | "reinstate" | "revoke" => &[RoleKind::Officer],
        _ => return Err(ApiError::NotFound(format!("action {action}"))),
    };
    caller.require(allowed)?;
    let Json(body) = body.map_err(json_rejection)?;
    if number.len() > MAX_NUMBER_BYTES {
        return Err(ApiError::NotFound("licence".into()));
    }
    let full = state
        .read_view()
        .licence(&number)?
        .map(|l| l.number)
        .ok_or_else(|| ApiError::NotFound(format!("licence {number}")))?;
    match action.as_str() {
        "renew" => renew(&state, &caller, &full).await,
        "reissue" => reissue(&state, &caller, &full).await,
        _ => transition(&state, &caller, &full, &action, body).await,
    }
}

fn reason_of(body: &ActionBody, required: bool, default: &str) -> Result<String, ApiError> {
    match body.reason.as_deref().map(str::trim) {
        Some(text) if text.chars().count() > MAX_REASON_CHARS => Err(ApiError::bad(
            "length",
            format!("reason must be at most {MAX_REASON_CHARS} characters"),
            Some("reason"),
        )),
        Some(text) if !text.is_empty() => Ok(text.to_string()),
        _ if required => Err(ApiError::bad(
            "required",
            "a reason is required",
            Some("reason"),
        )),
        _ => Ok(default.to_string()),
    }
}

/// Suspend, reinstate, revoke, cancel, rebind: a status change guarded by the current status.
pub(crate) async fn transition(
    state: &AppState,
    caller: &Caller,
    number: &str,
    action: &str,
    body: ActionBody,
) -> Result<Response, ApiError> {
    let _guard = state.lock(number).await;
    let now = state.clock.now_unix();
    let (current, kind) = {
        let licence = state
            .read_view()
            .licence(number)?
            .ok_or_else(|| ApiError::NotFound(format!("licence {number}")))?;
        (effective_status(&licence, now), licence.kind)
    };
    use LicenceStatus::{Suspended, Valid};
    let (event, from, reason, platform): (EventType, &[LicenceStatus], String, Option<String>) =
        match action {
            "suspend" => (
                EventType::Suspension,
                &[Valid],
                reason_of(&body, true, "")?,
                None,
            ),
            "reinstate" => (
                EventType::Reinstatement,
                &[Suspended],
                reason_of(&body, false, "reinstated by an officer")?,
                None,
            ),
            "revoke" => (
                EventType::Revocation,
                &[Valid, Suspended],
                reason_of(&body, true, "")?,
                None,
            ),
            "cancel" => (
                EventType::Cancellation,
                &[Valid, Suspended],
                reason_of(&body, false, "cancelled by the holder")?,
                None,
            ),
            "rebind" => {
                if kind != LicenceKind::Vehicle.as_str() {
                    return Err(ApiError::Conflict(
                        "only vehicle licences are bound to a platform".into(),
                    ));
                }
                let code = body.platform_credit_code.as_deref().ok_or_else(|| {
                    ApiError::bad(
                        "required",
                        "platform_credit_code is required",
                        Some("platform_credit_code"),
                    )
                })?;
                let code = code.parse::<CreditCode>().map_err(|e| {
                    ApiError::bad(e.rule(), e.to_string(), Some("platform_credit_code"))
                })?;
                let reason = reason_of(&body, false, &format!("bound to platform {code}"))?;
                (
                    EventType::Rebind,
                    &[Valid],
                    reason,
                    Some(code.as_str().to_string()),
                )
            }
            _ => return Err(ApiError::NotFound(format!("action {action}"))),
        };
    if !from.contains(&current) {
        return Err(ApiError::Conflict(format!(
            "cannot {action} a licence that is {}",
            serde_json::to_value(current)
                .unwrap_or_default()
                .as_str()
                .unwrap_or("?")
        )));
    }
    let entry = events::entry(
        event,
        &caller.actor(),
        vec![events::licence_subject(number)],
        &StatusBody {
            number: number.to_string(),
            reason,
            platform,
        },
    )
    .map_err(ApiError::internal)?;
    let appended = state.record(vec![entry]).await?;
    let seq = appended.first().map(|a| a.seq.0);
    let licence = state.read_view().licence(number)?;
    let licence = licence.as_ref();
    Ok(Json(json!({
        "number": number,
        "status": licence.map(|l| effective_status(l, now)),
        "reason": licence.and_then(|l| l.reason.clone()),
        "platform": licence.and_then(|l| l.platform.clone()),
        "seq": seq,
    }))
    .into_response())
}

/// A new credential for a lost or damaged licence; the old one is superseded.
async fn reissue(state: &AppState, caller: &Caller, number: &str) -> Result<Response, ApiError> {
    let _guard = state.lock(number).await;
    let now = state.clock.now_unix();
    let licence = state
        .read_view()
        .licence(number)?
        .ok_or_else(|| ApiError::NotFound(format!("licence {number}")))?;
    let current = effective_status(&licence, now);
    let kind = licence.kind.clone();
    let record = state.read_view().issued(&licence)?.record;
    if current != LicenceStatus::Valid {
        return Err(ApiError::Conflict(
            "only a valid licence can be reissued".into(),
        ));
    }
    let kind: LicenceKind = kind.parse().map_err(ApiError::internal)?;
    let record = LicenceRecord::parse(kind, &record).map_err(ApiError::internal)?;
    let old: LicenceNumber = number.parse().map_err(ApiError::internal)?;
    let version = next_version(&old)?;
    let context = IssueContext {
        supersedes: Some(number.to_string()),
        serial: Some(old.serial()),
        version: Some(version),
        event: Some(EventType::Reissue),
        application_id: None,
        status_index: Some(state.next_status_index(kind)),
    };
    let prepared = issuance::prepare(
        old.serial(),
        &state.signer,
        &record,
        &caller.actor(),
        now,
        &context,
    )
    .map_err(|e| ApiError::Conflict(e.to_string()))?;
    state.record(vec![prepared.entry]).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "number": prepared.number.as_str(),
            "supersedes": number,
            "verification_url": qr::verification_url(&state.public_base_url, &prepared.credential),
            "credential": URL_SAFE_NO_PAD.encode(&prepared.credential),
        })),
    )
        .into_response())
}

/// The version a reissue or renewal of `old` gets, or the refusal at the named limit.
pub fn next_version(old: &LicenceNumber) -> Result<u8, ApiError> {
    let max = crate::registry::MAX_LICENCE_VERSION;
    u8::try_from(u16::from(old.version()) + 1)
        .ok()
        .filter(|v| u16::from(*v) <= max)
        .ok_or_else(|| {
            ApiError::Refused(crate::registry::Refusal::VersionLimit {
                number: old.as_str().to_string(),
                max,
            })
        })
}

/// Whether `licence` may be renewed at `now`: valid or expired, and within the window.
pub fn renewal_open(licence: &LicenceView, now: i64) -> Result<(), String> {
    let status = effective_status(licence, now);
    if !matches!(status, LicenceStatus::Valid | LicenceStatus::Expired) {
        return Err(format!(
            "licence {} is {}: only a valid or expired licence can be renewed",
            licence.number,
            status.as_str()
        ));
    }
    let opens = licence.expires - RENEWAL_WINDOW_DAYS * 86_400;
    if now < opens {
        return Err(format!(
            "renewal opens {RENEWAL_WINDOW_DAYS} days before expiry, on {}",
            rfc3339(opens)
        ));
    }
    Ok(())
}

/// Renewal: from 90 days before expiry, a new application that runs every check again.
async fn renew(state: &AppState, caller: &Caller, number: &str) -> Result<Response, ApiError> {
    let now = state.clock.now_unix();
    let licence = state
        .read_view()
        .licence(number)?
        .ok_or_else(|| ApiError::NotFound(format!("licence {number}")))?;
    renewal_open(&licence, now).map_err(ApiError::Conflict)?;
    let old: LicenceNumber = number.parse().map_err(ApiError::internal)?;
    next_version(&old)?;
    let kind = licence.kind.clone();
    let record = state.read_view().issued(&licence)?.record;
    let mut record: Value = record;
    if let Some(obj) = record.as_object_mut() {
        obj.remove("valid_from");
        obj.remove("valid_until");
    }
    let submission = Submission {
        kind,
        record,
        renewal_of: Some(number.to_string()),
    };
    applications::submit(
        State(state.clone()),
        caller.clone(),
        axum::extract::Query(applications::SubmitQuery { wait: true }),
        Ok(Json(submission)),
    )
    .await
}

/// How often the registry looks for licences past their end.
pub const EXPIRY_SWEEP_SECONDS: u64 = 60;

/// Logs an `expiry` event for every valid or suspended licence past its end, forever.
pub async fn expiry_sweeper(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(EXPIRY_SWEEP_SECONDS));
    loop {
        tick.tick().await;
        if let Err(e) = sweep_expired(&state).await {
            tracing::warn!(error = ?e, "expiry sweep failed");
        }
    }
}

/// Most licences one sweep expires; the next sweep takes the rest.
pub const MAX_EXPIRED_PER_SWEEP: usize = 10_000;

/// One sweep; returns how many licences it marked expired.
pub async fn sweep_expired(state: &AppState) -> Result<usize, ApiError> {
    let now = state.clock.now_unix();
    let due = state.read_view().expired_by(now, MAX_EXPIRED_PER_SWEEP)?;
    let mut expired = 0;
    for number in &due {
        let entry = events::entry(
            EventType::Expiry,
            "registry",
            vec![events::licence_subject(number)],
            &StatusBody {
                number: number.clone(),
                reason: "validity period ended".into(),
                platform: None,
            },
        )
        .map_err(ApiError::internal)?;
        // The writer re-checks in log order: a licence revoked meanwhile is simply skipped.
        match state.try_record(vec![entry]).await {
            Ok(_) => expired += 1,
            Err(super::Recorded::Refused(_)) => {}
            Err(super::Recorded::Failed(e)) => return Err(ApiError::internal(e)),
        }
    }
    Ok(expired)
}

/// `GET /`: what this is and where to go.
pub async fn index(State(state): State<AppState>) -> axum::response::Html<String> {
    let mut rows = String::new();
    let licences = state.read_view().first_licences(50).unwrap_or_default();
    for licence in &licences {
        rows.push_str(&format!(
            "<li>{} <a href=\"/v1/licences/{s}/status\">{s}</a> — {:?}</li>",
            licence.kind,
            effective_status(licence, state.clock.now_unix()),
            s = licence.short_serial
        ));
    }
    axum::response::Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>网约车电子证照登记 licreg</title>\
         <body><h1>网约车电子证照登记 · licreg</h1><p>{} ledger entries.</p>\
         <ul><li><a href=\"/v1/openapi.json\">API (OpenAPI)</a></li><li><a href=\"/v1/keys\">trust list</a></li>\
         <li><a href=\"/healthz\">health</a></li><li><a href=\"/officer\">审批人员 officers</a></li></ul><h2>Licences</h2><ul>{rows}</ul></body></html>",
        state.ledger.size()
    ))
}

/// `GET /v1/licences/{number}`: the full record for agencies that reuse a licence without paper.
/// Every access is logged, and the answer carries the credential and a tlog-proof receipt.
pub async fn full_record(
    State(state): State<AppState>,
    caller: Caller,
    Path(number): Path<String>,
) -> Result<Response, ApiError> {
    caller.require(&[RoleKind::Agency, RoleKind::Officer])?;
    if number.len() > MAX_NUMBER_BYTES {
        return Err(ApiError::NotFound("licence".into()));
    }
    let now = state.clock.now_unix();
    let licence = state
        .read_view()
        .licence(&number)?
        .ok_or_else(|| ApiError::NotFound(format!("licence {number}")))?;
    let issued = state.read_view().issued(&licence)?;
    let entry = events::entry(
        EventType::Access,
        &caller.actor(),
        vec![events::licence_subject(&licence.number)],
        &StatusBody {
            number: licence.number.clone(),
            reason: "full record read".into(),
            platform: None,
        },
    )
    .map_err(ApiError::internal)?;
    state.record(vec![entry]).await?;
    let mut receipt = state
        .ledger
        .receipt(crate::ledger::Seq(licence.issue_seq))
        .map_err(ApiError::internal)?;
    let cosigned = state.cosigned.read().await.clone();
    if let Some(note) = cosigned.note.filter(|_| cosigned.size > licence.issue_seq) {
        // Prove inclusion in the checkpoint the witnesses cosigned.
        receipt.inclusion = state
            .ledger
            .inclusion_proof(licence.issue_seq, cosigned.size)
            .map_err(ApiError::internal)?;
        receipt.checkpoint_note = note;
    }
    Ok(Json(json!({
        "number": licence.number,
        "short_serial": licence.short_serial,
        "kind": licence.kind,
        "status": effective_status(&licence, now),
        "reason": licence.reason,
        "record": issued.record,
        "credential": URL_SAFE_NO_PAD.encode(&issued.credential),
        "verification_url": qr::verification_url(&state.public_base_url, &issued.credential),
        "receipt": receipt.encode(),
    }))
    .into_response())
}

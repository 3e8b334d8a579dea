//! What a passenger's phone opens: the verification page `/v`, the plate lookup, and the report
//! button's endpoint. The page checks the signature in the browser (WebCrypto Ed25519) against
//! the cached trust list and asks `/v1/licences/{n}/status` for the live status.

use super::extract::ApiPath;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde_json::json;

use super::error::{json_rejection, ApiError};
use super::licences::effective_status;
use super::ratelimit::ClientAddr;
use super::registry::LicenceStatus;
use super::AppState;
use crate::ids::Plate;
use crate::registry::commands::PassengerReport;

/// The page, built in: no framework, no external resources.
pub const VERIFY_PAGE: &str = include_str!("../../assets/verify.html");
pub use crate::registry::commands::MAX_REPORT_TEXT_CHARS;
/// Reports a client address may send at once, and per minute after that.
pub const REPORT_BURST: f64 = 5.0;
pub const REPORTS_PER_MINUTE: f64 = 5.0;

/// `GET /v`: the verification page (the credential rides in the URL fragment). It carries the
/// log's public key and origin, which it checks the signed trust list against.
pub async fn verify_page(State(state): State<AppState>) -> Response {
    let vkey = state.ledger.verifier_key();
    let page = VERIFY_PAGE
        .replace("{{CODEC}}", super::wallet::CODEC_JS)
        .replace(
            "{{LOG_KEY}}",
            &base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vkey.public_key().as_bytes()),
        )
        .replace(
            "{{LOG_ORIGIN}}",
            &crate::service::officer::html::escape(vkey.name()),
        );
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=300"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' blob:",
            ),
        ],
        page,
    )
        .into_response()
}

/// `GET /v1/plates/{plate}`: whether a valid vehicle transport certificate is held for a plate.
pub async fn plate(
    State(state): State<AppState>,
    ApiPath(plate): ApiPath<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let plate: Plate = plate
        .parse()
        .map_err(|e: crate::ids::IdError| ApiError::bad(e.rule(), e.to_string(), Some("plate")))?;
    let now = state.clock.now_unix();
    let licences = state.read_view().licences_of_plate(plate.as_str())?;
    let vehicles = || licences.iter().filter(|l| l.kind == "vehicle");
    let valid = vehicles().find(|l| effective_status(l, now) == LicenceStatus::Valid);
    // Without a valid certificate, the latest one says why, as a category only.
    let shown = valid.or_else(|| vehicles().next_back());
    let status = shown.map(|l| effective_status(l, now));
    let reason = shown.zip(status).and_then(|(licence, status)| {
        super::public_reason::of_licence(state.policy.reasons(), licence, status)
    });
    Ok(Json(json!({
        "plate": plate.as_str(),
        "valid": valid.is_some(),
        "number": valid.map(|l| l.short_serial.clone()),
        "platform": valid.and_then(|l| l.platform.clone()),
        "status": status.map(|s| s.as_str()),
        "reason": reason,
    })))
}

pub use crate::registry::bodies::Report;

/// `POST /v1/reports`: a passenger's report, logged for the officers' queue.
pub async fn report(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: Result<Json<Report>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !state.report_limiter.allow(client) {
        return Err(ApiError::RateLimited);
    }
    let Json(report) = body.map_err(json_rejection)?;
    let plate: Plate = report
        .plate
        .parse()
        .map_err(|e: crate::ids::IdError| ApiError::bad(e.rule(), e.to_string(), Some("plate")))?;
    let report = PassengerReport {
        plate,
        reason: report.reason,
        contact: report.contact,
    };
    let id = state.registry.report(report).await?;
    Ok((StatusCode::CREATED, Json(json!({ "report_id": id }))).into_response())
}

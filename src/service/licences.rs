//! The licence lifecycle and public status.
//!
//! Every transition is a ledger event and changes the status verifiers see at once: renewal,
//! reissue, rebinding and cancellation for the holder (through the portal); suspension,
//! reinstatement and revocation for officers; expiry by the registry itself.

use super::extract::ApiPath;
use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, MethodRouter};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::applications;
use super::auth::Caller;
use super::error::{json_rejection, ApiError};
use super::registry::{LicenceStatus, LicenceView};
use super::AppState;
use crate::clock::rfc3339;
use crate::ids::CreditCode;
use crate::qr;
use crate::registry::commands::StatusCommand;
pub use crate::registry::commands::{MAX_REASON_CHARS, RENEWAL_WINDOW_DAYS};

/// Longest licence number or short serial looked up.
pub const MAX_NUMBER_BYTES: usize = 128;

/// `GET /v1/keys`: the trust list as of the last reload, cacheable for a minute (a revocation
/// must reach verifiers quickly).
pub async fn trust_list(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        state.keys.trust().to_json(),
    )
        .into_response()
}

/// `GET /v1/keys/signed`: the same trust list signed by the log key, issued now and valid for
/// [`crate::signed_trust::TRUST_LIST_VALIDITY_SECONDS`], for verifiers that keep a copy
/// (the passenger page offline, `licreg verify --trust-list`).
pub async fn signed_trust_list(State(state): State<AppState>) -> Result<Response, ApiError> {
    let now = state.clock.now_unix();
    let signed = state
        .ledger
        .sign_trust_list(&state.keys.trust(), now)
        .ok_or_else(|| ApiError::Unavailable("the log key is not loaded".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, crate::signed_trust::CONTENT_TYPE),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        signed,
    )
        .into_response())
}

/// `GET /v1/licences/{number}/card.svg`: the printable A6 in-car card (portal, officer).
pub async fn card(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
) -> Result<Response, ApiError> {
    if number.len() > MAX_NUMBER_BYTES {
        return Err(ApiError::NotFound("licence".into()));
    }
    let view = state.read_view();
    let licence = view
        .licence(&number)?
        .ok_or_else(|| ApiError::NotFound(format!("licence {number}")))?;
    let issued = view.issued(&licence)?;
    let svg = crate::card::card_for_credential(
        &issued.credential,
        &state.public_base_url,
        state.policy.authorities(),
    )
    .map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "private, no-store"),
        ],
        svg,
    )
        .into_response())
}

/// The status as of now: a valid licence past its end is expired even before the sweep logs it.
pub fn effective_status(licence: &LicenceView, now: i64) -> LicenceStatus {
    licence.status_at(now)
}

/// The public answer of [`status`]: no personal data. A struct rather than a `json!` map (one
/// allocation per key and a tree of values per request); its fields are in the order the map
/// wrote them, so the bytes are the same.
#[derive(Serialize)]
struct StatusAnswer<'a> {
    /// The thumbprint of the phone key a driver licence is bound to: a wallet code signed by
    /// any other device (a revoked binding) does not verify.
    device: Option<String>,
    kind: &'a str,
    number: &'a str,
    platform: Option<&'a str>,
    reason: Option<super::public_reason::PublicReason>,
    short_serial: &'a str,
    since: String,
    status: LicenceStatus,
    valid_from: String,
    valid_until: String,
}

/// `GET /v1/licences/{number}/status`: public and rate-limited per client address.
pub async fn status(
    State(state): State<AppState>,
    ApiPath(number): ApiPath<String>,
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
    let body = StatusAnswer {
        device: state.read_view().binding(licence)?.map(|b| b.thumbprint),
        kind: &licence.kind,
        number: &licence.number,
        platform: licence.platform.as_deref(),
        reason: super::public_reason::of_licence(state.policy.reasons(), licence, status),
        short_serial: &licence.short_serial,
        since: rfc3339(i64::try_from(since_ms / 1000).unwrap_or(0)),
        status,
        valid_from: rfc3339(licence.not_before),
        valid_until: rfc3339(licence.expires),
    };
    // Written into a buffer sized for the answer once: axum's `Json` starts at 128 bytes and
    // grows twice for this one, on the route passengers and platforms call most.
    let mut json = Vec::with_capacity(STATUS_ANSWER_BYTES);
    serde_json::to_writer(&mut json, &body).map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        json,
    )
        .into_response())
}

/// Room for a status answer: about 330 bytes, 400 with a platform and a bound device.
const STATUS_ANSWER_BYTES: usize = 512;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionBody {
    #[serde(default)]
    pub reason: Option<String>,
    /// The public reason category (a key of the policy's `[reasons]`).
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub platform_credit_code: Option<String>,
}

/// `POST /v1/licences/{number}/renew`: a new application for the same record.
pub async fn renew(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
) -> Result<Response, ApiError> {
    let number = checked_number(number)?;
    let submitted = state.registry.renew(&caller.actor(), &number).await?;
    applications::respond_submitted(&state, &caller.actor(), submitted, true).await
}

/// `POST /v1/licences/{number}/reissue`: a new credential for a lost or damaged licence; the
/// old one is superseded.
pub async fn reissue(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
) -> Result<Response, ApiError> {
    let number = checked_number(number)?;
    let reissued = state.registry.reissue(&caller.actor(), &number).await?;
    let mut body = json!({
        "number": reissued.number.as_str(),
        "supersedes": reissued.supersedes,
        "verification_url": qr::verification_url(&state.public_base_url, &reissued.credential),
        "credential": URL_SAFE_NO_PAD.encode(&reissued.credential),
    });
    if reissued.number.kind() == crate::ids::LicenceKind::Driver {
        let activation = state
            .registry
            .wallet_activation(&caller.actor(), reissued.number.as_str())
            .await?;
        body["wallet_activation"] = super::wallet::activation_json(&state, &activation)?;
    }
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

/// `POST /v1/licences/{number}/{action}` for one status action (suspend, reinstate, revoke,
/// cancel, rebind).
pub fn status_route(action: &'static str) -> MethodRouter<AppState> {
    post(
        move |State(state): State<AppState>,
              caller: Caller,
              ApiPath(number): ApiPath<String>,
              body: Result<Json<ActionBody>, JsonRejection>| async move {
            let Json(body) = body.map_err(json_rejection)?;
            let number = checked_number(number)?;
            transition(&state, &caller, &number, action, body).await
        },
    )
}

/// Refuses a path number over [`MAX_NUMBER_BYTES`] before anything reads it.
pub(super) fn checked_number(number: String) -> Result<String, ApiError> {
    if number.len() > MAX_NUMBER_BYTES {
        return Err(ApiError::NotFound("licence".into()));
    }
    Ok(number)
}

/// The status command an action names, with its platform for a rebind.
fn status_command(action: &str, body: &ActionBody) -> Result<StatusCommand, ApiError> {
    Ok(match action {
        "suspend" => StatusCommand::Suspend,
        "reinstate" => StatusCommand::Reinstate,
        "revoke" => StatusCommand::Revoke,
        "cancel" => StatusCommand::Cancel,
        "rebind" => {
            let code = body.platform_credit_code.as_deref().ok_or_else(|| {
                ApiError::bad(
                    "required",
                    "platform_credit_code is required",
                    Some("platform_credit_code"),
                )
            })?;
            let platform = code.parse::<CreditCode>().map_err(|e| {
                ApiError::bad(e.rule(), e.to_string(), Some("platform_credit_code"))
            })?;
            StatusCommand::Rebind { platform }
        }
        _ => return Err(ApiError::NotFound(format!("action {action}"))),
    })
}

/// Suspend, reinstate, revoke, cancel, rebind: the registry's status command, rendered.
pub(crate) async fn transition(
    state: &AppState,
    caller: &Caller,
    number: &str,
    action: &str,
    body: ActionBody,
) -> Result<Response, ApiError> {
    let command = status_command(action, &body)?;
    let changed = state
        .registry
        .change_status(
            &caller.actor(),
            number,
            command,
            body.reason.as_deref(),
            body.category.as_deref(),
        )
        .await?;
    Ok(Json(json!({
        "number": changed.number,
        "status": changed.status,
        "reason": changed.reason,
        "category": changed.category,
        "platform": changed.platform,
        "seq": changed.seq,
    }))
    .into_response())
}

/// How often the registry looks for licences past their end.
pub const EXPIRY_SWEEP_SECONDS: u64 = 60;

/// Logs an `expiry` event for every valid or suspended licence past its end, forever.
pub async fn expiry_sweeper(state: AppState) {
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(EXPIRY_SWEEP_SECONDS));
    loop {
        tick.tick().await;
        if let Err(e) = state.registry.expire_due().await {
            tracing::warn!(error = %e, "expiry sweep failed");
        }
    }
}

/// `GET /`: what this is and where to go.
pub async fn index(State(state): State<AppState>) -> axum::response::Html<String> {
    // No list of licences: serials are short and sequential, and the public checks one licence
    // at a time by scanning it, never by browsing.
    axum::response::Html(format!(
        "<!doctype html><html lang=\"zh-CN\"><meta charset=\"utf-8\"><title>网约车电子证照登记 licreg</title>\
         <body><h1>网约车电子证照登记 · licreg</h1><p>{} ledger entries.</p>\
         <ul><li><a href=\"/v\">核验证照 verify a licence</a></li><li><a href=\"/v1/openapi.json\">API (OpenAPI)</a></li><li><a href=\"/v1/keys\">trust list</a></li>\
         <li><a href=\"/healthz\">health</a></li><li><a href=\"/officer\">审批人员 officers</a></li></ul></body></html>",
        state.ledger.size()
    ))
}

/// `GET /v1/authorities`: the licensing authorities' names by area code (the `iss` claim).
pub async fn authorities(State(state): State<AppState>) -> Response {
    let body = Json(json!({ "authorities": state.policy.authorities() }));
    ([(header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// `GET /v1/reasons`: the public reason categories, with their labels.
pub async fn reasons(State(state): State<AppState>) -> Response {
    Json(json!({ "reasons": state.policy.reasons() })).into_response()
}

/// `GET /v1/licences/{number}`: the full record for agencies that reuse a licence without paper.
/// Every access is logged, and the answer carries the credential and a tlog-proof receipt.
pub async fn full_record(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
) -> Result<Response, ApiError> {
    if number.len() > MAX_NUMBER_BYTES {
        return Err(ApiError::NotFound("licence".into()));
    }
    let now = state.clock.now_unix();
    let licence = state
        .read_view()
        .licence(&number)?
        .ok_or_else(|| ApiError::NotFound(format!("licence {number}")))?;
    let issued = state.read_view().issued(&licence)?;
    state
        .registry
        .record_access(&caller.actor(), &licence.number, "full record read")
        .await?;
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

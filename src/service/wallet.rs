//! The driver's wallet over HTTP: activation codes for the portal and officers, binding a phone
//! (public, with the code as the authority, rate-limited), and the wallet page itself with its
//! web app manifest and service worker. Handlers parse, call a registry command, and render.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::error::{json_rejection, ApiError};
use super::extract::ApiPath;
use super::ratelimit::ClientAddr;
use super::AppState;
use crate::clock::rfc3339;
use crate::qr;
use crate::registry::commands::Activation;
use crate::registry::wallet::MAX_ACTIVATION_TEXT;

/// Binding attempts per client address: a burst, then this many a minute. An activation code
/// has 60 bits; this keeps guessing hopeless.
pub const BIND_BURST: f64 = 5.0;
pub const BINDS_PER_MINUTE: f64 = 5.0;
/// Longest base64url device key accepted, in characters (32 bytes take 43).
const MAX_DEVICE_KEY_CHARS: usize = 64;
use super::licences::checked_number;

const WALLET_PAGE: &str = include_str!("../../assets/wallet.html");
/// The formats in the browser (one definition, inlined into the wallet and the passenger page).
pub const CODEC_JS: &str = include_str!("../../assets/codec.js");
const QR_ENCODER_JS: &str = include_str!("../../assets/qr-encode.js");

/// The wallet page with its scripts inlined: it must work offline from one cached response.
static WALLET_HTML: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    WALLET_PAGE
        .replace("{{CODEC}}", CODEC_JS)
        .replace("{{QR_ENCODER}}", QR_ENCODER_JS)
});
pub const WALLET_MANIFEST: &str = include_str!("../../assets/wallet.webmanifest");
pub const WALLET_WORKER: &str = include_str!("../../assets/wallet-sw.js");
pub const WALLET_ICON: &str = include_str!("../../assets/wallet-icon.svg");

/// The wallet page's own address for an activation code: opening it (or scanning its QR) fills
/// the code in. The code rides in the fragment, which browsers never send to a server.
pub fn activation_url(public_base_url: &str, activation: &Activation) -> String {
    format!(
        "{}/wallet#activate={}",
        public_base_url.trim_end_matches('/'),
        activation.code.display()
    )
}

/// What the portal or officer hands to the holder, shown once.
pub fn activation_json(state: &AppState, activation: &Activation) -> Result<Value, ApiError> {
    let url = activation_url(&state.public_base_url, activation);
    let code = qr::encode_url(&url).map_err(ApiError::internal)?;
    Ok(json!({
        "number": activation.number,
        "code": activation.code.display(),
        "expires_at": rfc3339(activation.expires),
        "wallet_url": url,
        "qr_svg": qr::to_svg(&code),
    }))
}

/// `POST /v1/licences/{number}/wallet/activation`: a one-time code for the holder's wallet.
pub async fn activation(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
) -> Result<Response, ApiError> {
    let number = checked_number(number)?;
    let activation = state
        .registry
        .wallet_activation(&caller.actor(), &number)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(activation_json(&state, &activation)?),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebindRequest {
    pub reason: String,
}

/// `POST /v1/licences/{number}/wallet/rebind`: a lost or replaced phone. The binding is revoked
/// (its codes stop verifying) and a new activation code is made.
pub async fn rebind(
    State(state): State<AppState>,
    caller: Caller,
    ApiPath(number): ApiPath<String>,
    body: Result<Json<RebindRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body.map_err(json_rejection)?;
    let number = checked_number(number)?;
    let activation = state
        .registry
        .rebind_wallet(&caller.actor(), &number, &request.reason)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(activation_json(&state, &activation)?),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BindRequest {
    pub code: String,
    /// The phone's raw Ed25519 public key, base64url.
    pub device_key: String,
}

/// `POST /v1/wallet/bind`: the wallet sends the activation code and its public key, and gets
/// the holder-bound credential.
pub async fn bind(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    body: Result<Json<BindRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    if !state.bind_limiter.allow(client) {
        return Err(ApiError::RateLimited);
    }
    let Json(request) = body.map_err(json_rejection)?;
    if request.code.len() > MAX_ACTIVATION_TEXT {
        return Err(ApiError::bad(
            "activation_code",
            "an activation code has 12 letters and digits",
            Some("code"),
        ));
    }
    if request.device_key.len() > MAX_DEVICE_KEY_CHARS {
        return Err(ApiError::bad(
            "ed25519_public_key",
            "device_key must be a 32-byte Ed25519 public key, base64url",
            Some("device_key"),
        ));
    }
    let key = URL_SAFE_NO_PAD
        .decode(request.device_key.trim_end_matches('='))
        .map_err(|_| {
            ApiError::bad(
                "ed25519_public_key",
                "device_key must be base64url",
                Some("device_key"),
            )
        })?;
    let bound = state.registry.bind_wallet(&request.code, &key).await?;
    let body = json!({
        "number": bound.number,
        "short_serial": bound.short_serial,
        "credential": URL_SAFE_NO_PAD.encode(&bound.credential),
        "device": bound.device,
        "verification_url": qr::verification_url(&state.public_base_url, &bound.credential),
        // What the wallet puts before '#' in its dynamic codes.
        "dynamic_head": qr::dynamic_head(&state.public_base_url),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn asset(content_type: &'static str, cache: &'static str, body: &'static str) -> Response {
    (
        [
            // The worker lives under /wallet/ and serves the page at /wallet itself.
            (
                header::HeaderName::from_static("service-worker-allowed"),
                "/wallet",
            ),
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, cache),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; manifest-src 'self'; worker-src 'self'",
            ),
        ],
        body,
    )
        .into_response()
}

/// `GET /wallet`: the driver's page.
pub async fn page() -> Response {
    asset("text/html; charset=utf-8", "no-cache", WALLET_HTML.as_str())
}

/// `GET /wallet/manifest.webmanifest`.
pub async fn manifest() -> Response {
    asset("application/manifest+json", "no-cache", WALLET_MANIFEST)
}

/// `GET /wallet/sw.js`: the service worker that keeps the wallet working offline.
pub async fn worker() -> Response {
    asset("text/javascript; charset=utf-8", "no-cache", WALLET_WORKER)
}

/// `GET /wallet/icon.svg`.
pub async fn icon() -> Response {
    asset("image/svg+xml", "public, max-age=86400", WALLET_ICON)
}

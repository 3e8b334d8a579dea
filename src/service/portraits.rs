//! Holders' portraits: kept beside the ledger, never in it, and shown only to a live scan.
//!
//! A driver application may carry `portrait_jpeg` (base64). Before the record is logged the
//! image is stored here under its SHA-256 and the record carries `portrait_sha256` instead, so
//! entry bundles (served to agencies) and the log hold no face. A passenger's page that has just
//! verified a wallet's dynamic code fetches the portrait with that code as the capability: the
//! registry checks it as `POST /v1/verify` would (registry signature, phone signature, at most
//! 90 s old, the phone still bound, the licence valid), logs the access, and answers the image
//! with `no-store`. Anyone else gets 403.

use std::path::{Path, PathBuf};

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

use super::error::ApiError;
use super::extract::ApiPath;
use super::ratelimit::ClientAddr;
use super::AppState;
use crate::credential::DEFAULT_CLOCK_SKEW_SECONDS;
use crate::presentation::{self, Scanned, MAX_PRESENTATION_BYTES};
use crate::registry::wallet::PORTRAIT_ACCESS;
use crate::registry::LicenceStatus;

/// Largest portrait accepted, in bytes of JPEG.
pub const MAX_PORTRAIT_BYTES: usize = 40 * 1024;
/// The header a passenger's page sends the presentation in (base64url).
pub const PRESENTATION_HEADER: &str = "licreg-presentation";
/// Portrait fetches per client address: a burst, then this many a minute.
pub const PORTRAIT_BURST: f64 = 20.0;
pub const PORTRAITS_PER_MINUTE: f64 = 20.0;
/// The record field an application carries the image in, and the one that replaces it.
pub const PORTRAIT_FIELD: &str = "portrait_jpeg";
pub const PORTRAIT_HASH_FIELD: &str = "portrait_sha256";

/// Content-addressed portrait files, 0600 in a 0700 directory.
#[derive(Debug)]
pub struct PortraitStore {
    dir: PathBuf,
}

impl PortraitStore {
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        crate::private_fs::create_private_dir(dir)?;
        Ok(PortraitStore {
            dir: dir.to_path_buf(),
        })
    }

    fn path(&self, sha256_hex: &str) -> Option<PathBuf> {
        let well_formed = sha256_hex.len() == 64
            && sha256_hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        well_formed.then(|| self.dir.join(format!("{sha256_hex}.jpg")))
    }

    /// Stores a portrait durably (written, synced, renamed) and returns its SHA-256 in hex.
    pub fn put(&self, jpeg: &[u8]) -> std::io::Result<String> {
        let hex: String = Sha256::digest(jpeg)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if let Some(path) = self.path(&hex) {
            if !path.exists() {
                crate::private_fs::write_private_file(&path, jpeg)?;
            }
        }
        Ok(hex)
    }

    pub fn get(&self, sha256_hex: &str) -> std::io::Result<Option<Vec<u8>>> {
        let Some(path) = self.path(sha256_hex) else {
            return Ok(None);
        };
        match std::fs::read(path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn bad_portrait(message: &str) -> ApiError {
    ApiError::bad("portrait", message.to_string(), Some(PORTRAIT_FIELD))
}

/// Takes `portrait_jpeg` out of an application's record, stores the image and puts its hash in
/// the record instead. A record without one is left as it is.
pub fn take_portrait(state: &AppState, record: &mut serde_json::Value) -> Result<(), ApiError> {
    let Some(object) = record.as_object_mut() else {
        return Ok(());
    };
    let Some(value) = object.remove(PORTRAIT_FIELD) else {
        return Ok(());
    };
    let text = value
        .as_str()
        .ok_or_else(|| bad_portrait("portrait_jpeg must be base64 text"))?;
    if text.len() > MAX_PORTRAIT_BYTES.div_ceil(3) * 4 + 4 {
        return Err(bad_portrait(&format!(
            "the portrait is over the {MAX_PORTRAIT_BYTES}-byte limit"
        )));
    }
    let jpeg = STANDARD
        .decode(text.trim())
        .map_err(|_| bad_portrait("portrait_jpeg must be base64 (RFC 4648 §4)"))?;
    if jpeg.len() > MAX_PORTRAIT_BYTES {
        return Err(bad_portrait(&format!(
            "the portrait is over the {MAX_PORTRAIT_BYTES}-byte limit"
        )));
    }
    // A JPEG starts with SOI and a marker; anything else is not shown to anyone.
    if !jpeg.starts_with(&[0xFF, 0xD8, 0xFF]) || !jpeg.ends_with(&[0xFF, 0xD9]) {
        return Err(bad_portrait("the portrait must be a JPEG image"));
    }
    let store = state
        .portraits
        .as_ref()
        .ok_or_else(|| ApiError::Unavailable("this registry keeps no portraits".into()))?;
    let hex = store.put(&jpeg).map_err(ApiError::internal)?;
    object.insert(PORTRAIT_HASH_FIELD.into(), hex.into());
    Ok(())
}

fn refused(detail: impl Into<String>) -> ApiError {
    ApiError::NotAllowed(detail.into())
}

/// `GET /v1/portraits/{serial}` with the `Licreg-Presentation` header.
pub async fn portrait(
    State(state): State<AppState>,
    ClientAddr(client): ClientAddr,
    ApiPath(serial): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !state.portrait_limiter.allow(client) {
        return Err(ApiError::RateLimited);
    }
    let text = headers
        .get(PRESENTATION_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|t| t.len() <= MAX_PRESENTATION_BYTES.div_ceil(3) * 4)
        .ok_or_else(|| refused("a fresh wallet code (Licreg-Presentation header) is required"))?;
    let bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| refused("the presentation is not base64url"))?;
    let Ok(Scanned::Dynamic(shown)) = presentation::decode(&bytes) else {
        return Err(refused("only a wallet's dynamic code opens the portrait"));
    };
    let now = state.clock.now_unix();
    let trust = state.keys.trust();
    let checked = presentation::verify(&shown, &trust, now, DEFAULT_CLOCK_SKEW_SECONDS)
        .map_err(|e| refused(e.to_string()))?;
    let claims = &checked.verified.claims;
    if claims.serial.as_str() != serial {
        return Err(refused("the code is for another licence"));
    }
    let view = state.read_view();
    let licence = view
        .licence(&serial)?
        .ok_or_else(|| refused("unknown licence"))?;
    if licence.status_at(now) != LicenceStatus::Valid {
        return Err(refused("the licence is not valid"));
    }
    let bound = match &claims.device_key {
        Some(device) => view.bound_to(&licence.number, device)?,
        None => false,
    };
    if !bound {
        return Err(refused("this phone's binding was revoked"));
    }
    let issued = view.issued(&licence)?;
    let hash = issued
        .record
        .get(PORTRAIT_HASH_FIELD)
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let store = state.portraits.as_ref();
    let jpeg = match (hash, store) {
        (Some(hash), Some(store)) => store.get(&hash).map_err(ApiError::internal)?,
        _ => None,
    }
    .ok_or_else(|| ApiError::NotFound("no portrait for this licence".into()))?;
    state
        .registry
        .record_access("passenger", &licence.number, PORTRAIT_ACCESS)
        .await?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg,
    )
        .into_response())
}

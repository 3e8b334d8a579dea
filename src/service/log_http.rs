//! The log served read-only by the C2SP tlog-tiles layout: `/checkpoint`, `/tile/<L>/<N>[.p/<W>]`
//! and `/tile/entries/<N>[.p/<W>]`, so mirrors and monitors follow it with standard clients.
//!
//! The checkpoint and the hash tiles are public: anyone can check that the log only grows and
//! that a receipt's entry is in it. The entry bundles are not, because entries carry personal
//! data (names, citizen IDs, passengers' contacts); they are served to agency and officer tokens
//! only, so the agencies that mirror the log still hold and verify every entry.

use super::extract::ApiPath;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::auth::{Caller, RoleKind};
use super::error::ApiError;
use super::AppState;
use crate::ledger::tiles::TilePath;

/// Full and partial tiles never change once they exist.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// `GET /checkpoint`: the latest signed checkpoint, cacheable for a few seconds at most.
pub async fn checkpoint(State(state): State<AppState>) -> Result<Response, ApiError> {
    let note = super::witnessing::current(&state)
        .await
        .ok_or_else(|| ApiError::NotFound("the log is empty".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=2"),
        ],
        note,
    )
        .into_response())
}

/// Entry bundles may be cached only by the client that fetched them.
const IMMUTABLE_PRIVATE: &str = "private, max-age=31536000, immutable";

/// `GET /tile/{path}`: a Merkle tile (public) or an entry bundle (agency or officer token).
pub async fn tile(
    State(state): State<AppState>,
    caller: Result<Caller, ApiError>,
    ApiPath(path): ApiPath<String>,
) -> Result<Response, ApiError> {
    let parsed = TilePath::parse(&path)
        .map_err(|e| ApiError::bad("tile_path", e.to_string(), Some("path")))?;
    let cache = if parsed.level.is_none() {
        caller?.require(&[RoleKind::Agency, RoleKind::Officer])?;
        IMMUTABLE_PRIVATE
    } else {
        IMMUTABLE
    };
    // A tile past the end of the log (however large its index) is simply not there.
    let first_leaf = 256u64
        .checked_pow(u32::from(parsed.level.unwrap_or(0)) + 1)
        .and_then(|per_tile| parsed.index.checked_mul(per_tile));
    if first_leaf.is_none_or(|leaf| leaf >= state.ledger.size()) {
        return Err(ApiError::NotFound("no such tile".into()));
    }
    let ledger = state.ledger.clone();
    let bytes = tokio::task::spawn_blocking(move || match parsed.level {
        Some(level) => ledger.tile(level, parsed.index, parsed.width),
        None => ledger.entry_bundle(parsed.index, parsed.width),
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?
    .ok_or_else(|| ApiError::NotFound("no such tile".into()))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream"),
            (header::CACHE_CONTROL, cache),
        ],
        bytes,
    )
        .into_response())
}

/// `GET /v1/log-key`: the log's C2SP verifier key, for mirrors and witnesses to pin.
pub async fn log_key(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        format!("{}\n", state.ledger.verifier_key()),
    )
        .into_response()
}

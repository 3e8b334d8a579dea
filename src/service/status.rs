//! `GET /v1/status-lists/{kind}`: the signed bitstring status list of one licence kind, so
//! verifiers can check status offline. Built from the registry view, cached until the next
//! status change or the end of its ttl.

use super::extract::ApiPath;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::registry::{LicenceStatus, View};
use super::AppState;
use crate::ids::LicenceKind;
use crate::status_list::{self, ListStatus, StatusList};

/// Per kind: when the signed list was built (Unix seconds) and its bytes.
pub type Cache = [Option<(i64, Vec<u8>)>; 3];

/// How long a fetched list may be relied on, in seconds.
pub const STATUS_LIST_TTL_SECONDS: u64 = 300;

pub fn slot(kind: LicenceKind) -> usize {
    match kind {
        LicenceKind::Driver => 0,
        LicenceKind::Vehicle => 1,
        LicenceKind::Platform => 2,
    }
}

fn build(view: &View, kind: LicenceKind) -> Result<StatusList, ApiError> {
    let entries = view.status_positions(kind)?;
    let mut list = StatusList::with_capacity_for(entries.iter().map(|(i, _)| *i).max());
    for (index, status) in entries {
        let bits = match status {
            // Expiry needs no bit: the credential's own `exp` says it.
            LicenceStatus::Valid | LicenceStatus::Expired => continue,
            LicenceStatus::Suspended => ListStatus::Suspended,
            LicenceStatus::Revoked => ListStatus::Revoked,
            LicenceStatus::Superseded => ListStatus::Superseded,
        };
        list.set(index, bits).map_err(ApiError::internal)?;
    }
    Ok(list)
}

/// `GET /v1/status-lists/{kind}`.
pub async fn list(
    State(state): State<AppState>,
    ApiPath(kind): ApiPath<String>,
) -> Result<Response, ApiError> {
    let kind: LicenceKind = kind
        .parse()
        .map_err(|_| ApiError::NotFound(format!("status list {kind}")))?;
    let now = state.clock.now_unix();
    let ttl = STATUS_LIST_TTL_SECONDS as i64;
    let cached = {
        let cache = state.status_cache.lock().unwrap_or_else(|p| p.into_inner());
        cache[slot(kind)]
            .clone()
            .filter(|(built, _)| now - built < ttl)
    };
    let bytes = match cached {
        Some((_, bytes)) => bytes,
        None => {
            let list = build(state.read_view(), kind)?;
            let url = format!(
                "{}/v1/status-lists/{}",
                state.public_base_url,
                kind.as_str()
            );
            let signer = state
                .keys
                .signer()
                .map_err(|e| ApiError::Unavailable(e.to_string()))?;
            let bytes = status_list::sign(
                &signer,
                &list,
                &url,
                state.ledger.origin(),
                now,
                STATUS_LIST_TTL_SECONDS,
            );
            let mut cache = state.status_cache.lock().unwrap_or_else(|p| p.into_inner());
            cache[slot(kind)] = Some((now, bytes.clone()));
            bytes
        }
    };
    Ok((
        [
            (
                header::CONTENT_TYPE,
                "application/cose; cose-type=\"cose-sign1\"".to_string(),
            ),
            (
                header::CACHE_CONTROL,
                format!("public, max-age={STATUS_LIST_TTL_SECONDS}"),
            ),
        ],
        bytes,
    )
        .into_response())
}

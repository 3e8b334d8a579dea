//! The status feed platforms follow: `GET /v1/events?after=N` pages through status changes read
//! from the ledger, and `GET /v1/events/stream` pushes them as server-sent events the moment they
//! are logged, so a platform can stop dispatching within a second of a suspension.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::Json;
use futures::stream::{self, Stream, StreamExt};
use serde::{Deserialize, Serialize};

use super::auth::{Caller, RoleKind};
use super::error::ApiError;
use super::registry::LicenceStatus;
use super::AppState;
use crate::clock::rfc3339;
use crate::ledger::{Entry, EventType, Seq};
use crate::registry::event::{licence_change, LicenceChange};

/// Most events one page returns.
pub const MAX_PAGE_EVENTS: usize = 1000;
/// Most ledger entries one page request reads, so a request is bounded however sparse the
/// status changes are; the answer's `next` says where to continue.
pub const MAX_SCANNED_ENTRIES: u64 = 20_000;
/// Events buffered for each stream subscriber before it is told it fell behind.
pub const STREAM_BUFFER: usize = 4096;

/// One status change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FeedEvent {
    pub seq: u64,
    pub at: String,
    /// issued, suspended, reinstated, revoked, expired, superseded or rebound.
    pub change: &'static str,
    pub number: String,
    pub kind: Option<String>,
    /// The public reason category (see `GET /v1/reasons`); never the officer's or agency's text.
    pub category: Option<String>,
    /// For `superseded`: the licence that replaces it.
    pub superseded_by: Option<String>,
    pub platform: Option<String>,
}

/// The status changes one ledger entry makes (a renewal issues one licence and supersedes another).
pub fn changes(entry: &Entry) -> Vec<FeedEvent> {
    let at = rfc3339(i64::try_from(entry.timestamp_ms / 1000).unwrap_or(0));
    let event = |change, number: String, kind, category, platform| FeedEvent {
        seq: entry.seq.0,
        at: at.clone(),
        change,
        number,
        kind,
        category,
        superseded_by: None,
        platform,
    };
    match licence_change(entry) {
        Some(LicenceChange::Issued(body)) => {
            let platform = body
                .record
                .get("platform_credit_code")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            let mut out = vec![event(
                "issued",
                body.number.clone(),
                Some(body.kind.clone()),
                None,
                platform,
            )];
            if let Some(old) = body.supersedes {
                let mut superseded = event("superseded", old, Some(body.kind), None, None);
                superseded.superseded_by = Some(body.number.clone());
                out.push(superseded);
            }
            out
        }
        Some(LicenceChange::Status { status, body }) => {
            let change = match (entry.event, status) {
                (EventType::Reinstatement, _) => "reinstated",
                (_, LicenceStatus::Suspended) => "suspended",
                (_, LicenceStatus::Expired) => "expired",
                _ => "revoked",
            };
            vec![event(change, body.number, None, body.category, None)]
        }
        Some(LicenceChange::Rebound(body)) => {
            vec![event("rebound", body.number, None, None, body.platform)]
        }
        None => Vec::new(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageQuery {
    /// The last sequence number already seen; omit to start at the beginning.
    pub after: Option<u64>,
    pub limit: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Page {
    pub events: Vec<FeedEvent>,
    /// Pass as `after` to continue.
    pub next_after: Option<u64>,
    /// True when the log has entries beyond this page.
    pub more: bool,
}

fn read_page(state: &AppState, after: Option<u64>, limit: usize) -> Result<Page, ApiError> {
    let size = state.ledger.size();
    let start = after.map_or(0, |a| a.saturating_add(1));
    let stop = start.saturating_add(MAX_SCANNED_ENTRIES).min(size);
    let mut events = Vec::new();
    let mut last = after;
    for seq in start..stop {
        let entry = state.ledger.entry(Seq(seq)).map_err(ApiError::internal)?;
        let found = changes(&entry);
        if events.len() + found.len() > limit {
            break;
        }
        events.extend(found);
        last = Some(seq);
    }
    // `after` may be any u64: compare without wrapping.
    let more = last.map_or(size > 0, |l| l.saturating_add(1) < size);
    Ok(Page {
        events,
        next_after: last,
        more,
    })
}

pub const FEED_ROLES: &[RoleKind] = &[RoleKind::Platform, RoleKind::Agency, RoleKind::Officer];

/// `GET /v1/events?after=N&limit=M`.
pub async fn page(
    State(state): State<AppState>,
    query: Result<Query<PageQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Page>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad("query", e.body_text(), None))?;
    let limit = query
        .limit
        .unwrap_or(MAX_PAGE_EVENTS)
        .clamp(1, MAX_PAGE_EVENTS);
    let reader = state.clone();
    tokio::task::spawn_blocking(move || read_page(&reader, query.after, limit))
        .await
        .map_err(ApiError::internal)?
        .map(Json)
}

/// One open event stream of a caller; dropping it (the client left, or the service is
/// stopping) frees the caller's slot.
struct StreamSlot {
    streams: Arc<Mutex<BTreeMap<String, usize>>>,
    caller: String,
}

impl StreamSlot {
    /// Takes one of the caller's `max` slots, or refuses.
    fn take(state: &AppState, caller: String, max: usize) -> Result<StreamSlot, ApiError> {
        let mut open = state.streams.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(caller.clone()).or_default();
        if *count >= max {
            return Err(ApiError::Conflict(format!(
                "at most {max} event streams per token are open at once; close one first"
            )));
        }
        *count += 1;
        Ok(StreamSlot {
            streams: Arc::clone(&state.streams),
            caller,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.caller) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.caller);
            }
        }
    }
}

/// `GET /v1/events/stream`: every status change as it is logged, as server-sent events. At
/// most `limits.max_streams_per_token` per token; every stream ends when the service stops.
pub async fn stream(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let slot = StreamSlot::take(&state, caller.actor(), state.limits.max_streams_per_token)?;
    let receiver = state.feed.subscribe();
    let mut stopping = state.shutdown.subscribe();
    let stopped = async move {
        // Ends the stream once shutdown begins (or the state is gone).
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    let events = stream::unfold((receiver, slot), |(mut receiver, slot)| async move {
        let item = match receiver.recv().await {
            Ok(change) => Event::default()
                .id(change.seq.to_string())
                .event(change.change)
                .json_data(&change)
                .unwrap_or_else(|_| Event::default().comment("unencodable event")),
            Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                Event::default().event("lagged").data(format!(
                    "{missed} events were dropped; resume with /v1/events?after="
                ))
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(item), (receiver, slot)))
    })
    .take_until(Box::pin(stopped));
    Ok(Sse::new(events.boxed()).keep_alive(KeepAlive::default()))
}

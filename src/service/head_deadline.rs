//! The header-read deadline: a connection that has not sent a complete request head within
//! `limits.header_read_timeout_ms` of being accepted, or of its last answer ending, is closed.
//!
//! hyper can enforce this itself, but it arms a timer in tokio's wheel for every request a
//! keep-alive connection waits for and disarms it when the head arrives. Under the status
//! lookup load that timer and the request deadline cost about a sixth of the service's CPU per
//! request (README.md, "National scale"). Here each connection carries one word, written with
//! a plain atomic store per request: busy, or waiting since a millisecond. One sweeper task per
//! server walks the open connections a few times per timeout and aborts those that waited too
//! long. The cost moves from every request to every sweep, and a slow client is cut off at most
//! a quarter of the timeout (and at most a second) late.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::{AbortHandle, AbortRegistration, Abortable};

/// `waiting_since_ms` while a request is being answered.
const BUSY: u64 = u64::MAX;
/// The sweeper runs this many times per timeout, so a connection is cut between one and
/// 1 + 1/SWEEPS_PER_TIMEOUT timeouts after it began to wait.
const SWEEPS_PER_TIMEOUT: u32 = 4;
/// However long the timeout, sweep at least this often.
const MAX_SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// The open connections of one server and their deadline.
#[derive(Clone)]
pub struct HeadDeadlines {
    shared: Arc<Shared>,
}

struct Shared {
    epoch: Instant,
    timeout_ms: u64,
    next_id: AtomicU64,
    open: Mutex<HashMap<u64, Open>>,
}

struct Open {
    watch: Arc<Watch>,
    abort: AbortHandle,
}

/// One connection's state, shared by its request service, its answers' bodies and the sweeper.
#[derive(Debug)]
pub struct Watch {
    epoch: Instant,
    waiting_since_ms: AtomicU64,
}

/// Removes its connection from the sweeper's table when the connection's task ends.
pub struct Registered {
    id: u64,
    shared: Arc<Shared>,
}

impl HeadDeadlines {
    pub fn new(timeout: Duration) -> Self {
        HeadDeadlines {
            shared: Arc::new(Shared {
                epoch: Instant::now(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
                next_id: AtomicU64::new(0),
                open: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Registers a connection just accepted (it starts waiting for its first head now). The
    /// returned registration makes the connection's future abortable by the sweeper.
    pub fn open(&self) -> (Arc<Watch>, AbortRegistration, Registered) {
        let watch = Arc::new(Watch {
            epoch: self.shared.epoch,
            waiting_since_ms: AtomicU64::new(0),
        });
        watch.waiting();
        let (abort, registration) = AbortHandle::new_pair();
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let open = Open {
            watch: Arc::clone(&watch),
            abort,
        };
        self.table().insert(id, open);
        let registered = Registered {
            id,
            shared: Arc::clone(&self.shared),
        };
        (watch, registration, registered)
    }

    /// `connection`, cut off when the sweeper finds it waited too long for a head.
    pub fn bound<F: Future>(connection: F, registration: AbortRegistration) -> Abortable<F> {
        Abortable::new(connection, registration)
    }

    /// Runs until dropped: every interval, aborts each connection past its deadline.
    pub async fn sweep_forever(self) {
        let interval = (Duration::from_millis(self.shared.timeout_ms) / SWEEPS_PER_TIMEOUT)
            .min(MAX_SWEEP_INTERVAL);
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let cut = self.sweep(self.shared.now_ms());
            if cut > 0 {
                tracing::debug!(cut, "closed connections past the header-read deadline");
            }
        }
    }

    /// Aborts every connection that has been waiting for a head longer than the timeout at
    /// `now_ms`; returns how many.
    fn sweep(&self, now_ms: u64) -> usize {
        let table = self.table();
        let mut cut = 0;
        for open in table.values() {
            let since = open.watch.waiting_since_ms.load(Ordering::Relaxed);
            if since != BUSY && now_ms.saturating_sub(since) > self.shared.timeout_ms {
                open.abort.abort();
                cut += 1;
            }
        }
        cut
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Open>> {
        // The table holds no invariant a panicking holder could have broken halfway.
        self.shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(test)]
    fn open_count(&self) -> usize {
        self.table().len()
    }
}

impl Shared {
    fn now_ms(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX - 1)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.shared
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.id);
    }
}

impl Watch {
    /// A complete head arrived: the connection is busy until its answer's body ends.
    pub fn busy(&self) {
        self.waiting_since_ms.store(BUSY, Ordering::Relaxed);
    }

    /// The answer's body ended (or was dropped): the connection waits for its next head.
    pub fn waiting(&self) {
        let now_ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(BUSY - 1);
        self.waiting_since_ms.store(now_ms, Ordering::Relaxed);
    }
}

/// An answer's body that marks its connection waiting again once it has been written (or
/// dropped unwritten). It forwards every frame and the size hint unchanged, so the
/// `Content-Length` hyper writes is the inner body's.
pub struct Tracked<B> {
    inner: B,
    watch: Arc<Watch>,
}

impl<B> Tracked<B> {
    pub fn new(inner: B, watch: Arc<Watch>) -> Self {
        Tracked { inner, watch }
    }
}

impl<B> Drop for Tracked<B> {
    fn drop(&mut self) {
        self.watch.waiting();
    }
}

impl<B: http_body::Body + Unpin> http_body::Body for Tracked<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_waiting_connection_is_cut_and_a_busy_one_is_not() {
        let deadlines = HeadDeadlines::new(Duration::from_millis(100));
        let (waiting, waiting_reg, waiting_open) = deadlines.open();
        let (busy, busy_reg, busy_open) = deadlines.open();
        busy.busy();
        let waiting_conn = HeadDeadlines::bound(std::future::pending::<()>(), waiting_reg);
        let busy_conn = HeadDeadlines::bound(std::future::pending::<()>(), busy_reg);
        let start = deadlines.shared.now_ms();
        assert_eq!(deadlines.sweep(start), 0, "nothing is late yet");
        assert_eq!(deadlines.sweep(start + 101), 1, "only the waiting one");
        assert!(
            waiting_conn.await.is_err(),
            "the waiting connection was aborted"
        );
        drop((waiting, waiting_open));
        assert_eq!(
            deadlines.open_count(),
            1,
            "a closed connection leaves the table"
        );
        // The busy one's answer ends: it waits again, and is cut a timeout later.
        let body = Tracked::new(axum::body::Body::empty(), Arc::clone(&busy));
        drop(body);
        let since = busy.waiting_since_ms.load(Ordering::Relaxed);
        assert_ne!(since, BUSY);
        assert_eq!(
            deadlines.sweep(since + 100),
            0,
            "exactly at the timeout: not yet"
        );
        assert_eq!(deadlines.sweep(since + 101), 1);
        assert!(busy_conn.await.is_err());
        drop(busy_open);
        assert_eq!(deadlines.open_count(), 0);
    }

    #[tokio::test]
    async fn a_tracked_body_keeps_its_frames_and_length() {
        let deadlines = HeadDeadlines::new(Duration::from_secs(1));
        let (watch, _reg, _open) = deadlines.open();
        watch.busy();
        let body = Tracked::new(axum::body::Body::from("seven b"), Arc::clone(&watch));
        assert_eq!(http_body::Body::size_hint(&body).exact(), Some(7));
        let bytes = axum::body::to_bytes(axum::body::Body::new(body), 64).await;
        assert_eq!(bytes.ok().as_deref(), Some(&b"seven b"[..]));
        assert_ne!(watch.waiting_since_ms.load(Ordering::Relaxed), BUSY);
    }
}

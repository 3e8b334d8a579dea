//! The HTTP server loop: accepts connections up to a cap, reads each request header within a
//! deadline, answers each request within a deadline, and stops within a grace period.
//!
//! (The request deadline is kept by `service::edge`, so its 408 is a JSON error; the
//! header-read deadline by [`HeadDeadlines`], one sweeper instead of a timer per request.)
//! `axum::serve` has none of these bounds: a client that trickles one header line every few
//! seconds keeps its connection forever, connections are unbounded, and graceful shutdown waits
//! for every event-stream client to leave. Here the limits come from [`Limits`], event streams
//! are told to end when shutdown begins, and whatever is still open after the grace period is
//! dropped.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt;

use super::head_deadline::{HeadDeadlines, Tracked, Watch};
use super::limits::Limits;

/// Serves `app` on `listener` until `shutdown` resolves, then lets requests in flight finish
/// for at most `limits.shutdown_grace_ms`. `stopping` is set to true as shutdown begins, which
/// ends the event streams.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &Limits,
    stopping: tokio::sync::watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let deadlines = HeadDeadlines::new(limits.header_read_timeout());
    let sweeper = tokio::spawn(deadlines.clone().sweep_forever());
    let mut builder = hyper::server::conn::http1::Builder::new();
    // No hyper timer: `deadlines` bounds the wait for each head.
    builder.header_read_timeout(None).keep_alive(true);
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting: excess clients wait in the kernel's backlog.
        let slot = tokio::select! {
            () = &mut shutdown => break,
            slot = Arc::clone(&slots).acquire_owned() => slot,
        };
        let Ok(slot) = slot else { break };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let (watch, registration, registered) = deadlines.open();
        let service = per_connection(app.clone(), peer, watch);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = HeadDeadlines::bound(graceful.watch(connection), registration);
        tokio::spawn(async move {
            match connection.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::debug!(error = %e, %peer, "connection ended with an error"),
                Err(_aborted) => tracing::debug!(%peer, "no request head within the deadline"),
            }
            drop(registered);
            drop(slot);
        });
    }
    drop(listener);
    stopping.send_replace(true);
    tracing::info!(
        grace_ms = limits.shutdown_grace_ms,
        "stopped accepting; finishing requests"
    );
    if tokio::time::timeout(limits.shutdown_grace(), graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over: closing the connections still open");
    }
    sweeper.abort();
    Ok(())
}

/// The router as a hyper service for one connection, with the peer address as `ConnectInfo`.
/// Each head marks the connection busy; each answer's body, once written, marks it waiting.
fn per_connection(
    app: Router,
    peer: SocketAddr,
    watch: Arc<Watch>,
) -> hyper_util::service::TowerToHyperService<
    impl tower::Service<
            hyper::Request<Incoming>,
            Response = hyper::Response<Tracked<axum::body::Body>>,
            Error = std::convert::Infallible,
            Future = impl Send,
        > + Clone,
> {
    let service = tower::service_fn(move |mut request: hyper::Request<Incoming>| {
        watch.busy();
        request.extensions_mut().insert(ConnectInfo(peer));
        let watch = Arc::clone(&watch);
        futures::FutureExt::map(
            app.clone().oneshot(request.map(axum::body::Body::new)),
            move |answer| answer.map(|response| response.map(|body| Tracked::new(body, watch))),
        )
    });
    hyper_util::service::TowerToHyperService::new(service)
}

//! The work every request shares, in one layer around every route: the public rate limit, the
//! error contract, `X-Content-Type-Options`, the request metrics and the log of server errors.
//!
//! The request deadline (`limits.request_timeout_ms`, a JSON 408 when it passes) is kept here
//! too, lazily: most answers are ready the first time the route is polled, and only a request
//! that has to wait arms a timer. tower-http's timeout layer armed one for every request.
//!
//! These were four `from_fn` middlewares and two tower-http layers. Each `from_fn` clones the
//! route it wraps and boxes a future per request; together with a metrics map behind two
//! mutexes that cost about 4 µs of a status lookup's 9 µs in-process (`wrk` against the 10M
//! ledger: 0.61-0.69× the bare handler). Here the same steps run in one service with one boxed
//! future, in the order they ran before: limit, route, conform the error body, count.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use super::{error, ratelimit, ApiError, AppState};

/// Wraps every route of [`super::app`] (and its fallback) in [`Edge`].
#[derive(Clone)]
pub struct EdgeLayer {
    state: AppState,
}

impl EdgeLayer {
    pub fn new(state: AppState) -> Self {
        EdgeLayer { state }
    }
}

impl<S> tower::Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge {
            inner,
            state: self.state.clone(),
        }
    }
}

/// See the module header.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    state: AppState,
}

impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let html = error::is_html_route(request.uri().path());
        let route = request.extensions().get::<MatchedPath>().cloned();
        let method = request.method().clone();
        // Disabled unless the log level asks for it; then every line a handler logs names its
        // request, as tower-http's trace layer did.
        let span =
            tracing::debug_span!("request", method = %request.method(), uri = %request.uri());
        let admitted = ratelimit::admits(&self.state, &request);
        // `poll_ready` readied `self.inner`: call that one and keep a fresh clone (tower's rule
        // for services called from a future).
        let routed = admitted.then(|| {
            let fresh = self.inner.clone();
            let mut ready = std::mem::replace(&mut self.inner, fresh);
            ready.call(request)
        });
        let state = self.state.clone();
        let deadline = state.limits.request_timeout();
        let answer = async move {
            let response = match routed {
                Some(routed) => match within(started + deadline, routed).await {
                    Some(Ok(response)) => response,
                    Some(Err(never)) => match never {},
                    None => StatusCode::REQUEST_TIMEOUT.into_response(),
                },
                None => ApiError::RateLimited.into_response(),
            };
            let mut response = error::conform(response, html).await;
            response
                .headers_mut()
                .entry(header::X_CONTENT_TYPE_OPTIONS)
                .or_insert(HeaderValue::from_static("nosniff"));
            let status = response.status();
            if status.is_server_error() {
                tracing::error!(status = status.as_u16(), route = ?route.as_ref().map(MatchedPath::as_str), "request failed");
            }
            state.metrics.observe_request(
                route.as_ref().map(MatchedPath::as_str),
                &method,
                status.as_u16(),
                started.elapsed(),
            );
            Ok(response)
        };
        Box::pin(answer.instrument(span))
    }
}

/// `future`'s output, or `None` if it is still pending at `deadline`. The timer is created only
/// if the first poll finds the future pending.
async fn within<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut timer: Option<Pin<Box<tokio::time::Sleep>>> = None;
    std::future::poll_fn(|cx| {
        if let Poll::Ready(output) = future.as_mut().poll(cx) {
            return Poll::Ready(Some(output));
        }
        let timer =
            timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_ready_answer_needs_no_timer_and_a_late_one_is_cut_at_the_deadline() {
        let start = Instant::now();
        assert_eq!(
            within(start, async { 7 }).await,
            Some(7),
            "ready beats a past deadline"
        );
        let late = within(
            start + Duration::from_millis(50),
            std::future::pending::<()>(),
        )
        .await;
        assert_eq!(late, None);
        assert!(start.elapsed() >= Duration::from_millis(50));
        let slow = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            "answered"
        };
        let answer = within(Instant::now() + Duration::from_millis(50), slow).await;
        assert_eq!(answer, Some("answered"));
    }
}

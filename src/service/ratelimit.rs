//! Per-client-address rate limiting for the public endpoints.
//!
//! A token bucket per address: a burst of [`BURST`] requests, refilled at [`PER_SECOND`]. The
//! table is bounded; when it is full the oldest-idle buckets are dropped, which can only ever
//! make the limiter more lenient, never lock a client out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Requests a client may make at once.
pub const BURST: f64 = 200.0;
/// Sustained requests per second per client address.
pub const PER_SECOND: f64 = 100.0;
/// Most client addresses tracked at once.
pub const MAX_TRACKED_CLIENTS: usize = 100_000;

/// The client's address: the connection's peer, or what a trusted proxy says in
/// `X-Forwarded-For` (see [`super::limits::TrustedProxies`]). Tests that call the router
/// directly have no peer and count as loopback.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

impl axum::extract::FromRequestParts<super::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &super::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr::of(&parts.extensions, &parts.headers, state))
    }
}

impl ClientAddr {
    /// The client of a request with these extensions and headers.
    pub fn of(
        extensions: &axum::http::Extensions,
        headers: &axum::http::HeaderMap,
        state: &super::AppState,
    ) -> Self {
        let peer = extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip())
            .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        ClientAddr(state.proxies.client(peer, forwarded))
    }
}

#[derive(Debug)]
pub struct RateLimiter {
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
    burst: f64,
    per_second: f64,
    /// Off for loopback load tests that measure the handlers themselves.
    disabled: std::sync::atomic::AtomicBool,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(BURST, PER_SECOND)
    }
}

impl RateLimiter {
    /// A limiter allowing `burst` requests at once, refilled at `per_second`.
    pub fn new(burst: f64, per_second: f64) -> Self {
        RateLimiter {
            buckets: Mutex::default(),
            burst,
            per_second,
            disabled: std::sync::atomic::AtomicBool::new(false),
        }
    }

    /// `per_second` with bursts of twice that; 0 turns the limit off.
    pub fn configured(per_second: f64) -> Self {
        let limiter = RateLimiter::new(per_second * 2.0, per_second);
        if per_second == 0.0 {
            limiter.disable();
        }
        limiter
    }

    /// Stops limiting (benchmarks of the handlers behind it).
    pub fn disable(&self) {
        self.disabled
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether this limiter limits at all.
    pub fn is_enabled(&self) -> bool {
        !self.disabled.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Takes one token for `client`; false when the client is over its rate.
    pub fn allow(&self, client: IpAddr) -> bool {
        self.allow_at(client, Instant::now())
    }

    fn allow_at(&self, client: IpAddr, now: Instant) -> bool {
        if self.disabled.load(std::sync::atomic::Ordering::Relaxed) {
            return true;
        }
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= MAX_TRACKED_CLIENTS && !buckets.contains_key(&client) {
            let horizon = now
                .checked_sub(std::time::Duration::from_secs(10))
                .unwrap_or(now);
            buckets.retain(|_, (_, last)| *last > horizon);
            if buckets.len() >= MAX_TRACKED_CLIENTS {
                buckets.clear();
            }
        }
        let (tokens, last) = buckets.entry(client).or_insert((self.burst, now));
        let elapsed = now.saturating_duration_since(*last).as_secs_f64();
        *tokens = (*tokens + elapsed * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Whether a request may go on: requests without a valid bearer token or an officer session
/// are public and limited per client address. Any other `Authorization` header (a wrong or
/// made-up token) is public too: only a token the registry issued lifts the limit. Checked by
/// [`super::edge`] before any route runs.
pub fn admits(state: &super::AppState, request: &axum::extract::Request) -> bool {
    if !state.limiter.is_enabled() {
        return true;
    }
    // Signed-in officers browsing the pages are not public, whatever their address shares.
    let public = super::auth::bearer_role(state, request.headers()).is_none()
        && !super::officer::has_session(state, request.headers());
    if !public {
        return true;
    }
    let ClientAddr(client) = ClientAddr::of(request.extensions(), request.headers(), state);
    state.limiter.allow(client)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_limited_then_refilled() {
        let limiter = RateLimiter::default();
        let client: IpAddr = "127.0.0.9".parse().unwrap();
        let start = Instant::now();
        let allowed = (0..300).filter(|_| limiter.allow_at(client, start)).count();
        assert_eq!(allowed, BURST as usize);
        let later = start + std::time::Duration::from_secs(1);
        assert!(limiter.allow_at(client, later));
        let other: IpAddr = "127.0.0.10".parse().unwrap();
        assert!(limiter.allow_at(other, start), "limits are per address");
    }
}

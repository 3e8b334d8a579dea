//! `/metrics` in the Prometheus text exposition format (version 0.0.4): requests and their
//! latencies per route, ledger size and appends, agency call outcomes and signature checks.
//!
//! Hand-rolled on atomics and one small map rather than a metrics crate: there are a handful of
//! series, labels come only from the route table and fixed outcome names (never from input, so
//! the series count is bounded), and the format is a few lines of text.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;

/// Upper bounds of the latency histogram, in seconds.
pub const LATENCY_BUCKETS_SECONDS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Debug, Default, Clone)]
struct Latency {
    /// Cumulative counts per bucket, then the `+Inf` bucket.
    buckets: [u64; LATENCY_BUCKETS_SECONDS.len() + 1],
    sum_seconds: f64,
}

/// Counters shared by every handler.
#[derive(Debug, Default)]
pub struct Metrics {
    /// (route, method, status) → requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    /// route → latency histogram.
    latencies: Mutex<BTreeMap<String, Latency>>,
    /// Entries appended through the service.
    pub appends: AtomicU64,
    /// (agency, outcome) → calls.
    agency_calls: Mutex<BTreeMap<(String, String), u64>>,
    /// Signatures checked, valid and invalid.
    pub signatures_valid: AtomicU64,
    pub signatures_invalid: AtomicU64,
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Metrics {
    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        *locked(&self.requests)
            .entry((route.to_string(), method.to_string(), status))
            .or_default() += 1;
        let mut latencies = locked(&self.latencies);
        let latency = latencies.entry(route.to_string()).or_default();
        for (slot, bound) in LATENCY_BUCKETS_SECONDS.iter().enumerate() {
            if seconds <= *bound {
                latency.buckets[slot] += 1;
            }
        }
        latency.buckets[LATENCY_BUCKETS_SECONDS.len()] += 1;
        latency.sum_seconds += seconds;
    }

    /// `outcome` is one of the fixed names the agency connector logs.
    pub fn agency_call(&self, agency: &str, outcome: &str) {
        *locked(&self.agency_calls)
            .entry((agency.to_string(), outcome.to_string()))
            .or_default() += 1;
    }

    pub fn signatures(&self, valid: u64, invalid: u64) {
        self.signatures_valid.fetch_add(valid, Ordering::Relaxed);
        self.signatures_invalid
            .fetch_add(invalid, Ordering::Relaxed);
    }

    /// The exposition text; `ledger_entries` is read by the caller.
    pub fn render(&self, ledger_entries: u64) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP licreg_http_requests_total HTTP requests by route, method and status.\n# TYPE licreg_http_requests_total counter"
        );
        for ((route, method, status), count) in locked(&self.requests).iter() {
            let _ = writeln!(
                out,
                "licreg_http_requests_total{{route=\"{}\",method=\"{method}\",status=\"{status}\"}} {count}",
                escape(route)
            );
        }
        let _ = writeln!(
            out,
            "# HELP licreg_http_request_duration_seconds Time to answer, by route.\n# TYPE licreg_http_request_duration_seconds histogram"
        );
        for (route, latency) in locked(&self.latencies).iter() {
            let route = escape(route);
            for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(latency.buckets) {
                let _ = writeln!(
                    out,
                    "licreg_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {count}"
                );
            }
            let total = latency.buckets[LATENCY_BUCKETS_SECONDS.len()];
            let _ = writeln!(
                out,
                "licreg_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}\nlicreg_http_request_duration_seconds_sum{{route=\"{route}\"}} {}\nlicreg_http_request_duration_seconds_count{{route=\"{route}\"}} {total}",
                latency.sum_seconds
            );
        }
        let _ = writeln!(
            out,
            "# HELP licreg_ledger_entries Entries in the ledger.\n# TYPE licreg_ledger_entries gauge\nlicreg_ledger_entries {ledger_entries}"
        );
        let _ = writeln!(
            out,
            "# HELP licreg_ledger_appends_total Entries appended durably since start.\n# TYPE licreg_ledger_appends_total counter\nlicreg_ledger_appends_total {}",
            self.appends.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# HELP licreg_agency_calls_total Agency check calls by agency and outcome.\n# TYPE licreg_agency_calls_total counter"
        );
        for ((agency, outcome), count) in locked(&self.agency_calls).iter() {
            let _ = writeln!(
                out,
                "licreg_agency_calls_total{{agency=\"{}\",outcome=\"{}\"}} {count}",
                escape(agency),
                escape(outcome)
            );
        }
        let _ = writeln!(
            out,
            "# HELP licreg_signature_verifications_total Credential signatures checked.\n# TYPE licreg_signature_verifications_total counter\nlicreg_signature_verifications_total{{result=\"valid\"}} {}\nlicreg_signature_verifications_total{{result=\"invalid\"}} {}",
            self.signatures_valid.load(Ordering::Relaxed),
            self.signatures_invalid.load(Ordering::Relaxed)
        );
        out
    }
}

/// Label values escaped as the text format requires.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The method as a label: the standard methods by name, anything else `other`, so junk methods
/// cannot add series.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method as M;
    match *method {
        M::GET => "GET",
        M::HEAD => "HEAD",
        M::POST => "POST",
        M::PUT => "PUT",
        M::DELETE => "DELETE",
        M::PATCH => "PATCH",
        M::OPTIONS => "OPTIONS",
        M::CONNECT => "CONNECT",
        M::TRACE => "TRACE",
        _ => "other",
    }
}

/// Middleware: counts every request under its route template (never the raw path, so a scan of
/// random URLs cannot grow the series).
pub async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |m| m.as_str())
        .to_string();
    let method = method_label(request.method()).to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state.metrics.observe_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics` (officer token; Prometheus sends it as `bearer_token`).
pub async fn get(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.metrics.render(state.ledger.size());
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative_and_labels_escaped() {
        let metrics = Metrics::default();
        metrics.observe_request("/v1/x", "GET", 200, 0.003);
        metrics.observe_request("/v1/x", "GET", 200, 2.0);
        metrics.agency_call("traffic\"police", "answered");
        let text = metrics.render(7);
        assert!(text.contains(
            "licreg_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"0.005\"} 1"
        ));
        assert!(text
            .contains("licreg_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"5\"} 2"));
        assert!(text.contains("licreg_http_request_duration_seconds_count{route=\"/v1/x\"} 2"));
        assert!(text.contains("agency=\"traffic\\\"police\""));
        assert!(text.contains("licreg_ledger_entries 7"));
    }
}

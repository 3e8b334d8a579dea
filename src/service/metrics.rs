//! `/metrics` in the Prometheus text exposition format (version 0.0.4): requests and their
//! latencies per route, ledger size and appends, agency call outcomes and signature checks.
//!
//! Hand-rolled on atomics and one small map rather than a metrics crate: there are a handful of
//! series, labels come only from the route table and fixed outcome names (never from input, so
//! the series count is bounded), and the format is a few lines of text.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use super::AppState;

/// Upper bounds of the latency histogram, in seconds.
pub const LATENCY_BUCKETS_SECONDS: [f64; 10] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// The method labels, in the order of [`method_slot`]; anything else is `other`.
const METHOD_LABELS: [&str; 10] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE", "other",
];

/// HTTP status codes are three digits: 100..=999 as the `http` crate parses them.
const FIRST_STATUS: u16 = 100;
const STATUS_SLOTS: usize = 900;

/// The route label of requests no route matched.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Requests per status code for one route and method, made on first use.
struct StatusCounts([AtomicU64; STATUS_SLOTS]);

impl StatusCounts {
    fn new() -> Box<StatusCounts> {
        Box::new(StatusCounts(std::array::from_fn(|_| AtomicU64::new(0))))
    }
}

/// One route's series. Counted with atomics only: requests of one route on every worker thread
/// would otherwise queue on one lock (a `wrk` run over the status route spent a tenth of the
/// service's time in the map and mutex this replaced).
struct RouteSeries {
    route: &'static str,
    by_method: [OnceLock<Box<StatusCounts>>; METHOD_LABELS.len()],
    /// Requests per bucket alone (not cumulative), then those above the last bound: one
    /// atomic add per request, where cumulative counts took up to eleven on cache lines every
    /// worker writes. The exposition adds them up.
    buckets: [AtomicU64; LATENCY_BUCKETS_SECONDS.len() + 1],
    sum_ns: AtomicU64,
}

impl RouteSeries {
    fn new(route: &'static str) -> Self {
        RouteSeries {
            route,
            by_method: std::array::from_fn(|_| OnceLock::new()),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// Counters shared by every handler.
pub struct Metrics {
    /// Route template → index into `series`; fixed when the service starts.
    routes: HashMap<&'static str, usize>,
    /// Sorted by route; the last one is [`UNMATCHED_ROUTE`].
    series: Vec<RouteSeries>,
    /// Entries appended through the service.
    pub appends: AtomicU64,
    /// (agency, outcome) → calls.
    agency_calls: Mutex<BTreeMap<(String, String), u64>>,
    /// Signatures checked, valid and invalid.
    pub signatures_valid: AtomicU64,
    pub signatures_invalid: AtomicU64,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("routes", &self.series.len())
            .finish_non_exhaustive()
    }
}

impl Default for Metrics {
    /// Counts every request as unmatched; the service uses [`Metrics::for_routes`].
    fn default() -> Self {
        Metrics::for_routes([])
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// The slot of `method` in [`METHOD_LABELS`].
fn method_slot(method: &axum::http::Method) -> usize {
    let label = method_label(method);
    METHOD_LABELS
        .iter()
        .position(|l| *l == label)
        .unwrap_or(METHOD_LABELS.len() - 1)
}

impl Metrics {
    /// Series for each route template of the route table (duplicates share one).
    pub fn for_routes(routes: impl IntoIterator<Item = &'static str>) -> Self {
        let mut names: Vec<&'static str> = routes.into_iter().collect();
        names.sort_unstable();
        names.dedup();
        names.retain(|r| *r != UNMATCHED_ROUTE);
        let mut series: Vec<RouteSeries> = names.iter().map(|r| RouteSeries::new(r)).collect();
        series.push(RouteSeries::new(UNMATCHED_ROUTE));
        Metrics {
            routes: names.iter().enumerate().map(|(i, r)| (*r, i)).collect(),
            series,
            appends: AtomicU64::new(0),
            agency_calls: Mutex::default(),
            signatures_valid: AtomicU64::new(0),
            signatures_invalid: AtomicU64::new(0),
        }
    }

    /// One answered request: `route` is the matched template (`None` when nothing matched; a
    /// template not in the table counts as unmatched too, so input never adds series).
    pub fn observe_request(
        &self,
        route: Option<&str>,
        method: &axum::http::Method,
        status: u16,
        elapsed: Duration,
    ) {
        let index = route
            .and_then(|r| self.routes.get(r).copied())
            .unwrap_or(self.series.len() - 1);
        let Some(series) = self.series.get(index) else {
            return;
        };
        let counts = series.by_method[method_slot(method)].get_or_init(StatusCounts::new);
        let slot = usize::from(status.saturating_sub(FIRST_STATUS)).min(STATUS_SLOTS - 1);
        counts.0[slot].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS_SECONDS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(LATENCY_BUCKETS_SECONDS.len());
        if let Some(bucket) = series.buckets.get(bucket) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        series.sum_ns.fetch_add(ns, Ordering::Relaxed);
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
        for series in &self.series {
            let route = escape(series.route);
            for (method, counts) in METHOD_LABELS.iter().zip(&series.by_method) {
                let Some(counts) = counts.get() else { continue };
                for (slot, count) in counts.0.iter().enumerate() {
                    let count = count.load(Ordering::Relaxed);
                    if count == 0 {
                        continue;
                    }
                    let status = usize::from(FIRST_STATUS) + slot;
                    let _ = writeln!(
                        out,
                        "licreg_http_requests_total{{route=\"{route}\",method=\"{method}\",status=\"{status}\"}} {count}"
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "# HELP licreg_http_request_duration_seconds Time to answer, by route.\n# TYPE licreg_http_request_duration_seconds histogram"
        );
        for series in &self.series {
            let counts: Vec<u64> = series
                .buckets
                .iter()
                .map(|count| count.load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let route = escape(series.route);
            let mut cumulative = 0u64;
            for (bound, count) in LATENCY_BUCKETS_SECONDS.iter().zip(&counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "licreg_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            // Nanoseconds to seconds for display only; the sum itself stays an exact integer.
            #[allow(clippy::cast_precision_loss)]
            let sum_seconds = series.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
            let _ = writeln!(
                out,
                "licreg_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}\nlicreg_http_request_duration_seconds_sum{{route=\"{route}\"}} {sum_seconds}\nlicreg_http_request_duration_seconds_count{{route=\"{route}\"}} {total}"
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
        let metrics = Metrics::for_routes(["/v1/x"]);
        let get = axum::http::Method::GET;
        metrics.observe_request(Some("/v1/x"), &get, 200, Duration::from_millis(3));
        metrics.observe_request(Some("/v1/x"), &get, 200, Duration::from_secs(2));
        metrics.agency_call("traffic\"police", "answered");
        let text = metrics.render(7);
        assert!(text.contains(
            "licreg_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"0.005\"} 1"
        ));
        assert!(text
            .contains("licreg_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"5\"} 2"));
        assert!(text.contains("licreg_http_request_duration_seconds_count{route=\"/v1/x\"} 2"));
        assert!(text.contains(
            "licreg_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"0.001\"} 0"
        ));
        // Slower than the last bound: only +Inf and the count grow.
        metrics.observe_request(Some("/v1/x"), &get, 200, Duration::from_secs(9));
        let text = metrics.render(7);
        assert!(text
            .contains("licreg_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"5\"} 2"));
        assert!(text.contains(
            "licreg_http_request_duration_seconds_bucket{route=\"/v1/x\",le=\"+Inf\"} 3"
        ));
        assert!(text.contains("licreg_http_request_duration_seconds_count{route=\"/v1/x\"} 3"));
        assert!(text.contains("agency=\"traffic\\\"police\""));
        assert!(text.contains("licreg_ledger_entries 7"));
    }

    #[test]
    fn templates_outside_the_table_count_as_unmatched() {
        let metrics = Metrics::for_routes(["/v1/x", "/v1/x", "/v1/y"]);
        let post = axum::http::Method::POST;
        let junk = axum::http::Method::from_bytes(b"JUNK").unwrap();
        metrics.observe_request(Some("/v1/z"), &post, 404, Duration::ZERO);
        metrics.observe_request(None, &junk, 405, Duration::ZERO);
        metrics.observe_request(Some("/v1/y"), &post, 999, Duration::ZERO);
        let text = metrics.render(0);
        assert!(text.contains(
            "licreg_http_requests_total{route=\"unmatched\",method=\"POST\",status=\"404\"} 1"
        ));
        assert!(text.contains(
            "licreg_http_requests_total{route=\"unmatched\",method=\"other\",status=\"405\"} 1"
        ));
        assert!(text.contains(
            "licreg_http_requests_total{route=\"/v1/y\",method=\"POST\",status=\"999\"} 1"
        ));
        assert!(!text.contains("/v1/z") && !text.contains("JUNK"));
        assert!(
            !text.contains("route=\"/v1/x\""),
            "routes never asked for show nothing"
        );
    }
}

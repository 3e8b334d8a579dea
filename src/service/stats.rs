//! Supervision statistics: the funnel Shenzhen publishes (received, accepted, approved, issued)
//! per kind per day and month, processing times, overdue items, licences by status and the
//! double-compliance rate per platform.
//!
//! The funnel and processing times are tallied as each event is applied to the view, so they are
//! rebuilt from the ledger on restart and a request never rescans history. Days are China
//! Standard Time, and each event counts on its own day: an application received on the 30th and
//! issued on the 1st counts in both months, as published monthly figures do.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::applications::light_for;
use super::error::ApiError;
use super::AppState;

pub use crate::registry::tally::{day_of, percentile, Counts, Stage, Tally};

#[derive(Debug, Clone, Serialize)]
pub struct Bucket {
    pub period: String,
    pub kind: String,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Processing {
    pub decided: u64,
    pub p50_seconds: Option<u64>,
    pub p90_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Overdue {
    pub yellow: u64,
    pub red: u64,
}

/// Everything the dashboard shows.
#[derive(Debug, Clone, Serialize)]
pub struct Statistics {
    pub as_of_ms: u64,
    pub days: Vec<Bucket>,
    pub months: Vec<Bucket>,
    pub processing: BTreeMap<String, Processing>,
    /// Open applications lit yellow or red, by kind.
    pub overdue: BTreeMap<String, Overdue>,
    /// kind → status → licences.
    pub licences: BTreeMap<String, BTreeMap<String, u64>>,
    /// Platform → orders checked, compliant orders and rate, since the service started.
    pub compliance: BTreeMap<String, super::compliance::Rate>,
    /// Holders' portraits shown to passengers after a fresh wallet code (each one logged).
    pub portrait_fetches: u64,
}

/// Computes the statistics from the view at the state's clock.
pub fn compute(state: &AppState) -> Result<Statistics, ApiError> {
    let now_ms = u64::try_from(state.clock.now_unix_ms()).unwrap_or(0);
    let _now = state.clock.now_unix();
    let view = state.read_view();
    let mut stats = funnel(&view.tally()?);
    stats.as_of_ms = now_ms;
    for app in view.open_applications()? {
        let overdue = stats.overdue.entry(app.kind.clone()).or_default();
        match light_for(state, &app) {
            "yellow" => overdue.yellow += 1,
            "red" => overdue.red += 1,
            _ => {}
        }
    }
    // Counters kept by the view as statuses change: no walk over the licences.
    stats.licences = view.licence_counts()?;
    stats.portrait_fetches = view.counter(crate::registry::tables::meta::PORTRAIT_FETCHES)?;
    stats.compliance = state
        .compliance
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(stats)
}

/// The funnel and processing times from the view's tally.
fn funnel(tally: &Tally) -> Statistics {
    let days: Vec<Bucket> = tally
        .daily
        .iter()
        .map(|((kind, day), counts)| Bucket {
            period: day.clone(),
            kind: kind.clone(),
            counts: *counts,
        })
        .collect();
    let mut monthly: BTreeMap<(String, String), Counts> = BTreeMap::new();
    for bucket in &days {
        let month = bucket.period.get(..7).unwrap_or_default().to_string();
        monthly
            .entry((month, bucket.kind.clone()))
            .or_default()
            .add(&bucket.counts);
    }
    let months = monthly
        .into_iter()
        .map(|((period, kind), counts)| Bucket {
            period,
            kind,
            counts,
        })
        .collect();
    let processing = tally
        .processing_seconds
        .iter()
        .map(|(kind, histogram)| {
            (
                kind.clone(),
                Processing {
                    decided: histogram.values().sum(),
                    p50_seconds: percentile(histogram, 50),
                    p90_seconds: percentile(histogram, 90),
                },
            )
        })
        .collect();
    Statistics {
        as_of_ms: 0,
        days,
        months,
        processing,
        overdue: BTreeMap::new(),
        licences: BTreeMap::new(),
        compliance: BTreeMap::new(),
        portrait_fetches: 0,
    }
}

/// `GET /v1/stats`.
pub async fn get(State(state): State<AppState>) -> Result<Json<Statistics>, ApiError> {
    Ok(Json(compute(&state)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let histogram: BTreeMap<u64, u64> = (1..=10).map(|v| (v, 1)).collect();
        assert_eq!(percentile(&histogram, 50), Some(5));
        assert_eq!(percentile(&histogram, 90), Some(9));
        assert_eq!(percentile(&BTreeMap::new(), 50), None);
        let skewed = BTreeMap::from([(3, 9), (600, 1)]);
        assert_eq!(percentile(&skewed, 90), Some(3));
        assert_eq!(percentile(&skewed, 91), Some(600));
    }

    #[test]
    fn days_are_china_standard_time() {
        // 2026-11-22T16:00:00Z is midnight in Beijing.
        assert_eq!(day_of(1_795_363_200_000), "2026-11-23");
        assert_eq!(day_of(1_795_363_199_999), "2026-11-22");
    }

    #[test]
    fn each_stage_counts_on_its_own_day() {
        let mut tally = Tally::default();
        tally.count("driver", 1_795_363_199_000, Stage::Received);
        tally.count("driver", 1_795_363_201_000, Stage::Issued);
        assert_eq!(tally.daily.len(), 2);
        tally.processed("driver", 1_000, 61_999);
        assert_eq!(tally.processing_seconds["driver"][&60], 1);
    }
}

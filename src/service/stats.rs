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
use super::auth::{Caller, RoleKind};
use super::error::ApiError;
use super::licences::effective_status;
use super::registry::{LicenceStatus, View};
use super::AppState;

/// China Standard Time, for calendar days.
const CST_OFFSET_MS: u64 = 8 * 3_600_000;

/// One bucket of the funnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    /// Applications submitted, accepted in formal review or not.
    pub received: u64,
    /// Applications that passed formal review.
    pub accepted: u64,
    /// Decisions to approve.
    pub approved: u64,
    /// Decisions to refuse.
    pub refused: u64,
    /// Credentials issued for applications (new and renewed; reissues are not applications).
    pub issued: u64,
}

impl Counts {
    fn add(&mut self, other: &Counts) {
        self.received += other.received;
        self.accepted += other.accepted;
        self.approved += other.approved;
        self.refused += other.refused;
        self.issued += other.issued;
    }
}

/// Which funnel stage an event counts in.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    Received,
    Accepted,
    Approved,
    Refused,
    Issued,
}

/// The running tally the view keeps.
#[derive(Debug, Default)]
pub struct Tally {
    /// (kind, `YYYY-MM-DD`) → counts.
    pub daily: BTreeMap<(String, String), Counts>,
    /// kind → whole seconds from submission to approval or refusal → applications.
    pub processing_seconds: BTreeMap<String, BTreeMap<u64, u64>>,
}

impl Tally {
    pub fn count(&mut self, kind: &str, at_ms: u64, stage: Stage) {
        let counts = self
            .daily
            .entry((kind.to_string(), day_of(at_ms)))
            .or_default();
        let field = match stage {
            Stage::Received => &mut counts.received,
            Stage::Accepted => &mut counts.accepted,
            Stage::Approved => &mut counts.approved,
            Stage::Refused => &mut counts.refused,
            Stage::Issued => &mut counts.issued,
        };
        *field += 1;
    }

    pub fn processed(&mut self, kind: &str, submitted_ms: u64, decided_ms: u64) {
        let seconds = decided_ms.saturating_sub(submitted_ms) / 1000;
        *self
            .processing_seconds
            .entry(kind.to_string())
            .or_default()
            .entry(seconds)
            .or_default() += 1;
    }
}

/// `YYYY-MM-DD` in China Standard Time.
pub fn day_of(at_ms: u64) -> String {
    let seconds = i64::try_from((at_ms + CST_OFFSET_MS) / 1000).unwrap_or(0);
    let date = time::OffsetDateTime::from_unix_timestamp(seconds)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .date();
    super::reports::iso(date)
}

/// The nearest-rank percentile: the smallest value at or below which `percent` of the
/// observations fall.
pub fn percentile(histogram: &BTreeMap<u64, u64>, percent: u64) -> Option<u64> {
    let total: u64 = histogram.values().sum();
    if total == 0 {
        return None;
    }
    let rank = (total * percent).div_ceil(100).max(1);
    let mut seen = 0;
    histogram.iter().find_map(|(value, count)| {
        seen += count;
        (seen >= rank).then_some(*value)
    })
}

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
}

/// Computes the statistics from the view at the state's clock.
pub fn compute(state: &AppState) -> Statistics {
    let now_ms = u64::try_from(state.clock.now_unix_ms()).unwrap_or(0);
    let now = state.clock.now_unix();
    let view = state.read_view();
    let mut stats = funnel(&view);
    stats.as_of_ms = now_ms;
    for app in view
        .open_applications
        .iter()
        .filter_map(|id| view.applications.get(id))
    {
        let overdue = stats.overdue.entry(app.kind.clone()).or_default();
        match light_for(state, app) {
            "yellow" => overdue.yellow += 1,
            "red" => overdue.red += 1,
            _ => {}
        }
    }
    // A fixed table of counters: this walk is most of the cost at scale.
    const KINDS: [&str; 3] = ["driver", "vehicle", "platform"];
    const STATUSES: [LicenceStatus; 5] = [
        LicenceStatus::Valid,
        LicenceStatus::Suspended,
        LicenceStatus::Revoked,
        LicenceStatus::Expired,
        LicenceStatus::Superseded,
    ];
    let mut counts = [[0u64; STATUSES.len()]; KINDS.len()];
    for licence in view.licences.values() {
        let status = effective_status(licence, now);
        if let (Some(k), Some(s)) = (
            KINDS.iter().position(|k| *k == licence.kind),
            STATUSES.iter().position(|s| *s == status),
        ) {
            counts[k][s] += 1;
        }
    }
    for (kind, row) in KINDS.iter().zip(counts) {
        for (status, count) in STATUSES.iter().zip(row).filter(|(_, c)| *c > 0) {
            stats
                .licences
                .entry(kind.to_string())
                .or_default()
                .insert(status.as_str().to_string(), count);
        }
    }
    drop(view);
    stats.compliance = state
        .compliance
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    stats
}

/// The funnel and processing times from the view's tally.
fn funnel(view: &View) -> Statistics {
    let tally = &view.tally;
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
    }
}

/// `GET /v1/stats`.
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Statistics>, ApiError> {
    caller.require(&[RoleKind::Officer])?;
    Ok(Json(compute(&state)))
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

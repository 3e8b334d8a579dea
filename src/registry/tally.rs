//! The supervision funnel's tally: counts per kind per China Standard Time day, and processing
//! times, kept by the view as events are applied so statistics never rescan history.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One bucket of the funnel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Counts one event of `stage`.
    pub fn bump(&mut self, stage: Stage) {
        let field = match stage {
            Stage::Received => &mut self.received,
            Stage::Accepted => &mut self.accepted,
            Stage::Approved => &mut self.approved,
            Stage::Refused => &mut self.refused,
            Stage::Issued => &mut self.issued,
        };
        *field += 1;
    }

    pub fn add(&mut self, other: &Counts) {
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
        self.daily
            .entry((kind.to_string(), day_of(at_ms)))
            .or_default()
            .bump(stage);
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
    let seconds = i64::try_from(at_ms / 1000).unwrap_or(0);
    let date = crate::clock::china_time(seconds).date();
    crate::rules::show_date(date)
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

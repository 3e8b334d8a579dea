//! Following a ledger that other registry nodes append to.
//!
//! Several `licreg serve` processes may share one PostgreSQL database, each accepting writes.
//! A node hears of its own appends at once (the registry's observer); what the others append it
//! finds here: every [`FOLLOW_INTERVAL_MS`] it catches its head up with the stored log and hands
//! the new entries to the same observer (live feed and stream, status-list cache, metrics), and
//! moves its number allocators past them. The observer drops entries it has already seen
//! ([`RecentSeqs`]), so a node's own appends are not announced twice.

use std::collections::BTreeSet;
use std::time::Duration;

use super::AppState;
use crate::ledger::Seq;

/// How often a node looks for entries other nodes appended (changes show within 2 s).
pub const FOLLOW_INTERVAL_MS: u64 = 500;
/// Most entries read and announced in one step.
const MAX_FOLLOW_BATCH: u64 = 4096;
/// Sequence numbers the observer remembers having announced.
pub const MAX_RECENT_SEQS: usize = 262_144;

/// The sequence numbers announced lately, so an entry reaches the observers once.
#[derive(Debug, Default)]
pub struct RecentSeqs(BTreeSet<u64>);

impl RecentSeqs {
    /// True the first time `seq` is seen (within the last [`MAX_RECENT_SEQS`]).
    pub fn first_time(&mut self, seq: u64) -> bool {
        let new = self.0.insert(seq);
        while self.0.len() > MAX_RECENT_SEQS {
            self.0.pop_first();
        }
        new
    }
}

/// Runs until shutdown on a node whose ledger other processes also append to.
pub async fn follow(state: AppState) {
    if !state.ledger.is_shared() {
        return;
    }
    let mut observed = state.ledger.size();
    let mut shutdown = state.shutdown.subscribe();
    loop {
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(FOLLOW_INTERVAL_MS)) => {}
            _ = shutdown.changed() => return,
        }
        let round = state.clone();
        match tokio::task::spawn_blocking(move || follow_once(&round, observed)).await {
            Ok(Ok(size)) => observed = size,
            Ok(Err(e)) => tracing::warn!(error = %e, "following the shared ledger"),
            Err(e) => tracing::warn!(error = %e, "following the shared ledger"),
        }
    }
}

/// Announces the entries from `observed` up to the stored size; returns the size reached.
fn follow_once(state: &AppState, observed: u64) -> Result<u64, String> {
    let size = state.ledger.refresh().map_err(|e| e.to_string())?;
    let mut from = observed;
    while from < size {
        let to = size.min(from.saturating_add(MAX_FOLLOW_BATCH));
        let entries = state
            .ledger
            .entries(Seq(from), Seq(to))
            .map_err(|e| e.to_string())?;
        state
            .registry
            .followed(&entries)
            .map_err(|e| e.to_string())?;
        from = to;
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sequence_number_is_announced_once_and_memory_is_bounded() {
        let mut recent = RecentSeqs::default();
        assert!(recent.first_time(7));
        assert!(!recent.first_time(7));
        for seq in 0..(MAX_RECENT_SEQS as u64 + 10) {
            recent.first_time(1_000 + seq);
        }
        assert_eq!(recent.0.len(), MAX_RECENT_SEQS);
        assert!(!recent.0.contains(&7), "the oldest are forgotten first");
    }
}

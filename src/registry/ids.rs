//! Licence serials, application ids and status-list positions, allocated from the ledger's own
//! state.
//!
//! Each counter starts, at open, one past the largest value the view has seen in the log (the
//! view records them as entries are applied), so a registry restored from its log hands out the
//! same next numbers. Allocation is optimistic: the writer refuses an entry whose number or
//! index is already taken, so a number is never issued twice; a refused command leaves a gap.

use std::sync::atomic::{AtomicU64, Ordering};

use super::tables::meta;
use super::view::{View, ViewError};
use crate::ids::{LicenceKind, LicenceNumber};
use crate::ledger::Ledger;

/// Digits of the running number in an application id (`A` + year + number).
pub const APPLICATION_NUMBER_DIGITS: usize = 10;

/// The running number of an application id `A{year}{number}`, if it has that shape.
pub fn application_number(id: &str) -> Option<u64> {
    let digits = id.strip_prefix('A')?;
    if digits.len() != 4 + APPLICATION_NUMBER_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    digits.get(4..)?.parse().ok()
}

/// The next free numbers, seeded from the view.
pub struct Allocators {
    serial: AtomicU64,
    application: AtomicU64,
    status: [AtomicU64; 3],
    /// A ledger other registry nodes also write: numbers are then taken from counters in its
    /// storage, so two nodes never hand out the same one.
    shared: Option<Ledger>,
}

/// Names of the shared counters (one per allocator).
const SERIAL_COUNTER: &str = "serial";
const APPLICATION_COUNTER: &str = "application";
const STATUS_COUNTERS: [&str; 3] = ["status_driver", "status_vehicle", "status_platform"];

impl Allocators {
    pub fn load(view: &View) -> Result<Self, ViewError> {
        let status = |kind| {
            view.counter(&meta::next_status_index(kind))
                .map(AtomicU64::new)
        };
        Ok(Allocators {
            shared: view.ledger().is_shared().then(|| view.ledger().clone()),
            serial: AtomicU64::new(view.counter(meta::MAX_SERIAL)? + 1),
            application: AtomicU64::new(view.counter(meta::MAX_APPLICATION)? + 1),
            status: [
                status(LicenceKind::Driver)?,
                status(LicenceKind::Vehicle)?,
                status(LicenceKind::Platform)?,
            ],
        })
    }

    /// Moves every counter past what the view now holds: after other registry nodes appended to
    /// a shared ledger, this node's next numbers start beyond theirs (a number taken in a race
    /// is still refused by the writer).
    pub fn catch_up(&self, view: &View) -> Result<(), ViewError> {
        let fresh = Allocators::load(view)?;
        let take = |mine: &AtomicU64, theirs: &AtomicU64| {
            mine.fetch_max(theirs.load(Ordering::SeqCst), Ordering::SeqCst);
        };
        take(&self.serial, &fresh.serial);
        take(&self.application, &fresh.application);
        for (mine, theirs) in self.status.iter().zip(&fresh.status) {
            take(mine, theirs);
        }
        Ok(())
    }

    /// The next value of `counter`: this process's own, or on a shared ledger the storage's
    /// counter `name`, which is never below this process's next value. If the storage cannot be
    /// asked, the local value is used: the writer still refuses a number taken twice.
    fn take(&self, counter: &AtomicU64, name: &str) -> u64 {
        let local = counter.fetch_add(1, Ordering::SeqCst);
        let Some(ledger) = &self.shared else {
            return local;
        };
        match ledger.next_counter(name, local) {
            Ok(Some(value)) => {
                counter.fetch_max(value.saturating_add(1), Ordering::SeqCst);
                value
            }
            Ok(None) => local,
            Err(e) => {
                tracing::warn!(error = %e, counter = name, "shared counter unavailable");
                local
            }
        }
    }

    /// A licence serial not yet used; `None` once the ten digits are spent.
    pub fn next_serial(&self) -> Option<u64> {
        let serial = self.take(&self.serial, SERIAL_COUNTER);
        (serial <= LicenceNumber::MAX_SERIAL).then_some(serial)
    }

    /// A new application id for `year`.
    pub fn next_application_id(&self, year: i32) -> String {
        let number = self.take(&self.application, APPLICATION_COUNTER);
        format!(
            "A{year:04}{number:0width$}",
            width = APPLICATION_NUMBER_DIGITS
        )
    }

    /// A status-list position for a new credential of `kind`.
    pub fn next_status_index(&self, kind: LicenceKind) -> u64 {
        let slot = usize::from(super::tables::kind_code(kind));
        match (self.status.get(slot), STATUS_COUNTERS.get(slot)) {
            (Some(counter), Some(name)) => self.take(counter, name),
            // kind_code is 0..3 for the three kinds; the first counter keeps a wrong one unique.
            _ => self.take(&self.status[0], STATUS_COUNTERS[0]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_numbers_parse_from_ids() {
        assert_eq!(application_number("A20260000000042"), Some(42));
        assert_eq!(application_number("A2026000000004"), None);
        assert_eq!(application_number("B20260000000042"), None);
        assert_eq!(application_number("A2026000000004x"), None);
    }
}

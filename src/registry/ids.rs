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
#[derive(Debug)]
pub struct Allocators {
    serial: AtomicU64,
    application: AtomicU64,
    status: [AtomicU64; 3],
}

impl Allocators {
    pub fn load(view: &View) -> Result<Self, ViewError> {
        let status = |kind| {
            view.counter(&meta::next_status_index(kind))
                .map(AtomicU64::new)
        };
        Ok(Allocators {
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

    /// A licence serial not yet used; `None` once the ten digits are spent.
    pub fn next_serial(&self) -> Option<u64> {
        let serial = self.serial.fetch_add(1, Ordering::SeqCst);
        (serial <= LicenceNumber::MAX_SERIAL).then_some(serial)
    }

    /// A new application id for `year`.
    pub fn next_application_id(&self, year: i32) -> String {
        let number = self.application.fetch_add(1, Ordering::SeqCst);
        format!(
            "A{year:04}{number:0width$}",
            width = APPLICATION_NUMBER_DIGITS
        )
    }

    /// A status-list position for a new credential of `kind`.
    pub fn next_status_index(&self, kind: LicenceKind) -> u64 {
        let slot = usize::from(super::tables::kind_code(kind));
        self.status[slot].fetch_add(1, Ordering::SeqCst)
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

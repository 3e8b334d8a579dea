//! Licence serials, application ids and status-list positions, allocated from the ledger's own
//! state.
//!
//! Each counter starts, at open, one past the largest value the view has seen in the log (the
//! view records them as entries are applied), so a registry restored from its log hands out the
//! same next numbers. Allocation is optimistic: the writer refuses an entry whose number or
//! index is already taken, so a number is never issued twice; a refused command leaves a gap.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

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

/// How many numbers a node takes from a shared counter at a time. A block costs one database
/// transaction (a durable commit) where a single number would cost one per number; what a node
/// leaves of its block when it stops is a gap, as a refused command leaves one.
pub const SHARED_COUNTER_BLOCK: u64 = 64;

/// One counter: the next number, and on a shared ledger the end of the block it was taken from.
struct Counter {
    name: &'static str,
    /// `(next, end)`: numbers `next..end` are this process's to hand out; on storage only this
    /// process writes, `end` is `u64::MAX`.
    range: Mutex<(u64, u64)>,
    /// The lowest value the next block may start at: one past the largest the view has seen.
    floor: AtomicU64,
}

impl Counter {
    fn new(name: &'static str, next: u64, shared: bool) -> Self {
        let end = if shared { next } else { u64::MAX };
        Counter {
            name,
            range: Mutex::new((next, end)),
            floor: AtomicU64::new(next),
        }
    }

    fn range(&self) -> std::sync::MutexGuard<'_, (u64, u64)> {
        self.range.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The next free numbers, seeded from the view.
pub struct Allocators {
    serial: Counter,
    application: Counter,
    status: [Counter; 3],
    /// A ledger other registry nodes also write: numbers are then taken in blocks from counters
    /// in its storage, so two nodes never hand out the same one.
    shared: Option<Ledger>,
}

/// Names of the shared counters (one per allocator).
const SERIAL_COUNTER: &str = "serial";
const APPLICATION_COUNTER: &str = "application";
const STATUS_COUNTERS: [&str; 3] = ["status_driver", "status_vehicle", "status_platform"];

/// One past the largest value of each counter the view has seen: serial, application, status.
fn view_floors(view: &View) -> Result<[u64; 5], ViewError> {
    let status = |kind| view.counter(&meta::next_status_index(kind));
    Ok([
        view.counter(meta::MAX_SERIAL)? + 1,
        view.counter(meta::MAX_APPLICATION)? + 1,
        status(LicenceKind::Driver)?,
        status(LicenceKind::Vehicle)?,
        status(LicenceKind::Platform)?,
    ])
}

impl Allocators {
    pub fn load(view: &View) -> Result<Self, ViewError> {
        let [serial, application, driver, vehicle, platform] = view_floors(view)?;
        let shared = view.ledger().is_shared();
        Ok(Allocators {
            shared: shared.then(|| view.ledger().clone()),
            serial: Counter::new(SERIAL_COUNTER, serial, shared),
            application: Counter::new(APPLICATION_COUNTER, application, shared),
            status: [
                Counter::new(STATUS_COUNTERS[0], driver, shared),
                Counter::new(STATUS_COUNTERS[1], vehicle, shared),
                Counter::new(STATUS_COUNTERS[2], platform, shared),
            ],
        })
    }

    fn counters(&self) -> [&Counter; 5] {
        let [driver, vehicle, platform] = &self.status;
        [&self.serial, &self.application, driver, vehicle, platform]
    }

    /// Moves every counter past what the view now holds. On storage only this process writes,
    /// the next number moves; on a shared ledger the next *block* starts beyond it (the block in
    /// hand stays: the storage's counter gave it to this node alone, and moving into the rest of
    /// the numbers the view shows would step into another node's block). A number taken in a
    /// race is still refused by the writer.
    pub fn catch_up(&self, view: &View) -> Result<(), ViewError> {
        let floors = view_floors(view)?;
        for (counter, floor) in self.counters().into_iter().zip(floors) {
            counter.floor.fetch_max(floor, Ordering::SeqCst);
            if self.shared.is_none() {
                let mut range = counter.range();
                range.0 = range.0.max(floor);
            }
        }
        Ok(())
    }

    /// The next value of `counter`: from this process's own range, or on a shared ledger from a
    /// block of [`SHARED_COUNTER_BLOCK`] taken from the storage's counter, never below the
    /// view's floor. If the storage cannot be asked, the floor is used: the writer still refuses
    /// a number taken twice.
    fn take(&self, counter: &Counter) -> u64 {
        let mut range = counter.range();
        if range.0 < range.1 {
            let value = range.0;
            range.0 += 1;
            return value;
        }
        let floor = counter.floor.load(Ordering::SeqCst).max(range.0);
        let start = match &self.shared {
            Some(ledger) => match ledger.next_counter(counter.name, floor, SHARED_COUNTER_BLOCK) {
                Ok(Some(start)) => start,
                Ok(None) => floor,
                Err(e) => {
                    tracing::warn!(error = %e, counter = counter.name, "shared counter unavailable");
                    *range = (floor + 1, floor + 1);
                    return floor;
                }
            },
            None => floor,
        };
        *range = (start + 1, start.saturating_add(SHARED_COUNTER_BLOCK));
        start
    }

    /// A licence serial not yet used; `None` once the ten digits are spent.
    pub fn next_serial(&self) -> Option<u64> {
        let serial = self.take(&self.serial);
        (serial <= LicenceNumber::MAX_SERIAL).then_some(serial)
    }

    /// A new application id for `year`.
    pub fn next_application_id(&self, year: i32) -> String {
        let number = self.take(&self.application);
        format!(
            "A{year:04}{number:0width$}",
            width = APPLICATION_NUMBER_DIGITS
        )
    }

    /// A status-list position for a new credential of `kind`.
    pub fn next_status_index(&self, kind: LicenceKind) -> u64 {
        let slot = usize::from(super::tables::kind_code(kind));
        // kind_code is 0..3 for the three kinds; the first counter keeps a wrong one unique.
        self.take(self.status.get(slot).unwrap_or(&self.status[0]))
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

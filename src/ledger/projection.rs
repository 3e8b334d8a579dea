//! The seam between the ledger and the state derived from it.
//!
//! A [`Projection`] turns each entry into writes to its own sled trees. The ledger writer calls
//! it for every entry *before* numbering the entry, against the state as of the previous entry
//! (committed state plus the writes of earlier entries in the same group), and writes the
//! projection's changes, the entries, the tree and the checkpoint in one transaction with an
//! applied-sequence watermark. So a command's precondition is checked in log order and the view
//! can never disagree with the log: a refused entry is never numbered, and replay after a restart
//! runs the same code over the same entries.
//!
//! The seam is shaped for a second backend: a database would run `apply` inside the transaction
//! that takes the sequence counter.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use super::entry::Entry;
use super::store::LedgerError;
use super::tables::Tables;

/// Why the projection would not apply an entry.
#[derive(Debug)]
pub enum ApplyError {
    /// The entry contradicts the state at its sequence number; it is not logged.
    Refused(Box<dyn std::error::Error + Send + Sync>),
    /// The view's storage failed.
    Storage(String),
}

impl From<LedgerError> for ApplyError {
    fn from(e: LedgerError) -> Self {
        ApplyError::Storage(e.to_string())
    }
}

/// State derived from the entries, kept in its own trees.
pub trait Projection: Send + Sync + 'static {
    /// Names of the sled trees the projection owns, indexed by position in `ViewTx` calls.
    fn tables(&self) -> &'static [&'static str];
    /// Format version; a stored view of another version is rebuilt from the entries.
    fn version(&self) -> u64;
    /// Applies one entry, or refuses it.
    fn apply(&self, tx: &mut ViewTx<'_>, entry: &Entry) -> Result<(), ApplyError>;
}

/// Pending writes: `None` deletes.
pub(crate) type Writes = HashMap<(usize, Vec<u8>), Option<Vec<u8>>>;

/// A view key: table and key.
pub(crate) type ViewKey = (usize, Vec<u8>);

/// Committed view rows read ahead for one group, on storage where each read is a round trip.
///
/// The writer first applies the group's entries in *discovery* passes: every read the fetched
/// rows do not answer is recorded and answered "absent" for now, so the apply goes on and finds
/// in the same pass every read that does not depend on that one (an issuance's uniqueness,
/// status-list and wallet keys); the recorded keys of all entries are then read in one batch,
/// and the pass repeats until nothing new is asked for. What a discovery pass decides is thrown
/// away. The deciding pass then reads through the fetched rows, so a group costs a few round
/// trips rather than one per read. The rows are the committed state under the group lock, which only this
/// writer changes while it holds it; a read the discovery did not foresee still goes to storage.
#[derive(Default)]
pub(crate) struct ReadAhead {
    pub(crate) fetched: HashMap<ViewKey, Option<Vec<u8>>>,
    /// Set during a discovery pass: the keys asked for that `fetched` does not hold.
    pub(crate) missing: Option<RefCell<HashSet<ViewKey>>>,
}

impl ReadAhead {
    /// How many keys the current discovery pass has found missing so far.
    pub(crate) fn missed(&self) -> usize {
        self.missing.as_ref().map_or(0, |m| m.borrow().len())
    }
}

/// Reads through the writes of this group (and this job) to the committed tables.
pub struct ViewTx<'a> {
    pub(crate) tables: &'a dyn Tables,
    pub(crate) group: &'a Writes,
    pub(crate) job: Writes,
    pub(crate) ahead: Option<&'a ReadAhead>,
}

impl<'a> ViewTx<'a> {
    pub(crate) fn new(tables: &'a dyn Tables, group: &'a Writes) -> Self {
        ViewTx {
            tables,
            group,
            job: Writes::new(),
            ahead: None,
        }
    }

    pub(crate) fn with_read_ahead(
        tables: &'a dyn Tables,
        group: &'a Writes,
        ahead: &'a ReadAhead,
    ) -> Self {
        ViewTx {
            ahead: Some(ahead),
            ..ViewTx::new(tables, group)
        }
    }

    /// The value at `key` in `table` as of the entry being applied.
    pub fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, ApplyError> {
        let slot = (table, key.to_vec());
        if let Some(pending) = self.job.get(&slot).or_else(|| self.group.get(&slot)) {
            return Ok(pending.clone());
        }
        if let Some(ahead) = self.ahead {
            if let Some(fetched) = ahead.fetched.get(&slot) {
                return Ok(fetched.clone());
            }
            if let Some(missing) = &ahead.missing {
                missing.borrow_mut().insert(slot);
                return Ok(None);
            }
        }
        Ok(self.tables.get(table, key)?)
    }

    pub fn put(&mut self, table: usize, key: Vec<u8>, value: Vec<u8>) {
        self.job.insert((table, key), Some(value));
    }

    pub fn delete(&mut self, table: usize, key: Vec<u8>) {
        self.job.insert((table, key), None);
    }

    pub(crate) fn into_writes(self) -> Writes {
        self.job
    }
}

/// A projection that keeps nothing, for a bare log.
pub struct NoProjection;

impl Projection for NoProjection {
    fn tables(&self) -> &'static [&'static str] {
        &[]
    }
    fn version(&self) -> u64 {
        0
    }
    fn apply(&self, _tx: &mut ViewTx<'_>, _entry: &Entry) -> Result<(), ApplyError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::collections::BTreeMap;

    use super::*;
    use crate::ledger::tables::{Order, Scan};

    /// Committed rows in memory, counting reads the way a database would bill round trips.
    #[derive(Default)]
    struct Counted {
        rows: BTreeMap<(usize, Vec<u8>), Vec<u8>>,
        single_reads: std::sync::atomic::AtomicUsize,
    }

    impl Tables for Counted {
        fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
            self.single_reads
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(self.rows.get(&(table, key.to_vec())).cloned())
        }
        fn scan(
            &self,
            _table: usize,
            _scan: Scan<'_>,
            _order: Order,
            _visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
        ) -> Result<(), LedgerError> {
            Ok(())
        }
    }

    /// An apply that follows a chain: the row at `a` names the key to read next.
    fn follow_chain(tx: &ViewTx<'_>, reads: &Cell<usize>) -> Result<Vec<u8>, ApplyError> {
        let mut key = b"a".to_vec();
        loop {
            reads.set(reads.get() + 1);
            match tx.get(0, &key)? {
                Some(next) if next.starts_with(b"->") => key = next[2..].to_vec(),
                Some(value) => return Ok(value),
                None => return Ok(b"absent".to_vec()),
            }
        }
    }

    #[test]
    fn discovery_fetches_a_chain_of_reads_one_step_per_pass_and_decides_alike() {
        let mut committed = Counted::default();
        committed.rows.insert((0, b"a".to_vec()), b"->b".to_vec());
        committed.rows.insert((0, b"b".to_vec()), b"->c".to_vec());
        committed.rows.insert((0, b"c".to_vec()), b"end".to_vec());
        let group = Writes::new();
        let direct = follow_chain(&ViewTx::new(&committed, &group), &Cell::new(0)).unwrap();
        assert_eq!(direct, b"end");
        let reads_direct = committed
            .single_reads
            .swap(0, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(reads_direct, 3);

        let mut ahead = ReadAhead::default();
        let mut passes = 0;
        loop {
            ahead.missing = Some(RefCell::default());
            let tx = ViewTx::with_read_ahead(&committed, &group, &ahead);
            let outcome = follow_chain(&tx, &Cell::new(0));
            drop(tx);
            let missing: Vec<ViewKey> = ahead
                .missing
                .take()
                .unwrap()
                .into_inner()
                .into_iter()
                .collect();
            if missing.is_empty() {
                assert_eq!(outcome.unwrap(), b"end", "a complete pass decides alike");
                break;
            }
            assert_eq!(
                outcome.unwrap(),
                b"absent",
                "a miss reads as absent while discovering"
            );
            let values = committed.get_many(&missing).unwrap();
            ahead.fetched.extend(missing.into_iter().zip(values));
            passes += 1;
        }
        assert_eq!(passes, 3, "one pass per dependent read");
        committed
            .single_reads
            .store(0, std::sync::atomic::Ordering::SeqCst);
        let deciding = ViewTx::with_read_ahead(&committed, &group, &ahead);
        assert_eq!(follow_chain(&deciding, &Cell::new(0)).unwrap(), b"end");
        assert_eq!(
            committed
                .single_reads
                .load(std::sync::atomic::Ordering::SeqCst),
            0,
            "the deciding pass reads only fetched rows"
        );
    }

    #[test]
    fn pending_writes_shadow_fetched_rows_and_unforeseen_reads_go_to_storage() {
        let mut committed = Counted::default();
        committed
            .rows
            .insert((0, b"a".to_vec()), b"stored".to_vec());
        committed
            .rows
            .insert((0, b"z".to_vec()), b"unforeseen".to_vec());
        let mut ahead = ReadAhead::default();
        ahead
            .fetched
            .insert((0, b"a".to_vec()), Some(b"fetched".to_vec()));
        let mut group = Writes::new();
        group.insert((0, b"a".to_vec()), Some(b"earlier entry".to_vec()));
        let mut tx = ViewTx::with_read_ahead(&committed, &group, &ahead);
        assert_eq!(tx.get(0, b"a").unwrap(), Some(b"earlier entry".to_vec()));
        tx.delete(0, b"a".to_vec());
        assert_eq!(tx.get(0, b"a").unwrap(), None, "this entry's own delete");
        assert_eq!(tx.get(0, b"z").unwrap(), Some(b"unforeseen".to_vec()));
        let empty = Writes::new();
        let fresh = ViewTx::with_read_ahead(&committed, &empty, &ahead);
        assert_eq!(fresh.get(0, b"a").unwrap(), Some(b"fetched".to_vec()));
    }

    #[test]
    fn reads_that_do_not_depend_on_a_miss_are_found_in_the_same_pass() {
        let committed = Counted::default();
        let group = Writes::new();
        let ahead = ReadAhead {
            missing: Some(RefCell::default()),
            ..ReadAhead::default()
        };
        let tx = ViewTx::with_read_ahead(&committed, &group, &ahead);
        for key in [&b"unique"[..], b"status", b"wallet"] {
            assert_eq!(tx.get(0, key).unwrap(), None);
        }
        drop(tx);
        let missing = ahead.missing.unwrap().into_inner();
        assert_eq!(missing.len(), 3, "one pass finds all three");
        assert_eq!(
            committed
                .single_reads
                .load(std::sync::atomic::Ordering::SeqCst),
            0,
            "discovery reads nothing itself"
        );
    }
}

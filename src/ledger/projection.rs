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

use std::collections::HashMap;

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

/// Reads through the writes of this group (and this job) to the committed tables.
pub struct ViewTx<'a> {
    pub(crate) tables: &'a dyn Tables,
    pub(crate) group: &'a Writes,
    pub(crate) job: Writes,
}

impl<'a> ViewTx<'a> {
    pub(crate) fn new(tables: &'a dyn Tables, group: &'a Writes) -> Self {
        ViewTx {
            tables,
            group,
            job: Writes::new(),
        }
    }

    /// The value at `key` in `table` as of the entry being applied.
    pub fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, ApplyError> {
        let slot = (table, key.to_vec());
        if let Some(pending) = self.job.get(&slot).or_else(|| self.group.get(&slot)) {
            return Ok(pending.clone());
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

//! The storage seam under the whole ledger.
//!
//! Everything the ledger keeps lives in numbered, ordered key-value tables: the entries, the
//! Merkle tree's nodes, the checkpoints, the meta values (size, watermark, log key), the four
//! subject indexes and the projection's view tables. The ledger reads them by key or by ordered
//! scan and writes them only in group commits: one atomic [`Backend::commit`] of everything a
//! group changes (entries, nodes, index keys, view rows, watermark, checkpoint), then one
//! [`Backend::flush`] before any caller is answered. The single ledger writer sequences the
//! commits, so the check of each command against the view and the append that follows it are
//! one step.
//!
//! sled is the embedded backend. A database backend (PostgreSQL, issue 11) implements the same
//! four operations over a table of `(table, key, value)` rows or tables of its own: the commit is
//! one transaction that also takes the sequence counter row, which is what lets several writers
//! share one database. Nothing outside `ledger/` names sled.

use std::ops::Bound;
use std::sync::Arc;

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

use super::store::LedgerError;
use super::tables::{Order, Scan, SledTables, Tables};

/// One stored row: key and value.
pub type Row = (Vec<u8>, Vec<u8>);
/// Rows in scan order, read lazily (an audit walks tens of millions).
pub type Rows<'a> = Box<dyn Iterator<Item = Result<Row, LedgerError>> + 'a>;

/// What a ledger needs from its storage.
pub trait Backend: Tables {
    /// The rows `scan` selects, in `order`, read as the caller advances. The scan's bounds are
    /// copied: the rows borrow only the backend.
    fn rows<'a>(&'a self, table: usize, scan: Scan<'_>, order: Order) -> Rows<'a>;
    /// Empties one table (a view rebuilt from scratch).
    fn clear(&self, table: usize) -> Result<(), LedgerError>;
    /// Writes every change in `writes` atomically: all of them or none.
    fn commit(&self, writes: &Batches) -> Result<(), LedgerError>;
    /// Makes every committed change durable.
    fn flush(&self) -> Result<(), LedgerError>;
    /// True when other processes may append to the same storage (a database several registry
    /// nodes share): the ledger must then take [`Backend::begin_group`] around each group
    /// commit and follow what others appended.
    fn is_shared(&self) -> bool {
        false
    }
    /// Starts a group commit: waits until no other process is in one, then returns the log
    /// size the storage holds now (`None` for storage only this process writes).
    fn begin_group(&self) -> Result<Option<u64>, LedgerError> {
        Ok(None)
    }
    /// Ends the group commit [`Backend::begin_group`] started, whatever its outcome.
    fn end_group(&self) {}
    /// Takes the next `count` values of the counter `name`, shared by every process on this
    /// storage, never below `floor`, and returns the first; `None` where the storage is this
    /// process's alone (it counts in memory).
    fn next_counter(
        &self,
        _name: &str,
        _floor: u64,
        _count: u64,
    ) -> Result<Option<u64>, LedgerError> {
        Ok(None)
    }
    /// Forgets what this process cached of rows other processes have changed since.
    fn sync(&self) -> Result<(), LedgerError> {
        Ok(())
    }
}

/// One change: a key and its new value, or `None` to remove it.
pub type Change = (Vec<u8>, Option<Vec<u8>>);

/// The changes of one group commit, per table, in the order they were made.
pub struct Batches {
    tables: Vec<Vec<Change>>,
    /// The log size this commit extends, and the size after it; `None` for view-only commits.
    sequence: Option<(u64, u64)>,
}

impl Batches {
    pub fn new(tables: usize) -> Self {
        Batches {
            tables: vec![Vec::new(); tables],
            sequence: None,
        }
    }

    /// Records that this commit extends the log from `from` entries to `to`: a backend shared
    /// by several processes checks `from` against its own counter inside the commit.
    pub fn advance_sequence(&mut self, from: u64, to: u64) {
        self.sequence = Some((from, to));
    }

    /// The sequence change [`Batches::advance_sequence`] recorded.
    pub fn sequence(&self) -> Option<(u64, u64)> {
        self.sequence
    }

    pub fn insert(&mut self, table: usize, key: impl AsRef<[u8]>, value: impl AsRef<[u8]>) {
        self.tables[table].push((key.as_ref().to_vec(), Some(value.as_ref().to_vec())));
    }

    pub fn remove(&mut self, table: usize, key: impl AsRef<[u8]>) {
        self.tables[table].push((key.as_ref().to_vec(), None));
    }

    /// The tables written, with their changes.
    pub fn touched(&self) -> impl Iterator<Item = (usize, &[Change])> {
        self.tables
            .iter()
            .enumerate()
            .filter(|(_, changes)| !changes.is_empty())
            .map(|(table, changes)| (table, changes.as_slice()))
    }
}

/// The ledger's tables as sled trees of one database.
pub struct SledBackend {
    db: sled::Db,
    tables: SledTables,
}

impl SledBackend {
    pub fn new(db: sled::Db, trees: &[sled::Tree]) -> Self {
        SledBackend {
            db,
            tables: SledTables::new(trees),
        }
    }
}

impl Tables for SledBackend {
    fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        self.tables.get(table, key)
    }

    fn scan(
        &self,
        table: usize,
        scan: Scan<'_>,
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), LedgerError> {
        self.tables.scan(table, scan, order, visit)
    }
}

impl Backend for SledBackend {
    fn rows<'a>(&'a self, table: usize, scan: Scan<'_>, order: Order) -> Rows<'a> {
        let iter = match self.tables.iter(table, scan) {
            Ok(iter) => iter,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let owned = |item: sled::Result<(sled::IVec, sled::IVec)>| {
            item.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .map_err(LedgerError::from)
        };
        match order {
            Order::Ascending => Box::new(iter.map(owned)),
            Order::Descending => Box::new(iter.rev().map(owned)),
        }
    }

    fn clear(&self, table: usize) -> Result<(), LedgerError> {
        Ok(self.tables.tree(table)?.clear()?)
    }

    /// One sled transaction over the trees the commit touches (each tree in a sled transaction
    /// costs set-up and commit work even when empty), one batch per tree.
    fn commit(&self, writes: &Batches) -> Result<(), LedgerError> {
        let mut trees = Vec::new();
        let mut batches = Vec::new();
        for (table, changes) in writes.touched() {
            let mut batch = sled::Batch::default();
            for (key, value) in changes {
                match value {
                    Some(value) => batch.insert(key.as_slice(), value.as_slice()),
                    None => batch.remove(key.as_slice()),
                }
            }
            trees.push(self.tables.tree(table)?.clone());
            batches.push(batch);
        }
        let outcome: Result<(), TransactionError<()>> = trees.as_slice().transaction(|views| {
            for (view, batch) in views.iter().zip(&batches) {
                view.apply_batch(batch)?;
            }
            Ok::<(), ConflictableTransactionError<()>>(())
        });
        outcome.map_err(|e| LedgerError::Storage(format!("{e:?}")))
    }

    fn flush(&self) -> Result<(), LedgerError> {
        self.db.flush()?;
        Ok(())
    }
}

/// The tables of a backend from `first` on, numbered from 0: the projection's view.
#[derive(Clone)]
pub struct TableWindow {
    backend: Arc<dyn Backend>,
    first: usize,
}

impl TableWindow {
    pub fn new(backend: Arc<dyn Backend>, first: usize) -> Self {
        TableWindow { backend, first }
    }
}

impl Tables for TableWindow {
    fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        self.backend.get(self.first + table, key)
    }

    fn get_many(&self, keys: &[(usize, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
        let shifted: Vec<(usize, Vec<u8>)> = keys
            .iter()
            .map(|(table, key)| (self.first + table, key.clone()))
            .collect();
        self.backend.get_many(&shifted)
    }

    fn scan(
        &self,
        table: usize,
        scan: Scan<'_>,
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), LedgerError> {
        self.backend.scan(self.first + table, scan, order, visit)
    }
}

/// Rows of a whole table read a page at a time.
const WALK_PAGE_ROWS: usize = 4096;

/// A whole table in ascending key order, owning its backend: for walks on another thread and
/// iterators that outlive a borrow. Memory is one page, whatever the table's size.
pub struct TableWalk {
    backend: Arc<dyn Backend>,
    table: usize,
    after: Option<Vec<u8>>,
    page: std::vec::IntoIter<Row>,
    done: bool,
}

impl TableWalk {
    pub fn new(backend: Arc<dyn Backend>, table: usize) -> Self {
        TableWalk {
            backend,
            table,
            after: None,
            page: Vec::new().into_iter(),
            done: false,
        }
    }

    fn load_page(&mut self) -> Result<(), LedgerError> {
        let scan = match &self.after {
            None => Scan::All,
            Some(key) => Scan::Range {
                from: Bound::Excluded(key.as_slice()),
                to: Bound::Unbounded,
            },
        };
        let rows: Vec<Row> = self
            .backend
            .rows(self.table, scan, Order::Ascending)
            .take(WALK_PAGE_ROWS)
            .collect::<Result<_, _>>()?;
        self.done = rows.len() < WALK_PAGE_ROWS;
        self.after = rows.last().map(|(key, _)| key.clone());
        self.page = rows.into_iter();
        Ok(())
    }
}

impl Iterator for TableWalk {
    type Item = Result<Row, LedgerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(row) = self.page.next() {
            return Some(Ok(row));
        }
        if self.done {
            return None;
        }
        if let Err(e) = self.load_page() {
            self.done = true;
            return Some(Err(e));
        }
        self.page.next().map(Ok)
    }
}

/// A key range from `from` (inclusive) to `to` (exclusive).
pub fn between<'a>(from: &'a [u8], to: &'a [u8]) -> Scan<'a> {
    Scan::Range {
        from: Bound::Included(from),
        to: Bound::Excluded(to),
    }
}

/// Rows from `from` (inclusive) to the end of the table.
pub fn from_key(from: &[u8]) -> Scan<'_> {
    Scan::Range {
        from: Bound::Included(from),
        to: Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_commit_writes_every_table_it_touches_and_rows_read_in_order() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let trees: Vec<sled::Tree> = (0..3)
            .map(|i| db.open_tree(format!("t{i}")).unwrap())
            .collect();
        let backend = SledBackend::new(db, &trees);
        let mut writes = Batches::new(3);
        writes.insert(0, b"b", b"2");
        writes.insert(0, b"a", b"1");
        writes.insert(2, b"x", b"9");
        writes.remove(2, b"x");
        writes.insert(2, b"y", b"8");
        backend.commit(&writes).unwrap();
        backend.flush().unwrap();
        let keys = |table, order| -> Vec<Vec<u8>> {
            backend
                .rows(table, Scan::All, order)
                .map(|row| row.unwrap().0)
                .collect()
        };
        assert_eq!(keys(0, Order::Ascending), [b"a", b"b"]);
        assert_eq!(keys(0, Order::Descending), [b"b", b"a"]);
        assert!(keys(1, Order::Ascending).is_empty());
        assert_eq!(keys(2, Order::Ascending), [b"y"], "changes apply in order");
        let window = TableWindow::new(Arc::new(backend), 2);
        assert_eq!(window.get(0, b"y").unwrap().as_deref(), Some(&b"8"[..]));
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("w").unwrap();
        let backend = Arc::new(SledBackend::new(db, &[tree]));
        let mut many = Batches::new(1);
        for i in 0..(WALK_PAGE_ROWS as u32 * 2 + 7) {
            many.insert(0, i.to_be_bytes(), []);
        }
        backend.commit(&many).unwrap();
        let walked: Vec<Vec<u8>> = TableWalk::new(backend, 0).map(|r| r.unwrap().0).collect();
        assert_eq!(
            walked.len(),
            WALK_PAGE_ROWS * 2 + 7,
            "every row once, across pages"
        );
        assert!(walked.windows(2).all(|w| w[0] < w[1]));
        let empty = SledBackend::new(sled::Config::new().temporary(true).open().unwrap(), &[]);
        let first = empty.rows(5, Scan::All, Order::Ascending).next();
        assert!(
            matches!(first, Some(Err(_))),
            "no such table is an error, not rows"
        );
    }
}

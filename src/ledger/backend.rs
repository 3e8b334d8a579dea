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

use super::row_cache::RowCache;
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
    /// A read by the ledger writer, which decides each command against it. Storage whose row
    /// cache serves only readers (sled, where a bulk import's writer would fill it with rows
    /// nobody else reads) answers from the table itself.
    fn get_for_writer(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        self.get(table, key)
    }
    /// [`Backend::get_for_writer`] for many keys at once.
    fn get_many_for_writer(
        &self,
        keys: &[(usize, Vec<u8>)],
    ) -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
        self.get_many(keys)
    }
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
    /// Rows read by key. A sled read walks four or five pages of the tree (about a fifth of a
    /// status lookup's CPU at ten million licences); a hit is one hash probe. Only this
    /// process writes a sled store, and every write goes through [`Backend::commit`] or
    /// [`Backend::clear`], which keep the cache right.
    cache: RowCache,
}

impl SledBackend {
    pub fn new(db: sled::Db, trees: &[sled::Tree]) -> Self {
        SledBackend {
            db,
            tables: SledTables::new(trees),
            cache: RowCache::default(),
        }
    }
}

/// A table's number as the row cache keys it.
fn cache_table(table: usize) -> Result<i16, LedgerError> {
    i16::try_from(table).map_err(|_| LedgerError::Storage(format!("no table {table}")))
}

impl Tables for SledBackend {
    fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        let cached_table = cache_table(table)?;
        if let Some(cached) = self.cache.get(cached_table, key) {
            return Ok(cached);
        }
        let generation = self.cache.generation();
        let value = self.tables.get(table, key)?;
        self.cache
            .fill(generation, cached_table, key.to_vec(), value.clone());
        Ok(value)
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
        let cleared = self.tables.tree(table)?.clear();
        self.cache.reset();
        Ok(cleared?)
    }

    /// One sled transaction over the trees the commit touches (each tree in a sled transaction
    /// costs set-up and commit work even when empty), one batch per tree.
    fn commit(&self, writes: &Batches) -> Result<(), LedgerError> {
        let mut trees = Vec::new();
        let mut batches = Vec::new();
        // What the row cache learns once sled has committed, worked out before: nothing after
        // the commit may fail, or a committed group would be reported as not written.
        let mut changed = Vec::new();
        for (table, changes) in writes.touched() {
            let cached_table = cache_table(table)?;
            changed.extend(
                changes
                    .iter()
                    .map(|(k, v)| (cached_table, &k[..], v.as_deref())),
            );
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
        match outcome {
            Ok(()) => {
                self.cache.committed(changed, None);
                Ok(())
            }
            Err(e) => {
                // What sled kept of a failed transaction is not known here: forget everything.
                self.cache.reset();
                Err(LedgerError::Storage(format!("{e:?}")))
            }
        }
    }

    fn flush(&self) -> Result<(), LedgerError> {
        self.db.flush()?;
        Ok(())
    }

    fn get_for_writer(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        self.tables.get(table, key)
    }

    fn get_many_for_writer(
        &self,
        keys: &[(usize, Vec<u8>)],
    ) -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
        keys.iter()
            .map(|(table, key)| self.tables.get(*table, key))
            .collect()
    }
}

/// The tables of a backend from `first` on, numbered from 0: the projection's view.
#[derive(Clone)]
pub struct TableWindow {
    backend: Arc<dyn Backend>,
    first: usize,
    /// Reads for the ledger writer ([`Backend::get_for_writer`]), not for readers.
    writer: bool,
}

impl TableWindow {
    /// The window readers use.
    pub fn new(backend: Arc<dyn Backend>, first: usize) -> Self {
        TableWindow {
            backend,
            first,
            writer: false,
        }
    }

    /// The window the ledger writer (and a view rebuild) decides against.
    pub fn for_writer(backend: Arc<dyn Backend>, first: usize) -> Self {
        TableWindow {
            writer: true,
            ..TableWindow::new(backend, first)
        }
    }

    /// The same tables, for readers.
    pub fn for_readers(&self) -> Self {
        TableWindow::new(Arc::clone(&self.backend), self.first)
    }
}

impl Tables for TableWindow {
    fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        if self.writer {
            self.backend.get_for_writer(self.first + table, key)
        } else {
            self.backend.get(self.first + table, key)
        }
    }

    fn get_many(&self, keys: &[(usize, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
        let shifted: Vec<(usize, Vec<u8>)> = keys
            .iter()
            .map(|(table, key)| (self.first + table, key.clone()))
            .collect();
        if self.writer {
            self.backend.get_many_for_writer(&shifted)
        } else {
            self.backend.get_many(&shifted)
        }
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

    fn cached_backend(tables: usize) -> Arc<SledBackend> {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let trees: Vec<sled::Tree> = (0..tables)
            .map(|i| db.open_tree(format!("t{i}")).unwrap())
            .collect();
        Arc::new(SledBackend::new(db, &trees))
    }

    /// Reads by key are cached; commits, removals and a cleared table show at once, to readers
    /// and to the writer's window alike.
    #[test]
    fn the_row_cache_follows_every_commit_and_clear() {
        let backend = cached_backend(2);
        let readers = TableWindow::new(Arc::clone(&backend) as Arc<dyn Backend>, 0);
        let writer = TableWindow::for_writer(Arc::clone(&backend) as Arc<dyn Backend>, 0);
        let put = |key: &[u8], value: Option<&[u8]>| {
            let mut writes = Batches::new(2);
            match value {
                Some(value) => writes.insert(1, key, value),
                None => writes.remove(1, key),
            }
            backend.commit(&writes).unwrap();
        };
        assert_eq!(
            readers.get(1, b"k").unwrap(),
            None,
            "absent, and now cached as absent"
        );
        put(b"k", Some(b"1"));
        assert_eq!(readers.get(1, b"k").unwrap().as_deref(), Some(&b"1"[..]));
        put(b"k", Some(b"2"));
        assert_eq!(readers.get(1, b"k").unwrap().as_deref(), Some(&b"2"[..]));
        assert_eq!(writer.get(1, b"k").unwrap().as_deref(), Some(&b"2"[..]));
        put(b"k", None);
        assert_eq!(readers.get(1, b"k").unwrap(), None);
        put(b"k", Some(b"3"));
        assert_eq!(readers.get(1, b"k").unwrap().as_deref(), Some(&b"3"[..]));
        backend.clear(1).unwrap();
        assert_eq!(
            readers.get(1, b"k").unwrap(),
            None,
            "a cleared table is empty"
        );
        assert_eq!(readers.get_many(&[(1, b"k".to_vec())]).unwrap(), vec![None]);
    }

    /// Readers on two threads read one key while commits raise its value: no reader ever sees
    /// a value older than one it saw before, and after the last commit every reader sees it.
    #[test]
    fn readers_never_go_back_while_commits_land() {
        for _round in 0..5 {
            let backend = cached_backend(1);
            let last = 2_000u32;
            let start = Arc::new(std::sync::Barrier::new(3));
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let readers: Vec<_> = (0..2)
                .map(|_| {
                    let (backend, start, done) =
                        (Arc::clone(&backend), Arc::clone(&start), Arc::clone(&done));
                    std::thread::spawn(move || {
                        let read = || {
                            backend
                                .get(0, b"k")
                                .unwrap()
                                .map_or(0, |v| u32::from_be_bytes(v.try_into().unwrap()))
                        };
                        start.wait();
                        let mut seen = 0;
                        while !done.load(std::sync::atomic::Ordering::Acquire) {
                            let now = read();
                            assert!(now >= seen, "went back from {seen} to {now}");
                            seen = now;
                        }
                        read()
                    })
                })
                .collect();
            start.wait();
            for value in 1..=last {
                let mut writes = Batches::new(1);
                writes.insert(0, b"k", value.to_be_bytes());
                backend.commit(&writes).unwrap();
            }
            done.store(true, std::sync::atomic::Ordering::Release);
            for reader in readers {
                assert_eq!(reader.join().unwrap(), last);
            }
        }
    }
}

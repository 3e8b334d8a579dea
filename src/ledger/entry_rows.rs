//! The entries as stored: [`ENTRIES_PER_ROW`] consecutive entries per row.
//!
//! Row `k` holds entries `k·16 ..` as a C2SP tlog-tiles entry bundle (each entry a big-endian
//! `u16` length and its bytes), so an entry bundle served at `/tile/entries/N` is sixteen rows
//! laid end to end. Only the last row may hold fewer than sixteen; a group commit rewrites it,
//! longer, in the same transaction as the entries it adds (as `hash_tiles` does for the tree).
//!
//! Why not one row per entry: sled splits a leaf node past 16 items and keeps a record of every
//! node in memory, loaded from its snapshot at open. At ten million licences the open spent 88%
//! of its page faults there and the service held 3.6 GB before it served anything (docs/ledger.md).
//! Rows, not bytes, decide that memory, and each entry was one of the 10.9 rows a licence cost.
//! Sixteen to a row also lets sled compress sixteen similar entries together, and lets the audit
//! and the view rebuild read the log in one sixteenth of the items.

use std::collections::BTreeMap;

use crate::log::tiles::{push_bundle_entry, split_bundle, EntryTooLong};

/// Entries in one stored row; a row of the log's last entries may hold fewer.
pub const ENTRIES_PER_ROW: u64 = 16;

/// Key of the row holding entry `seq`.
pub fn row_key(seq: u64) -> [u8; 8] {
    (seq / ENTRIES_PER_ROW).to_be_bytes()
}

/// The row index a stored key names, if it is a row key at all.
pub fn row_index(key: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(key).ok().map(u64::from_be_bytes)
}

/// Why a stored row is not what its place in the log says it must be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryRowError {
    #[error("entry row {row}: length prefixes do not add up")]
    Malformed { row: u64 },
    #[error("entry row {row} holds {held} entries, over the {ENTRIES_PER_ROW} a row holds")]
    Overfull { row: u64, held: usize },
    #[error("entry row {row} holds {held} entries where {expected} were expected")]
    Count {
        row: u64,
        held: usize,
        expected: u64,
    },
    #[error("entry row {row} is missing")]
    Missing { row: u64 },
    #[error(transparent)]
    TooLong(#[from] EntryTooLong),
    #[error("reading entry row {row}: {reason}")]
    Read { row: u64, reason: String },
}

/// The entries of row `row`, first to last.
pub fn split_row(row: u64, bytes: &[u8]) -> Result<Vec<&[u8]>, EntryRowError> {
    let entries = split_bundle(bytes).ok_or(EntryRowError::Malformed { row })?;
    if entries.len() as u64 > ENTRIES_PER_ROW {
        return Err(EntryRowError::Overfull {
            row,
            held: entries.len(),
        });
    }
    Ok(entries)
}

/// Entry `seq` out of the bytes of its row, or `None` where the row does not reach it yet.
pub fn entry_in_row(seq: u64, bytes: &[u8]) -> Result<Option<Vec<u8>>, EntryRowError> {
    let row = seq / ENTRIES_PER_ROW;
    let offset = (seq % ENTRIES_PER_ROW) as usize;
    Ok(split_row(row, bytes)?.get(offset).map(|e| e.to_vec()))
}

/// The entry rows one group commit writes: new rows, and the log's last row grown.
#[derive(Default)]
pub struct EntryWrites {
    /// Row index → (bundle bytes, entries in it).
    rows: BTreeMap<u64, (Vec<u8>, u64)>,
}

impl EntryWrites {
    /// Adds entry `seq`, the log's next. When it continues a row this group has not touched,
    /// `read` gives that row as stored (it must hold exactly the entries before `seq`).
    pub fn add(
        &mut self,
        seq: u64,
        entry: &[u8],
        read: impl FnOnce(&[u8; 8]) -> Result<Option<Vec<u8>>, String>,
    ) -> Result<(), EntryRowError> {
        let row = seq / ENTRIES_PER_ROW;
        let offset = seq % ENTRIES_PER_ROW;
        let (bytes, held) = match self.rows.entry(row) {
            std::collections::btree_map::Entry::Occupied(held) => held.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                let stored = if offset == 0 {
                    Vec::new()
                } else {
                    let key = row.to_be_bytes();
                    read(&key)
                        .map_err(|reason| EntryRowError::Read { row, reason })?
                        .ok_or(EntryRowError::Missing { row })?
                };
                let held = split_row(row, &stored)?.len() as u64;
                slot.insert((stored, held))
            }
        };
        if *held != offset {
            return Err(EntryRowError::Count {
                row,
                held: *held as usize,
                expected: offset,
            });
        }
        push_bundle_entry(bytes, entry)?;
        *held += 1;
        Ok(())
    }

    /// The rows to write: key and bundle bytes.
    pub fn into_rows(self) -> impl Iterator<Item = ([u8; 8], Vec<u8>)> {
        self.rows
            .into_iter()
            .map(|(row, (bytes, _))| (row.to_be_bytes(), bytes))
    }
}

/// The checks a walk over the stored rows makes, one row at a time: each row is the one after
/// the last, splits into entries, and only the log's last row is short.
pub struct RowSequence {
    /// The next entry the walk expects.
    next: u64,
    /// Set once a row held fewer than [`ENTRIES_PER_ROW`]: any row after it is a gap.
    short_row: bool,
}

impl RowSequence {
    /// A walk whose first row holds entry `first`.
    pub fn new(first: u64) -> Self {
        RowSequence {
            next: first,
            short_row: false,
        }
    }

    /// The entries of `bytes`, the row stored under `key`, from the walk's next entry on, and
    /// the sequence number of the first of them.
    pub fn take<'r, E>(
        &mut self,
        key: &[u8],
        bytes: &'r [u8],
    ) -> Result<(u64, Vec<&'r [u8]>), WalkError<E>> {
        let first = self.next;
        let expected_row = first / ENTRIES_PER_ROW;
        if self.short_row || row_index(key) != Some(expected_row) {
            return Err(WalkError::Gap { seq: first });
        }
        let mut entries = split_row(expected_row, bytes)
            .map_err(|reason| WalkError::Broken { seq: first, reason })?;
        self.short_row = (entries.len() as u64) < ENTRIES_PER_ROW;
        let skip = (first % ENTRIES_PER_ROW) as usize;
        if entries.len() <= skip {
            return Err(WalkError::Gap { seq: first });
        }
        entries.drain(..skip);
        self.next += entries.len() as u64;
        Ok((first, entries))
    }
}

/// Walks stored rows in key order and yields every entry from `first` on with its sequence
/// number, checking them as [`RowSequence`] does.
pub struct RowEntries<I> {
    rows: I,
    next: u64,
    pending: std::vec::IntoIter<Vec<u8>>,
    sequence: RowSequence,
    /// Set after an error: what follows a gap has no place to be read at.
    done: bool,
}

/// What [`RowEntries`] needs of a row source: key and bytes, or the source's own error.
pub type RowItem<E> = Result<(Vec<u8>, Vec<u8>), E>;

/// Why the walk stopped early.
#[derive(Debug)]
pub enum WalkError<E> {
    /// The row source failed.
    Source(E),
    /// The stored rows are not a log: the first entry that cannot be read, and why.
    Broken { seq: u64, reason: EntryRowError },
    /// A row after a short one, or a row out of order: entry `seq` is not where it must be.
    Gap { seq: u64 },
}

impl<I, E> RowEntries<I>
where
    I: Iterator<Item = RowItem<E>>,
{
    /// `rows` must start at the row holding `first`.
    pub fn new(rows: I, first: u64) -> Self {
        RowEntries {
            rows,
            next: first,
            pending: Vec::new().into_iter(),
            sequence: RowSequence::new(first),
            done: false,
        }
    }

    fn load(&mut self) -> Option<Result<(), WalkError<E>>> {
        let (key, bytes) = match self.rows.next()? {
            Ok(row) => row,
            Err(e) => return Some(Err(WalkError::Source(e))),
        };
        Some(self.sequence.take(&key, &bytes).map(|(_, entries)| {
            let wanted: Vec<Vec<u8>> = entries.iter().map(|e| e.to_vec()).collect();
            self.pending = wanted.into_iter();
        }))
    }
}

impl<I, E> Iterator for RowEntries<I>
where
    I: Iterator<Item = RowItem<E>>,
{
    type Item = Result<(u64, Vec<u8>), WalkError<E>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        loop {
            if let Some(entry) = self.pending.next() {
                let seq = self.next;
                self.next += 1;
                return Some(Ok((seq, entry)));
            }
            match self.load()? {
                Ok(()) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(seq: u64) -> Vec<u8> {
        format!("entry {seq}").into_bytes()
    }

    /// Writes `0..n` in groups of `group`, the way the writer does, into a map of rows.
    fn stored(n: u64, group: u64) -> BTreeMap<[u8; 8], Vec<u8>> {
        let mut table = BTreeMap::new();
        let mut seq = 0;
        while seq < n {
            let mut writes = EntryWrites::default();
            for s in seq..(seq + group).min(n) {
                writes
                    .add(s, &entry(s), |k| Ok(table.get(k).cloned()))
                    .unwrap();
            }
            table.extend(writes.into_rows());
            seq += group;
        }
        table
    }

    type Walked = Result<(u64, Vec<u8>), WalkError<()>>;

    fn walk(table: &BTreeMap<[u8; 8], Vec<u8>>, first: u64) -> Vec<Walked> {
        let start = row_key(first);
        let rows = table
            .range(start..)
            .map(|(k, v)| Ok::<_, ()>((k.to_vec(), v.clone())));
        RowEntries::new(rows, first).collect()
    }

    #[test]
    fn entries_written_in_any_grouping_read_back_in_order_from_any_start() {
        for group in [1, 3, 16, 17, 100] {
            let table = stored(70, group);
            assert_eq!(table.len(), 5, "70 entries take rows 0..=4");
            for first in [0, 1, 15, 16, 69] {
                let read: Vec<(u64, Vec<u8>)> = walk(&table, first)
                    .into_iter()
                    .map(|r| r.unwrap())
                    .collect();
                let expected: Vec<(u64, Vec<u8>)> = (first..70).map(|s| (s, entry(s))).collect();
                assert_eq!(read, expected, "group {group}, first {first}");
            }
            for seq in 0..70 {
                let row = &table[&row_key(seq)];
                assert_eq!(entry_in_row(seq, row).unwrap(), Some(entry(seq)));
            }
            assert_eq!(entry_in_row(70, &table[&row_key(70)]).unwrap(), None);
        }
    }

    #[test]
    fn stored_rows_are_entry_bundles() {
        let table = stored(20, 7);
        let mut bundle = Vec::new();
        for seq in 0..16 {
            push_bundle_entry(&mut bundle, &entry(seq)).unwrap();
        }
        assert_eq!(table[&row_key(0)], bundle);
    }

    #[test]
    fn a_missing_short_or_overfull_row_is_an_error_at_its_entry_never_a_wrong_entry() {
        let mut table = stored(50, 50);
        table.remove(&row_key(20));
        let results = walk(&table, 0);
        assert_eq!(results.len(), 17, "16 entries, then the gap");
        assert!(matches!(results[16], Err(WalkError::Gap { seq: 16 })));

        // Row 1 loses its last entry: entries 16..=30 read, then 31 is missing.
        let mut table = stored(50, 50);
        let mut short = Vec::new();
        for e in split_row(1, &table[&row_key(16)]).unwrap()[..15].iter() {
            push_bundle_entry(&mut short, e).unwrap();
        }
        table.insert(row_key(16), short);
        let results = walk(&table, 0);
        assert!(matches!(results[31], Err(WalkError::Gap { seq: 31 })));
        assert_eq!(results.len(), 32);

        let mut overfull = Vec::new();
        for seq in 0..17 {
            push_bundle_entry(&mut overfull, &entry(seq)).unwrap();
        }
        assert!(matches!(
            split_row(0, &overfull),
            Err(EntryRowError::Overfull { row: 0, held: 17 })
        ));
        assert!(matches!(
            split_row(0, &[0, 9, 1]),
            Err(EntryRowError::Malformed { row: 0 })
        ));
    }

    #[test]
    fn a_group_continuing_a_row_that_does_not_end_where_it_should_is_refused() {
        let table = stored(10, 10);
        let mut writes = EntryWrites::default();
        let err = writes
            .add(12, &entry(12), |k| Ok(table.get(k).cloned()))
            .unwrap_err();
        assert_eq!(
            err,
            EntryRowError::Count {
                row: 0,
                held: 10,
                expected: 12
            }
        );
        let mut writes = EntryWrites::default();
        let err = writes.add(20, &entry(20), |_| Ok(None)).unwrap_err();
        assert_eq!(err, EntryRowError::Missing { row: 1 });
    }
}

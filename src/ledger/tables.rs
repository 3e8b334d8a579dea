//! The storage seam for the projection's tables: ordered key-value tables, read by key or by
//! ordered scan. The ledger writer's `ViewTx` reads through it (under the group's pending writes)
//! and the registry's `View` reads nothing else, so a second backend (a database whose
//! transaction takes the sequence counter, writes the entries and applies the projection) only
//! has to provide these two reads over its own tables, plus the writes the writer already
//! collects as plain `(table, key) -> value` changes. sled is the embedded implementation.

use std::ops::Bound;
use std::sync::Arc;

use super::store::LedgerError;

/// Which keys a scan visits.
#[derive(Debug, Clone, Copy)]
pub enum Scan<'a> {
    All,
    Prefix(&'a [u8]),
    Range {
        from: Bound<&'a [u8]>,
        to: Bound<&'a [u8]>,
    },
}

/// Where an ascending scan stops.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ScanEnd<'a> {
    /// Past the keys that start with this prefix.
    Prefix(&'a [u8]),
    /// At this bound.
    Bound(Bound<&'a [u8]>),
}

impl ScanEnd<'_> {
    /// Whether `key`, reached in ascending order, is still inside the scan.
    pub(crate) fn admits(&self, key: &[u8]) -> bool {
        match self {
            ScanEnd::Prefix(prefix) => key.starts_with(prefix),
            ScanEnd::Bound(Bound::Unbounded) => true,
            ScanEnd::Bound(Bound::Included(to)) => key <= *to,
            ScanEnd::Bound(Bound::Excluded(to)) => key < *to,
        }
    }
}

impl<'a> Scan<'a> {
    /// The first key an ascending scan may visit, a key it must skip if it meets it there (an
    /// excluded lower bound), and where it ends.
    pub(crate) fn bounds(self) -> (&'a [u8], Option<&'a [u8]>, ScanEnd<'a>) {
        match self {
            Scan::All => (&[], None, ScanEnd::Bound(Bound::Unbounded)),
            Scan::Prefix(prefix) => (prefix, None, ScanEnd::Prefix(prefix)),
            Scan::Range { from, to } => match from {
                Bound::Unbounded => (&[], None, ScanEnd::Bound(to)),
                Bound::Included(from) => (from, None, ScanEnd::Bound(to)),
                Bound::Excluded(from) => (from, Some(from), ScanEnd::Bound(to)),
            },
        }
    }
}

/// The order a scan visits keys in (bytewise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    Ascending,
    Descending,
}

/// Read access to a projection's tables, by table index.
pub trait Tables: Send + Sync {
    /// The value at `key`.
    fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError>;
    /// The values at many keys, in the order asked. Storage across a network answers them in
    /// one round trip; embedded storage reads them one by one.
    fn get_many(&self, keys: &[(usize, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
        keys.iter()
            .map(|(table, key)| self.get(*table, key))
            .collect()
    }
    /// Visits the keys `scan` selects in `order` until `visit` returns false.
    fn scan(
        &self,
        table: usize,
        scan: Scan<'_>,
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), LedgerError>;
}

/// The projection's tables as sled trees.
#[derive(Clone)]
pub struct SledTables(Arc<[sled::Tree]>);

impl SledTables {
    pub(crate) fn new(trees: &[sled::Tree]) -> Self {
        SledTables(trees.to_vec().into())
    }

    pub(crate) fn tree(&self, table: usize) -> Result<&sled::Tree, LedgerError> {
        self.0
            .get(table)
            .ok_or_else(|| LedgerError::Storage(format!("no view table {table}")))
    }

    /// The sled iterator over the keys `scan` selects (ascending; `rev()` for descending).
    pub(crate) fn iter(&self, table: usize, scan: Scan<'_>) -> Result<sled::Iter, LedgerError> {
        let tree = self.tree(table)?;
        Ok(match scan {
            Scan::All => tree.iter(),
            Scan::Prefix(prefix) => tree.scan_prefix(prefix),
            Scan::Range { from, to } => tree.range::<&[u8], _>((from, to)),
        })
    }
}

impl Tables for SledTables {
    fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        Ok(self.tree(table)?.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(
        &self,
        table: usize,
        scan: Scan<'_>,
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), LedgerError> {
        if order == Order::Ascending {
            // Borrowed from the pinned leaf: no copy of a node, key or value per row.
            let (start, first_excluded, end) = scan.bounds();
            let tree = self.tree(table)?;
            tree.visit_from(start, |key, value| {
                if first_excluded == Some(key) {
                    return true;
                }
                if !end.admits(key) {
                    return false;
                }
                visit(key, value)
            })?;
            return Ok(());
        }
        let iter = self.iter(table, scan)?;
        let mut step = |item: sled::Result<(sled::IVec, sled::IVec)>| -> Result<bool, LedgerError> {
            let (key, value) = item?;
            Ok(visit(&key, &value))
        };
        match order {
            Order::Ascending => {
                for item in iter {
                    if !step(item)? {
                        break;
                    }
                }
            }
            Order::Descending => {
                for item in iter.rev() {
                    if !step(item)? {
                        break;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(tables: &SledTables, scan: Scan<'_>, order: Order, limit: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        tables
            .scan(0, scan, order, &mut |key, _| {
                out.push(key.to_vec());
                out.len() < limit
            })
            .unwrap();
        out
    }

    #[test]
    fn scans_select_order_and_stop() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        for key in [&b"a1"[..], b"a2", b"b1", b"c"] {
            tree.insert(key, key).unwrap();
        }
        let tables = SledTables::new(&[tree]);
        assert_eq!(tables.get(0, b"b1").unwrap().as_deref(), Some(&b"b1"[..]));
        assert_eq!(tables.get(0, b"zz").unwrap(), None);
        assert!(tables.get(1, b"a1").is_err(), "no such table");
        assert_eq!(
            keys(&tables, Scan::Prefix(b"a"), Order::Ascending, 9),
            [b"a1", b"a2"]
        );
        assert_eq!(
            keys(&tables, Scan::All, Order::Descending, 2),
            [&b"c"[..], b"b1"]
        );
        let range = Scan::Range {
            from: Bound::Included(&b"a2"[..]),
            to: Bound::Excluded(&b"c"[..]),
        };
        assert_eq!(keys(&tables, range, Order::Ascending, 9), [b"a2", b"b1"]);
    }

    /// The borrowing ascending scan visits exactly what sled's own iterator returns, across many
    /// leaves (a leaf splits past 64 rows), for every kind of bound and an early stop.
    #[test]
    fn ascending_scan_matches_sled_iterator_across_leaves() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let tree = db.open_tree("t").unwrap();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..5_000 {
            let n = next();
            // Keys of 1 to 40 bytes sharing prefixes, so leaves prefix-encode them.
            let len = 1 + (n % 40) as usize;
            let key: Vec<u8> = (0..len)
                .map(|i| b'a' + ((n >> (i % 60)) % 4) as u8)
                .collect();
            tree.insert(&key, &n.to_be_bytes()[..(n % 9) as usize])
                .unwrap();
        }
        let tables = SledTables::new(std::slice::from_ref(&tree));
        let probes: Vec<Vec<u8>> = (0..40)
            .map(|_| {
                let n = next();
                (0..1 + n % 6)
                    .map(|i| b'a' + ((n >> (i * 3)) % 4) as u8)
                    .collect()
            })
            .collect();
        let mut scans = vec![Scan::All];
        for (a, b) in probes.iter().zip(probes.iter().rev()) {
            let (lo, hi) = if a <= b { (a, b) } else { (b, a) };
            scans.push(Scan::Prefix(a));
            for from in [
                Bound::Included(&lo[..]),
                Bound::Excluded(&lo[..]),
                Bound::Unbounded,
            ] {
                for to in [
                    Bound::Included(&hi[..]),
                    Bound::Excluded(&hi[..]),
                    Bound::Unbounded,
                ] {
                    scans.push(Scan::Range { from, to });
                }
            }
        }
        for scan in scans {
            let expected: Vec<(Vec<u8>, Vec<u8>)> = tables
                .iter(0, scan)
                .unwrap()
                .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
                .collect();
            for limit in [usize::MAX, 1, 70] {
                let mut got = Vec::new();
                tables
                    .scan(0, scan, Order::Ascending, &mut |key, value| {
                        got.push((key.to_vec(), value.to_vec()));
                        got.len() < limit
                    })
                    .unwrap();
                let want = &expected[..expected.len().min(limit)];
                assert_eq!(got, want, "{scan:?}, limit {limit}");
            }
        }
        assert!(tree.len() > 1_000, "the keys span many leaves");
    }

    /// The vendored sled splits the rightmost leaf at its bound, not in half (change 8 in
    /// vendor/sled/LICREG-PATCH.md). Written as the ledger writes its entry rows (transactions
    /// appending in key order, each rewriting the last row longer), with large and small
    /// values, a few writes behind the tail and removals at it, the tree holds exactly what a
    /// model holds, read by key and in order, before and after a reopen.
    #[test]
    fn appends_in_key_order_read_back_exactly_after_reopen() {
        use std::collections::BTreeMap;
        let dir = tempfile::tempdir().unwrap();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        {
            let db = sled::Config::new().path(dir.path()).open().unwrap();
            let tree = db.open_tree("rows").unwrap();
            let mut last = 0u64;
            for group in 0..600u64 {
                let n = next();
                let mut writes: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
                // Large rows in the first half (the entry bundles), small ones after.
                let size = if group < 300 {
                    1_500 + (n % 700) as usize
                } else {
                    20 + (n % 30) as usize
                };
                // The last row again, longer; then new rows after it.
                writes.push((
                    last.to_be_bytes().to_vec(),
                    Some(vec![group as u8; size + 1]),
                ));
                for _ in 0..(n % 40) {
                    last += 1;
                    writes.push((
                        last.to_be_bytes().to_vec(),
                        Some(vec![(last % 251) as u8; size]),
                    ));
                }
                if n % 7 == 0 && last > 10 {
                    let behind = (n >> 8) % last;
                    writes.push((behind.to_be_bytes().to_vec(), Some(b"behind".to_vec())));
                }
                if n % 11 == 0 && last > 3 {
                    writes.push((last.to_be_bytes().to_vec(), None));
                    last -= 1;
                }
                tree.transaction(|tx| {
                    for (key, value) in &writes {
                        match value {
                            Some(value) => tx.insert(&key[..], &value[..])?,
                            None => tx.remove(&key[..])?,
                        };
                    }
                    Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
                })
                .unwrap();
                for (key, value) in writes {
                    match value {
                        Some(value) => model.insert(key, value),
                        None => model.remove(&key),
                    };
                }
            }
            assert!(model.len() > 5_000, "the rows span many leaves");
            check_against_model(&tree, &model);
            db.flush().unwrap();
        }
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        check_against_model(&db.open_tree("rows").unwrap(), &model);
    }

    fn check_against_model(
        tree: &sled::Tree,
        model: &std::collections::BTreeMap<Vec<u8>, Vec<u8>>,
    ) {
        let stored: Vec<(Vec<u8>, Vec<u8>)> = tree
            .iter()
            .map(|r| r.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
        let expected: Vec<(Vec<u8>, Vec<u8>)> =
            model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        assert_eq!(stored.len(), expected.len());
        assert!(
            stored == expected,
            "the tree's rows differ from the model's"
        );
        for (key, value) in model.iter().step_by(97) {
            assert_eq!(tree.get(key).unwrap().as_deref(), Some(&value[..]));
        }
        let tables = SledTables::new(std::slice::from_ref(tree));
        let mut scanned = 0usize;
        tables
            .scan(0, Scan::All, Order::Ascending, &mut |key, value| {
                let ok = expected
                    .get(scanned)
                    .is_some_and(|(k, v)| k == key && v == value);
                scanned += 1;
                ok
            })
            .unwrap();
        assert_eq!(scanned, expected.len());
    }
}

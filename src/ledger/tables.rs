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
}

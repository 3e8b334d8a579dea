//! Reading PostgreSQL rows in key order a page at a time, and short prefix scans through the
//! row cache: the `Scan` half of the backend, apart from sequencing and single reads.

use std::ops::Bound;

use super::{db_err, PostgresBackend};
use crate::ledger::backend::{Row, Rows};
use crate::ledger::row_cache::MAX_CACHED_SCAN_ROWS;
use crate::ledger::store::LedgerError;
use crate::ledger::tables::{Order, Scan};

/// Rows one scan query fetches before the next page is asked for.
const SCAN_PAGE_ROWS: i64 = 1024;

/// A scan's bounds, owned.
#[derive(Clone, Debug)]
struct OwnedBounds {
    from: Bound<Vec<u8>>,
    to: Bound<Vec<u8>>,
}

impl OwnedBounds {
    fn of(scan: Scan<'_>) -> Self {
        let owned = |b: Bound<&[u8]>| match b {
            Bound::Included(k) => Bound::Included(k.to_vec()),
            Bound::Excluded(k) => Bound::Excluded(k.to_vec()),
            Bound::Unbounded => Bound::Unbounded,
        };
        match scan {
            Scan::All => OwnedBounds {
                from: Bound::Unbounded,
                to: Bound::Unbounded,
            },
            Scan::Prefix(prefix) => OwnedBounds {
                from: Bound::Included(prefix.to_vec()),
                to: prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded),
            },
            Scan::Range { from, to } => OwnedBounds {
                from: owned(from),
                to: owned(to),
            },
        }
    }

    /// The bounds that continue a scan after `last`, the last key already read.
    fn after(&self, last: &[u8], order: Order) -> Self {
        match order {
            Order::Ascending => OwnedBounds {
                from: Bound::Excluded(last.to_vec()),
                to: self.to.clone(),
            },
            Order::Descending => OwnedBounds {
                from: self.from.clone(),
                to: Bound::Excluded(last.to_vec()),
            },
        }
    }
}

/// The first key after every key that starts with `prefix`; `None` when there is none.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

type Param = Box<dyn tokio_postgres::types::ToSql + Sync + Send>;

/// The query for one page of a scan, and its parameters.
fn scan_query(tbl: i16, bounds: &OwnedBounds, order: Order) -> (String, Vec<Param>) {
    let mut sql = String::from("SELECT key, value FROM licreg_rows WHERE tbl = $1");
    let mut params: Vec<Param> = vec![Box::new(tbl)];
    for (bound, included, excluded) in [(&bounds.from, ">=", ">"), (&bounds.to, "<=", "<")] {
        let (op, key) = match bound {
            Bound::Included(key) => (included, key),
            Bound::Excluded(key) => (excluded, key),
            Bound::Unbounded => continue,
        };
        params.push(Box::new(key.clone()));
        sql.push_str(&format!(" AND key {op} ${}", params.len()));
    }
    sql.push_str(match order {
        Order::Ascending => " ORDER BY key ASC",
        Order::Descending => " ORDER BY key DESC",
    });
    sql.push_str(&format!(" LIMIT {SCAN_PAGE_ROWS}"));
    (sql, params)
}

/// A scan read a page at a time as the caller advances.
struct PagedRows<'a> {
    backend: &'a PostgresBackend,
    table: usize,
    order: Order,
    bounds: OwnedBounds,
    page: std::vec::IntoIter<Row>,
    done: bool,
}

impl Iterator for PagedRows<'_> {
    type Item = Result<Row, LedgerError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(row) = self.page.next() {
            return Some(Ok(row));
        }
        if self.done {
            return None;
        }
        match self.backend.page(self.table, &self.bounds, self.order) {
            Ok(rows) => {
                self.done = (rows.len() as i64) < SCAN_PAGE_ROWS;
                if let Some((last, _)) = rows.last() {
                    self.bounds = self.bounds.after(last, self.order);
                }
                self.page = rows.into_iter();
                self.page.next().map(Ok)
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl PostgresBackend {
    /// The rows `scan` selects in `order`: a short prefix scan from the row cache when it can.
    pub(super) fn scan_rows(&self, table: usize, scan: Scan<'_>, order: Order) -> Rows<'_> {
        let mut paged = PagedRows {
            backend: self,
            table,
            order,
            bounds: OwnedBounds::of(scan),
            page: Vec::new().into_iter(),
            done: false,
        };
        if let Scan::Prefix(prefix) = scan {
            match self.cached_prefix_scan(&mut paged, prefix) {
                Ok(Some(rows)) => return Box::new(rows.into_iter().map(Ok)),
                Ok(None) => {}
                Err(e) => return Box::new(std::iter::once(Err(e))),
            }
        }
        Box::new(paged)
    }

    /// One page of a scan, owned, so it can cross to the runtime and back.
    fn page(
        &self,
        table: usize,
        bounds: &OwnedBounds,
        order: Order,
    ) -> Result<Vec<Row>, LedgerError> {
        let tbl = self.table_id(table)?;
        let pool = self.pool.clone();
        let bounds = bounds.clone();
        self.run(async move {
            let client = pool.get().await.map_err(db_err)?;
            let (sql, params) = scan_query(tbl, &bounds, order);
            let stmt = client.prepare_cached(&sql).await.map_err(db_err)?;
            let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                params.iter().map(|p| p.as_ref() as _).collect();
            let rows = client.query(&stmt, &refs).await.map_err(db_err)?;
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get(0).map_err(db_err)?,
                        row.try_get(1).map_err(db_err)?,
                    ))
                })
                .collect()
        })
    }

    /// A prefix scan from the row cache, or read and cached when its first page holds all of
    /// it (at most [`MAX_CACHED_SCAN_ROWS`]). A longer result is left in `paged` to go on with.
    fn cached_prefix_scan(
        &self,
        paged: &mut PagedRows<'_>,
        prefix: &[u8],
    ) -> Result<Option<Vec<Row>>, LedgerError> {
        let tbl = self.table_id(paged.table)?;
        let in_order = |mut rows: Vec<Row>, order: Order| {
            if order == Order::Descending {
                rows.reverse();
            }
            rows
        };
        if let Some(rows) = self.cache.scan(tbl, prefix) {
            return Ok(Some(in_order(rows.to_vec(), paged.order)));
        }
        let generation = self.cache.generation();
        let first = self.page(paged.table, &paged.bounds, paged.order)?;
        let complete = (first.len() as i64) < SCAN_PAGE_ROWS;
        if complete && first.len() <= MAX_CACHED_SCAN_ROWS {
            let ascending = in_order(first.clone(), paged.order);
            self.cache
                .fill_scan(generation, tbl, prefix.to_vec(), ascending);
        }
        if complete {
            return Ok(Some(first));
        }
        if let Some((last, _)) = first.last() {
            paged.bounds = paged.bounds.after(last, paged.order);
        }
        paged.page = first.into_iter();
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_ends_after_every_key_with_the_prefix() {
        assert_eq!(prefix_end(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(prefix_end(&[1, 0xff]), Some(vec![2]));
        assert_eq!(prefix_end(&[0xff, 0xff]), None);
        assert_eq!(prefix_end(b""), None);
    }

    #[test]
    fn scan_queries_bind_each_bound_once() {
        let bounds = OwnedBounds::of(Scan::Prefix(b"a"));
        let (sql, params) = scan_query(3, &bounds, Order::Descending);
        assert_eq!(
            sql,
            "SELECT key, value FROM licreg_rows WHERE tbl = $1 AND key >= $2 AND key < $3 \
             ORDER BY key DESC LIMIT 1024"
        );
        assert_eq!(params.len(), 3);
        let next = bounds.after(b"a7", Order::Descending);
        let (sql, _) = scan_query(3, &next, Order::Descending);
        assert!(sql.contains("key >= $2 AND key < $3"), "{sql}");
        let (sql, params) = scan_query(0, &OwnedBounds::of(Scan::All), Order::Ascending);
        assert_eq!(params.len(), 1);
        assert!(sql.ends_with("ORDER BY key ASC LIMIT 1024"));
    }
}

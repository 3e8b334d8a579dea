//! The rows a PostgreSQL group commit writes: each key's last change in the group, sent as
//! column arrays in one upsert and one delete, so a group of thousands of rows costs two
//! statements whatever its size.

use std::collections::BTreeMap;

use super::db_err;
use crate::ledger::backend::Batches;
use crate::ledger::store::LedgerError;

/// Each key's last change in the group: upserts and removals, as column arrays.
#[derive(Default)]
pub struct Changes {
    put_tbl: Vec<i16>,
    put_key: Vec<Vec<u8>>,
    put_value: Vec<Vec<u8>>,
    del_tbl: Vec<i16>,
    del_key: Vec<Vec<u8>>,
}

impl Changes {
    /// Every changed key with its table: upserted, then removed.
    pub fn keys(&self) -> impl Iterator<Item = (&i16, &Vec<u8>)> {
        self.put_tbl
            .iter()
            .zip(&self.put_key)
            .chain(self.del_tbl.iter().zip(&self.del_key))
    }

    /// Every changed row: its table, key and new value (`None` where it was removed).
    pub fn rows(&self) -> impl Iterator<Item = (i16, &[u8], Option<&[u8]>)> {
        let puts = self.put_tbl.iter().zip(&self.put_key).zip(&self.put_value);
        let dels = self.del_tbl.iter().zip(&self.del_key);
        puts.map(|((t, k), v)| (*t, k.as_slice(), Some(v.as_slice())))
            .chain(dels.map(|(t, k)| (*t, k.as_slice(), None)))
    }
}

pub fn final_changes(writes: &Batches, table_ids: &[i16]) -> Result<Changes, LedgerError> {
    let mut last: BTreeMap<(i16, &[u8]), Option<&[u8]>> = BTreeMap::new();
    for (table, changes) in writes.touched() {
        let tbl = *table_ids
            .get(table)
            .ok_or_else(|| LedgerError::Storage(format!("no table {table}")))?;
        for (key, value) in changes {
            last.insert((tbl, key.as_slice()), value.as_deref());
        }
    }
    let mut out = Changes::default();
    for ((tbl, key), value) in last {
        match value {
            Some(value) => {
                out.put_tbl.push(tbl);
                out.put_key.push(key.to_vec());
                out.put_value.push(value.to_vec());
            }
            None => {
                out.del_tbl.push(tbl);
                out.del_key.push(key.to_vec());
            }
        }
    }
    Ok(out)
}

pub async fn write_changes(
    tx: &deadpool_postgres::Transaction<'_>,
    changes: &Changes,
) -> Result<(), LedgerError> {
    let upserted = async {
        if changes.put_tbl.is_empty() {
            return Ok(());
        }
        let upsert = tx
            .prepare_cached(
                "INSERT INTO licreg_rows (tbl, key, value)
                 SELECT * FROM unnest($1::smallint[], $2::bytea[], $3::bytea[])
                 ON CONFLICT (tbl, key) DO UPDATE SET value = EXCLUDED.value",
            )
            .await
            .map_err(db_err)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
            [&changes.put_tbl, &changes.put_key, &changes.put_value];
        tx.execute(&upsert, &params)
            .await
            .map_err(db_err)
            .map(|_| ())
    };
    let deleted = async {
        if changes.del_tbl.is_empty() {
            return Ok(());
        }
        let delete = tx
            .prepare_cached(
                "DELETE FROM licreg_rows r
                 USING unnest($1::smallint[], $2::bytea[]) AS d (tbl, key)
                 WHERE r.tbl = d.tbl AND r.key = d.key",
            )
            .await
            .map_err(db_err)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
            [&changes.del_tbl, &changes.del_key];
        tx.execute(&delete, &params)
            .await
            .map_err(db_err)
            .map(|_| ())
    };
    futures::try_join!(upserted, deleted).map(|_| ())
}

//! The keys each PostgreSQL group commit changed, so that other registry nodes forget only those
//! rows from their caches instead of everything (`row_cache`).
//!
//! With two nodes taking turns at the group lock, emptying the whole cache at every turn sent
//! nearly every view read of the writer to the database. Each commit now lists its keys in
//! `licreg_changed_keys`, in the same transaction as the rows; a node that finds the log moved
//! reads the lists for exactly the entries in between, and empties its cache only when they do
//! not cover them (pruned, or a commit too large to list).

use super::db_err;
use crate::ledger::row_cache::ChangedKeys;
use crate::ledger::store::LedgerError;

/// Entries back from the head for which commits keep their list of changed keys; a node further
/// behind than that empties its row cache instead.
const CHANGED_KEYS_RETAIN_ENTRIES: u64 = 65_536;
/// Old lists are deleted when a commit crosses a multiple of this many entries.
const CHANGED_KEYS_PRUNE_EVERY_ENTRIES: u64 = 4_096;
/// Most bytes of changed keys one commit lists; a larger commit (an import's) lists none, and
/// other nodes empty their caches.
const MAX_CHANGED_KEYS_BYTES: usize = 1024 * 1024;

/// Every list that covers entries after `$1` up to `$2`, in log order.
pub const CHANGED_KEYS_SQL: &str = "SELECT size_from, size_to, keys FROM licreg_changed_keys
     WHERE size_to > $1 AND size_to <= $2 ORDER BY size_to";

/// Lists the keys a group commit changes, for other nodes' row caches, and every
/// [`CHANGED_KEYS_PRUNE_EVERY_ENTRIES`] deletes the lists they no longer need.
pub async fn record_changed_keys<'k>(
    tx: &deadpool_postgres::Transaction<'_>,
    from: u64,
    to: u64,
    keys: impl Iterator<Item = (&'k i16, &'k Vec<u8>)>,
) -> Result<(), LedgerError> {
    let Some(encoded) = encode_changed_keys(keys) else {
        return Ok(()); // too many to list: other nodes find the gap and empty their caches
    };
    let (from_i, to_i) = (
        i64::try_from(from).map_err(db_err)?,
        i64::try_from(to).map_err(db_err)?,
    );
    let insert = async {
        let insert = tx
            .prepare_cached(
                "INSERT INTO licreg_changed_keys (size_to, size_from, keys) VALUES ($1, $2, $3)",
            )
            .await
            .map_err(db_err)?;
        tx.execute(&insert, &[&to_i, &from_i, &encoded])
            .await
            .map_err(db_err)
    };
    let prune = async {
        if from / CHANGED_KEYS_PRUNE_EVERY_ENTRIES == to / CHANGED_KEYS_PRUNE_EVERY_ENTRIES {
            return Ok(0);
        }
        let before =
            i64::try_from(to.saturating_sub(CHANGED_KEYS_RETAIN_ENTRIES)).map_err(db_err)?;
        tx.execute(
            "DELETE FROM licreg_changed_keys WHERE size_to < $1",
            &[&before],
        )
        .await
        .map_err(db_err)
    };
    futures::try_join!(insert, prune)?;
    Ok(())
}

/// `[table i16][key length u32][key]…`, big-endian; `None` past [`MAX_CHANGED_KEYS_BYTES`].
fn encode_changed_keys<'a>(keys: impl Iterator<Item = (&'a i16, &'a Vec<u8>)>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for (tbl, key) in keys {
        out.extend_from_slice(&tbl.to_be_bytes());
        out.extend_from_slice(&u32::try_from(key.len()).ok()?.to_be_bytes());
        out.extend_from_slice(key);
        if out.len() > MAX_CHANGED_KEYS_BYTES {
            return None;
        }
    }
    Some(out)
}

/// The inverse of [`encode_changed_keys`]; `None` for bytes it did not write.
fn decode_changed_keys(mut bytes: &[u8], out: &mut Vec<(i16, Vec<u8>)>) -> Option<()> {
    while !bytes.is_empty() {
        let (tbl, rest) = bytes.split_first_chunk::<2>()?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        if rest.len() < len {
            return None;
        }
        let (key, rest) = rest.split_at(len);
        out.push((i16::from_be_bytes(*tbl), key.to_vec()));
        bytes = rest;
    }
    Some(())
}

/// Every key other writers changed since this process saw the log at `seen` entries, if the
/// lists cover exactly the entries up to `size`; `None` when the cache must be emptied instead.
pub async fn changed_keys(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    seen: Option<u64>,
    size: u64,
) -> Result<Option<ChangedKeys>, LedgerError> {
    let Some(seen) = seen.filter(|seen| *seen < size) else {
        return Ok(None);
    };
    if size - seen > CHANGED_KEYS_RETAIN_ENTRIES {
        return Ok(None);
    }
    let (after, upto) = (
        i64::try_from(seen).map_err(db_err)?,
        i64::try_from(size).map_err(db_err)?,
    );
    let rows = client
        .query(statement, &[&after, &upto])
        .await
        .map_err(db_err)?;
    let mut keys = Vec::new();
    let mut reached = after;
    for row in rows {
        let from: i64 = row.try_get(0).map_err(db_err)?;
        let to: i64 = row.try_get(1).map_err(db_err)?;
        let bytes: &[u8] = row.try_get(2).map_err(db_err)?;
        if from != reached || decode_changed_keys(bytes, &mut keys).is_none() {
            return Ok(None);
        }
        reached = to;
    }
    Ok((reached == upto).then_some(ChangedKeys {
        from: seen,
        to: size,
        keys,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_keys_round_trip_and_foreign_bytes_are_refused() {
        let tbls = [1i16, -3];
        let keys = [b"licence/1".to_vec(), Vec::new()];
        let encoded = encode_changed_keys(tbls.iter().zip(&keys)).expect("small");
        let mut decoded = Vec::new();
        assert_eq!(decode_changed_keys(&encoded, &mut decoded), Some(()));
        assert_eq!(decoded, vec![(1, b"licence/1".to_vec()), (-3, Vec::new())]);
        for cut in 1..encoded.len() {
            let mut out = Vec::new();
            let whole = decode_changed_keys(&encoded[..cut], &mut out);
            assert!(
                whole.is_none() || cut == 2 + 4 + 9,
                "a cut at {cut} bytes decodes only on a key boundary"
            );
        }
        let huge = vec![0u8; MAX_CHANGED_KEYS_BYTES];
        assert_eq!(encode_changed_keys([(&1i16, &huge)].into_iter()), None);
    }
}

//! Bringing the stored view up to the log at open.
//!
//! Every commit writes the view with its entries, so a view is behind only when it is new, was
//! deleted, or was built by another format version. Then it is rebuilt (once) by applying the
//! entries it has not seen, in large transactions, with a progress bar. An entry the projection
//! refuses on replay means the log and the rules disagree: opening fails rather than skipping it.

use std::time::Duration;

use super::backend::Backend;
use super::entry::{Entry, Seq};
use super::projection::{ApplyError, ViewTx, Writes};
use super::store::{
    scan_entries, Batches, LedgerError, Shared, META_VIEW_APPLIED, META_VIEW_VERSION, TREE_META,
    TREE_VIEW_FIRST,
};

/// Entries applied per rebuild transaction.
const REBUILD_CHUNK_ENTRIES: u64 = 20_000;

fn read_u64(backend: &dyn Backend, key: &[u8]) -> Result<Option<u64>, LedgerError> {
    match backend.get(TREE_META, key)? {
        None => Ok(None),
        Some(v) => Ok(Some(u64::from_be_bytes(v.as_slice().try_into().map_err(
            |_| {
                LedgerError::Storage(format!(
                    "meta {} is not 8 bytes",
                    String::from_utf8_lossy(key)
                ))
            },
        )?))),
    }
}

/// Applies the entries the stored view has not seen; rebuilds it from scratch when its format
/// version differs from the projection's.
pub(crate) fn catch_up(shared: &Shared) -> Result<(), LedgerError> {
    let meta = shared.backend.as_ref();
    let size = read_u64(meta, b"size")?.unwrap_or(0);
    let version = shared.projection_version();
    let stored_version = read_u64(meta, META_VIEW_VERSION)?;
    let mut applied = read_u64(meta, META_VIEW_APPLIED)?.unwrap_or(0);
    if stored_version != Some(version) {
        for table in TREE_VIEW_FIRST..shared.table_count {
            shared.backend.clear(table)?;
        }
        applied = 0;
        let mut writes = Batches::new(shared.table_count);
        writes.insert(TREE_META, META_VIEW_APPLIED, 0u64.to_be_bytes());
        writes.insert(TREE_META, META_VIEW_VERSION, version.to_be_bytes());
        shared.backend.commit(&writes)?;
        shared.backend.flush()?;
    }
    if applied > size {
        return Err(LedgerError::Storage(format!(
            "the view has applied {applied} entries but the log holds {size}"
        )));
    }
    if applied == size {
        return Ok(());
    }
    let bar = progress(size - applied);
    while applied < size {
        let end = (applied + REBUILD_CHUNK_ENTRIES).min(size);
        apply_range(shared, applied, end)?;
        bar.inc(end - applied);
        applied = end;
    }
    bar.finish_and_clear();
    shared.backend.flush()?;
    Ok(())
}

fn progress(total: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "rebuilding the view {bar:30} {pos}/{len} entries, {per_sec}, ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// Applies entries `[start, end)` and moves the watermark, in one transaction.
fn apply_range(shared: &Shared, start: u64, end: u64) -> Result<(), LedgerError> {
    let mut writes = Writes::new();
    let mut walk = scan_entries(shared.backend.as_ref(), start, end);
    for seq in start..end {
        let bytes = match walk.next() {
            Some(item) => item?.1,
            None => return Err(LedgerError::NoSuchEntry(seq)),
        };
        let entry = Entry::decode(&bytes).map_err(|e| LedgerError::Corrupt {
            seq,
            reason: e.to_string(),
        })?;
        if entry.seq != Seq(seq) {
            return Err(LedgerError::Corrupt {
                seq,
                reason: format!("entry says it is {}", entry.seq),
            });
        }
        let mut tx = ViewTx::new(&shared.view_tables, &writes);
        match shared.apply(&mut tx, &entry) {
            Ok(()) => {}
            Err(ApplyError::Refused(why)) => {
                return Err(LedgerError::Corrupt {
                    seq,
                    reason: format!("the view refuses it on replay: {why}"),
                })
            }
            Err(ApplyError::Storage(e)) => return Err(LedgerError::Storage(e)),
        }
        let job = tx.into_writes();
        writes.extend(job);
    }
    let mut batches = Batches::new(shared.table_count);
    for ((table, key), value) in writes {
        match value {
            Some(value) => batches.insert(TREE_VIEW_FIRST + table, key, value),
            None => batches.remove(TREE_VIEW_FIRST + table, key),
        }
    }
    batches.insert(TREE_META, META_VIEW_APPLIED, end.to_be_bytes());
    shared.backend.commit(&batches)
}

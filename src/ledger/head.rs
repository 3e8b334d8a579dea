//! The log's head as stored (size, tree, last leaf, the checkpoint for that size), the key the
//! log was created with, and ordered reads of stored entries: what opening a ledger and
//! following another node's appends both read, apart from the writer that moves the head.

use std::ops::Bound;

use super::backend::{Backend, Batches};
use super::entry::Seq;
use super::entry_rows;
use super::hash_tiles::tile_key;
use super::store::{
    Head, LedgerError, Shared, StoredNodes, META_SIZE, META_VKEY, TREE_CHECKPOINTS, TREE_ENTRIES,
    TREE_INDEX_FIRST, TREE_META, TREE_TILES,
};
use super::tables::{Order, Scan};
use crate::log::merkle::{CompactRange, NodeStore};
use crate::log::note::{NoteSigner, VerifierKey};

/// Records the log's verifier key on first open; afterwards insists on the same key.
pub(crate) fn bind_verifier_key(
    backend: &dyn Backend,
    signer: Option<&NoteSigner>,
) -> Result<VerifierKey, LedgerError> {
    let stored = match backend.get(TREE_META, META_VKEY)? {
        Some(bytes) => {
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| LedgerError::Storage("stored log key is not UTF-8".into()))?;
            Some(
                text.parse::<VerifierKey>()
                    .map_err(|e| LedgerError::Storage(format!("stored log key: {e}")))?,
            )
        }
        None => None,
    };
    match (stored, signer) {
        (Some(stored), Some(signer)) if stored != signer.verifier_key() => Err(LedgerError::Key(
            "this ledger was created with a different log key".into(),
        )),
        (Some(stored), _) => Ok(stored),
        (None, Some(signer)) => {
            let vkey = signer.verifier_key();
            let mut writes = Batches::new(TREE_INDEX_FIRST);
            writes.insert(TREE_META, META_VKEY, vkey.to_string().as_bytes());
            backend.commit(&writes)?;
            backend.flush()?;
            Ok(vkey)
        }
        (None, None) => Err(LedgerError::Key(
            "the ledger is new and no log key was given to create it".into(),
        )),
    }
}

/// Replaces the head with `head` unless the one held is already as new (a follower's refresh
/// and the writer may race; the head only moves forward).
pub(crate) fn advance_head(shared: &Shared, head: Head) {
    let mut held = match shared.head.write() {
        Ok(h) => h,
        Err(p) => p.into_inner(),
    };
    if head.size >= held.size {
        *held = head;
    }
}

/// Entries `from..to` as stored, read as one ordered scan of their rows; a gap or an unreadable
/// row ends the scan with an error at the first entry it cannot give.
pub(crate) fn scan_entries(
    backend: &dyn Backend,
    from: u64,
    to: u64,
) -> impl Iterator<Item = Result<(Seq, Vec<u8>), LedgerError>> + '_ {
    let low = entry_rows::row_key(from);
    let high = entry_rows::row_key(to.saturating_add(entry_rows::ENTRIES_PER_ROW - 1));
    let rows = backend.rows(
        TREE_ENTRIES,
        Scan::Range {
            from: Bound::Included(&low),
            to: Bound::Excluded(&high),
        },
        Order::Ascending,
    );
    entry_rows::RowEntries::new(rows, from)
        .take(usize::try_from(to.saturating_sub(from)).unwrap_or(usize::MAX))
        .map(|item| match item {
            Ok((seq, bytes)) => Ok((Seq(seq), bytes)),
            Err(entry_rows::WalkError::Source(e)) => Err(e),
            Err(entry_rows::WalkError::Gap { seq }) => Err(LedgerError::NoSuchEntry(seq)),
            Err(entry_rows::WalkError::Broken { seq, reason }) => Err(LedgerError::Corrupt {
                seq,
                reason: reason.to_string(),
            }),
        })
}

/// Refuses a ledger whose first entry row is not a bundle of the entries it must hold: one
/// written when every entry was its own row.
fn check_entry_layout(backend: &dyn Backend, size: u64) -> Result<(), LedgerError> {
    if size == 0 {
        return Ok(());
    }
    let expected = size.min(entry_rows::ENTRIES_PER_ROW) as usize;
    let held = backend
        .get(TREE_ENTRIES, &entry_rows::row_key(0))?
        .and_then(|row| entry_rows::split_row(0, &row).ok().map(|e| e.len()));
    if held != Some(expected) {
        return Err(LedgerError::Storage(format!(
            "the ledger holds {size} entries but its first entry row is not a bundle of \
             {expected}: it was written in the older one-row-per-entry format, which this \
             version does not read"
        )));
    }
    Ok(())
}

/// The head as stored: size, tree, last leaf and the checkpoint signed for that size.
pub(crate) fn load_head(backend: &dyn Backend) -> Result<Head, LedgerError> {
    let size = match backend.get(TREE_META, META_SIZE)? {
        None => 0,
        Some(v) => u64::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| LedgerError::Storage("meta size is not 8 bytes".into()))?,
        ),
    };
    if size > 0 && backend.get(TREE_TILES, &tile_key(0, 0))?.is_none() {
        // Ledgers written before hash tiles kept one row per tree node in a `nodes` table.
        return Err(LedgerError::Storage(format!(
            "the ledger holds {size} entries but no hash tiles: it was written in the older \
             one-row-per-node format, which this version does not read"
        )));
    }
    check_entry_layout(backend, size)?;
    let nodes = StoredNodes(backend, None);
    let mut hashes = Vec::new();
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if size & (1u64 << level) != 0 {
            hashes.push(nodes.node(level, start >> level)?);
            start += 1u64 << level;
        }
    }
    let range =
        CompactRange::from_parts(size, hashes).map_err(|e| LedgerError::Storage(e.to_string()))?;
    let last_leaf = if size == 0 {
        [0u8; 32]
    } else {
        nodes.node(0, size - 1)?
    };
    // The checkpoint for exactly this size: another process may have signed a newer one since
    // the size was read.
    let last = match backend.get(TREE_CHECKPOINTS, &size.to_be_bytes())? {
        Some(note) => Some((size.to_be_bytes().to_vec(), note)),
        None => backend
            .rows(TREE_CHECKPOINTS, Scan::All, Order::Descending)
            .next()
            .transpose()?,
    };
    let checkpoint = match last {
        Some((_, note)) => Some(
            String::from_utf8(note.to_vec())
                .map_err(|_| LedgerError::Storage("checkpoint is not UTF-8".into()))?,
        ),
        None => None,
    };
    Ok(Head {
        size,
        range,
        last_leaf,
        checkpoint,
    })
}

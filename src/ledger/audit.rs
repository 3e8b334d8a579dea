//! The ledger audit: re-derive everything from the entries and compare with what is stored.
//!
//! One pass over the entries checks each decode, sequence number, chain link and leaf hash,
//! rebuilds the Merkle tree and compares every stored node as it is recreated, checks each stored
//! checkpoint's signature and root at its size, and folds every index key into an
//! order-independent digest that must equal the digest of the index trees. Consecutive
//! checkpoints are then proved consistent with RFC 6962 consistency proofs from the stored nodes.
//! Every problem names the sequence number it was found at.

use std::sync::Arc;

use super::backend::{between, Backend, Rows, TableWalk};
use super::entry::{Entry, EntryRef, SubjectKind};
use super::entry_rows;
use super::hash_tiles::{stored_position, tile_key};
use super::store::{
    kind_slot, Ledger, LedgerError, StoredNodes, TREE_ENTRIES, TREE_INDEX_FIRST, TREE_TILES,
};
use super::tables::{Order, Scan};
use crate::log::checkpoint::Checkpoint;
use crate::log::merkle::{self, CompactRange, Hash, HASH_LEN};

/// Most problems an audit lists before it stops collecting.
pub const MAX_REPORTED_PROBLEMS: usize = 100;

/// One thing the audit found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The entry the problem is at, when it concerns one.
    pub seq: Option<u64>,
    pub what: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "entry {seq}: {}", self.what),
            None => f.write_str(&self.what),
        }
    }
}

/// The outcome of an audit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditReport {
    pub entries: u64,
    pub checkpoints: u64,
    pub index_keys: u64,
    pub problems: Vec<Problem>,
}

impl AuditReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }

    fn problem(&mut self, seq: Option<u64>, what: impl Into<String>) {
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(Problem {
                seq,
                what: what.into(),
            });
        }
    }
}

/// An order-independent digest of a set of index keys: the sum, in two 64-bit halves, of each
/// key's keyed 128-bit SipHash-1-3.
///
/// The key is drawn at random for each audit, so nobody can prepare index entries whose digests
/// cancel; SipHash is several times cheaper than SHA-256 on these short keys, and one 128-bit
/// pass costs half of two 64-bit ones (this is hashed twice per index key, 46M times at 10M
/// licences).
#[derive(Clone)]
struct SetDigest {
    key: [u8; 16],
    sums: [u64; 2],
}

impl SetDigest {
    fn new() -> Self {
        use rand_core::RngCore;
        let mut key = [0u8; 16];
        rand_core::OsRng.fill_bytes(&mut key);
        SetDigest { key, sums: [0; 2] }
    }

    /// An empty digest under the same key.
    fn empty_like(&self) -> Self {
        SetDigest {
            key: self.key,
            sums: [0; 2],
        }
    }

    fn add(&mut self, slot: usize, key: &[u8]) {
        self.add_parts(slot, &[key]);
    }

    /// Adds the key made of `parts` laid end to end (SipHash reads a stream: the parts hash as
    /// their concatenation would), so an index key need not be built to be counted.
    fn add_parts(&mut self, slot: usize, parts: &[&[u8]]) {
        use siphasher::sip128::Hasher128;
        use std::hash::Hasher;
        let mut hasher = siphasher::sip128::SipHasher13::new_with_key(&self.key);
        // The slot has a fixed width and the key runs to the end: (slot, key) pairs hash apart.
        hasher.write(&slot.to_le_bytes());
        for part in parts {
            hasher.write(part);
        }
        let (high, low) = hasher.finish128().as_u64();
        self.sums[0] = self.sums[0].wrapping_add(high);
        self.sums[1] = self.sums[1].wrapping_add(low);
    }
}

impl std::fmt::Debug for SetDigest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SetDigest({:x?})", self.sums)
    }
}

/// Entries handed from the entry walk to the tree walk, per message.
const ENTRY_CHUNK: usize = 4096;

/// Entries on their way from the entry walk to the tree walk: their bytes laid end to end, where
/// each ends, and the previous leaf hash each names (`None` where it did not decode: the entry
/// walk reported that). The tree walk hashes them: SHA-256 of the entries is the largest single
/// cost of the audit, and this way it runs beside the decoding rather than after it.
#[derive(Default)]
struct EntryBatch {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    claims: Vec<Option<Hash>>,
}

impl EntryBatch {
    fn push(&mut self, entry: &[u8], claim: Option<Hash>) {
        self.bytes.extend_from_slice(entry);
        self.ends.push(self.bytes.len());
        self.claims.push(claim);
    }

    /// The leaf hashes of the batch, whose first entry is `first_seq`, checking each entry's
    /// link to the one before (`prev_leaf`, carried from batch to batch).
    fn leaf_hashes(
        &self,
        first_seq: u64,
        prev_leaf: &mut Hash,
        report: &mut AuditReport,
    ) -> Vec<Hash> {
        let mut leaves = Vec::with_capacity(self.ends.len());
        let mut start = 0;
        for (seq, (end, claim)) in (first_seq..).zip(self.ends.iter().zip(&self.claims)) {
            let leaf = merkle::leaf_hash(self.bytes.get(start..*end).unwrap_or_default());
            start = *end;
            if claim.is_some_and(|claim| claim != *prev_leaf) {
                report.problem(Some(seq), "hash chain broken: prev_hash does not match");
            }
            *prev_leaf = leaf;
            leaves.push(leaf);
        }
        leaves
    }
}

/// What the entry walk found: its problems, the index digest and the entry count.
type EntryWalk = (Vec<Problem>, SetDigest, u64);

/// Walks the entries on their own thread (decode, sequence numbers, index digest), sending each
/// entry on so the calling thread hashes it and rebuilds the tree at the same time. Each row is
/// read where the storage holds it (`Tables::scan`); an entry is copied once, into its batch.
fn spawn_entry_walk(
    backend: Arc<dyn Backend>,
    mut digest: SetDigest,
    batches: crossbeam_channel::Sender<EntryBatch>,
) -> std::thread::JoinHandle<Result<EntryWalk, LedgerError>> {
    std::thread::spawn(move || {
        let mut report = AuditReport::default();
        let mut batch = EntryBatch::default();
        let mut count = 0u64;
        let mut sequence = entry_rows::RowSequence::new(0);
        backend.scan(
            TREE_ENTRIES,
            Scan::All,
            Order::Ascending,
            &mut |key, row| {
                let entries = match sequence.take::<LedgerError>(key, row) {
                    Ok((_, entries)) => entries,
                    Err(entry_rows::WalkError::Broken { seq, reason }) => {
                        report.problem(Some(seq), reason.to_string());
                        return false;
                    }
                    Err(entry_rows::WalkError::Gap { seq }) => {
                        report.problem(Some(seq), "entry out of sequence (missing or extra entry)");
                        return false;
                    }
                    // `take` reads no source of its own.
                    Err(entry_rows::WalkError::Source(e)) => {
                        report.problem(Some(count), e.to_string());
                        return false;
                    }
                };
                for bytes in entries {
                    let claim = check_entry(&mut report, count, bytes, &mut digest);
                    batch.push(bytes, claim);
                    count += 1;
                    if batch.ends.len() == ENTRY_CHUNK
                        && batches.send(std::mem::take(&mut batch)).is_err()
                    {
                        return false;
                    }
                }
                true
            },
        )?;
        let _ = batches.send(batch);
        Ok((report.problems, digest, count))
    })
}

/// Walks the whole ledger. `progress` is called with the number of entries checked so far.
pub fn audit(ledger: &Ledger, mut progress: impl FnMut(u64)) -> Result<AuditReport, LedgerError> {
    let shared = ledger.shared();
    let mut report = AuditReport::default();
    let mut checkpoints = ledger.checkpoints().peekable();
    let mut range = CompactRange::new();
    let digest = SetDigest::new();
    let index_scan = IndexScan::start(shared, digest.empty_like());
    let (batch_tx, batch_rx) = crossbeam_channel::bounded(8);
    let entry_walk = spawn_entry_walk(Arc::clone(&shared.backend), digest, batch_tx);
    let mut tile_walk = TileWalk::new(shared.backend.as_ref());
    let mut verified_sizes = Vec::new();
    let mut prev_leaf: Hash = [0; 32];
    for batch in batch_rx.iter() {
        for leaf in batch.leaf_hashes(range.size(), &mut prev_leaf, &mut report) {
            let created = range
                .append(leaf)
                .map_err(|e| LedgerError::Storage(e.to_string()))?;
            for (level, index, hash) in created {
                tile_walk.check(&mut report, level, index, &hash)?;
            }
            report.entries = range.size();
            while let Some(Ok((size, _))) = checkpoints.peek() {
                if *size > report.entries {
                    break;
                }
                if let Some(Ok((size, note))) = checkpoints.next() {
                    check_checkpoint(
                        ledger,
                        &mut report,
                        size,
                        &note,
                        &range,
                        &mut verified_sizes,
                    );
                }
            }
            if report.entries % 65_536 == 0 {
                progress(report.entries);
            }
        }
    }
    tile_walk.finish(&mut report)?;
    let (entry_problems, expected_index, _) = entry_walk
        .join()
        .map_err(|_| LedgerError::Storage("entry walk thread failed".into()))??;
    let mut all = entry_problems;
    all.append(&mut report.problems);
    report.problems = all;
    report.problems.truncate(MAX_REPORTED_PROBLEMS);
    progress(report.entries);
    for leftover in checkpoints {
        let (size, _) = leftover?;
        report.problem(
            None,
            format!("checkpoint for size {size} is beyond the log"),
        );
    }
    if report.entries != ledger.size() {
        report.problem(
            None,
            format!(
                "log head says {} entries, found {}",
                ledger.size(),
                report.entries
            ),
        );
    }
    check_head(ledger, &mut report, &verified_sizes);
    check_consistency(ledger, &mut report, &verified_sizes);
    check_indexes(shared, &mut report, &expected_index, index_scan)?;
    Ok(report)
}

/// Decodes entry `position`, checks its sequence number, adds its index keys to the digest, and
/// returns the previous leaf hash it names (the tree walk checks that link), or `None` when it
/// does not decode.
fn check_entry(
    report: &mut AuditReport,
    position: u64,
    bytes: &[u8],
    index_digest: &mut SetDigest,
) -> Option<Hash> {
    match EntryRef::decode(bytes) {
        Err(e) => {
            report.problem(Some(position), format!("cannot decode: {e}"));
            None
        }
        Ok(entry) => {
            if entry.seq.0 != position {
                report.problem(
                    Some(position),
                    format!("records sequence number {}", entry.seq),
                );
            }
            for (kind, key) in &entry.subjects {
                // The parts of `index_key(key, position)`, unbuilt.
                let seq = position.to_be_bytes();
                index_digest.add_parts(kind_slot(*kind), &[key.as_bytes(), &[0], &seq]);
            }
            Some(entry.prev_hash)
        }
    }
}

/// Compares recreated tree nodes with the stored hash tiles, reading each tile level's rows in
/// order. Only levels that are multiples of 8 are stored; the ones between are derived from them.
struct TileWalk<'a> {
    backend: &'a dyn Backend,
    levels: Vec<LevelWalk<'a>>,
}

/// One tile level: its rows in order, and the tile being compared with how much of it was seen.
struct LevelWalk<'a> {
    rows: Rows<'a>,
    current: Option<(u64, Vec<u8>)>,
    seen: usize,
}

impl<'a> TileWalk<'a> {
    fn new(backend: &'a dyn Backend) -> Self {
        TileWalk {
            backend,
            levels: Vec::new(),
        }
    }

    fn level(&mut self, tile_level: u8) -> &mut LevelWalk<'a> {
        while self.levels.len() <= usize::from(tile_level) {
            let l = self.levels.len() as u8;
            self.levels.push(LevelWalk {
                rows: self
                    .backend
                    .rows(TREE_TILES, Scan::Prefix(&[l]), Order::Ascending),
                current: None,
                seen: 0,
            });
        }
        &mut self.levels[usize::from(tile_level)]
    }

    fn check(
        &mut self,
        report: &mut AuditReport,
        level: u8,
        index: u64,
        hash: &Hash,
    ) -> Result<(), LedgerError> {
        let Some((tile_level, tile_index, offset)) = stored_position(level, index) else {
            return Ok(());
        };
        let backend = self.backend;
        let seq = index << level;
        let walk = self.level(tile_level);
        if walk.current.as_ref().map(|(i, _)| *i) != Some(tile_index) {
            walk.finish_tile(report, tile_level);
            match walk.rows.next().transpose()? {
                Some((key, row)) if key.as_ref() == tile_key(tile_level, tile_index) => {
                    walk.current = Some((tile_index, row.to_vec()));
                }
                _ => {
                    report.problem(
                        Some(seq),
                        format!("hash tile {tile_level}/{tile_index} is missing"),
                    );
                    // Re-seek past it so one gap is not reported for every later tile.
                    let mut from = tile_key(tile_level, tile_index).to_vec();
                    from.push(0);
                    let to = tile_key(tile_level + 1, 0);
                    walk.rows = backend.rows(TREE_TILES, between(&from, &to), Order::Ascending);
                    walk.current = Some((tile_index, Vec::new()));
                }
            }
            walk.seen = 0;
        }
        walk.seen = offset + 1;
        let Some((_, row)) = &walk.current else {
            return Ok(());
        };
        let stored = row.get(offset * HASH_LEN..(offset + 1) * HASH_LEN);
        match stored {
            Some(stored) if stored == hash => {}
            Some(_) if level == 0 => report.problem(
                Some(seq),
                "leaf hash differs from the entry bytes (entry or tree changed)",
            ),
            Some(_) => report.problem(
                Some(seq),
                format!("tree node {level}/{index} differs from the recomputed hash"),
            ),
            None if row.is_empty() => {}
            None => report.problem(
                Some(seq),
                format!("hash tile {tile_level}/{tile_index} is short of node {level}/{index}"),
            ),
        }
        Ok(())
    }

    /// Reports stored hashes or tiles beyond what the log's entries make.
    fn finish(mut self, report: &mut AuditReport) -> Result<(), LedgerError> {
        for (tile_level, walk) in self.levels.iter_mut().enumerate() {
            walk.finish_tile(report, tile_level as u8);
            if let Some((key, _)) = walk.rows.next().transpose()? {
                report.problem(
                    None,
                    format!("hash tile {} is beyond the log", hex_key(&key)),
                );
            }
        }
        Ok(())
    }
}

impl LevelWalk<'_> {
    fn finish_tile(&mut self, report: &mut AuditReport, tile_level: u8) {
        if let Some((index, row)) = &self.current {
            if row.len() > self.seen * HASH_LEN {
                report.problem(
                    None,
                    format!(
                        "hash tile {tile_level}/{index} holds {} hashes, the log makes {}",
                        row.len() / HASH_LEN,
                        self.seen
                    ),
                );
            }
        }
    }
}

fn hex_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

fn check_checkpoint(
    ledger: &Ledger,
    report: &mut AuditReport,
    size: u64,
    note: &str,
    range: &CompactRange,
    verified: &mut Vec<(u64, Hash)>,
) {
    let at = Some(size.saturating_sub(1));
    match Checkpoint::open_signed(note, ledger.verifier_key(), ledger.origin()) {
        Err(e) => report.problem(
            at,
            format!("checkpoint for size {size} does not verify: {e}"),
        ),
        Ok((checkpoint, _)) => {
            if checkpoint.size != size {
                report.problem(
                    at,
                    format!(
                        "checkpoint stored under size {size} says {}",
                        checkpoint.size
                    ),
                );
            } else if checkpoint.root != range.root() {
                report.problem(
                    at,
                    format!("checkpoint root at size {size} differs from the tree"),
                );
            } else {
                verified.push((size, checkpoint.root));
            }
        }
    }
    report.checkpoints += 1;
}

fn check_head(ledger: &Ledger, report: &mut AuditReport, verified: &[(u64, Hash)]) {
    let Some(note) = ledger.checkpoint() else {
        if report.entries > 0 {
            report.problem(None, "entries exist but no checkpoint was signed");
        }
        return;
    };
    match Checkpoint::open_signed(&note, ledger.verifier_key(), ledger.origin()) {
        Ok((latest, _)) if latest.size == report.entries => {
            if verified.last().map(|(_, root)| *root) != Some(latest.root) {
                report.problem(None, "latest checkpoint does not match the tree root");
            }
        }
        Ok((latest, _)) => report.problem(
            None,
            format!(
                "latest checkpoint covers {} entries, the log has {}",
                latest.size, report.entries
            ),
        ),
        Err(e) => report.problem(None, format!("latest checkpoint does not verify: {e}")),
    }
}

fn check_consistency(ledger: &Ledger, report: &mut AuditReport, verified: &[(u64, Hash)]) {
    // The audit reads what is stored, not what a cache remembers.
    let nodes = StoredNodes(ledger.shared().backend.as_ref(), None);
    for pair in verified.windows(2) {
        let [(size1, root1), (size2, root2)] = pair else {
            continue;
        };
        let ok = merkle::consistency_proof(&nodes, *size1, *size2)
            .ok()
            .is_some_and(|proof| {
                merkle::verify_consistency(*size1, *size2, &proof, root1, root2).is_ok()
            });
        if !ok {
            report.problem(
                Some(size2.saturating_sub(1)),
                format!("checkpoints {size1} and {size2} are not consistent"),
            );
        }
    }
}

/// Digests the index trees on another thread while the entries are walked.
struct IndexScan {
    handle: std::thread::JoinHandle<Result<(SetDigest, u64), LedgerError>>,
}

impl IndexScan {
    fn start(shared: &super::store::Shared, mut digest: SetDigest) -> Self {
        let backend = Arc::clone(&shared.backend);
        let handle = std::thread::spawn(move || {
            let mut count = 0u64;
            for kind in SubjectKind::ALL {
                let slot = kind_slot(kind);
                // A visit borrows each key where the storage holds it: no copy per row.
                backend.scan(
                    TREE_INDEX_FIRST + slot,
                    Scan::All,
                    Order::Ascending,
                    &mut |key, _| {
                        digest.add(slot, key);
                        count += 1;
                        true
                    },
                )?;
            }
            Ok((digest, count))
        });
        IndexScan { handle }
    }
}

fn check_indexes(
    shared: &super::store::Shared,
    report: &mut AuditReport,
    expected: &SetDigest,
    scan: IndexScan,
) -> Result<(), LedgerError> {
    let (actual, count) = scan
        .handle
        .join()
        .map_err(|_| LedgerError::Storage("index scan thread failed".into()))??;
    report.index_keys = count;
    if actual.sums != expected.sums {
        locate_index_problems(shared, report)?;
    }
    Ok(())
}

/// The slow path, taken only when the digests differ: find which keys are wrong.
fn locate_index_problems(
    shared: &super::store::Shared,
    report: &mut AuditReport,
) -> Result<(), LedgerError> {
    let before = report.problems.len();
    for kind in SubjectKind::ALL {
        let table = TREE_INDEX_FIRST + kind_slot(kind);
        for row in TableWalk::new(Arc::clone(&shared.backend), table) {
            let (key, _) = row?;
            let split = key.len().saturating_sub(9);
            let seq = key
                .get(split + 1..)
                .and_then(|s| <[u8; 8]>::try_from(s).ok())
                .map(u64::from_be_bytes);
            let named = seq.and_then(|seq| {
                let row = shared
                    .backend
                    .get(TREE_ENTRIES, &entry_rows::row_key(seq))
                    .ok()??;
                let bytes = entry_rows::entry_in_row(seq, &row).ok()??;
                let entry = Entry::decode(&bytes).ok()?;
                let text = std::str::from_utf8(key.get(..split)?).ok()?;
                Some(
                    entry
                        .subjects
                        .iter()
                        .any(|s| s.kind == kind && s.key == text),
                )
            });
            if named != Some(true) {
                report.problem(
                    seq,
                    format!("{} has a key its entry does not name", kind.tree_name()),
                );
            }
        }
    }
    if report.problems.len() == before {
        report.problem(None, "an index is missing keys that its entries name");
    }
    Ok(())
}

#[cfg(test)]
mod tests;

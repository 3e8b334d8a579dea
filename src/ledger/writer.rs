//! The ledger writer: one thread that sequences appends with group commit.
//!
//! It drains its queue, applies each append to the projection against the state at its
//! sequence number (refusing contradictions before numbering), extends the tree, signs one
//! checkpoint and writes everything in one transaction. Callers are answered only after a flush
//! that began after their group committed. On storage this process owns alone (sled) the flush
//! runs on a second thread, so one group's fsync overlaps deciding and committing the next; on
//! shared storage (PostgreSQL) the commit is the durable step and stays under the group lock. A
//! flush that fails after a commit stops the writer for good (see `store`).

use std::sync::atomic::Ordering;

use crossbeam_channel::Receiver;

use super::backend::Backend;
use super::entry::{Entry, Seq};
use super::entry_rows::{self, EntryWrites};
use super::hash_tiles::{TileSpan, TileWrites};
use super::projection::{ApplyError, ReadAhead, ViewKey, ViewTx, Writes};
use super::store::{
    index_key, kind_slot, AppendResult, Appended, Batches, Head, Job, LedgerError, Shared,
    MAX_GROUP_COMMIT, META_SIZE, META_VIEW_APPLIED, TREE_CHECKPOINTS, TREE_ENTRIES,
    TREE_INDEX_FIRST, TREE_META, TREE_TILES, TREE_VIEW_FIRST,
};
use super::tables::Tables;
use crate::clock::Clock;
use crate::log::checkpoint::Checkpoint;
use crate::log::merkle::{self, Hash};
use crate::log::note::NoteSigner;

/// Committed groups that may wait for the flusher before the writer blocks.
const FLUSH_QUEUE_DEPTH: usize = 4;

/// A group whose transaction has committed, waiting for the flush that makes it durable.
struct Committed {
    head: Head,
    batch: Vec<Job>,
    results: Vec<AppendResult>,
}

pub(crate) fn writer_loop(
    shared: &Shared,
    signer: &NoteSigner,
    clock: &dyn Clock,
    jobs: &Receiver<Job>,
) {
    // On storage only this process writes, the flush of one group overlaps deciding and
    // committing the next: the next group reads the committed (not yet durable) state, which is
    // the state as of the last entry before it, and its callers are answered only after a flush
    // that began after their commit. On shared storage the commit is the durable step and the
    // group lock must span it, so the flush stays inline.
    let pipelined = !shared.backend.is_shared();
    std::thread::scope(|scope| {
        let (to_flusher, committed) = crossbeam_channel::bounded::<Committed>(FLUSH_QUEUE_DEPTH);
        if pipelined {
            let flusher = std::thread::Builder::new()
                .name("ledger-flusher".into())
                .spawn_scoped(scope, move || flusher_loop(shared, &committed));
            if let Err(e) = flusher {
                tracing::error!(error = %e, "cannot start the ledger flusher; appends stopped");
                shared.poisoned.store(true, Ordering::SeqCst);
            }
        }
        let mut head = match shared.head.read() {
            Ok(h) => h.clone(),
            Err(p) => p.into_inner().clone(),
        };
        while let Ok(first) = jobs.recv() {
            let batch = gather(first, jobs);
            if shared.poisoned.load(Ordering::SeqCst) {
                refuse_all(batch, jobs);
                return;
            }
            let Some(done) = decide_and_commit(shared, signer, clock, &mut head, batch) else {
                continue;
            };
            if pipelined {
                if let Err(unsent) = to_flusher.send(done) {
                    // The flusher is gone: nothing can be made durable any more.
                    shared.poisoned.store(true, Ordering::SeqCst);
                    answer_poisoned(unsent.0.batch);
                }
            } else {
                finish(shared, vec![done]);
            }
        }
    });
}

/// The first job and every job already waiting behind it, up to [`MAX_GROUP_COMMIT`] entries.
fn gather(first: Job, jobs: &Receiver<Job>) -> Vec<Job> {
    let mut count = first.entries.len();
    let mut batch = vec![first];
    while count < MAX_GROUP_COMMIT {
        match jobs.try_recv() {
            Ok(job) => {
                count += job.entries.len();
                batch.push(job);
            }
            Err(_) => break,
        }
    }
    batch
}

/// Decides and commits one group on top of `head`, advancing it. Returns the committed group
/// for the flush, or `None` when the group failed before anything was written (its callers
/// are answered here and `head` is unchanged).
fn decide_and_commit(
    shared: &Shared,
    signer: &NoteSigner,
    clock: &dyn Clock,
    head: &mut Head,
    batch: Vec<Job>,
) -> Option<Committed> {
    let outcome = match begin_group(shared, head) {
        Ok(start) => commit(shared, signer, clock, start, &batch),
        Err(e) => Err(Failure::Before(e)),
    };
    shared.backend.end_group();
    match outcome {
        Ok((new_head, results)) => {
            *head = new_head.clone();
            Some(Committed {
                head: new_head,
                batch,
                results,
            })
        }
        Err(Failure::Before(e)) => {
            let message = e.to_string();
            for job in batch {
                job.reply.send(Err(LedgerError::Storage(message.clone())));
            }
            None
        }
        Err(Failure::Flush(message)) => {
            // Whether the commit landed cannot be known: stop rather than guess.
            shared.poisoned.store(true, Ordering::SeqCst);
            tracing::error!(error = %message, "ledger commit outcome unknown; appends stopped");
            answer_poisoned(batch);
            None
        }
    }
}

/// Takes every committed group waiting, makes them durable with one flush and answers them.
fn flusher_loop(shared: &Shared, committed: &Receiver<Committed>) {
    while let Ok(first) = committed.recv() {
        let mut groups = vec![first];
        groups.extend(committed.try_iter());
        finish(shared, groups);
    }
}

/// One flush for `groups` (committed in this order), then the head advances and every caller
/// is answered; if the flush fails, the ledger stops for good and they are told so.
fn finish(shared: &Shared, groups: Vec<Committed>) {
    let flushed = if shared.poisoned.load(Ordering::SeqCst) {
        Err("an earlier flush failed".to_string())
    } else if shared.fail_next_flush.swap(false, Ordering::SeqCst) {
        Err("injected flush failure".to_string())
    } else {
        shared.backend.flush().map_err(|e| e.to_string())
    };
    if let Err(message) = flushed {
        // The transactions may or may not be on disk: stop rather than guess.
        if !shared.poisoned.swap(true, Ordering::SeqCst) {
            tracing::error!(error = %message, "ledger flush failed; appends stopped");
        }
        for group in groups {
            answer_poisoned(group.batch);
        }
        return;
    }
    for group in groups {
        super::store::advance_head(shared, group.head);
        for (job, result) in group.batch.into_iter().zip(group.results) {
            job.reply.send(result);
        }
    }
}

fn answer_poisoned(batch: Vec<Job>) {
    for job in batch {
        job.reply.send(Err(LedgerError::Poisoned));
    }
}

/// After the ledger stopped: this group and everything queued behind it are refused.
fn refuse_all(batch: Vec<Job>, jobs: &Receiver<Job>) {
    answer_poisoned(batch);
    answer_poisoned(jobs.try_iter().collect());
}

/// Starts a group on top of the writer's `head`: on storage other processes also append to,
/// takes the group lock and, if they appended since this writer last did, reloads the head, so
/// the group is checked against the view as of the last durable entry whoever wrote it.
fn begin_group(shared: &Shared, head: &Head) -> Result<Head, LedgerError> {
    match shared.backend.begin_group()? {
        Some(stored) if stored != head.size => {
            prefetch_head(shared.backend.as_ref(), stored)?;
            let fresh = super::store::load_head(shared.backend.as_ref())?;
            if fresh.size != stored {
                return Err(LedgerError::Storage(format!(
                    "the storage's counter says {stored} entries but its rows hold {}",
                    fresh.size
                )));
            }
            super::store::advance_head(shared, fresh.clone());
            Ok(fresh)
        }
        _ => Ok(head.clone()),
    }
}

/// Reads in one batch the rows another writer's appends changed that this group needs at
/// `size`: what reloading the head reads (size, compact range, last leaf, checkpoint) and the
/// last entry row and right-edge hash tiles this group extends. The backend's row cache keeps
/// them, so on shared storage they cost one round trip instead of one each.
fn prefetch_head(backend: &dyn Backend, size: u64) -> Result<(), LedgerError> {
    let mut keys = std::collections::BTreeSet::new();
    keys.insert((TREE_META, META_SIZE.to_vec()));
    keys.insert((TREE_CHECKPOINTS, size.to_be_bytes().to_vec()));
    keys.insert((TREE_ENTRIES, entry_rows::row_key(0).to_vec()));
    keys.insert((TREE_ENTRIES, entry_rows::row_key(size).to_vec()));
    keys.insert((
        TREE_ENTRIES,
        entry_rows::row_key(size.saturating_sub(1)).to_vec(),
    ));
    let mut tile = |level: u8, index: u64| {
        if let Some(span) = TileSpan::of_node(level, index) {
            keys.insert((TREE_TILES, span.key().to_vec()));
        }
    };
    tile(0, 0);
    tile(0, size.saturating_sub(1));
    let mut start = 0u64;
    for level in (0..64u8).rev() {
        if size & (1u64 << level) != 0 {
            tile(level, start >> level);
            start += 1u64 << level;
        }
        // The right edge the next appends write at this level.
        if level == 0 || size >> level > 0 {
            tile(level, size >> level);
        }
    }
    let keys: Vec<(usize, Vec<u8>)> = keys.into_iter().collect();
    backend.get_many(&keys).map(|_| ())
}

/// How long the writer asks the storage whether a failed commit landed before it gives up.
const RECONCILE_WAIT_MS: u64 = 30_000;
const RECONCILE_POLL_MS: u64 = 250;

/// After a failed commit: did it land? A database connection cut during COMMIT (a failover)
/// loses the answer, not necessarily the commit. The stored size tells: still `before`, nothing
/// landed and the callers get the error; `after`, all of it landed and the group succeeds;
/// anything else, or no answer within [`RECONCILE_WAIT_MS`], and the writer stops rather than
/// guess.
fn reconcile(shared: &Shared, before: u64, after: u64, error: LedgerError) -> Result<(), Failure> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(RECONCILE_WAIT_MS);
    loop {
        match shared.backend.get(TREE_META, META_SIZE) {
            Ok(stored) => {
                let size = stored
                    .as_deref()
                    .and_then(|b| <[u8; 8]>::try_from(b).ok())
                    .map_or(0, u64::from_be_bytes);
                return if size == before {
                    Err(Failure::Before(error))
                } else if size == after {
                    tracing::warn!(error = %error, size, "a commit reported failure but landed");
                    Ok(())
                } else {
                    Err(Failure::Flush(format!(
                        "after a failed commit ({error}) the stored log has {size} entries, \
                         neither {before} nor {after}"
                    )))
                };
            }
            Err(read) if std::time::Instant::now() >= deadline => {
                return Err(Failure::Flush(format!(
                    "a commit failed ({error}) and whether it landed could not be read: {read}"
                )));
            }
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(RECONCILE_POLL_MS)),
        }
    }
}

/// How a group commit failed: before anything was written, or at the flush after the commit.
enum Failure {
    Before(LedgerError),
    Flush(String),
}

impl From<LedgerError> for Failure {
    fn from(e: LedgerError) -> Self {
        Failure::Before(e)
    }
}

type CommitOutcome = (Head, Vec<AppendResult>);

/// One job's entries, built and applied to the view but not yet in the tree.
type Built = Vec<(Entry, Vec<u8>, Hash)>;

/// Most discovery passes of a group's read-ahead ([`ReadAhead`]): each resolves one more step
/// of reads that depend on earlier reads, for every job at once.
const READ_AHEAD_PASSES: usize = 4;

/// Reads ahead, in a few batches, the committed view rows a group's jobs will ask for. Only on
/// shared storage, where a read is a round trip; embedded storage answers reads from memory.
fn read_ahead(
    shared: &Shared,
    head: &Head,
    batch: &[Job],
    timestamp_ms: u64,
) -> Result<ReadAhead, LedgerError> {
    let mut ahead = ReadAhead::default();
    if !shared.backend.is_shared() {
        return Ok(ahead);
    }
    for _ in 0..READ_AHEAD_PASSES {
        ahead.missing = Some(Default::default());
        let mut group = Writes::new();
        for job in batch {
            // Errors and refusals only end this job's discovery: the deciding pass runs every
            // job again. A job that missed a row read it as absent, so later jobs do not see
            // what it wrote.
            let missed_before = ahead.missed();
            if let Ok(Ok((_, writes))) = build_job(shared, head, &group, &ahead, job, timestamp_ms)
            {
                if ahead.missed() == missed_before {
                    group.extend(writes);
                }
            }
        }
        let missing: Vec<ViewKey> = ahead
            .missing
            .take()
            .map(|m| m.into_inner().into_iter().collect())
            .unwrap_or_default();
        if missing.is_empty() {
            break;
        }
        let values = shared.view_tables.get_many(&missing)?;
        ahead.fetched.extend(missing.into_iter().zip(values));
    }
    Ok(ahead)
}

/// Builds a job's entries on top of `head` and applies each to the view as of the entry before.
fn build_job(
    shared: &Shared,
    head: &Head,
    view_writes: &Writes,
    ahead: &ReadAhead,
    job: &Job,
    timestamp_ms: u64,
) -> Result<Result<(Built, Writes), LedgerError>, LedgerError> {
    let mut tx = ViewTx::with_read_ahead(&shared.view_tables, view_writes, ahead);
    let mut built = Vec::with_capacity(job.entries.len());
    let (mut size, mut last) = (head.size, head.last_leaf);
    for new in &job.entries {
        let entry = Entry {
            seq: Seq(size),
            timestamp_ms,
            event: new.event,
            actor: new.actor.clone(),
            subjects: new.subjects.clone(),
            body: new.body.clone(),
            prev_hash: last,
        };
        match shared.projection.apply(&mut tx, &entry) {
            Ok(()) => {}
            Err(ApplyError::Refused(why)) => return Ok(Err(LedgerError::Refused(why))),
            Err(ApplyError::Storage(e)) => return Err(LedgerError::Storage(e)),
        }
        let bytes = entry.encode();
        let leaf = merkle::leaf_hash(&bytes);
        size += 1;
        last = leaf;
        built.push((entry, bytes, leaf));
    }
    Ok(Ok((built, tx.into_writes())))
}

/// Sequences a group of jobs and writes it in one transaction; the caller flushes.
fn commit(
    shared: &Shared,
    signer: &NoteSigner,
    clock: &dyn Clock,
    mut head: Head,
    batch: &[Job],
) -> Result<CommitOutcome, Failure> {
    let mut writes = Batches::new(shared.table_count);
    let timestamp_ms = u64::try_from(clock.now_unix_ms()).unwrap_or(0);
    let start_size = head.size;
    let mut view_writes = Writes::new();
    let mut results = Vec::with_capacity(batch.len());
    let ahead = read_ahead(shared, &head, batch, timestamp_ms)?;
    let mut tiles = TileWrites::default();
    let mut entry_rows = EntryWrites::default();
    for job in batch {
        let (built, job_writes) =
            match build_job(shared, &head, &view_writes, &ahead, job, timestamp_ms)? {
                Ok(done) => done,
                Err(refused) => {
                    results.push(Err(refused));
                    continue;
                }
            };
        view_writes.extend(job_writes);
        let mut appended = Vec::with_capacity(built.len());
        for (entry, bytes, leaf) in built {
            entry_rows
                .add(entry.seq.0, &bytes, |key| {
                    shared
                        .backend
                        .get(TREE_ENTRIES, key)
                        .map_err(|e| e.to_string())
                })
                .map_err(|e| LedgerError::Storage(e.to_string()))?;
            let created = head
                .range
                .append(leaf)
                .map_err(|e| LedgerError::Storage(e.to_string()))?;
            for (level, index, hash) in created {
                tiles
                    .add(level, index, &hash, |key| {
                        shared
                            .backend
                            .get(TREE_TILES, key)
                            .map_err(|e| e.to_string())
                    })
                    .map_err(|e| LedgerError::Storage(e.to_string()))?;
            }
            for subject in &entry.subjects {
                let slot = TREE_INDEX_FIRST + kind_slot(subject.kind);
                writes.insert(slot, index_key(&subject.key, entry.seq.0), []);
            }
            appended.push(Appended {
                seq: entry.seq,
                leaf_hash: leaf,
                timestamp_ms,
                tree_size: 0,
            });
            head.size += 1;
            head.last_leaf = leaf;
        }
        results.push(Ok(appended));
    }
    if head.size == start_size {
        // Every job was refused: nothing to write.
        return Ok((head, results));
    }
    for (key, row) in tiles.into_rows() {
        writes.insert(TREE_TILES, key, row);
    }
    for (key, row) in entry_rows.into_rows() {
        writes.insert(TREE_ENTRIES, key, row);
    }
    for ((table, key), value) in view_writes {
        match value {
            Some(value) => writes.insert(TREE_VIEW_FIRST + table, key, value),
            None => writes.remove(TREE_VIEW_FIRST + table, key),
        }
    }
    writes.insert(TREE_META, META_VIEW_APPLIED, head.size.to_be_bytes());
    let checkpoint = Checkpoint {
        origin: shared.origin.clone(),
        size: head.size,
        root: head.range.root(),
        extensions: Vec::new(),
    };
    let note = checkpoint
        .sign(signer)
        .map_err(|e| LedgerError::Key(e.to_string()))?;
    writes.insert(TREE_CHECKPOINTS, head.size.to_be_bytes(), note.as_bytes());
    writes.insert(TREE_META, META_SIZE, head.size.to_be_bytes());
    writes.advance_sequence(start_size, head.size);
    if let Err(e) = shared.backend.commit(&writes) {
        reconcile(shared, start_size, head.size, e)?;
    }
    head.checkpoint = Some(note);
    for appended in results.iter_mut().flatten().flatten() {
        appended.tree_size = head.size;
    }
    Ok((head, results))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use crate::clock::FixedClock;
    use crate::keys::LogKey;
    use crate::ledger::entry::{EventType, NewEntry, Seq};
    use crate::ledger::{audit, Ledger, LedgerError};

    const THREADS: u64 = 8;
    const APPENDS_PER_THREAD: u64 = 150;

    fn key() -> LogKey {
        LogKey {
            origin: "test.example/log".into(),
            key: ed25519_dalek::SigningKey::from_bytes(&[5; 32]),
        }
    }

    fn entry(tag: u64) -> NewEntry {
        NewEntry {
            event: EventType::Report,
            actor: "test".into(),
            subjects: vec![],
            body: crate::cbor::to_vec(&tag).unwrap(),
        }
    }

    /// Appends from `THREADS` threads released together; once `fail_after` appends are
    /// acknowledged, the next flush fails. Returns each thread's (tag, outcome) in order.
    fn run(ledger: &Ledger, fail_after: u64) -> Vec<Vec<(u64, Result<u64, LedgerError>)>> {
        let start = Arc::new(Barrier::new(THREADS as usize));
        let acknowledged = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let threads: Vec<_> = (0..THREADS)
            .map(|t| {
                let (ledger, start, acknowledged) =
                    (ledger.clone(), start.clone(), acknowledged.clone());
                std::thread::spawn(move || {
                    start.wait();
                    (0..APPENDS_PER_THREAD)
                        .map(|n| {
                            let tag = t * 1_000 + n;
                            let outcome = ledger.append(entry(tag)).map(|a| a.seq.0);
                            let so_far = acknowledged.fetch_add(
                                u64::from(outcome.is_ok()),
                                std::sync::atomic::Ordering::SeqCst,
                            );
                            if so_far + 1 == fail_after {
                                ledger.inject_flush_failure();
                            }
                            (tag, outcome)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    }

    /// The flush runs beside the next group's commit: under concurrent appends a failed flush
    /// must still acknowledge only what is durable, refuse everything after it, and leave a log
    /// that reopens, audits clean and holds every acknowledged entry at its sequence number.
    #[test]
    fn a_failed_flush_amid_concurrent_appends_loses_no_acknowledged_entry() {
        for round in 0..3u64 {
            let dir = tempfile::tempdir().unwrap();
            let clock = Arc::new(FixedClock::at(0));
            let ledger = Ledger::open(dir.path(), Some(key()), clock.clone()).unwrap();
            let outcomes = run(&ledger, 200 + round * 150);
            assert!(!ledger.healthy(), "round {round}: the ledger stopped");
            let mut acknowledged = Vec::new();
            for thread in &outcomes {
                // A thread that finished before the failure had every append acknowledged.
                let first_refused = thread
                    .iter()
                    .position(|(_, o)| o.is_err())
                    .unwrap_or(thread.len());
                for (tag, outcome) in &thread[first_refused..] {
                    assert!(
                        matches!(outcome, Err(LedgerError::Poisoned)),
                        "round {round}: append {tag} after the failure was {outcome:?}"
                    );
                }
                for (tag, outcome) in &thread[..first_refused] {
                    acknowledged.push((*outcome.as_ref().unwrap(), *tag));
                }
            }
            drop(ledger);
            let reopened = Ledger::open(dir.path(), Some(key()), clock).unwrap();
            let size = reopened.size();
            for (seq, tag) in &acknowledged {
                assert!(
                    *seq < size,
                    "round {round}: acknowledged {seq} lost (size {size})"
                );
                let stored: u64 =
                    crate::cbor::from_slice(&reopened.entry(Seq(*seq)).unwrap().body).unwrap();
                assert_eq!(stored, *tag, "round {round}: entry {seq}");
            }
            let report = audit(&reopened, |_| {}).unwrap();
            assert!(report.problems.is_empty(), "round {round}: {report:?}");
            assert_eq!(reopened.append(entry(9_999_999)).unwrap().seq, Seq(size));
        }
    }

    /// Without failures, groups committed while an earlier one is being flushed are numbered in
    /// order, each sequence number once, and all of them are durable when answered.
    #[test]
    fn pipelined_groups_number_every_append_once() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at(0));
        let ledger = Ledger::open(dir.path(), Some(key()), clock.clone()).unwrap();
        let outcomes = run(&ledger, u64::MAX);
        let mut seqs: Vec<u64> = outcomes
            .iter()
            .flatten()
            .map(|(_, o)| *o.as_ref().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..THREADS * APPENDS_PER_THREAD).collect::<Vec<_>>());
        drop(ledger);
        let reopened = Ledger::open(dir.path(), Some(key()), clock).unwrap();
        assert_eq!(reopened.size(), THREADS * APPENDS_PER_THREAD);
        assert!(audit(&reopened, |_| {}).unwrap().problems.is_empty());
    }
}

//! The ledger writer: one thread that sequences appends with group commit.
//!
//! It drains its queue, applies each append to the projection against the state at its
//! sequence number (refusing contradictions before numbering), extends the tree, signs one
//! checkpoint, writes everything in one transaction and flushes once before answering. A flush
//! that fails after the commit stops the writer for good (see `store`).

use std::sync::atomic::Ordering;

use crossbeam_channel::Receiver;

use super::entry::{Entry, Seq};
use super::projection::{ApplyError, ViewTx, Writes};
use super::store::{
    index_key, kind_slot, node_key, AppendResult, Appended, Batches, Head, Job, LedgerError,
    Shared, MAX_GROUP_COMMIT, META_SIZE, META_VIEW_APPLIED, TREE_CHECKPOINTS, TREE_ENTRIES,
    TREE_INDEX_FIRST, TREE_META, TREE_NODES, TREE_VIEW_FIRST,
};
use crate::clock::Clock;
use crate::log::checkpoint::Checkpoint;
use crate::log::merkle::{self, Hash};
use crate::log::note::NoteSigner;

pub(crate) fn writer_loop(
    shared: &Shared,
    signer: &NoteSigner,
    clock: &dyn Clock,
    jobs: &Receiver<Job>,
) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        let mut count = batch[0].entries.len();
        while count < MAX_GROUP_COMMIT {
            match jobs.try_recv() {
                Ok(job) => {
                    count += job.entries.len();
                    batch.push(job);
                }
                Err(_) => break,
            }
        }
        let head = match begin_group(shared) {
            Ok(head) => head,
            Err(e) => {
                shared.backend.end_group();
                let message = e.to_string();
                for job in batch {
                    job.reply.send(Err(LedgerError::Storage(message.clone())));
                }
                continue;
            }
        };
        let outcome = commit(shared, signer, clock, head, &batch);
        shared.backend.end_group();
        match outcome {
            Ok((new_head, results)) => {
                super::store::advance_head(shared, new_head);
                for (job, result) in batch.into_iter().zip(results) {
                    job.reply.send(result);
                }
            }
            Err(Failure::Flush(message)) => {
                // The transaction may or may not be on disk: stop rather than guess.
                shared.poisoned.store(true, Ordering::SeqCst);
                tracing::error!(error = %message, "ledger flush failed; appends stopped");
                for job in batch {
                    job.reply.send(Err(LedgerError::Poisoned));
                }
                for job in jobs.try_iter() {
                    job.reply.send(Err(LedgerError::Poisoned));
                }
                return;
            }
            Err(Failure::Before(e)) => {
                let message = e.to_string();
                for job in batch {
                    job.reply.send(Err(LedgerError::Storage(message.clone())));
                }
            }
        }
    }
}

/// Starts a group: on storage other processes also append to, takes the group lock and, if they
/// appended since this writer last did, reloads the head, so the group is checked against the
/// view as of the last durable entry whoever wrote it.
fn begin_group(shared: &Shared) -> Result<Head, LedgerError> {
    let head = match shared.head.read() {
        Ok(h) => h.clone(),
        Err(p) => p.into_inner().clone(),
    };
    match shared.backend.begin_group()? {
        Some(stored) if stored != head.size => {
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
        _ => Ok(head),
    }
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

/// Builds a job's entries on top of `head` and applies each to the view as of the entry before.
fn build_job(
    shared: &Shared,
    head: &Head,
    view_writes: &Writes,
    job: &Job,
    timestamp_ms: u64,
) -> Result<Result<(Built, Writes), LedgerError>, LedgerError> {
    let mut tx = ViewTx::new(&shared.view_tables, view_writes);
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

/// Sequences a group of jobs and writes it in one transaction plus one flush.
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
    for job in batch {
        let (built, job_writes) = match build_job(shared, &head, &view_writes, job, timestamp_ms)? {
            Ok(done) => done,
            Err(refused) => {
                results.push(Err(refused));
                continue;
            }
        };
        view_writes.extend(job_writes);
        let mut appended = Vec::with_capacity(built.len());
        for (entry, bytes, leaf) in built {
            writes.insert(TREE_ENTRIES, entry.seq.0.to_be_bytes(), bytes);
            let created = head
                .range
                .append(leaf)
                .map_err(|e| LedgerError::Storage(e.to_string()))?;
            for (level, index, hash) in created {
                writes.insert(TREE_NODES, node_key(level, index), hash);
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
    if shared.fail_next_flush.swap(false, Ordering::SeqCst) {
        return Err(Failure::Flush("injected flush failure".into()));
    }
    shared
        .backend
        .flush()
        .map_err(|e| Failure::Flush(e.to_string()))?;
    head.checkpoint = Some(note);
    for appended in results.iter_mut().flatten().flatten() {
        appended.tree_size = head.size;
    }
    Ok((head, results))
}

//! The append-only ledger on sled, with group commit.
//!
//! One writer thread owns appends. It takes every request waiting in its queue (up to
//! [`MAX_GROUP_COMMIT`]), sequences them, extends the Merkle tree, signs a checkpoint for the new
//! size and writes all of it (entries, tree nodes, checkpoint, index entries) in one sled
//! transaction followed by one flush. Only then does it answer the callers, so an acknowledged
//! append is on disk; under load many appends share one fsync, which is what keeps throughput.
//!
//! The tree is kept as complete-subtree hashes keyed by (level, index), so roots and proofs read
//! O(log n) nodes at any size.
//!
//! Before numbering an entry the writer applies it to the [`Projection`] (the registry's view)
//! against the state as of the previous entry; a refused append is answered with its refusal and
//! never numbered. The projection's writes and an applied-sequence watermark go into the same
//! transaction as the entries. If a flush fails after a commit, the writer stops for good and the
//! ledger reports itself unhealthy: guessing what reached the disk would risk reusing a sequence
//! number.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender};

pub(crate) use super::backend::Batches;
use super::backend::{Backend, TableWalk, TableWindow};
use super::entry::{Entry, EntryError, NewEntry, Seq, SubjectKind};
use super::entry_rows;
use super::hash_tiles::TileSpan;
use super::head::bind_verifier_key;
pub(crate) use super::head::{advance_head, load_head, scan_entries};
use super::projection::{ApplyError, NoProjection, Projection, ViewTx};
pub(crate) use super::storage::open_backend;
use super::storage::SLED_CONF_FILE;
pub use super::storage::{
    SledStore, Storage, DEFAULT_SLED_CACHE_MB, MAX_SLED_CACHE_MB, MIN_SLED_CACHE_MB,
};
use super::tables::{Order, Scan};
use crate::clock::Clock;
use crate::keys::LogKey;
use crate::log::merkle::{self, CompactRange, Hash, NodeStore};
use crate::log::note::{NoteSigner, VerifierKey};
use crate::log::proof::TlogProof;

/// Most appends one commit groups together.
pub const MAX_GROUP_COMMIT: usize = 4096;
/// Most entries one atomic append may carry.
pub const MAX_ENTRIES_PER_APPEND: usize = 64;
/// Requests that may wait for the writer before callers block.
const QUEUE_DEPTH: usize = 16 * 1024;

pub(crate) const TREE_ENTRIES: usize = 0;
pub(crate) const TREE_TILES: usize = 1;
pub(crate) const TREE_CHECKPOINTS: usize = 2;
pub(crate) const TREE_META: usize = 3;
pub(crate) const TREE_INDEX_FIRST: usize = 4;
/// The projection's tables follow the four index trees.
pub(crate) const TREE_VIEW_FIRST: usize = TREE_INDEX_FIRST + SubjectKind::ALL.len();
pub(crate) const META_SIZE: &[u8] = b"size";
pub(crate) const META_VKEY: &[u8] = b"log_vkey";
/// How many entries the view has applied: equal to the log size after every commit.
pub(crate) const META_VIEW_APPLIED: &[u8] = b"view_applied";
/// The projection's format version the stored view was built with.
pub(crate) const META_VIEW_VERSION: &[u8] = b"view_version";

/// Why a ledger operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("cannot open the ledger at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("storage error: {0}")]
    Storage(String),
    #[error("storage setting: {0}")]
    Config(String),
    #[error("invalid entry: {0}")]
    Entry(#[from] EntryError),
    #[error("entry {seq} is corrupt: {reason}")]
    Corrupt { seq: u64, reason: String },
    #[error("sequence number {0} is beyond the log")]
    NoSuchEntry(u64),
    #[error("the log is empty")]
    Empty,
    #[error("an append carried {0} entries, over the limit of {MAX_ENTRIES_PER_APPEND}")]
    TooManyEntries(usize),
    #[error("the ledger writer has stopped")]
    WriterGone,
    #[error("the ledger was opened read-only (no log signing key)")]
    ReadOnly,
    #[error("log signing key: {0}")]
    Key(String),
    /// The projection refused the append: it contradicts the state at its sequence number.
    #[error("refused: {0}")]
    Refused(Box<dyn std::error::Error + Send + Sync>),
    #[error("a flush failed after a commit; the ledger stopped accepting appends until it is restarted and audited")]
    Poisoned,
}

impl From<sled::Error> for LedgerError {
    fn from(e: sled::Error) -> Self {
        LedgerError::Storage(e.to_string())
    }
}

/// What an acknowledged append returns: the entry is flushed to disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    pub seq: Seq,
    pub leaf_hash: Hash,
    pub timestamp_ms: u64,
    /// Tree size of the checkpoint signed with this commit.
    pub tree_size: u64,
}

pub(crate) type AppendResult = Result<Vec<Appended>, LedgerError>;

/// An append queued with [`Ledger::submit`].
pub struct Pending(Receiver<AppendResult>);

impl Pending {
    /// Waits until the append is flushed (or refused).
    pub fn wait(self) -> Result<Vec<Appended>, LedgerError> {
        self.0.recv().map_err(|_| LedgerError::WriterGone)?
    }
}

/// Where the writer sends its answer: a blocking caller or an async task.
pub(crate) enum Reply {
    Blocking(Sender<AppendResult>),
    Async(tokio::sync::oneshot::Sender<AppendResult>),
}

impl Reply {
    pub(crate) fn send(self, result: AppendResult) {
        // A caller that gave up waiting is not an error for the writer.
        match self {
            Reply::Blocking(tx) => {
                let _ = tx.send(result);
            }
            Reply::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

pub(crate) struct Job {
    pub(crate) entries: Vec<NewEntry>,
    pub(crate) reply: Reply,
}

/// The tree head as readers see it.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) size: u64,
    pub(crate) range: CompactRange,
    pub(crate) last_leaf: Hash,
    pub(crate) checkpoint: Option<String>,
}

pub(crate) struct Shared {
    /// Every table of the ledger (see `backend`).
    pub(crate) backend: Arc<dyn Backend>,
    /// How many tables: the ledger's own, then the projection's.
    pub(crate) table_count: usize,
    pub(crate) head: RwLock<Head>,
    pub(crate) origin: String,
    pub(crate) vkey: VerifierKey,
    writable: bool,
    pub(crate) projection: Arc<dyn Projection>,
    /// The projection's tables, as the writer and the view read them.
    pub(crate) view_tables: TableWindow,
    /// Set when a flush failed after a commit; nothing is appended after that.
    pub(crate) poisoned: AtomicBool,
    /// Test hook: make the next flush fail after its transaction committed.
    pub(crate) fail_next_flush: AtomicBool,
    /// The log key, kept to sign the published trust list; `None` when read-only.
    log_signing_key: Option<ed25519_dalek::SigningKey>,
    /// The upper levels of the tree, as proofs read them (see `node_cache`).
    pub(crate) node_cache: super::node_cache::NodeCache,
}

/// The registry's ledger. Cloning shares the same store and writer.
#[derive(Clone)]
pub struct Ledger {
    shared: Arc<Shared>,
    queue: Sender<Job>,
    _writer: Arc<WriterHandle>,
}

struct WriterHandle(Option<JoinHandle<()>>, Sender<Job>);

impl Drop for WriterHandle {
    fn drop(&mut self) {
        // Replace our sender so the writer sees the channel close, then wait for it.
        let (dummy, _) = crossbeam_channel::bounded(1);
        drop(std::mem::replace(&mut self.1, dummy));
        if let Some(handle) = self.0.take() {
            let _ = handle.join();
        }
    }
}

/// Node lookups from the hash tiles, through the upper-tree cache when one is given.
pub(crate) struct StoredNodes<'a>(
    pub(crate) &'a dyn Backend,
    pub(crate) Option<&'a super::node_cache::NodeCache>,
);

impl NodeStore for StoredNodes<'_> {
    type Error = LedgerError;
    fn node(&self, level: u8, index: u64) -> Result<Hash, LedgerError> {
        if let Some(hash) = self.1.and_then(|cache| cache.get(level, index)) {
            return Ok(hash);
        }
        let missing = || LedgerError::Storage(format!("missing tree node {level}/{index}"));
        let span = TileSpan::of_node(level, index).ok_or_else(missing)?;
        let row = self.0.get(TREE_TILES, &span.key())?.ok_or_else(missing)?;
        let hash = span.hash_in(&row).ok_or_else(missing)?;
        if let Some(cache) = self.1 {
            cache.insert(level, index, hash);
        }
        Ok(hash)
    }
}

pub(crate) fn index_key(key: &str, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(key.len() + 9);
    out.extend_from_slice(key.as_bytes());
    out.push(0);
    out.extend_from_slice(&seq.to_be_bytes());
    out
}

impl Ledger {
    /// Opens (or creates) the ledger in `dir`. With `log_key` it can append and signs checkpoints;
    /// without, it is read-only. The log's verifier key is stored on first open and every later
    /// open must present the same key, so a ledger is never extended under a different log key.
    pub fn open(
        dir: &Path,
        log_key: Option<LogKey>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LedgerError> {
        Self::open_with(dir, log_key, clock, Arc::new(NoProjection))
    }

    /// [`Ledger::open`] on any storage.
    pub fn open_at(
        storage: &Storage,
        log_key: Option<LogKey>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, LedgerError> {
        Self::open_storage(storage, log_key, clock, Arc::new(NoProjection))
    }

    /// Opens the ledger with a projection kept in step with it. A writable open first brings a
    /// stored view that is missing, behind or of another format version up to the log's size.
    pub fn open_with(
        dir: &Path,
        log_key: Option<LogKey>,
        clock: Arc<dyn Clock>,
        projection: Arc<dyn Projection>,
    ) -> Result<Self, LedgerError> {
        Self::open_storage(&Storage::sled(dir), log_key, clock, projection)
    }

    /// Opens the ledger on `storage`, sled files or a PostgreSQL database.
    pub fn open_storage(
        storage: &Storage,
        log_key: Option<LogKey>,
        clock: Arc<dyn Clock>,
        projection: Arc<dyn Projection>,
    ) -> Result<Self, LedgerError> {
        let open_err = |reason: String| LedgerError::Open {
            path: storage.describe(),
            reason,
        };
        if let (Storage::Sled(SledStore { dir, .. }), None) = (storage, &log_key) {
            // Opening without a key only reads: it must never leave a new, empty sled store
            // behind in a directory that held no ledger (a mistyped path, a data dir for its
            // `ledger` subdirectory).
            if !dir.join(SLED_CONF_FILE).is_file() {
                return Err(open_err(format!(
                    "no ledger here (sled keeps a `{SLED_CONF_FILE}` file in its directory){}",
                    if dir.join("ledger").join(SLED_CONF_FILE).is_file() {
                        format!("; did you mean {}?", dir.join("ledger").display())
                    } else {
                        String::new()
                    }
                )));
            }
        }
        let (backend, table_count) =
            open_backend(storage, projection.as_ref(), log_key.is_some()).map_err(open_err)?;
        let log_signing_key = log_key.as_ref().map(|key| key.key.clone());
        let signer = match log_key {
            Some(key) => Some(
                NoteSigner::new(&key.origin, key.key.clone())
                    .map_err(|e| LedgerError::Key(e.to_string()))?,
            ),
            None => None,
        };
        let vkey = bind_verifier_key(backend.as_ref(), signer.as_ref())
            .map_err(|e| open_err(e.to_string()))?;
        let head = load_head(backend.as_ref()).map_err(|e| open_err(e.to_string()))?;
        let view_tables = TableWindow::for_writer(Arc::clone(&backend), TREE_VIEW_FIRST);
        let shared = Arc::new(Shared {
            backend,
            table_count,
            view_tables,
            head: RwLock::new(head),
            origin: vkey.name().to_string(),
            vkey,
            writable: signer.is_some(),
            projection,
            poisoned: AtomicBool::new(false),
            fail_next_flush: AtomicBool::new(false),
            log_signing_key,
            node_cache: super::node_cache::NodeCache::default(),
        });
        if shared.writable {
            super::rebuild::catch_up(&shared).map_err(|e| open_err(e.to_string()))?;
        }
        let (queue, jobs) = crossbeam_channel::bounded(QUEUE_DEPTH);
        let handle = match signer {
            Some(signer) => {
                let writer_shared = Arc::clone(&shared);
                Some(
                    std::thread::Builder::new()
                        .name("ledger-writer".into())
                        .spawn(move || {
                            super::writer::writer_loop(
                                &writer_shared,
                                &signer,
                                clock.as_ref(),
                                &jobs,
                            )
                        })
                        .map_err(|e| open_err(e.to_string()))?,
                )
            }
            None => None,
        };
        Ok(Ledger {
            shared,
            queue: queue.clone(),
            _writer: Arc::new(WriterHandle(handle, queue)),
        })
    }

    /// Appends one entry; returns once it is flushed to disk.
    pub fn append(&self, entry: NewEntry) -> Result<Appended, LedgerError> {
        self.append_all(vec![entry])?
            .pop()
            .ok_or(LedgerError::WriterGone)
    }

    /// Appends several entries atomically, in order; returns once they are flushed.
    pub fn append_all(&self, entries: Vec<NewEntry>) -> Result<Vec<Appended>, LedgerError> {
        self.submit(entries)?.wait()
    }

    /// Queues an atomic append without waiting for it; [`Pending::wait`] gives its answer. Lets
    /// a bulk loader keep the writer's queue full so appends share large group commits.
    pub fn submit(&self, entries: Vec<NewEntry>) -> Result<Pending, LedgerError> {
        self.check_appendable(&entries)?;
        let (reply, answer) = crossbeam_channel::bounded(1);
        self.queue
            .send(Job {
                entries,
                reply: Reply::Blocking(reply),
            })
            .map_err(|_| LedgerError::WriterGone)?;
        Ok(Pending(answer))
    }

    /// The async form of [`Ledger::append_all`], for tasks that must not block their thread.
    pub async fn append_all_async(
        &self,
        entries: Vec<NewEntry>,
    ) -> Result<Vec<Appended>, LedgerError> {
        self.check_appendable(&entries)?;
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            entries,
            reply: Reply::Async(reply),
        };
        let queue = self.queue.clone();
        match queue.try_send(job) {
            Ok(()) => {}
            // The queue is deep; when it is full the writer is behind, and waiting is right.
            Err(crossbeam_channel::TrySendError::Full(job)) => {
                tokio::task::spawn_blocking(move || queue.send(job))
                    .await
                    .map_err(|_| LedgerError::WriterGone)?
                    .map_err(|_| LedgerError::WriterGone)?;
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                return Err(LedgerError::WriterGone)
            }
        }
        answer.await.map_err(|_| LedgerError::WriterGone)?
    }

    /// Appends one entry from async code.
    pub async fn append_async(&self, entry: NewEntry) -> Result<Appended, LedgerError> {
        self.append_all_async(vec![entry])
            .await?
            .pop()
            .ok_or(LedgerError::WriterGone)
    }

    fn check_appendable(&self, entries: &[NewEntry]) -> Result<(), LedgerError> {
        if !self.shared.writable {
            return Err(LedgerError::ReadOnly);
        }
        if self.shared.poisoned.load(Ordering::SeqCst) {
            return Err(LedgerError::Poisoned);
        }
        if entries.len() > MAX_ENTRIES_PER_APPEND {
            return Err(LedgerError::TooManyEntries(entries.len()));
        }
        for entry in entries {
            entry.check()?;
        }
        Ok(())
    }

    /// False once a flush failed after a commit: the service must be restarted and audited.
    pub fn healthy(&self) -> bool {
        !self.shared.poisoned.load(Ordering::SeqCst)
    }

    /// Makes the next commit's flush fail after its transaction, as a failing disk would (for
    /// tests of what the registry does then).
    #[doc(hidden)]
    pub fn inject_flush_failure(&self) {
        self.shared.fail_next_flush.store(true, Ordering::SeqCst);
    }

    /// Throws the stored view away and rebuilds it from the entries, as a start-up after a
    /// format change would. Only while no appends are in flight (tests, maintenance).
    pub fn rebuild_view(&self) -> Result<(), LedgerError> {
        let mut writes = Batches::new(self.shared.table_count);
        writes.remove(TREE_META, META_VIEW_VERSION);
        self.shared.backend.commit(&writes)?;
        super::rebuild::catch_up(&self.shared)
    }

    /// The projection's tables, for readers of the view.
    pub fn view_tables(&self) -> Arc<dyn super::tables::Tables> {
        Arc::new(self.shared.view_tables.for_readers())
    }

    /// Number of entries in the log.
    pub fn size(&self) -> u64 {
        self.read_head().size
    }

    /// True when other processes may append to this ledger's storage (PostgreSQL shared by
    /// several registry nodes): [`Ledger::refresh`] then brings in what they appended.
    pub fn is_shared(&self) -> bool {
        self.shared.backend.is_shared()
    }

    /// Catches the head up with what other processes appended to shared storage; returns the
    /// size now held. Storage only this process writes never moves on its own.
    pub fn refresh(&self) -> Result<u64, LedgerError> {
        if self.shared.backend.is_shared() {
            self.shared.backend.sync()?;
            let stored = self
                .shared
                .backend
                .get(TREE_META, META_SIZE)?
                .and_then(|v| <[u8; 8]>::try_from(v.as_slice()).ok())
                .map_or(0, u64::from_be_bytes);
            if stored > self.size() {
                advance_head(&self.shared, load_head(self.shared.backend.as_ref())?);
            }
        }
        Ok(self.size())
    }

    /// The first of the next `count` values of a number counter every process on shared storage
    /// takes from (see `registry::ids`); `None` on storage only this process writes.
    pub fn next_counter(
        &self,
        name: &str,
        floor: u64,
        count: u64,
    ) -> Result<Option<u64>, LedgerError> {
        self.shared.backend.next_counter(name, floor, count)
    }

    /// The log's origin line.
    pub fn origin(&self) -> &str {
        &self.shared.origin
    }

    /// `trust` signed by the log key for this log's origin, issued `now`
    /// ([`crate::signed_trust`]); `None` on a read-only ledger, which holds no key.
    pub fn sign_trust_list(
        &self,
        trust: &crate::keys::TrustList,
        now: crate::clock::UnixSeconds,
    ) -> Option<Vec<u8>> {
        let key = self.shared.log_signing_key.as_ref()?;
        Some(crate::signed_trust::sign(
            key,
            &self.shared.origin,
            trust,
            now,
        ))
    }

    /// The log's verifier key.
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.shared.vkey
    }

    fn read_head(&self) -> Head {
        match self.shared.head.read() {
            Ok(head) => head.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The latest signed checkpoint, if anything has been logged.
    pub fn checkpoint(&self) -> Option<String> {
        self.read_head().checkpoint
    }

    /// The raw bytes of entry `seq`.
    pub fn entry_bytes(&self, seq: Seq) -> Result<Vec<u8>, LedgerError> {
        let row = self
            .shared
            .backend
            .get(TREE_ENTRIES, &entry_rows::row_key(seq.0))?
            .ok_or(LedgerError::NoSuchEntry(seq.0))?;
        entry_rows::entry_in_row(seq.0, &row)
            .map_err(|e| LedgerError::Corrupt {
                seq: seq.0,
                reason: e.to_string(),
            })?
            .ok_or(LedgerError::NoSuchEntry(seq.0))
    }

    /// Entry `seq`, decoded.
    pub fn entry(&self, seq: Seq) -> Result<Entry, LedgerError> {
        let bytes = self.entry_bytes(seq)?;
        Entry::decode(&bytes).map_err(|e| LedgerError::Corrupt {
            seq: seq.0,
            reason: e.to_string(),
        })
    }

    /// The raw bytes of entries `from..to`, read as one ordered scan of their rows (on a
    /// database, one round trip per page rather than one per entry). A missing entry in the
    /// range is an error.
    pub fn entries_bytes(
        &self,
        from: Seq,
        to: Seq,
    ) -> impl Iterator<Item = Result<(Seq, Vec<u8>), LedgerError>> + '_ {
        scan_entries(self.shared.backend.as_ref(), from.0, to.0)
    }

    /// Entries `from..to`, decoded. A missing entry in the range is an error.
    pub fn entries(&self, from: Seq, to: Seq) -> Result<Vec<Entry>, LedgerError> {
        let mut entries =
            Vec::with_capacity(usize::try_from(to.0.saturating_sub(from.0)).unwrap_or(0));
        for item in self.entries_bytes(from, to) {
            let (seq, bytes) = item?;
            let entry = Entry::decode(&bytes).map_err(|e| LedgerError::Corrupt {
                seq: seq.0,
                reason: e.to_string(),
            })?;
            if entry.seq != seq {
                return Err(LedgerError::Corrupt {
                    seq: seq.0,
                    reason: format!("entry says it is {}", entry.seq),
                });
            }
            entries.push(entry);
        }
        let end = from.0 + entries.len() as u64;
        if end < to.0 {
            return Err(LedgerError::NoSuchEntry(end));
        }
        Ok(entries)
    }

    /// Sequence numbers of the entries naming `key` in index `kind`, oldest first.
    pub fn history(&self, kind: SubjectKind, key: &str) -> Result<Vec<Seq>, LedgerError> {
        let mut prefix = key.as_bytes().to_vec();
        prefix.push(0);
        let table = TREE_INDEX_FIRST + kind_slot(kind);
        self.shared
            .backend
            .rows(table, Scan::Prefix(&prefix), Order::Ascending)
            .map(|row| {
                let (k, _) = row?;
                let seq: [u8; 8] = k
                    .get(prefix.len()..)
                    .and_then(|s| s.try_into().ok())
                    .ok_or_else(|| LedgerError::Storage("malformed index key".into()))?;
                Ok(Seq(u64::from_be_bytes(seq)))
            })
            .collect()
    }

    /// Root hash of the tree of the first `size` entries.
    pub fn root_at(&self, size: u64) -> Result<Hash, LedgerError> {
        self.check_size(size)?;
        merkle::root(&self.nodes(), size).map_err(|e| LedgerError::Storage(e.to_string()))
    }

    /// The tree's nodes as proofs read them: through the upper-tree cache.
    fn nodes(&self) -> StoredNodes<'_> {
        StoredNodes(self.shared.backend.as_ref(), Some(&self.shared.node_cache))
    }

    fn check_size(&self, size: u64) -> Result<(), LedgerError> {
        if size > self.size() {
            return Err(LedgerError::NoSuchEntry(size));
        }
        Ok(())
    }

    /// RFC 6962 inclusion proof of entry `index` in the tree of size `size`.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(size)?;
        merkle::inclusion_proof(&self.nodes(), index, size)
            .map_err(|e| LedgerError::Storage(e.to_string()))
    }

    /// RFC 6962 consistency proof between two tree sizes.
    pub fn consistency_proof(&self, size1: u64, size2: u64) -> Result<Vec<Hash>, LedgerError> {
        self.check_size(size2)?;
        merkle::consistency_proof(&self.nodes(), size1, size2)
            .map_err(|e| LedgerError::Storage(e.to_string()))
    }

    /// A `c2sp.org/tlog-proof@v1` receipt for entry `seq` against the latest checkpoint; its
    /// `extra` carries the entry bytes so the receipt alone proves what was logged.
    pub fn receipt(&self, seq: Seq) -> Result<TlogProof, LedgerError> {
        let head = self.read_head();
        let checkpoint_note = head.checkpoint.ok_or(LedgerError::Empty)?;
        if seq.0 >= head.size {
            return Err(LedgerError::NoSuchEntry(seq.0));
        }
        let inclusion = self.inclusion_proof(seq.0, head.size)?;
        Ok(TlogProof {
            extra: Some(self.entry_bytes(seq)?),
            index: seq.0,
            inclusion,
            checkpoint_note,
        })
    }

    /// Every stored checkpoint (size and signed note), oldest first.
    pub fn checkpoints(&self) -> impl Iterator<Item = Result<(u64, String), LedgerError>> {
        TableWalk::new(Arc::clone(&self.shared.backend), TREE_CHECKPOINTS).map(|item| {
            let (k, v) = item?;
            let size: [u8; 8] = k
                .as_slice()
                .try_into()
                .map_err(|_| LedgerError::Storage("malformed checkpoint key".into()))?;
            let note = String::from_utf8(v.to_vec())
                .map_err(|_| LedgerError::Storage("checkpoint is not UTF-8".into()))?;
            Ok((u64::from_be_bytes(size), note))
        })
    }

    pub(crate) fn shared(&self) -> &Shared {
        &self.shared
    }

    /// Flushes everything to disk (appends already are; this is for shutdown).
    pub fn flush(&self) -> Result<(), LedgerError> {
        self.shared.backend.flush()
    }
}

impl Shared {
    pub(crate) fn projection_version(&self) -> u64 {
        self.projection.version()
    }

    pub(crate) fn apply(&self, tx: &mut ViewTx<'_>, entry: &Entry) -> Result<(), ApplyError> {
        self.projection.apply(tx, entry)
    }
}

pub(crate) fn kind_slot(kind: SubjectKind) -> usize {
    SubjectKind::ALL
        .iter()
        .position(|k| *k == kind)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::ledger::entry::{EventType, Subject};
    use crate::ledger::hash_tiles::tile_key;
    use ed25519_dalek::SigningKey;

    pub(crate) fn test_key() -> LogKey {
        LogKey {
            origin: "test.example/log".into(),
            key: SigningKey::from_bytes(&[3; 32]),
        }
    }

    fn event(n: u64) -> NewEntry {
        NewEntry {
            event: EventType::Issue,
            actor: "test".into(),
            subjects: vec![Subject::new(SubjectKind::Licence, format!("L{}", n % 3))],
            body: crate::cbor::to_vec(&n).unwrap(),
        }
    }

    #[test]
    fn appends_survive_reopen_and_prove_inclusion() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at(1_700_000_000));
        {
            let ledger = Ledger::open(dir.path(), Some(test_key()), clock.clone()).unwrap();
            for n in 0..10 {
                assert_eq!(ledger.append(event(n)).unwrap().seq, Seq(n));
            }
        }
        let ledger = Ledger::open(dir.path(), Some(test_key()), clock).unwrap();
        assert_eq!(ledger.size(), 10);
        let appended = ledger.append(event(10)).unwrap();
        assert_eq!(appended.seq, Seq(10));
        let entry = ledger.entry(Seq(10)).unwrap();
        assert_eq!(
            entry.prev_hash,
            merkle::leaf_hash(&ledger.entry_bytes(Seq(9)).unwrap())
        );
        let root = ledger.root_at(11).unwrap();
        for i in 0..11 {
            let leaf = merkle::leaf_hash(&ledger.entry_bytes(Seq(i)).unwrap());
            let proof = ledger.inclusion_proof(i, 11).unwrap();
            merkle::verify_inclusion(&leaf, i, 11, &proof, &root).unwrap();
        }
        let seqs = ledger.history(SubjectKind::Licence, "L1").unwrap();
        assert_eq!(seqs, vec![Seq(1), Seq(4), Seq(7), Seq(10)]);
    }

    #[test]
    fn unopenable_stores_and_wrong_keys_give_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, b"x").unwrap();
        let clock = Arc::new(FixedClock::at(0));
        let err = Ledger::open(&file, Some(test_key()), clock.clone())
            .err()
            .unwrap();
        assert!(matches!(err, LedgerError::Open { .. }), "{err}");
        let fresh = dir.path().join("fresh");
        let err = Ledger::open(&fresh, None, clock.clone()).err().unwrap();
        assert!(err.to_string().contains("no ledger here"), "{err}");
        assert!(
            !fresh.exists(),
            "a read-only open created {}",
            fresh.display()
        );
        // A data dir given for its `ledger` subdirectory: refused, unchanged, with a hint.
        let data = dir.path().join("data");
        drop(Ledger::open(&data.join("ledger"), Some(test_key()), clock.clone()).unwrap());
        let err = Ledger::open(&data, None, clock.clone()).err().unwrap();
        assert!(err.to_string().contains("did you mean"), "{err}");
        assert_eq!(std::fs::read_dir(&data).unwrap().count(), 1, "only ledger/");
        drop(Ledger::open(&fresh, Some(test_key()), clock.clone()).unwrap());
        let other = LogKey {
            origin: "test.example/log".into(),
            key: SigningKey::from_bytes(&[4; 32]),
        };
        let err = Ledger::open(&fresh, Some(other), clock.clone())
            .err()
            .unwrap();
        assert!(err.to_string().contains("different log key"), "{err}");
        let read_only = Ledger::open(&fresh, None, clock).unwrap();
        assert!(matches!(
            read_only.append(event(1)),
            Err(LedgerError::ReadOnly)
        ));
    }

    #[test]
    fn a_ledger_without_hash_tiles_is_refused_with_a_reason() {
        // What a ledger from before hash tiles looks like: entries, and no `tiles` rows.
        let err = open_after_rewrite(|_, writes| writes.remove(TREE_TILES, tile_key(0, 0)));
        assert!(err.contains("no hash tiles"), "{err}");
    }

    #[test]
    fn a_ledger_with_one_row_per_entry_is_refused_with_a_reason() {
        // What the older layout stored: each entry's bytes under its own sequence number.
        let err = open_after_rewrite(|ledger, writes| {
            for seq in 0..5u64 {
                let bytes = ledger.entry_bytes(Seq(seq)).unwrap();
                writes.insert(TREE_ENTRIES, seq.to_be_bytes(), bytes);
            }
        });
        assert!(err.contains("one-row-per-entry"), "{err}");
        assert!(err.contains("5 entries"), "{err}");
    }

    /// Appends five entries, rewrites stored rows with `rewrite`, and returns why the ledger
    /// then does not open.
    fn open_after_rewrite(rewrite: impl FnOnce(&Ledger, &mut Batches)) -> String {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(FixedClock::at(0));
        let ledger = Ledger::open(dir.path(), Some(test_key()), clock.clone()).unwrap();
        ledger.append_all((0..5).map(event).collect()).unwrap();
        let mut writes = Batches::new(ledger.shared().table_count);
        rewrite(&ledger, &mut writes);
        ledger.shared().backend.commit(&writes).unwrap();
        ledger.flush().unwrap();
        drop(ledger);
        Ledger::open(dir.path(), Some(test_key()), clock)
            .err()
            .unwrap()
            .to_string()
    }

    #[test]
    fn concurrent_appends_are_all_acknowledged_once() {
        let dir = tempfile::tempdir().unwrap();
        let ledger =
            Ledger::open(dir.path(), Some(test_key()), Arc::new(FixedClock::at(0))).unwrap();
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let ledger = ledger.clone();
                std::thread::spawn(move || {
                    (0..50)
                        .map(|n| ledger.append(event(t * 100 + n)).unwrap().seq.0)
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seqs: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        seqs.sort_unstable();
        assert_eq!(seqs, (0..400).collect::<Vec<_>>());
        assert_eq!(ledger.size(), 400);
    }
}

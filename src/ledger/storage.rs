//! Where a ledger lives: sled files in a directory or a PostgreSQL database, and opening the
//! tables there. Kept apart from the ledger itself so that choosing and configuring storage (a
//! setting operators touch) reads on its own, and the writer's code does not carry it.

use std::path::PathBuf;
use std::sync::Arc;

use super::backend::{Backend, SledBackend};
use super::entry::SubjectKind;
use super::postgres::PostgresUrl;
use super::projection::Projection;
use super::store::LedgerError;

/// sled's page cache, in MiB of deserialized pages, unless configured: with the snapshot sled
/// keeps for ten million licences (about 0.7 GB) the service stays under 2 GiB however widely
/// it is read (docs/ledger.md, "Memory").
pub const DEFAULT_SLED_CACHE_MB: u64 = 1024;
/// Smallest and largest sled cache a configuration may ask for.
pub const MIN_SLED_CACHE_MB: u64 = 16;
pub const MAX_SLED_CACHE_MB: u64 = 1024 * 1024;
/// How long an open waits for a just-closed sled database to release its file lock.
const SLED_LOCK_WAIT_MS: u64 = 2_000;
/// The file sled writes first in a store's directory: its presence says a store is there.
pub(crate) const SLED_CONF_FILE: &str = "conf";
const SLED_LOCK_POLL_MS: u64 = 20;
/// zstd level of sled's page compression (1 fastest .. 22 smallest). zstd's fast levels (-1 ..
/// -7) were measured too: vehicles imported 12% faster at -3, but the status lookup spent 7% more
/// CPU per request and the ledger took 15–33% more disk (docs/ledger.md, "Bytes per entry").
const LEDGER_COMPRESSION_LEVEL: i32 = 1;

/// Where a ledger keeps its tables.
#[derive(Debug, Clone)]
pub enum Storage {
    /// sled files in a directory (0700, files 0600): the embedded default for one machine.
    Sled(SledStore),
    /// A PostgreSQL database, which several registry nodes and a standby can share.
    Postgres(PostgresUrl),
}

/// A sled store: its directory and how much memory its page cache may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SledStore {
    pub dir: PathBuf,
    /// Bound of sled's cache of deserialized pages, in MiB (the vendored sled counts a page's
    /// size in memory against it; 0.34.7 counted its compressed size on disk).
    pub cache_mb: u64,
}

impl Storage {
    /// A `postgres://` URL, or else a directory for sled.
    pub fn parse(location: &str) -> Result<Self, LedgerError> {
        if location.starts_with("postgres://") || location.starts_with("postgresql://") {
            Ok(Storage::Postgres(PostgresUrl::parse(location)?))
        } else {
            Ok(Storage::sled(location))
        }
    }

    /// sled in `dir`, with the default cache.
    pub fn sled(dir: impl Into<PathBuf>) -> Self {
        Storage::Sled(SledStore {
            dir: dir.into(),
            cache_mb: DEFAULT_SLED_CACHE_MB,
        })
    }

    /// The same storage with sled's cache bounded at `cache_mb` MiB (no effect on PostgreSQL,
    /// whose memory is the server's). Out of [`MIN_SLED_CACHE_MB`]..=[`MAX_SLED_CACHE_MB`] is
    /// an error naming the setting.
    pub fn with_sled_cache_mb(self, cache_mb: u64) -> Result<Self, LedgerError> {
        if !(MIN_SLED_CACHE_MB..=MAX_SLED_CACHE_MB).contains(&cache_mb) {
            return Err(LedgerError::Config(format!(
                "sled_cache_mb {cache_mb}: from {MIN_SLED_CACHE_MB} to {MAX_SLED_CACHE_MB}"
            )));
        }
        Ok(match self {
            Storage::Sled(store) => Storage::Sled(SledStore { cache_mb, ..store }),
            postgres => postgres,
        })
    }

    /// Where the ledger is, for messages (a database URL without its password).
    pub fn describe(&self) -> String {
        match self {
            Storage::Sled(store) => store.dir.display().to_string(),
            Storage::Postgres(url) => url.redacted(),
        }
    }
}

/// The storage's tables, for a ledger with `projection`: the backend and how many tables.
pub(crate) fn open_backend(
    storage: &Storage,
    projection: &dyn Projection,
    writable: bool,
) -> Result<(Arc<dyn Backend>, usize), String> {
    let mut names = vec!["entries", "tiles", "checkpoints", "meta"];
    names.extend(SubjectKind::ALL.iter().map(|k| k.tree_name()));
    names.extend(projection.tables().iter().copied());
    let backend: Arc<dyn Backend> = match storage {
        Storage::Sled(store) => Arc::new(open_sled(store, &names)?),
        Storage::Postgres(url) => Arc::new(
            super::postgres::PostgresBackend::connect(url, &names, writable)
                .map_err(|e| e.to_string())?,
        ),
    };
    Ok((backend, names.len()))
}

/// Opens sled in `store.dir` with one tree per table name.
fn open_sled(store: &SledStore, names: &[&str]) -> Result<SledBackend, String> {
    let dir = store.dir.as_path();
    // The ledger and its view hold personal data: 0700 dir, 0600 files, whatever the umask.
    crate::private_fs::create_private_dir(dir).map_err(|e| e.to_string())?;
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(store.cache_mb.saturating_mul(1024 * 1024))
        // Pages are zstd-compressed: the entries and view rows repeat the same field names and
        // authorities, and on sled's log-structured store compression cuts the bytes on disk per
        // entry about threefold (measured in docs/ledger.md), which at national size is what
        // decides whether the ledger fits the disk.
        .use_compression(true)
        .compression_factor(LEDGER_COMPRESSION_LEVEL);
    // sled releases its file lock from its own threads after the last handle is dropped: a
    // reopen right after a close (a restart, a test) may find it still held for a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(SLED_LOCK_WAIT_MS);
    let db = loop {
        match db.open() {
            Ok(db) => break db,
            Err(e)
                if e.to_string().contains("acquire lock")
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(SLED_LOCK_POLL_MS));
            }
            Err(e) => return Err(e.to_string()),
        }
    };
    crate::private_fs::restrict_tree(dir).map_err(|e| e.to_string())?;
    let trees = names
        .iter()
        .map(|n| db.open_tree(n))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(SledBackend::new(db, &trees))
}

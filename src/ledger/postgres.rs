//! PostgreSQL as the ledger's storage, for registries that run beyond one machine (issue 11).
//!
//! The ledger's numbered tables become rows of one table, `licreg_rows (tbl, key, value)`, with
//! the same bytewise key order sled gives (`bytea` compares as `memcmp`). A group commit is one
//! transaction that first takes the sequence counter row (`SELECT … FOR UPDATE`, as Tessera's
//! database drivers do), checks that the log is still the size this writer extended, writes the
//! entries, tree nodes, index keys, view rows, watermark and checkpoint, advances the counter and
//! commits. The append is acknowledged after COMMIT, which with `synchronous_commit` on (checked
//! at open) is durable, and with a synchronous standby replicated.
//!
//! Writers in several processes (registry nodes, an import) share the log: each group commit
//! runs under a session advisory lock, and a writer that finds the counter moved reloads the
//! head first, so every group is checked against the log as the previous group left it. A
//! writer that somehow extended a stale head finds the counter moved inside its transaction and
//! fails instead of forking the log.
//!
//! The ledger's `Backend` is synchronous (the writer is a thread; view reads are short), so the
//! client's async work runs on a runtime of its own, and callers wait on a channel: that works
//! from plain threads and from inside the service's runtime alike.

mod changes;
mod rows;
mod scan;

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use super::backend::{Backend, Batches, Rows};
use super::row_cache::RowCache;
use super::store::LedgerError;
use super::tables::{Order, Scan, Tables};
use changes::{changed_keys, record_changed_keys, CHANGED_KEYS_SQL};
use rows::{final_changes, write_changes};

/// Connections the pool keeps open: the writer's, and readers'.
const POOL_CONNECTIONS: usize = 16;
/// Most keys one batched read asks for.
const GET_MANY_KEYS: usize = 4096;
/// Threads of the runtime that drives the connections: with one, the writer's reads queued
/// behind the readers' (application → issued over HTTP: 150–161/s with one, 270–284/s with two).
const RUNTIME_THREADS: usize = 2;
/// Session advisory lock a writer holds for the length of one group commit: writers in several
/// processes (registry nodes, an import) take turns, each checking its group against the log as
/// the previous one left it. The second key is a hash of the `search_path`, so registries in
/// other schemas do not contend.
const GROUP_LOCK: i32 = 0x6c72_6567; // "lreg"
/// Advisory lock key held while migrations run, so two nodes starting at once migrate once.
const MIGRATION_LOCK: i64 = 0x6c69_6372_6567; // "licreg"

/// The schema, one step per version; a database is brought to the newest in order at open.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE licreg_tables (id smallint PRIMARY KEY, name text NOT NULL UNIQUE);
     CREATE TABLE licreg_rows (
         tbl smallint NOT NULL REFERENCES licreg_tables (id),
         key bytea NOT NULL,
         value bytea NOT NULL,
         PRIMARY KEY (tbl, key));
     CREATE TABLE licreg_sequence (
         id smallint PRIMARY KEY CHECK (id = 1),
         size bigint NOT NULL CHECK (size >= 0));
     INSERT INTO licreg_sequence (id, size) VALUES (1, 0);",
    ),
    (
        2,
        // Number counters (licence serials, application ids, status-list positions) that every
        // registry node takes from, so two nodes never hand out the same number.
        "CREATE TABLE licreg_counters (name text PRIMARY KEY, next bigint NOT NULL);",
    ),
    (
        3,
        // The keys each group commit changed, so other nodes forget only those cached rows.
        "CREATE TABLE licreg_changed_keys (
             size_to bigint PRIMARY KEY,
             size_from bigint NOT NULL,
             keys bytea NOT NULL);",
    ),
];

/// A `postgres://` or `postgresql://` connection string, checked to parse.
#[derive(Clone)]
pub struct PostgresUrl(String);

impl PostgresUrl {
    pub fn parse(url: &str) -> Result<Self, LedgerError> {
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(LedgerError::Storage(
                "a PostgreSQL storage URL starts with postgres:// or postgresql://".into(),
            ));
        }
        tokio_postgres::Config::from_str(url)
            .map_err(|e| LedgerError::Storage(format!("PostgreSQL URL: {e}")))?;
        Ok(PostgresUrl(url.to_string()))
    }

    /// The URL without its password, for messages and logs.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "postgres://…".into();
        };
        // The user info ends at the last '@' before the host; a password follows its first ':'.
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => match rest[..at].split_once(':') {
                Some((user, _password)) => format!("{scheme}://{user}:***{}", &rest[at..]),
                None => self.0.clone(),
            },
            None => self.0.clone(),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PostgresUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// The ledger's tables in one PostgreSQL database.
pub struct PostgresBackend {
    pool: Pool,
    runtime: tokio::runtime::Handle,
    /// The database's id for each of the ledger's tables, by the ledger's table number.
    table_ids: Vec<i16>,
    /// The connection that takes the group lock, for a writable open (made again if it was
    /// lost, as in a failover).
    group_lock: Option<std::sync::Mutex<Arc<LockSession>>>,
    config: tokio_postgres::Config,
    /// Rows read by key, so lookups and proofs do not pay a round trip each (see `row_cache`).
    cache: Arc<RowCache>,
    /// Dropping it lets the runtime's thread end (a runtime may not be dropped inside another).
    _stop: std::sync::mpsc::SyncSender<()>,
}

/// The error with its causes: a server's answer is the source of tokio-postgres's "db error".
fn db_err(e: impl std::error::Error) -> LedgerError {
    let mut message = format!("PostgreSQL: {e}");
    let mut source = e.source();
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    LedgerError::Storage(message)
}

impl PostgresBackend {
    /// Connects, brings the schema to the newest version, checks that commits are durable and
    /// names the ledger's tables (`names`, in the ledger's order). A `writable` open also takes
    /// the writer lock, and fails if another process holds it.
    pub fn connect(url: &PostgresUrl, names: &[&str], writable: bool) -> Result<Self, LedgerError> {
        let (runtime, stop) = spawn_runtime()?;
        let config = tokio_postgres::Config::from_str(&url.0).map_err(db_err)?;
        let manager = Manager::from_config(
            config.clone(),
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(POOL_CONNECTIONS)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .build()
            .map_err(db_err)?;
        let mut backend = PostgresBackend {
            pool,
            runtime,
            table_ids: Vec::new(),
            group_lock: None,
            config,
            cache: Arc::default(),
            _stop: stop,
        };
        let pool = backend.pool.clone();
        let owned: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        backend.table_ids = backend.run(async move {
            let mut client = pool.get().await.map_err(db_err)?;
            migrate(&mut client).await?;
            check_durable(&client).await?;
            name_tables(&mut client, &owned).await
        })?;
        // After the migrations: the session prepares statements on the tables they create.
        if writable {
            let session = backend.run(lock_connection(backend.config.clone()))?;
            backend.group_lock = Some(std::sync::Mutex::new(Arc::new(session)));
        }
        Ok(backend)
    }

    /// Runs `work` on the backend's runtime and waits for it.
    fn run<T: Send + 'static>(
        &self,
        work: impl Future<Output = Result<T, LedgerError>> + Send + 'static,
    ) -> Result<T, LedgerError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.runtime.spawn(async move {
            let _ = tx.send(work.await);
        });
        rx.recv()
            .map_err(|_| LedgerError::Storage("the PostgreSQL task stopped".into()))?
    }

    /// The group-lock connection, made again if it was lost (a restarted or failed-over server
    /// ends the session, and with it any lock it held).
    fn lock_session(&self) -> Result<Arc<LockSession>, LedgerError> {
        let lock = self.group_lock.as_ref().ok_or(LedgerError::ReadOnly)?;
        let mut session = lock
            .lock()
            .map_err(|_| LedgerError::Storage("group lock state poisoned".into()))?;
        if session.client.is_closed() {
            tracing::warn!("the PostgreSQL group-lock connection was lost: connecting again");
            *session = Arc::new(self.run(lock_connection(self.config.clone()))?);
        }
        Ok(Arc::clone(&session))
    }

    fn table_id(&self, table: usize) -> Result<i16, LedgerError> {
        self.table_ids
            .get(table)
            .copied()
            .ok_or_else(|| LedgerError::Storage(format!("no table {table}")))
    }
}

/// Starts the runtime on a thread of its own that keeps it until the backend is dropped.
fn spawn_runtime() -> Result<(tokio::runtime::Handle, std::sync::mpsc::SyncSender<()>), LedgerError>
{
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .thread_name("ledger-postgres")
        .enable_all()
        .build()
        .map_err(db_err)?;
    let handle = runtime.handle().clone();
    let (stop, stopped) = std::sync::mpsc::sync_channel::<()>(0);
    std::thread::Builder::new()
        .name("ledger-postgres-owner".into())
        .spawn(move || {
            // Returns when the backend (the only sender) is dropped.
            let _ = stopped.recv();
            runtime.shutdown_background();
        })
        .map_err(db_err)?;
    Ok((handle, stop))
}

/// The group lock's connection and the statements a group runs on it, prepared once (a
/// statement sent as text costs a second round trip to be parsed and planned each time).
struct LockSession {
    client: tokio_postgres::Client,
    lock: tokio_postgres::Statement,
    unlock: tokio_postgres::Statement,
    size: tokio_postgres::Statement,
    changed: tokio_postgres::Statement,
}

/// The log size the counter row holds.
const SIZE_SQL: &str = "SELECT size FROM licreg_sequence WHERE id = 1";

/// A connection of its own for the group lock: a lock lives as long as its session.
async fn lock_connection(config: tokio_postgres::Config) -> Result<LockSession, LedgerError> {
    let (client, connection) = config.connect(NoTls).await.map_err(db_err)?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "the ledger's PostgreSQL group-lock connection ended");
        }
    });
    let prepare = |sql: &'static str| client.prepare(sql);
    let lock = prepare("SELECT pg_advisory_lock($1, hashtext(current_setting('search_path')))");
    let unlock = prepare("SELECT pg_advisory_unlock($1, hashtext(current_setting('search_path')))");
    let (lock, unlock, size, changed) =
        futures::try_join!(lock, unlock, prepare(SIZE_SQL), prepare(CHANGED_KEYS_SQL))
            .map_err(db_err)?;
    Ok(LockSession {
        client,
        lock,
        unlock,
        size,
        changed,
    })
}

async fn migrate(client: &mut deadpool_postgres::Client) -> Result<(), LedgerError> {
    let tx = client.transaction().await.map_err(db_err)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(db_err)?;
    create_schema(&tx).await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS licreg_migrations (
             version bigint PRIMARY KEY,
             applied_at timestamptz NOT NULL DEFAULT now())",
    )
    .await
    .map_err(db_err)?;
    let row = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM licreg_migrations",
            &[],
        )
        .await
        .map_err(db_err)?;
    let current: i64 = row.try_get(0).map_err(db_err)?;
    let newest = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if current > newest {
        return Err(LedgerError::Storage(format!(
            "the database's schema is version {current}, newer than this build's {newest}: \
             upgrade licreg before opening it"
        )));
    }
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.batch_execute(sql).await.map_err(db_err)?;
        tx.execute(
            "INSERT INTO licreg_migrations (version) VALUES ($1)",
            &[version],
        )
        .await
        .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)
}

/// Longest schema name accepted from `search_path` (PostgreSQL's identifier limit).
const MAX_SCHEMA_NAME_BYTES: usize = 63;

/// Several registries (staging, tests) may share one database, each in its own schema, named
/// first in the URL's `search_path` (`?options=-csearch_path%3Dname`): create it if missing.
async fn create_schema(tx: &deadpool_postgres::Transaction<'_>) -> Result<(), LedgerError> {
    let row = tx
        .query_one("SELECT current_schema()", &[])
        .await
        .map_err(db_err)?;
    let current: Option<String> = row.try_get(0).map_err(db_err)?;
    if current.is_some() {
        return Ok(());
    }
    let row = tx
        .query_one("SELECT current_setting('search_path')", &[])
        .await
        .map_err(db_err)?;
    let path: String = row.try_get(0).map_err(db_err)?;
    let first = path.split(',').next().unwrap_or("").trim();
    let plain = !first.is_empty()
        && first.len() <= MAX_SCHEMA_NAME_BYTES
        && first
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !plain {
        return Err(LedgerError::Storage(format!(
            "search_path {path:?} names no schema licreg can create (lower-case letters, digits \
             and _ only)"
        )));
    }
    // `first` is checked to be a plain identifier above: it cannot close the statement.
    tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {first}"))
        .await
        .map_err(db_err)
}

/// An acknowledged append must survive a crash: refuse a server that would lose it.
async fn check_durable(client: &deadpool_postgres::Client) -> Result<(), LedgerError> {
    for (setting, unsafe_value) in [("fsync", "off"), ("synchronous_commit", "off")] {
        let row = client
            .query_one(&format!("SHOW {setting}"), &[])
            .await
            .map_err(db_err)?;
        let value: String = row.try_get(0).map_err(db_err)?;
        if value == unsafe_value {
            return Err(LedgerError::Storage(format!(
                "PostgreSQL has {setting} = {value}: a commit it acknowledges may be lost, \
                 so licreg will not acknowledge appends on it"
            )));
        }
    }
    Ok(())
}

/// Gives every table name an id (new names get the next free one) and returns them in order.
async fn name_tables(
    client: &mut deadpool_postgres::Client,
    names: &[String],
) -> Result<Vec<i16>, LedgerError> {
    let tx = client.transaction().await.map_err(db_err)?;
    tx.execute("LOCK TABLE licreg_tables IN EXCLUSIVE MODE", &[])
        .await
        .map_err(db_err)?;
    let mut ids = Vec::with_capacity(names.len());
    for name in names {
        let existing = tx
            .query_opt("SELECT id FROM licreg_tables WHERE name = $1", &[name])
            .await
            .map_err(db_err)?;
        let id: i16 = match existing {
            Some(row) => row.try_get(0).map_err(db_err)?,
            None => {
                let row = tx
                    .query_one(
                        "INSERT INTO licreg_tables (id, name)
                         SELECT coalesce(max(id) + 1, 0), $1 FROM licreg_tables RETURNING id",
                        &[name],
                    )
                    .await
                    .map_err(db_err)?;
                row.try_get(0).map_err(db_err)?
            }
        };
        ids.push(id);
    }
    tx.commit().await.map_err(db_err)?;
    Ok(ids)
}

impl Tables for PostgresBackend {
    fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>, LedgerError> {
        let tbl = self.table_id(table)?;
        if let Some(cached) = self.cache.get(tbl, key) {
            return Ok(cached);
        }
        let generation = self.cache.generation();
        let key = key.to_vec();
        let pool = self.pool.clone();
        let cache = Arc::clone(&self.cache);
        self.run(async move {
            let client = pool.get().await.map_err(db_err)?;
            let stmt = client
                .prepare_cached("SELECT value FROM licreg_rows WHERE tbl = $1 AND key = $2")
                .await
                .map_err(db_err)?;
            let value: Option<Vec<u8>> = match client
                .query_opt(&stmt, &[&tbl, &key])
                .await
                .map_err(db_err)?
            {
                Some(row) => Some(row.try_get(0).map_err(db_err)?),
                None => None,
            };
            cache.fill(generation, tbl, key, value.clone());
            Ok(value)
        })
    }

    /// Keys the cache does not hold are read in one query per [`GET_MANY_KEYS`].
    fn get_many(&self, keys: &[(usize, Vec<u8>)]) -> Result<Vec<Option<Vec<u8>>>, LedgerError> {
        let mut found: Vec<Option<Vec<u8>>> = Vec::with_capacity(keys.len());
        let mut missed: Vec<(usize, i16, Vec<u8>)> = Vec::new();
        for (at, (table, key)) in keys.iter().enumerate() {
            let tbl = self.table_id(*table)?;
            match self.cache.get(tbl, key) {
                Some(cached) => found.push(cached),
                None => {
                    found.push(None);
                    missed.push((at, tbl, key.clone()));
                }
            }
        }
        for chunk in missed.chunks(GET_MANY_KEYS) {
            let generation = self.cache.generation();
            let tbls: Vec<i16> = chunk.iter().map(|(_, tbl, _)| *tbl).collect();
            let wanted: Vec<Vec<u8>> = chunk.iter().map(|(_, _, key)| key.clone()).collect();
            let pool = self.pool.clone();
            let values = self.run(async move {
                let client = pool.get().await.map_err(db_err)?;
                let stmt = client
                    .prepare_cached(
                        // A scalar subquery per key: always one primary-key probe each,
                        // where a join may be planned as a scan of the whole table.
                        "SELECT w.i, (SELECT r.value FROM licreg_rows r
                                      WHERE r.tbl = w.tbl AND r.key = w.key)
                         FROM unnest($1::smallint[], $2::bytea[]) WITH ORDINALITY AS w (tbl, key, i)",
                    )
                    .await
                    .map_err(db_err)?;
                let rows = client
                    .query(&stmt, &[&tbls, &wanted])
                    .await
                    .map_err(db_err)?;
                let mut values: Vec<Option<Vec<u8>>> = vec![None; wanted.len()];
                for row in rows {
                    let i: i64 = row.try_get(0).map_err(db_err)?;
                    let slot = usize::try_from(i - 1)
                        .ok()
                        .and_then(|i| values.get_mut(i))
                        .ok_or_else(|| LedgerError::Storage(format!("PostgreSQL: row {i} not asked for")))?;
                    *slot = row.try_get(1).map_err(db_err)?;
                }
                Ok(values)
            })?;
            for ((at, tbl, key), value) in chunk.iter().zip(values) {
                self.cache
                    .fill(generation, *tbl, key.clone(), value.clone());
                if let Some(slot) = found.get_mut(*at) {
                    *slot = value;
                }
            }
        }
        Ok(found)
    }

    fn scan(
        &self,
        table: usize,
        scan: Scan<'_>,
        order: Order,
        visit: &mut dyn FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), LedgerError> {
        for row in self.rows(table, scan, order) {
            let (key, value) = row?;
            if !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }
}

impl Backend for PostgresBackend {
    fn rows<'a>(&'a self, table: usize, scan: Scan<'_>, order: Order) -> Rows<'a> {
        self.scan_rows(table, scan, order)
    }

    fn clear(&self, table: usize) -> Result<(), LedgerError> {
        let tbl = self.table_id(table)?;
        self.cache.reset();
        let pool = self.pool.clone();
        self.run(async move {
            let client = pool.get().await.map_err(db_err)?;
            client
                .execute("DELETE FROM licreg_rows WHERE tbl = $1", &[&tbl])
                .await
                .map_err(db_err)?;
            Ok(())
        })
    }

    fn commit(&self, writes: &Batches) -> Result<(), LedgerError> {
        let changes = final_changes(writes, &self.table_ids)?;
        let sequence = writes.sequence();
        let pool = self.pool.clone();
        let cache = Arc::clone(&self.cache);
        let result = self.run(async move {
            let mut client = pool.get().await.map_err(db_err)?;
            let tx = client.transaction().await.map_err(db_err)?;
            // The group's statements go out together (tokio-postgres pipelines queries that are
            // awaited at once) and run in the order sent, the counter first: one round trip
            // between BEGIN and COMMIT instead of one per statement.
            let advanced = async {
                match sequence {
                    Some((from, to)) => advance_sequence(&tx, from, to).await,
                    None => Ok(()),
                }
            };
            let listed = async {
                match sequence {
                    Some((from, to)) => record_changed_keys(&tx, from, to, changes.keys()).await,
                    None => Ok(()),
                }
            };
            futures::try_join!(advanced, listed, write_changes(&tx, &changes))?;
            tx.commit().await.map_err(db_err)?;
            cache.committed(changes.rows(), sequence.map(|(_, to)| to));
            Ok(())
        });
        if result.is_err() {
            // Whether it landed is for the writer to find out; nothing cached is trusted.
            self.cache.reset();
        }
        result
    }

    fn next_counter(&self, name: &str, floor: u64, count: u64) -> Result<Option<u64>, LedgerError> {
        let name = name.to_string();
        let floor = i64::try_from(floor).map_err(db_err)?;
        let count = i64::try_from(count.max(1)).map_err(db_err)?;
        let pool = self.pool.clone();
        let value = self.run(async move {
            let client = pool.get().await.map_err(db_err)?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO licreg_counters AS c (name, next) VALUES ($1, $2::bigint + $3::bigint)
                     ON CONFLICT (name) DO UPDATE SET next = greatest(c.next, $2::bigint) + $3::bigint
                     RETURNING next - $3::bigint",
                )
                .await
                .map_err(db_err)?;
            let row = client
                .query_one(&stmt, &[&name, &floor, &count])
                .await
                .map_err(db_err)?;
            let value: i64 = row.try_get(0).map_err(db_err)?;
            u64::try_from(value).map_err(db_err)
        })?;
        Ok(Some(value))
    }

    fn sync(&self) -> Result<(), LedgerError> {
        let pool = self.pool.clone();
        let seen = self.cache.seen_size();
        let (size, changed) = self.run(async move {
            let client = pool.get().await.map_err(db_err)?;
            let size_sql = client.prepare_cached(SIZE_SQL).await.map_err(db_err)?;
            let changed_sql = client
                .prepare_cached(CHANGED_KEYS_SQL)
                .await
                .map_err(db_err)?;
            let size = stored_size(&client, &size_sql).await?;
            Ok((size, changed_keys(&client, &changed_sql, seen, size).await?))
        })?;
        self.cache.observe(size, changed);
        Ok(())
    }

    /// A commit is durable once COMMIT returns (`synchronous_commit` is checked at open).
    fn flush(&self) -> Result<(), LedgerError> {
        Ok(())
    }

    fn is_shared(&self) -> bool {
        true
    }

    /// Takes the group lock (waiting for another writer's group to end) and reads the counter.
    fn begin_group(&self) -> Result<Option<u64>, LedgerError> {
        let session = self.lock_session()?;
        let seen = self.cache.seen_size();
        let (size, changed) = self.run(async move {
            let client = &session.client;
            client
                .execute(&session.lock, &[&GROUP_LOCK])
                .await
                .map_err(db_err)?;
            let size = stored_size(client, &session.size).await?;
            Ok((
                size,
                changed_keys(client, &session.changed, seen, size).await?,
            ))
        })?;
        // Under the lock: rows another writer changed are forgotten before this group reads.
        self.cache.observe(size, changed);
        Ok(Some(size))
    }

    /// Releases the group lock; a lost connection has released it already.
    fn end_group(&self) {
        let Ok(session) = self.lock_session() else {
            return;
        };
        let released = self.run(async move {
            session
                .client
                .execute(&session.unlock, &[&GROUP_LOCK])
                .await
                .map_err(db_err)
        });
        if let Err(e) = released {
            tracing::warn!(error = %e, "releasing the PostgreSQL group lock");
        }
    }
}

/// The log size the counter row holds now.
async fn stored_size(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
) -> Result<u64, LedgerError> {
    let row = client.query_one(statement, &[]).await.map_err(db_err)?;
    let size: i64 = row.try_get(0).map_err(db_err)?;
    u64::try_from(size).map_err(db_err)
}

/// Takes the counter row and moves it from `from` to `to`; another writer that got there first
/// fails this commit instead of forking the log.
async fn advance_sequence(
    tx: &deadpool_postgres::Transaction<'_>,
    from: u64,
    to: u64,
) -> Result<(), LedgerError> {
    let (from_i, to_i) = (
        i64::try_from(from).map_err(db_err)?,
        i64::try_from(to).map_err(db_err)?,
    );
    let advance = tx
        .prepare_cached("UPDATE licreg_sequence SET size = $2 WHERE id = 1 AND size = $1")
        .await
        .map_err(db_err)?;
    let moved = tx
        .execute(&advance, &[&from_i, &to_i])
        .await
        .map_err(db_err)?;
    if moved != 1 {
        return Err(LedgerError::Storage(format!(
            "the log in PostgreSQL no longer has the {from} entries this writer extended: \
             another writer appended"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_passwords_never_shown() {
        assert!(PostgresUrl::parse("sled").is_err());
        assert!(PostgresUrl::parse("postgres://u@h:notaport/db").is_err());
        let url = PostgresUrl::parse("postgres://licreg:secret@db.example:5432/licreg").unwrap();
        assert!(!format!("{url:?}").contains("secret"));
        assert!(url.redacted().contains("db.example"));
    }
}

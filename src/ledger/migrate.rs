//! Copying a ledger to other storage: a registry on sled moves to PostgreSQL once, when it
//! outgrows one machine (`licreg migrate`).
//!
//! Every table (entries, tree nodes, checkpoints, meta, indexes and the view) is copied row by
//! row in key order, in commits of [`MIGRATE_COMMIT_ROWS`]; the last commit also sets the
//! target's sequence counter, so a target whose copy was cut off is left with rows and a zero
//! counter, never with a log that looks complete. Afterwards both logs are read back and must
//! have the same size, the same root and the same checkpoint, and every table the same number of
//! rows. A target that already holds anything is refused.

use super::backend::{Batches, TableWalk};
use super::projection::Projection;
use super::store::{open_backend, Ledger, LedgerError, Storage};
use super::tables::{Order, Scan};

/// Rows written per commit to the target.
pub const MIGRATE_COMMIT_ROWS: usize = 20_000;

struct Target {
    backend: std::sync::Arc<dyn super::backend::Backend>,
    table_count: usize,
}

/// What a migration copied and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migrated {
    pub entries: u64,
    pub rows: u64,
    /// The checkpoint both logs now serve.
    pub checkpoint: Option<String>,
}

/// Why a migration stopped.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("the target already holds a ledger ({0}); migrate only into an empty database")]
    TargetNotEmpty(String),
    #[error("source and target have different tables ({source_tables} and {target_tables}): open both with the same build")]
    Tables {
        source_tables: usize,
        target_tables: usize,
    },
    #[error("after the copy the logs differ: {0}")]
    Mismatch(String),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
}

/// Rows in every table of `ledger`, by table.
pub fn count_rows(ledger: &Ledger) -> Result<Vec<u64>, LedgerError> {
    let shared = ledger.shared();
    (0..shared.table_count)
        .map(|table| {
            let mut rows = 0u64;
            for row in TableWalk::new(shared.backend.clone(), table) {
                row?;
                rows += 1;
            }
            Ok(rows)
        })
        .collect()
}

/// Copies every table of `source` (opened with `projection`) into the empty `target`,
/// reporting rows copied to `progress`. Check the result with [`check_copy`].
pub fn copy_ledger(
    source: &Ledger,
    target: &Storage,
    projection: &dyn Projection,
    progress: &dyn Fn(u64),
) -> Result<Migrated, MigrateError> {
    let from = source.shared();
    let (backend, table_count) =
        open_backend(target, projection, false).map_err(|reason| LedgerError::Open {
            path: target.describe(),
            reason,
        })?;
    if from.table_count != table_count {
        return Err(MigrateError::Tables {
            source_tables: from.table_count,
            target_tables: table_count,
        });
    }
    for table in 0..table_count {
        if backend
            .rows(table, Scan::All, Order::Ascending)
            .next()
            .is_some()
        {
            return Err(MigrateError::TargetNotEmpty(format!(
                "table {table} has rows"
            )));
        }
    }
    let to = Target {
        backend,
        table_count,
    };
    let size = source.size();
    let mut copied = 0u64;
    let mut batch = Batches::new(to.table_count);
    let mut pending = 0usize;
    for table in 0..from.table_count {
        for row in TableWalk::new(from.backend.clone(), table) {
            let (key, value) = row?;
            batch.insert(table, key, value);
            pending += 1;
            copied += 1;
            if pending == MIGRATE_COMMIT_ROWS {
                to.backend.commit(&batch)?;
                batch = Batches::new(to.table_count);
                pending = 0;
                progress(copied);
            }
        }
    }
    // The counter moves last, with the final rows: only a complete copy looks like a log.
    batch.advance_sequence(0, size);
    to.backend.commit(&batch)?;
    to.backend.flush()?;
    progress(copied);
    Ok(Migrated {
        entries: size,
        rows: copied,
        checkpoint: source.checkpoint(),
    })
}

/// Compares a finished copy: the same size, checkpoint and rows per table.
pub fn check_copy(source: &Ledger, copy: &Ledger, migrated: &Migrated) -> Result<(), MigrateError> {
    if copy.size() != source.size() {
        return Err(MigrateError::Mismatch(format!(
            "size {} against {}",
            copy.size(),
            source.size()
        )));
    }
    if source.size() > 0 && copy.root_at(copy.size())? != source.root_at(source.size())? {
        return Err(MigrateError::Mismatch("the tree roots differ".into()));
    }
    if copy.checkpoint() != migrated.checkpoint {
        return Err(MigrateError::Mismatch("the checkpoints differ".into()));
    }
    let (theirs, ours) = (count_rows(source)?, count_rows(copy)?);
    if theirs != ours {
        return Err(MigrateError::Mismatch(format!(
            "rows per table {ours:?} against {theirs:?}"
        )));
    }
    Ok(())
}

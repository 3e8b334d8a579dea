//! `licreg migrate --from sled:DIR --to postgres://…`: moves a stopped registry's ledger to a
//! database once, with progress, and checks the copy before saying so.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use licreg::clock::Clock;
use licreg::ledger::migrate::{check_copy, copy_ledger, count_rows};
use licreg::ledger::Storage;

/// `sled:DIR` (or a bare directory) for the source.
fn source(from: &str) -> anyhow::Result<Storage> {
    let dir = from.strip_prefix("sled:").unwrap_or(from);
    if dir.starts_with("postgres://") || dir.starts_with("postgresql://") {
        bail!("--from is the sled ledger to move (sled:DIR); got a database URL");
    }
    let dir = PathBuf::from(dir);
    if !dir.exists() {
        bail!("no ledger at {}", dir.display());
    }
    Ok(Storage::sled(dir))
}

pub fn run(from: &str, to: &str, clock: Arc<dyn Clock>) -> anyhow::Result<ExitCode> {
    let source = source(from)?;
    let target = match Storage::parse(to)? {
        target @ Storage::Postgres(_) => target,
        Storage::Sled(_) => bail!("--to is a postgres:// URL"),
    };
    let open = |storage: &Storage| {
        licreg::registry::open_registry(storage, None, Arc::clone(&clock))
            .with_context(|| format!("opening the ledger in {}", storage.describe()))
    };
    let from_ledger = open(&source)?;
    eprintln!("counting rows in {}", source.describe());
    let total: u64 = count_rows(&from_ledger)?.iter().sum();
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} rows ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let projection = licreg::registry::RegistryProjection;
    let migrated = copy_ledger(&from_ledger, &target, &projection, &|rows| {
        bar.set_position(rows)
    })?;
    bar.finish_and_clear();
    let copy = open(&target)?;
    check_copy(&from_ledger, &copy, &migrated)?;
    println!(
        "migrated {} entries ({} rows) from {} to {} in {:.1} s; size, root, checkpoint and rows \
         per table match",
        migrated.entries,
        migrated.rows,
        source.describe(),
        target.describe(),
        started.elapsed().as_secs_f64()
    );
    Ok(ExitCode::SUCCESS)
}

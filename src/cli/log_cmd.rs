//! `licreg log`: read the ledger without its signing key.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use licreg::clock::Clock;
use licreg::ledger::{self, EventType, Ledger, Seq, Storage, SubjectKind};

use super::{LogAction, EXIT_INVALID};

pub fn run(data: &Path, action: LogAction, clock: Arc<dyn Clock>) -> anyhow::Result<ExitCode> {
    let ledger = open_read_only(data, clock)?;
    match action {
        LogAction::Checkpoint => {
            let note = ledger.checkpoint().context("the log is empty")?;
            print!("{note}");
            Ok(ExitCode::SUCCESS)
        }
        LogAction::Audit => audit(&ledger),
        LogAction::Prove { target } => {
            let seq = resolve_target(&ledger, &target)?;
            print!("{}", ledger.receipt(seq)?.encode());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Opens the ledger at `data` (a directory, or a `postgres://` URL) without its signing key.
pub fn open_read_only(data: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Ledger> {
    let storage = Storage::parse(&data.to_string_lossy())?;
    if let Storage::Sled(store) = &storage {
        if !store.dir.exists() {
            bail!("no ledger at {}", store.dir.display());
        }
    }
    Ledger::open_at(&storage, None, clock)
        .with_context(|| format!("opening the ledger in {}", storage.describe()))
}

/// A sequence number, or the latest issue-type entry of a licence number.
fn resolve_target(ledger: &Ledger, target: &str) -> anyhow::Result<Seq> {
    if let Ok(seq) = target.parse::<u64>() {
        if seq >= ledger.size() {
            bail!(
                "sequence number {seq} is beyond the log (size {})",
                ledger.size()
            );
        }
        return Ok(Seq(seq));
    }
    let issuing = [
        EventType::Issue,
        EventType::Renewal,
        EventType::Reissue,
        EventType::Import,
    ];
    for seq in ledger
        .history(
            SubjectKind::Licence,
            &licreg::issuance::licence_subject(target).key,
        )?
        .into_iter()
        .rev()
    {
        if issuing.contains(&ledger.entry(seq)?.event) {
            return Ok(seq);
        }
    }
    bail!("no issued licence {target:?} in this ledger")
}

fn audit(ledger: &Ledger) -> anyhow::Result<ExitCode> {
    let bar = ProgressBar::new(ledger.size());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} entries ({per_sec}, eta {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = Instant::now();
    let report = ledger::audit(ledger, |done| bar.set_position(done))?;
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "audited {} entries, {} checkpoints, {} index keys in {seconds:.2}s",
        report.entries, report.checkpoints, report.index_keys
    );
    if report.is_clean() {
        println!("audit: CLEAN");
        return Ok(ExitCode::SUCCESS);
    }
    for problem in &report.problems {
        println!("problem: {problem}");
    }
    println!("audit: {} PROBLEM(S)", report.problems.len());
    Ok(ExitCode::from(EXIT_INVALID))
}

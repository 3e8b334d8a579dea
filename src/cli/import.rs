//! `licreg import`: moves a city's existing licences into the registry, once.
//!
//! Lines are read by one thread, checked and signed by one worker per core, and appended in
//! file order through the ledger's group commit, each licence its own atomic append (a bad or
//! duplicate line never takes a good one down with it). Every commit is atomic and durable, so
//! an interrupted import leaves a clean ledger; run again, it skips the legacy numbers already
//! in the registry and carries on. The outputs are rewritten whole on every run.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use licreg::clock::Clock;
use licreg::ids::LicenceKind;
use licreg::keys::CredentialSigner;
use licreg::ledger::{Ledger, LedgerError, Pending, Storage};
use licreg::model::LicenceRecord;
use licreg::registry::import::{self, PreparedImport, Slot, MAX_LEGACY_NUMBER_BYTES};
// A rejected line's problems have the shape applications log them in.
use licreg::registry::bodies::Problem;
use licreg::registry::{Allocators, Refusal, View};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Longest line accepted, in bytes; a longer one is rejected without being parsed.
pub const MAX_IMPORT_LINE_BYTES: usize = 64 * 1024;
/// Lines handed to a worker at a time.
const CHUNK_LINES: usize = 512;
/// Appends in flight before the loader waits for the oldest: keeps the writer's groups large
/// and memory bounded.
const MAX_IN_FLIGHT: usize = 8192;
/// Exit status when some lines were rejected.
pub const EXIT_REJECTED: u8 = 3;

/// sled's page cache for an import, in MiB: four times the service's default, since an import
/// inserts into every index tree at random keys and the service is stopped meanwhile.
pub const IMPORT_SLED_CACHE_MB: u64 = 4 * licreg::ledger::DEFAULT_SLED_CACHE_MB;

pub struct ImportArgs {
    pub data: PathBuf,
    /// `postgres://…` for a database; `None` or `sled` for DIR/ledger.
    pub storage: Option<String>,
    /// sled's page cache in MiB.
    pub sled_cache_mb: u64,
    pub kind: LicenceKind,
    pub file: PathBuf,
    pub base_url: String,
    pub origin: String,
    pub clock: Arc<dyn Clock>,
}

fn problem(field: &str, rule: &str, message: impl Into<String>) -> Problem {
    Problem {
        field: field.into(),
        rule: rule.into(),
        message: message.into(),
    }
}

/// What became of one line before it reaches the ledger.
enum Checked {
    Ready(u64, String, Box<PreparedImport>),
    Skipped(String, String),
    Rejected(u64, Option<String>, Vec<Problem>),
}

/// Tallies for the last line.
#[derive(Debug, Default)]
struct Counts {
    imported: u64,
    skipped: u64,
    rejected: u64,
    lines: u64,
}

struct Outputs {
    issued: BufWriter<File>,
    rejects: BufWriter<File>,
}

pub fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    let (input, out_base, spooled) = resolve_input(&args.file, &args.data)?;
    let result = import_file(args, &input, &out_base);
    if let Some(spool) = spooled {
        let _ = std::fs::remove_file(spool);
    }
    if result.is_ok() {
        if let Err(e) = settle_sled_snapshot(args) {
            // The import is whole and durable; only the next open will be slower.
            eprintln!("note: the ledger was not reopened after the import: {e:#}");
        }
    }
    result
}

/// sled writes the snapshot of its page table only when it opens a database, replaying the log
/// written since the last one: the first open after an import replayed the whole import (13.5 s
/// at ten million licences, 20.9 s on a slower day), and that open was the service's. The
/// import pays it once here, after the ledger is closed, so `licreg serve` then starts in about
/// a second. PostgreSQL keeps no such snapshot.
fn settle_sled_snapshot(args: &ImportArgs) -> anyhow::Result<()> {
    if !matches!(args.storage.as_deref(), None | Some("sled")) {
        return Ok(());
    }
    let spinner = indicatif::ProgressBar::new_spinner();
    spinner.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} readying the ledger for the service (sled's page-table snapshot) {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(200));
    let started = std::time::Instant::now();
    let reopened = open(args).map(drop);
    spinner.finish_and_clear();
    reopened?;
    eprintln!(
        "ledger ready for the service in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The file to read and the base name of the outputs; standard input is spooled to a 0600
/// file in the data dir first, because the import event names the file's SHA-256.
fn resolve_input(file: &Path, data: &Path) -> anyhow::Result<(PathBuf, PathBuf, Option<PathBuf>)> {
    if file != Path::new("-") {
        return Ok((file.to_path_buf(), file.to_path_buf(), None));
    }
    licreg::keys::create_private_dir(data)
        .with_context(|| format!("creating {}", data.display()))?;
    let spool = data.join(format!("import-stdin-{}.jsonl", std::process::id()));
    let mut out = licreg::keys::create_private_file(&spool)
        .with_context(|| format!("creating {}", spool.display()))?;
    std::io::copy(&mut std::io::stdin().lock(), &mut out).context("reading standard input")?;
    out.sync_all().context("writing the spooled input")?;
    Ok((spool.clone(), PathBuf::from("stdin"), Some(spool)))
}

fn sha256_of(path: &Path) -> anyhow::Result<[u8; 32]> {
    let mut file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().into())
}

/// Opens the ledger, telling the operator plainly when the service holds it.
fn open(args: &ImportArgs) -> anyhow::Result<(Ledger, CredentialSigner)> {
    licreg::keys::create_private_dir(&args.data)
        .with_context(|| format!("creating {}", args.data.display()))?;
    let keys = args.data.join("keys");
    if !keys.join(licreg::keys::TRUST_LIST_FILE).exists() {
        licreg::keys::keygen(&keys, &args.origin, args.clock.now_unix())
            .with_context(|| format!("creating keys in {}", keys.display()))?;
    }
    let log_key = licreg::keys::load_log_key(&keys)
        .with_context(|| format!("loading the log key from {}", keys.display()))?;
    let signer = licreg::keys::load_credential_signer(&keys)
        .with_context(|| format!("loading the credential key from {}", keys.display()))?;
    let storage = match args.storage.as_deref() {
        None | Some("sled") => Storage::sled(args.data.join("ledger")),
        Some(url) => Storage::parse(url)?,
    }
    .with_sled_cache_mb(args.sled_cache_mb)?;
    let place = storage.describe();
    match licreg::registry::open_registry(&storage, Some(log_key), Arc::clone(&args.clock)) {
        Ok(ledger) => Ok((ledger, signer)),
        Err(e) if is_locked(&e) => anyhow::bail!(
            "the ledger in {place} is in use: stop `licreg serve` (or the other import) first"
        ),
        Err(e) => Err(e).with_context(|| format!("opening the ledger in {place}")),
    }
}

fn is_locked(e: &LedgerError) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("lock")
        || text.contains("temporarily unavailable")
        || text.contains("would block")
}

fn output(base: &Path, suffix: &str) -> anyhow::Result<(PathBuf, BufWriter<File>)> {
    let mut name = base.as_os_str().to_owned();
    name.push(suffix);
    let path = PathBuf::from(name);
    let file = licreg::keys::create_private_file(&path)
        .with_context(|| format!("creating {}", path.display()))?;
    Ok((path, BufWriter::new(file)))
}

fn import_file(args: &ImportArgs, input: &Path, out_base: &Path) -> anyhow::Result<ExitCode> {
    let sha = sha256_of(input)?;
    let total_bytes = std::fs::metadata(input)
        .with_context(|| format!("reading {}", input.display()))?
        .len();
    let (ledger, signer) = open(args)?;
    let view = View::new(&ledger).context("reading the registry view")?;
    let ids = Arc::new(Allocators::load(&view).context("reading the registry view")?);
    let (issued_path, issued) = output(out_base, ".issued.jsonl")?;
    let (rejects_path, rejects) = output(out_base, ".rejects.jsonl")?;
    let mut outputs = Outputs { issued, rejects };
    let bar = progress(total_bytes);
    let worker = Worker {
        kind: args.kind,
        sha,
        signer: Arc::new(signer),
        view: view.clone(),
        ids,
        actor: format!(
            "import:{}",
            std::env::var("USER").unwrap_or_else(|_| "operator".into())
        ),
        now: args.clock.now_unix(),
    };
    let counts = pipeline(input, worker, &ledger, &view, args, &mut outputs, &bar)?;
    outputs.issued.flush().context("writing the issued file")?;
    outputs
        .rejects
        .flush()
        .context("writing the rejects file")?;
    bar.finish_and_clear();
    ledger.flush().context("flushing the ledger")?;
    eprintln!(
        "{} lines; issued in {}, rejects in {}",
        counts.lines,
        issued_path.display(),
        rejects_path.display()
    );
    println!(
        "imported {}, skipped {}, rejected {}",
        counts.imported, counts.skipped, counts.rejected
    );
    Ok(if counts.rejected == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_REJECTED)
    })
}

fn progress(total_bytes: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total_bytes);
    bar.set_style(
        indicatif::ProgressStyle::with_template("importing {bar:30} {percent}% {msg}, ETA {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.enable_steady_tick(Duration::from_millis(500));
    bar
}

/// Checks, numbers and signs lines; shared by the worker threads.
#[derive(Clone)]
struct Worker {
    kind: LicenceKind,
    sha: [u8; 32],
    signer: Arc<CredentialSigner>,
    view: View,
    ids: Arc<Allocators>,
    actor: String,
    now: i64,
}

impl Worker {
    fn check(&self, line: u64, text: Result<&[u8], usize>) -> Checked {
        let text = match text {
            Ok(text) => text,
            Err(len) => {
                let message =
                    format!("the line is {len} bytes, over the {MAX_IMPORT_LINE_BYTES}-byte limit");
                return Checked::Rejected(line, None, vec![problem("", "length", message)]);
            }
        };
        let mut value: Value = match serde_json::from_slice(text) {
            Ok(value) => value,
            Err(e) => {
                return Checked::Rejected(line, None, vec![problem("", "json", e.to_string())])
            }
        };
        let legacy = legacy_number(&mut value);
        let mut problems: Vec<Problem> = Vec::new();
        if let Err(p) = &legacy {
            problems.push(p.clone());
        }
        let schema = licreg::schemas::validate(self.kind, &value);
        problems.extend(schema.iter().map(Problem::from));
        let record = match LicenceRecord::parse(self.kind, &value) {
            Ok(record) => Some(record),
            Err(errors) => {
                for error in &errors.0 {
                    if !problems.iter().any(|p| p.field == error.field) {
                        problems.push(Problem::from(error));
                    }
                }
                None
            }
        };
        let (Ok(legacy), Some(record), true) = (legacy.clone(), record, problems.is_empty()) else {
            return Checked::Rejected(line, legacy.ok(), problems);
        };
        self.prepare(line, legacy, &record)
    }

    fn prepare(&self, line: u64, legacy: String, record: &LicenceRecord) -> Checked {
        match self.view.imported_as(self.kind, &legacy) {
            Ok(Some(number)) => return Checked::Skipped(legacy, number),
            Ok(None) => {}
            Err(e) => {
                return Checked::Rejected(
                    line,
                    Some(legacy),
                    vec![problem("", "registry", e.to_string())],
                )
            }
        }
        let Some(serial) = self.ids.next_serial() else {
            return Checked::Rejected(
                line,
                Some(legacy),
                vec![problem("", "registry", "licence serials are exhausted")],
            );
        };
        let slot = Slot {
            serial,
            status_index: self.ids.next_status_index(self.kind),
        };
        match import::prepare(
            &self.signer,
            record,
            &legacy,
            &self.sha,
            slot,
            &self.actor,
            self.now,
        ) {
            Ok(prepared) => Checked::Ready(line, legacy, Box::new(prepared)),
            Err(e) => Checked::Rejected(
                line,
                Some(legacy),
                vec![problem("", "number", e.to_string())],
            ),
        }
    }
}

/// Takes `legacy_number` out of the record (it is not part of the licence record).
fn legacy_number(value: &mut Value) -> Result<String, Problem> {
    let found = value
        .as_object_mut()
        .and_then(|o| o.remove("legacy_number"));
    match found {
        Some(Value::String(text))
            if !text.trim().is_empty()
                && text.len() <= MAX_LEGACY_NUMBER_BYTES
                && !text.chars().any(char::is_control) =>
        {
            Ok(text)
        }
        Some(Value::String(_)) => Err(problem(
            "legacy_number",
            "length",
            format!("must be 1 to {MAX_LEGACY_NUMBER_BYTES} bytes of printable text"),
        )),
        Some(_) => Err(problem("legacy_number", "type", "must be a string")),
        None => Err(problem(
            "legacy_number",
            "required",
            "legacy_number is required",
        )),
    }
}

type Chunk = (usize, Vec<(u64, Result<Vec<u8>, usize>)>, u64);

/// Reads lines in chunks: (chunk number, lines with their numbers, bytes consumed).
fn read_chunks(input: &Path, chunks: crossbeam_channel::Sender<Chunk>) -> anyhow::Result<()> {
    let file = File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let (mut index, mut line_no) = (0usize, 0u64);
    loop {
        let mut lines = Vec::with_capacity(CHUNK_LINES);
        let mut bytes = 0u64;
        while lines.len() < CHUNK_LINES {
            let mut buf = Vec::new();
            let n = (&mut reader)
                .take(MAX_IMPORT_LINE_BYTES as u64 + 1)
                .read_until(b'\n', &mut buf)
                .context("reading the input")?;
            if n == 0 {
                break;
            }
            bytes += n as u64;
            line_no += 1;
            let text = if buf.last() != Some(&b'\n') && buf.len() > MAX_IMPORT_LINE_BYTES {
                // Skip the rest of an overlong line.
                let mut rest = Vec::new();
                let skipped = reader
                    .read_until(b'\n', &mut rest)
                    .context("reading the input")?;
                bytes += skipped as u64;
                Err(buf.len() + skipped)
            } else {
                Ok(buf)
            };
            let blank = matches!(&text, Ok(t) if t.iter().all(u8::is_ascii_whitespace));
            if !blank {
                lines.push((line_no, text));
            }
        }
        if lines.is_empty() && bytes == 0 {
            return Ok(());
        }
        if chunks.send((index, lines, bytes)).is_err() {
            return Ok(());
        }
        index += 1;
    }
}

fn pipeline(
    input: &Path,
    worker: Worker,
    ledger: &Ledger,
    view: &View,
    args: &ImportArgs,
    outputs: &mut Outputs,
    bar: &indicatif::ProgressBar,
) -> anyhow::Result<Counts> {
    let (chunk_tx, chunk_rx) = crossbeam_channel::bounded::<Chunk>(4);
    let (done_tx, done_rx) = crossbeam_channel::bounded::<(usize, Vec<Checked>, u64)>(4);
    let input = input.to_path_buf();
    let reader = std::thread::spawn(move || read_chunks(&input, chunk_tx));
    let workers: Vec<_> = (0..std::thread::available_parallelism().map_or(2, |n| n.get()))
        .map(|_| {
            let (rx, tx, worker) = (chunk_rx.clone(), done_tx.clone(), worker.clone());
            std::thread::spawn(move || {
                for (index, lines, bytes) in rx {
                    let checked = lines
                        .iter()
                        .map(|(n, text)| worker.check(*n, text.as_deref().map_err(|l| *l)))
                        .collect();
                    if tx.send((index, checked, bytes)).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    drop(done_tx);
    let mut loader = Loader {
        ledger,
        view,
        base_url: &args.base_url,
        in_flight: VecDeque::new(),
        counts: Counts::default(),
        started: Instant::now(),
        logged: Instant::now(),
    };
    let mut waiting: BTreeMap<usize, (Vec<Checked>, u64)> = BTreeMap::new();
    let mut next = 0usize;
    for (index, checked, bytes) in done_rx {
        waiting.insert(index, (checked, bytes));
        while let Some((checked, bytes)) = waiting.remove(&next) {
            for item in checked {
                loader.take(item, outputs)?;
            }
            bar.inc(bytes);
            bar.set_message(loader.rate());
            loader.log_progress(bar);
            next += 1;
        }
    }
    while !loader.in_flight.is_empty() {
        loader.settle_oldest(outputs)?;
    }
    for handle in workers {
        handle
            .join()
            .map_err(|_| anyhow::anyhow!("an import worker panicked"))?;
    }
    reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader panicked"))??;
    Ok(loader.counts)
}

/// Appends prepared licences in file order and writes what became of each line.
struct Loader<'a> {
    ledger: &'a Ledger,
    view: &'a View,
    base_url: &'a str,
    in_flight: VecDeque<(u64, String, Box<PreparedImport>, Pending)>,
    counts: Counts,
    started: Instant,
    /// When progress was last written as a line (for logs, where the bar is hidden).
    logged: Instant,
}

/// How often progress is written as a line when standard error is not a terminal.
const PROGRESS_LINE_INTERVAL: Duration = Duration::from_secs(10);

impl Loader<'_> {
    fn log_progress(&mut self, bar: &indicatif::ProgressBar) {
        if bar.is_hidden() && self.logged.elapsed() >= PROGRESS_LINE_INTERVAL {
            self.logged = Instant::now();
            eprintln!(
                "import: {:.0}s, {}, {}/{} bytes",
                self.started.elapsed().as_secs_f64(),
                self.rate(),
                bar.position(),
                bar.length().unwrap_or(0)
            );
        }
    }

    fn rate(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        format!(
            "{} lines, {:.0} lines/s",
            self.counts.lines,
            self.counts.lines as f64 / seconds
        )
    }

    fn take(&mut self, item: Checked, outputs: &mut Outputs) -> anyhow::Result<()> {
        self.counts.lines += 1;
        match item {
            Checked::Ready(line, legacy, prepared) => {
                let pending = self
                    .ledger
                    .submit(vec![prepared.entry.clone()])
                    .context("appending to the ledger")?;
                self.in_flight.push_back((line, legacy, prepared, pending));
                if self.in_flight.len() >= MAX_IN_FLIGHT {
                    self.settle_oldest(outputs)?;
                }
                Ok(())
            }
            Checked::Skipped(legacy, number) => self.skipped(&legacy, &number, outputs),
            Checked::Rejected(line, legacy, problems) => {
                self.reject(line, legacy.as_deref(), &problems, outputs)
            }
        }
    }

    fn settle_oldest(&mut self, outputs: &mut Outputs) -> anyhow::Result<()> {
        let Some((line, legacy, prepared, pending)) = self.in_flight.pop_front() else {
            return Ok(());
        };
        match pending.wait() {
            Ok(_) => {
                self.counts.imported += 1;
                let url = licreg::qr::verification_url(self.base_url, &prepared.credential);
                let short = prepared.number.short_serial();
                issued_line(outputs, &legacy, prepared.number.as_str(), short.as_ref(), &url)
            }
            Err(e) => match Refusal::of(&e) {
                Some(Refusal::AlreadyImported { number, .. }) => {
                    self.skipped(&legacy, &number.clone(), outputs)
                }
                Some(refusal) => {
                    let field = refused_field(refusal);
                    let problems = [problem(field, refusal.code(), refusal.to_string())];
                    self.reject(line, Some(&legacy), &problems, outputs)
                }
                None => Err(e).context("appending to the ledger (what was acknowledged is kept; run the import again to resume)"),
            },
        }
    }

    fn skipped(&mut self, legacy: &str, number: &str, outputs: &mut Outputs) -> anyhow::Result<()> {
        self.counts.skipped += 1;
        let licence = self
            .view
            .licence(number)?
            .with_context(|| format!("imported licence {number} is missing from the view"))?;
        let credential = self.view.issued(&licence)?.credential;
        let url = licreg::qr::verification_url(self.base_url, &credential);
        issued_line(outputs, legacy, number, &licence.short_serial, &url)
    }

    fn reject(
        &mut self,
        line: u64,
        legacy: Option<&str>,
        problems: &[Problem],
        outputs: &mut Outputs,
    ) -> anyhow::Result<()> {
        self.counts.rejected += 1;
        let row = json!({"line": line, "legacy_number": legacy, "problems": problems});
        writeln!(outputs.rejects, "{row}").context("writing the rejects file")
    }
}

/// The record field a registry refusal is about, for the rejects file.
fn refused_field(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::Taken { key, .. } => match key.split(':').next() {
            Some("plate") => "plate",
            Some("vin") => "vin",
            Some("driver") => "citizen_id",
            Some("platform") => "credit_code",
            _ => "",
        },
        _ => "",
    }
}

fn issued_line(
    outputs: &mut Outputs,
    legacy: &str,
    number: &str,
    short_serial: &str,
    url: &str,
) -> anyhow::Result<()> {
    let row = json!({"legacy_number": legacy, "number": number, "short_serial": short_serial, "qr_url": url});
    writeln!(outputs.issued, "{row}").context("writing the issued file")
}

//! The national benchmark: generate N realistic licences (70% drivers, 30% vehicles, valid
//! citizen ids, VINs and plates), import them with the real `licreg import`, then measure the
//! registry at that size, each figure next to a same-run baseline where one exists:
//!
//! - import rate, against signing the same records alone (the part no ledger can avoid);
//! - bytes on disk per entry;
//! - `licreg serve` start to first `/healthz`, cold (page cache dropped, when permitted) and warm;
//! - service RSS after start-up and under status-lookup load, over 1,000 licences and over up to
//!   200,000;
//! - status lookups over HTTP against a bare axum handler answering the same JSON;
//! - inclusion proof and receipt time;
//! - `licreg log audit` entries/s, cold and warm.
//!
//! `LICREG_NATIONAL_N` (default 20,000) sets the size, `LICREG_NATIONAL_DIR` keeps the data
//! (and reuses an import already there), `LICREG_LOAD_SECONDS` (default 5) the load duration.
//! Run with `cargo bench --bench national`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

#[path = "support.rs"]
mod support;

use support::{env_u64, load, report};

const BIN: &str = env!("CARGO_BIN_EXE_licreg");

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn du(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|d| {
            d.flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => du(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

/// Drops the page cache, as root may; says whether it could.
fn drop_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

/// Distinct licences the wide status load spreads over (fewer when fewer were imported).
const WIDE_LOAD_LICENCES: usize = 200_000;

/// The import files for `n` licences in `dir`: reused when both exist with `n` lines between
/// them (the generator is deterministic), else written to temporary names and renamed into
/// place, so an interrupted run never leaves a short file under the real name, and a name that
/// is a symlink to someone's inputs is replaced, not written through.
fn generate(dir: &Path, n: u64) -> (PathBuf, PathBuf) {
    let drivers = dir.join("drivers.jsonl");
    let vehicles = dir.join("vehicles.jsonl");
    let lines = |path: &Path| -> u64 {
        use std::io::BufRead;
        let Ok(file) = std::fs::File::open(path) else {
            return 0;
        };
        let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
        let mut count = 0u64;
        while let Ok(chunk) = reader.fill_buf() {
            if chunk.is_empty() {
                break;
            }
            count += chunk.iter().filter(|c| **c == b'\n').count() as u64;
            let used = chunk.len();
            reader.consume(used);
        }
        count
    };
    if drivers.is_file() && vehicles.is_file() && lines(&drivers) + lines(&vehicles) == n {
        return (drivers, vehicles);
    }
    let (d_tmp, v_tmp) = (
        dir.join("drivers.jsonl.tmp"),
        dir.join("vehicles.jsonl.tmp"),
    );
    let mut d = std::io::BufWriter::new(std::fs::File::create(&d_tmp).expect("drivers"));
    let mut v = std::io::BufWriter::new(std::fs::File::create(&v_tmp).expect("vehicles"));
    for i in 0..n {
        if licreg::sample::is_driver(i) {
            let line = licreg::sample::import_line(licreg::sample::driver(i), &format!("D-{i}"));
            writeln!(d, "{line}").expect("write");
        } else {
            let line = licreg::sample::import_line(licreg::sample::vehicle(i), &format!("V-{i}"));
            writeln!(v, "{line}").expect("write");
        }
    }
    d.flush().expect("flush");
    v.flush().expect("flush");
    std::fs::rename(&d_tmp, &drivers).expect("rename drivers");
    std::fs::rename(&v_tmp, &vehicles).expect("rename vehicles");
    (drivers, vehicles)
}

/// Parses, checks and signs `n` driver records on every core: what an import costs before the
/// ledger.
fn sign_only_rate(n: u64) -> f64 {
    let key = ed25519_dalek::SigningKey::from_bytes(&[9; 32]);
    let signer = Arc::new(licreg::keys::CredentialSigner {
        kid: licreg::keys::KeyId::of(&key.verifying_key()),
        key,
    });
    let threads = std::thread::available_parallelism().map_or(2, |p| p.get() as u64);
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let signer = Arc::clone(&signer);
            std::thread::spawn(move || {
                for i in (t..n).step_by(threads as usize) {
                    let line = licreg::sample::import_line(licreg::sample::driver(i), "x");
                    let mut value: serde_json::Value = serde_json::from_str(&line).expect("json");
                    value
                        .as_object_mut()
                        .expect("object")
                        .remove("legacy_number");
                    let kind = licreg::ids::LicenceKind::Driver;
                    assert!(licreg::service::schemas::validate(kind, &value).is_empty());
                    let record = licreg::model::LicenceRecord::parse(kind, &value).expect("record");
                    let slot = licreg::registry::import::Slot {
                        serial: i + 1,
                        status_index: i,
                    };
                    licreg::registry::import::prepare(
                        &signer, &record, "x", &[0; 32], slot, "bench", 0,
                    )
                    .expect("prepare");
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("worker");
    }
    n as f64 / started.elapsed().as_secs_f64()
}

fn import(data: &Path, storage: Option<&str>, kind: &str, file: &Path) -> f64 {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["import", "--data"])
        .arg(data)
        .args(["--storage", storage.unwrap_or("sled")])
        .args(["--kind", kind])
        .arg(file)
        .stderr(Stdio::inherit())
        .output()
        .expect("import");
    let seconds = started.elapsed().as_secs_f64();
    let text = String::from_utf8_lossy(&out.stdout);
    println!(
        "licreg import --kind {kind}: {} in {seconds:.1} s",
        text.trim()
    );
    assert!(out.status.success(), "import failed");
    seconds
}

fn config(dir: &Path, data: &Path, storage: Option<&str>, port: u16) -> PathBuf {
    let path = dir.join("national.toml");
    std::fs::write(
        &path,
        format!(
            "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\npublic_requests_per_second = 0\n\
             storage = \"{}\"\n",
            data.display(),
            storage.unwrap_or("sled")
        ),
    )
    .expect("config");
    path
}

async fn start(config: &Path, port: u16) -> (Serve, f64) {
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve");
    let serve = Serve(child);
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
        {
            if r.status().is_success() {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(3600), "no /healthz");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (serve, started.elapsed().as_secs_f64())
}

/// Bytes the database holds for the ledger's rows, indexes and TOAST.
fn postgres_bytes(url: &str) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("connect");
        tokio::spawn(connection);
        let row = client
            .query_one("SELECT pg_total_relation_size('licreg_rows')", &[])
            .await
            .expect("size");
        row.get::<_, i64>(0) as u64
    })
}

fn audit(ledger: &Path) -> f64 {
    let started = Instant::now();
    let out = Command::new(BIN)
        .args(["log", "--data"])
        .arg(ledger)
        .arg("audit")
        .output()
        .expect("audit");
    let seconds = started.elapsed().as_secs_f64();
    assert!(String::from_utf8_lossy(&out.stdout).contains("audit: CLEAN"));
    seconds
}

/// The same JSON the registry answers for a licence, from a handler that looks nothing up.
fn bare_body() -> serde_json::Value {
    json!({"number": "1.2.156.3005.2.11100000000013338W901.11350200MB00000004.0000000002.001.W",
                "short_serial": "D0000000002001K", "kind": "driver", "status": "valid",
                "since": "2026-11-23T13:16:28Z", "reason": null, "valid_from": "2026-10-31T16:00:00Z",
                "valid_until": "2032-10-31T15:59:59Z", "platform": null, "device": null})
}

/// `national --bare-status-at ADDR` serves the bare handler in a process of its own, as
/// `examples/bare_status` does: the baseline then has the service's topology (its own runtime
/// and threads, beside the load generator's), not the load generator's runtime.
const BARE_PROCESS_FLAG: &str = "--bare-status-at";

fn serve_bare_process(addr: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(addr).await.expect("bind");
        axum::serve(listener, support::bare_status_app(bare_body()))
            .await
            .expect("serve");
    });
}

/// Starts the bare handler's own process and waits until it answers.
async fn start_bare_process() -> (Serve, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(std::env::current_exe().expect("own path"))
        .args([BARE_PROCESS_FLAG, &addr])
        .stdout(Stdio::null())
        .spawn()
        .expect("bare process");
    let base = format!("http://{addr}");
    let url = format!("{base}/v1/licences/D0000000002001K/status");
    let started = Instant::now();
    while reqwest::get(&url).await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(30), "bare process");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (Serve(child), base)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    if let Some(at) = args.iter().position(|a| a == BARE_PROCESS_FLAG) {
        return serve_bare_process(args.get(at + 1).expect("an address after the flag"));
    }
    let n = env_u64("LICREG_NATIONAL_N", 20_000);
    let seconds = env_u64("LICREG_LOAD_SECONDS", 5);
    let temp = tempfile::tempdir().expect("tempdir");
    let dir = std::env::var("LICREG_NATIONAL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| temp.path().to_path_buf());
    std::fs::create_dir_all(&dir).expect("dir");
    let data = dir.join("data");
    // The ledger's storage: sled in DATA/ledger, or the PostgreSQL database (an empty schema)
    // LICREG_NATIONAL_STORAGE names.
    let storage = std::env::var("LICREG_NATIONAL_STORAGE").ok();
    let ledger = match &storage {
        Some(url) => PathBuf::from(url),
        None => data.join("ledger"),
    };
    let location = licreg::ledger::Storage::parse(&ledger.to_string_lossy()).expect("storage");
    println!(
        "== national benchmark at {n} licences ({}; ledger in {})",
        dir.display(),
        location.describe()
    );

    let sample = n.min(20_000);
    println!(
        "baseline: check and sign {sample} records on every core: {:.0} licences/s",
        sign_only_rate(sample)
    );
    if storage.is_some() || !ledger.exists() {
        let (drivers, vehicles) = generate(&dir, n);
        let storage = storage.as_deref();
        let seconds = import(&data, storage, "driver", &drivers)
            + import(&data, storage, "vehicle", &vehicles);
        println!(
            "import: {n} licences in {seconds:.1} s = {:.0} licences/s",
            n as f64 / seconds
        );
    }
    let bytes = match &storage {
        Some(url) => postgres_bytes(url),
        None => du(&ledger),
    };
    println!(
        "disk: {bytes} bytes for {n} entries = {:.0} bytes per entry",
        bytes as f64 / n as f64
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async move {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("port")
            .port();
        let config = config(&dir, &data, storage.as_deref(), port);
        let cold = drop_caches();
        let (serve, first) = start(&config, port).await;
        drop(serve);
        let (serve, warm) = start(&config, port).await;
        println!(
            "serve start to /healthz: {} {first:.2} s, warm {warm:.2} s",
            if cold { "cold" } else { "first (cache not dropped)" }
        );
        let pid = serve.0.id();
        println!("serve RSS after start-up: {:.0} MB", rss_mb(pid));

        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .build()
            .expect("client");
        let bare = support::bare_status_server(bare_body()).await;
        let (bare_process, bare_apart) = start_bare_process().await;
        // Real short serials, spread over the whole import.
        let issued = std::fs::read_to_string(dir.join("drivers.jsonl.issued.jsonl"))
            .expect("issued file");
        let all: Vec<&str> = issued.lines().collect();
        let pick = |count: usize| -> Arc<Vec<String>> {
            Arc::new(
                all.iter()
                    .step_by((all.len() / count).max(1))
                    .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                    .filter_map(|v| v["short_serial"].as_str().map(str::to_string))
                    .collect(),
            )
        };
        let few = pick(1_000);
        // A registry's lookups are spread over all its licences, not a hot thousand: this load
        // is what shows whether memory stays bounded once sled has read many pages.
        let wide = pick(WIDE_LOAD_LICENCES);
        let service = format!("http://127.0.0.1:{port}");
        for (name, base, serials) in [
            (
                "baseline: bare axum handler in the load generator's process",
                bare,
                Arc::clone(&few),
            ),
            (
                "baseline: bare axum handler in a process of its own (examples/bare_status)",
                bare_apart,
                Arc::clone(&few),
            ),
            ("GET /v1/licences/{n}/status", service.clone(), few),
            (
                "GET /v1/licences/{n}/status over up to 200,000 licences",
                service,
                wide,
            ),
        ] {
            let client = http.clone();
            let outcome = load(64, seconds, move |i| {
                let client = client.clone();
                let url = format!(
                    "{base}/v1/licences/{}/status",
                    serials[(i % serials.len() as u64) as usize]
                );
                async move { client.get(url).send().await.is_ok_and(|r| r.status().is_success()) }
            })
            .await;
            report(name, &outcome);
            if name.starts_with("GET") {
                println!("serve RSS under that load: {:.0} MB", rss_mb(pid));
            }
        }
        drop(serve);
        drop(bare_process);

        let read_only =
            licreg::ledger::Ledger::open_at(&location, None, Arc::new(licreg::clock::SystemClock))
                .expect("ledger");
        let size = read_only.size();
        let picks = 2000u64;
        let started = Instant::now();
        for i in 0..picks {
            read_only
                .inclusion_proof((i * 7919) % size, size)
                .expect("proof");
        }
        let proof_us = started.elapsed().as_secs_f64() * 1e6 / picks as f64;
        let started = Instant::now();
        for i in 0..picks {
            read_only
                .receipt(licreg::ledger::Seq((i * 7919) % size))
                .expect("receipt");
        }
        let receipt_us = started.elapsed().as_secs_f64() * 1e6 / picks as f64;
        println!("inclusion proof: {proof_us:.0} µs; receipt (proof + entry + checkpoint): {receipt_us:.0} µs");
        drop(read_only);

        let cold = drop_caches();
        let first = audit(&ledger);
        let warm = audit(&ledger);
        println!(
            "audit: {} {:.0} entries/s, warm {:.0} entries/s",
            if cold { "cold" } else { "first" },
            size as f64 / first,
            size as f64 / warm
        );
    });
}

//! `licreg migrate`: a registry imported on sled moves to PostgreSQL; the copy audits clean, is
//! served by `licreg serve` on the database, and a second migration into it is refused.
//!
//! It runs when `LICREG_TEST_POSTGRES` names a database (`.ci/run` sets it); without it the test
//! says so on stderr and checks nothing else.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

#[path = "common/process.rs"]
mod process;
#[path = "harness/storage.rs"]
mod storage;
use process::{free_port, wait_healthy, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_licreg");

fn licreg(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Imports two drivers into sled in `data`; returns their licence numbers.
fn import_on_sled(dir: &Path, data: &Path) -> Vec<String> {
    let example: Value =
        serde_json::from_str(include_str!("../schemas/examples/driver.json")).unwrap();
    let mut lines = String::new();
    for (i, id) in ["35020319900101123X", "350203198507071235"]
        .iter()
        .enumerate()
    {
        let mut record = example.clone();
        record["citizen_id"] = json!(id);
        record["legacy_number"] = json!(format!("OLD-{i}"));
        lines.push_str(&format!("{record}\n"));
    }
    let file = dir.join("drivers.jsonl");
    std::fs::write(&file, lines).unwrap();
    let out = licreg(&[
        "import",
        "--kind",
        "driver",
        "--data",
        data.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    std::fs::read_to_string(dir.join("drivers.jsonl.issued.jsonl"))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["number"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sled_registry_moves_to_postgres_and_is_served_from_it() {
    if !storage::on_postgres() {
        eprintln!(
            "migration test skipped: set {} to a database URL",
            storage::TEST_POSTGRES_ENV
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let numbers = import_on_sled(dir.path(), &data);
    let url = storage::test_location(dir.path());
    let from = format!("sled:{}", data.join("ledger").display());

    let out = licreg(&["migrate", "--from", &from, "--to", &url]);
    assert!(out.status.success(), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains("migrated 2 entries"), "{said}");
    assert!(said.contains("match"), "{said}");
    assert!(
        !said.contains("licreg-ci"),
        "the password is never printed: {said}"
    );

    let audit = licreg(&["log", "--data", &url, "audit"]);
    assert!(text(&audit).contains("audit: CLEAN"), "{}", text(&audit));
    let sled_checkpoint = licreg(&["log", "--data", &from[5..], "checkpoint"]);
    let copy_checkpoint = licreg(&["log", "--data", &url, "checkpoint"]);
    assert_eq!(sled_checkpoint.stdout, copy_checkpoint.stdout);

    let again = licreg(&["migrate", "--from", &from, "--to", &url]);
    assert!(!again.status.success());
    assert!(text(&again).contains("empty database"), "{}", text(&again));
    let wrong = licreg(&["migrate", "--from", &from, "--to", "/tmp/somewhere"]);
    assert!(!wrong.status.success());
    assert!(text(&wrong).contains("postgres://"), "{}", text(&wrong));

    // The registry, started on the database with the same keys, serves the migrated licences.
    let port = free_port();
    let child = Command::new(BIN)
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--storage",
            &url,
        ])
        .args(["--data", dir.path().join("served").to_str().unwrap()])
        .env("LICREG_KEYS_DIR", data.join("keys"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _server = Proc(child);
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&client, &base).await;
    for number in &numbers {
        let status: Value = client
            .get(format!("{base}/v1/licences/{number}/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["status"], "valid", "{number}: {status}");
    }
}

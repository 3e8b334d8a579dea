//! Several registry nodes: two real `licreg serve` processes on one PostgreSQL database, with the
//! same keys directory and client tokens, each accepting writes and serving reads. A change made
//! through one node shows on the other's status route and live stream within 2 s; writes
//! through both at once land in one log that audits clean.
//!
//! It runs when `LICREG_TEST_POSTGRES` names a database (`.ci/run` sets it); without it the
//! test says so on stderr and checks nothing else.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use licreg::service::auth::TokenHash;
use serde_json::{json, Value};

#[path = "common/process.rs"]
mod process;
#[path = "harness/storage.rs"]
mod storage;
use process::{free_port, wait_healthy, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_licreg");
const OFFICER: &str = "multi-node-officer-token";
const PLATFORM: &str = "multi-node-platform-token";
/// How soon a change must show on the other node.
const PROPAGATION_LIMIT: Duration = Duration::from_secs(2);
/// Rounds of suspend-on-one, reinstate-on-the-other whose delays are printed.
const PROPAGATION_SAMPLES: usize = 25;

/// Imports three existing driver licences into the shared database; returns their numbers.
fn import_drivers(dir: &Path, url: &str) -> Vec<String> {
    let example: Value =
        serde_json::from_str(include_str!("../schemas/examples/driver.json")).unwrap();
    let ids = [
        "35020319900101123X",
        "350203198507071235",
        "440304199202153318",
    ];
    let mut lines = String::new();
    for (i, id) in ids.iter().enumerate() {
        let mut record = example.clone();
        record["citizen_id"] = json!(id);
        record["legacy_number"] = json!(format!("OLD-{i}"));
        lines.push_str(&format!("{record}\n"));
    }
    let file = dir.join("drivers.jsonl");
    std::fs::write(&file, lines).unwrap();
    let out = Command::new(BIN)
        .args(["import", "--kind", "driver", "--storage", url, "--data"])
        .arg(dir.join("shared"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "import {:?}: {}{}{}",
        out.status,
        std::fs::read_to_string(dir.join("drivers.jsonl.rejects.jsonl")).unwrap_or_default(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
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

/// One node: its own listen port and data dir, the shared keys, tokens and database.
async fn start_node(client: &reqwest::Client, dir: &Path, name: &str, url: &str) -> (Proc, String) {
    let port = free_port();
    let mut config = format!(
        "listen = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\nkeys_dir = \"{}\"\n\
         storage = \"{url}\"\npublic_requests_per_second = 0\n\n",
        dir.join(name).display(),
        dir.join("shared/keys").display(),
    );
    for (role, token) in [("officer", OFFICER), ("platform:p1", PLATFORM)] {
        config.push_str(&format!(
            "[[clients]]\nrole = \"{role}\"\ntoken_sha256 = \"{}\"\n\n",
            TokenHash::of(token).to_hex()
        ));
    }
    let file = dir.join(format!("{name}.toml"));
    std::fs::write(&file, config).unwrap();
    let child = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&file)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let node = Proc(child);
    wait_healthy(client, &base).await;
    (node, base)
}

async fn officer(client: &reqwest::Client, base: &str, number: &str, action: &str) -> u16 {
    client
        .post(format!("{base}/v1/licences/{number}/{action}"))
        .bearer_auth(OFFICER)
        .json(&json!({"reason": "multi-node test"}))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn status(client: &reqwest::Client, base: &str, number: &str) -> String {
    let answer: Value = client
        .get(format!("{base}/v1/licences/{number}/status"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["status"].as_str().unwrap_or_default().to_string()
}

/// Polls `base` until `number` shows `wanted`; returns how long that took.
async fn shows(client: &reqwest::Client, base: &str, number: &str, wanted: &str) -> Duration {
    let started = Instant::now();
    while status(client, base, number).await != wanted {
        assert!(
            started.elapsed() < PROPAGATION_LIMIT,
            "{base} did not show {number} {wanted} within {PROPAGATION_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    started.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_database_share_writes_reads_and_the_stream() {
    if !storage::on_postgres() {
        eprintln!(
            "multi-node test skipped: set {} to a database URL",
            storage::TEST_POSTGRES_ENV
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let url = storage::test_location(dir.path());
    let numbers = import_drivers(dir.path(), &url);
    let client = reqwest::Client::new();
    let (_a, node_a) = start_node(&client, dir.path(), "a", &url).await;
    let (_b, node_b) = start_node(&client, dir.path(), "b", &url).await;

    // A platform listens on node B; an officer suspends through node A.
    let mut stream = client
        .get(format!("{node_b}/v1/events/stream"))
        .bearer_auth(PLATFORM)
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status().as_u16(), 200);
    let number = &numbers[0];
    assert_eq!(officer(&client, &node_a, number, "suspend").await, 200);
    let sent = Instant::now();
    let on_b = shows(&client, &node_b, number, "suspended").await;
    let mut seen = String::new();
    while !(seen.contains("event: suspended") && seen.contains(number.as_str())) {
        let left = PROPAGATION_LIMIT.saturating_sub(sent.elapsed());
        let chunk = tokio::time::timeout(left, stream.chunk())
            .await
            .expect("node B's stream carries node A's suspension within 2 s")
            .unwrap()
            .expect("the stream stays open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    let streamed = sent.elapsed();
    // And back the other way: reinstated through B, valid on A.
    assert_eq!(officer(&client, &node_b, number, "reinstate").await, 200);
    let on_a = shows(&client, &node_a, number, "valid").await;
    println!("node A → B status {on_b:?}, stream {streamed:?}; node B → A status {on_a:?}");

    // The delay from a change acknowledged by one node to its status on the other, sampled.
    let mut delays = Vec::new();
    for round in 0..PROPAGATION_SAMPLES {
        let (writer, reader) = if round % 2 == 0 {
            (&node_a, &node_b)
        } else {
            (&node_b, &node_a)
        };
        assert_eq!(officer(&client, writer, number, "suspend").await, 200);
        delays.push(shows(&client, reader, number, "suspended").await);
        assert_eq!(officer(&client, reader, number, "reinstate").await, 200);
        delays.push(shows(&client, writer, number, "valid").await);
    }
    delays.sort_unstable();
    println!(
        "change on one node → status on the other, {} samples: p50 {:?}, p99 {:?}, max {:?}",
        delays.len(),
        delays[delays.len() / 2],
        delays[delays.len() * 99 / 100],
        delays[delays.len() - 1]
    );

    // Both nodes write at once: suspend every licence through both. Exactly one suspension of
    // each licence is accepted (the second is refused against the log as the first left it).
    let mut calls = Vec::new();
    for number in &numbers {
        for base in [&node_a, &node_b] {
            let (client, base, number) = (client.clone(), base.clone(), number.clone());
            calls.push(tokio::spawn(async move {
                officer(&client, &base, &number, "suspend").await
            }));
        }
    }
    let mut codes = Vec::new();
    for call in calls {
        codes.push(call.await.unwrap());
    }
    for (number, pair) in numbers.iter().zip(codes.chunks(2)) {
        let mut pair = pair.to_vec();
        pair.sort_unstable();
        assert_eq!(pair, [200, 409], "{number}: one suspension, one refusal");
        for base in [&node_a, &node_b] {
            shows(&client, base, number, "suspended").await;
        }
    }
    drop(stream);
    let out = Command::new(BIN)
        .args(["log", "--data", &url, "audit"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("audit: CLEAN"), "{report}");
}

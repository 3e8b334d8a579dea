//! `licreg import` on the real binary: good, bad and duplicate lines, a re-run, a SIGKILL in
//! the middle, and the imported licences verified offline and served by `licreg serve`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "common/process.rs"]
mod process;
use process::{free_port, wait_healthy, Proc};

const BIN: &str = env!("CARGO_BIN_EXE_licreg");

fn licreg(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn last_line(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn jsonl(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Drivers 0..n as import lines.
fn drivers(n: u64) -> Vec<String> {
    (0..n)
        .map(|i| licreg::sample::import_line(licreg::sample::driver(i), &format!("OLD-{i}")))
        .collect()
}

#[test]
fn good_bad_and_duplicate_lines_then_a_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("drivers.jsonl");
    let mut lines = drivers(5);
    // 6: a bad citizen id check character and a missing class: both reported.
    let mut bad: Value = serde_json::from_str(&lines[0]).unwrap();
    bad["legacy_number"] = "OLD-BAD".into();
    bad["citizen_id"] = "350203196501010071".into();
    bad.as_object_mut().unwrap().remove("licence_class");
    lines.push(bad.to_string());
    // 7: the same legacy number again; 8: not JSON; 9: no legacy number.
    lines.push(lines[1].clone());
    lines.push("{not json".into());
    let mut unnumbered: Value = serde_json::from_str(&licreg::sample::import_line(
        licreg::sample::driver(99),
        "x",
    ))
    .unwrap();
    unnumbered.as_object_mut().unwrap().remove("legacy_number");
    lines.push(unnumbered.to_string());
    // 10: another legacy number for a citizen who already holds a valid certificate.
    lines.push(licreg::sample::import_line(
        licreg::sample::driver(2),
        "OLD-TWIN",
    ));
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();

    let run = licreg(&[
        "import",
        "--data",
        path(&data),
        "--kind",
        "driver",
        path(&file),
    ]);
    assert_eq!(run.status.code(), Some(3), "{}", text(&run));
    assert_eq!(last_line(&run), "imported 5, skipped 1, rejected 4");
    let rejects = jsonl(&dir.path().join("drivers.jsonl.rejects.jsonl"));
    let lines_rejected: Vec<u64> = rejects
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines_rejected, vec![6, 8, 9, 10]);
    let fields: Vec<&str> = rejects[0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["field"].as_str().unwrap())
        .collect();
    assert!(
        fields.contains(&"citizen_id") && fields.contains(&"licence_class"),
        "{fields:?}"
    );
    assert_eq!(rejects[0]["legacy_number"], "OLD-BAD");
    assert_eq!(rejects[1]["problems"][0]["rule"], "json");
    assert_eq!(rejects[2]["problems"][0]["field"], "legacy_number");
    assert_eq!(rejects[3]["problems"][0]["field"], "citizen_id");
    assert_eq!(rejects[3]["problems"][0]["rule"], "already_licensed");
    let issued = jsonl(&dir.path().join("drivers.jsonl.issued.jsonl"));
    assert_eq!(issued.len(), 6, "five imported and the duplicate's line");
    for row in &issued {
        for key in ["legacy_number", "number", "short_serial", "qr_url"] {
            assert!(row[key].is_string(), "{row}");
        }
    }

    // Again: nothing twice, the bad lines rejected again, the issued file complete.
    let again = licreg(&[
        "import",
        "--data",
        path(&data),
        "--kind",
        "driver",
        path(&file),
    ]);
    assert_eq!(again.status.code(), Some(3), "{}", text(&again));
    assert_eq!(last_line(&again), "imported 0, skipped 6, rejected 4");
    assert_eq!(
        jsonl(&dir.path().join("drivers.jsonl.issued.jsonl")),
        issued
    );

    // The new credentials verify offline with the registry's keys.
    let keys = data.join("keys");
    for row in &issued {
        let verify = licreg(&[
            "verify",
            "--keys",
            path(&keys),
            row["qr_url"].as_str().unwrap(),
        ]);
        assert!(verify.status.success(), "{}", text(&verify));
        assert!(text(&verify).contains("verdict: VALID"));
    }
    let audit = licreg(&["log", "--data", path(&data.join("ledger")), "audit"]);
    assert!(text(&audit).contains("audit: CLEAN"), "{}", text(&audit));
    // Personal data stays private.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&dir.path().join("drivers.jsonl.rejects.jsonl")), 0o600);
    }
}

#[test]
fn standard_input_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(BIN)
        .args(["import", "--data", path(&data), "--kind", "driver", "-"])
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(drivers(3).join("\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(last_line(&out), "imported 3, skipped 0, rejected 0");
    assert_eq!(jsonl(&dir.path().join("stdin.issued.jsonl")).len(), 3);
    let missing = licreg(&[
        "import",
        "--data",
        path(&data),
        "--kind",
        "driver",
        path(&dir.path().join("nope.jsonl")),
    ]);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("nope.jsonl"), "{}", text(&missing));
    let kind = licreg(&["import", "--data", path(&data), "--kind", "boat", "-"]);
    assert_eq!(kind.status.code(), Some(2), "{}", text(&kind));
}

#[test]
fn a_sigkilled_import_resumes_without_issuing_anything_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("drivers.jsonl");
    const LINES: u64 = 6_000;
    std::fs::write(&file, drivers(LINES).join("\n") + "\n").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "import",
            "--data",
            path(&data),
            "--kind",
            "driver",
            path(&file),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Kill once licences are committed: the issued file gets a line only after its licence's
    // append is acknowledged, so a growing issued file means durable imports, while lines are
    // still coming.
    let ledger = data.join("ledger");
    let issued_file = dir.path().join("drivers.jsonl.issued.jsonl");
    let deadline = Instant::now() + Duration::from_secs(120);
    while Instant::now() < deadline {
        let size = std::fs::metadata(&issued_file).map_or(0, |m| m.len());
        if size > 64 << 10 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap(); // SIGKILL
    let killed = child.wait_with_output().unwrap();
    let finished = String::from_utf8_lossy(&killed.stdout).contains("imported");

    let run = licreg(&[
        "import",
        "--data",
        path(&data),
        "--kind",
        "driver",
        path(&file),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let counts: Vec<u64> = last_line(&run)
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    assert_eq!(counts[0] + counts[1], LINES, "{}", last_line(&run));
    assert_eq!(counts[2], 0);
    if !finished {
        assert!(counts[1] > 0, "the first run got somewhere before the kill");
    }
    let issued = jsonl(&dir.path().join("drivers.jsonl.issued.jsonl"));
    let numbers: std::collections::BTreeSet<&str> = issued
        .iter()
        .map(|r| r["number"].as_str().unwrap())
        .collect();
    assert_eq!(
        numbers.len() as u64,
        LINES,
        "every line has its own licence"
    );
    let audit = licreg(&["log", "--data", path(&ledger), "audit"]);
    assert!(text(&audit).contains("audit: CLEAN"), "{}", text(&audit));
    let checkpoint = licreg(&["log", "--data", path(&ledger), "checkpoint"]);
    let size: u64 = text(&checkpoint).lines().nth(1).unwrap().parse().unwrap();
    assert_eq!(size, LINES, "one import entry per licence, none twice");
}

#[tokio::test]
async fn imported_licences_are_served_and_the_running_service_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("vehicles.jsonl");
    let lines: Vec<String> = (0..4)
        .map(|i| licreg::sample::import_line(licreg::sample::vehicle(i), &format!("VEH-{i}")))
        .collect();
    std::fs::write(&file, lines.join("\n")).unwrap();
    let run = licreg(&[
        "import",
        "--data",
        path(&data),
        "--kind",
        "vehicle",
        path(&file),
    ]);
    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    // The import closed the ledger and opened it once more, so sled's snapshot is caught up
    // before the service opens it (a second open in one process fails while the first holds it).
    assert!(
        String::from_utf8_lossy(&run.stderr).contains("ledger ready for the service in"),
        "{}",
        text(&run)
    );
    let issued = jsonl(&dir.path().join("vehicles.jsonl.issued.jsonl"));

    let port = free_port();
    let _serve = Proc(
        Command::new(BIN)
            .args([
                "serve",
                "--data",
                path(&data),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    wait_healthy(&client, &base).await;
    for row in &issued {
        let short = row["short_serial"].as_str().unwrap();
        let status: Value = client
            .get(format!("{base}/v1/licences/{short}/status"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(status["status"], "valid", "{status}");
        assert_eq!(status["number"], row["number"]);
    }
    let plate = licreg::sample::plate(0);
    let by_plate: Value = client
        .get(format!("{base}/v1/plates/{plate}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(by_plate["valid"], true, "{by_plate}");
    // While the service runs, an import says what to do.
    let busy = licreg(&[
        "import",
        "--data",
        path(&data),
        "--kind",
        "vehicle",
        path(&file),
    ]);
    assert_eq!(busy.status.code(), Some(2), "{}", text(&busy));
    assert!(
        text(&busy).contains("stop `licreg serve`"),
        "{}",
        text(&busy)
    );
}

//! Crash safety: a child process appends in a loop and is killed with SIGKILL at random moments.
//! After each kill the ledger must reopen, audit clean, and hold every acknowledged append.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ed25519_dalek::SigningKey;
use licreg::clock::SystemClock;
use licreg::keys::LogKey;
use licreg::ledger::{self, EventType, Ledger, NewEntry, Seq, Storage, Subject, SubjectKind};

#[path = "harness/storage.rs"]
mod storage;

const DIR_VAR: &str = "LICREG_CRASH_TEST_DIR";
const ROUNDS: usize = 8;
const APPEND_THREADS: u64 = 4;

fn log_key() -> LogKey {
    LogKey {
        origin: "crash.example/log".into(),
        key: SigningKey::from_bytes(&[42; 32]),
    }
}

fn entry(thread: u64, n: u64) -> NewEntry {
    NewEntry {
        event: EventType::Application,
        actor: format!("writer-{thread}"),
        subjects: vec![Subject::new(
            SubjectKind::Application,
            format!("A{thread}-{n}"),
        )],
        body: licreg::cbor::to_vec(&(thread, n)).unwrap(),
    }
}

/// The child: append forever from several threads, printing each acknowledged sequence number.
#[test]
#[ignore = "run by acknowledged_appends_survive_sigkill as a child process"]
fn crash_child() {
    let location = std::env::var(DIR_VAR).expect("child needs its ledger's location");
    let storage = Storage::parse(&location).unwrap();
    let ledger = Ledger::open_at(&storage, Some(log_key()), Arc::new(SystemClock)).unwrap();
    let threads: Vec<_> = (0..APPEND_THREADS)
        .map(|t| {
            let ledger = ledger.clone();
            std::thread::spawn(move || {
                for n in 0.. {
                    let appended = ledger.append(entry(t, n)).unwrap();
                    println!("ack {}", appended.seq);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

/// A small xorshift so kill times vary without a dependency.
fn pseudo_random(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    // sled in `dir`, or a PostgreSQL schema when the tests run on PostgreSQL.
    let location = storage::test_location(dir.path());
    let storage = Storage::parse(&location).unwrap();
    let mut state = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    let mut total_acked = 0usize;
    for round in 0..ROUNDS {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, &location)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|line| line.strip_prefix("ack ")?.trim().parse::<u64>().ok())
                .collect::<Vec<u64>>()
        });
        let wait_ms = 150 + pseudo_random(&mut state) % 600;
        std::thread::sleep(Duration::from_millis(wait_ms));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        let acked = reader.join().unwrap();
        total_acked += acked.len();

        let ledger = Ledger::open_at(&storage, Some(log_key()), Arc::new(SystemClock)).unwrap();
        let report = ledger::audit(&ledger, |_| {}).unwrap();
        assert!(report.is_clean(), "round {round}: {:?}", report.problems);
        for seq in &acked {
            assert!(
                *seq < ledger.size(),
                "round {round}: acknowledged {seq} lost"
            );
            ledger.entry(Seq(*seq)).unwrap();
        }
        drop(ledger);
    }
    assert!(total_acked > 0, "the child never acknowledged an append");
}

//! The ledger on each storage backend: the same appends, under real concurrency, give the same
//! log, the same audit and the same state after a reopen on sled and on PostgreSQL; and what only
//! a shared database needs (writers in two processes taking turns, the sequence counter, schema
//! versions, durable commits) holds on PostgreSQL.
//!
//! The PostgreSQL half runs when `LICREG_TEST_POSTGRES` names a database (`.ci/run` starts one
//! and sets it); without it, those tests say so on stderr and check sled only.

use std::sync::{Arc, Barrier};

use ed25519_dalek::SigningKey;
use licreg::clock::FixedClock;
use licreg::keys::LogKey;
use licreg::ledger::{self, EventType, Ledger, NewEntry, Seq, Storage, Subject, SubjectKind};

#[path = "harness/storage.rs"]
mod storage;

const THREADS: usize = 8;
const APPENDS_PER_THREAD: usize = 40;

fn log_key() -> LogKey {
    LogKey {
        origin: "storage.example/log".into(),
        key: SigningKey::from_bytes(&[9; 32]),
    }
}

fn clock() -> Arc<FixedClock> {
    Arc::new(FixedClock::at(1_795_406_400))
}

fn entry(thread: usize, n: usize) -> NewEntry {
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

/// Appends from `THREADS` threads released together by a barrier; returns every acknowledged
/// sequence number.
fn concurrent_appends(ledger: &Ledger) -> Vec<u64> {
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ledger = ledger.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..APPENDS_PER_THREAD)
                    .map(|n| ledger.append(entry(t, n)).unwrap().seq.0)
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut seqs: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs
}

/// Everything a reader can see of a ledger: size, root and each entry's actor.
fn summary(ledger: &Ledger) -> (u64, String, Vec<String>) {
    let size = ledger.size();
    let checkpoint = ledger.checkpoint().unwrap();
    let root = checkpoint.lines().nth(2).unwrap().to_string();
    let actors = (0..size)
        .map(|seq| ledger.entry(Seq(seq)).unwrap().actor.clone())
        .collect();
    (size, root, actors)
}

fn exercise(storage: &Storage) {
    let ledger = Ledger::open_at(storage, Some(log_key()), clock()).unwrap();
    let seqs = concurrent_appends(&ledger);
    let expected: Vec<u64> = (0..(THREADS * APPENDS_PER_THREAD) as u64).collect();
    assert_eq!(seqs, expected, "every number once, none skipped");
    let report = ledger::audit(&ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let before = summary(&ledger);
    for seq in [0, before.0 / 2, before.0 - 1] {
        let receipt = ledger.receipt(Seq(seq)).unwrap();
        assert!(receipt.encode().contains(&format!("index {seq}")));
    }
    drop(ledger);
    let reopened = Ledger::open_at(storage, Some(log_key()), clock()).unwrap();
    assert_eq!(summary(&reopened), before, "a reopen gives the same log");
    let next = reopened.append(entry(99, 0)).unwrap();
    assert_eq!(next.seq.0, before.0, "numbering goes on where it stopped");
}

#[test]
fn sled_concurrent_appends_audit_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    exercise(&Storage::sled(dir.path().join("ledger")));
}

/// A PostgreSQL storage with a fresh schema, or `None` (and a note) when no database is set.
fn postgres() -> Option<Storage> {
    if !storage::on_postgres() {
        eprintln!(
            "PostgreSQL half skipped: set {} to a database URL to run it",
            storage::TEST_POSTGRES_ENV
        );
        return None;
    }
    Some(storage::test_storage(std::path::Path::new("unused")))
}

/// Runs SQL on the test's schema, outside licreg.
fn sql(storage: &Storage, statement: &str) {
    let Storage::Postgres(url) = storage else {
        panic!("not a database")
    };
    let url = url.as_str().to_string();
    let statement = statement.to_string();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(connection);
        client.batch_execute(&statement).await.unwrap();
    });
}

#[test]
fn postgres_concurrent_appends_audit_and_reopen() {
    if let Some(storage) = postgres() {
        exercise(&storage);
    }
}

/// Two writers on one database (two registry nodes, or a node and an import) take turns by
/// group: every append gets its own number, each group is checked against the log as the other
/// left it, and each ledger follows what the other appended.
#[test]
fn postgres_writers_in_two_processes_share_one_log() {
    let Some(storage) = postgres() else { return };
    let first = Ledger::open_at(&storage, Some(log_key()), clock()).unwrap();
    let second = Ledger::open_at(&storage, Some(log_key()), clock()).unwrap();
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ledger = if t % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..APPENDS_PER_THREAD)
                    .map(|n| (ledger.append(entry(t, n)).unwrap().seq.0, t, n))
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut acked: Vec<(u64, usize, usize)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    acked.sort_unstable();
    let total = (THREADS * APPENDS_PER_THREAD) as u64;
    let seqs: Vec<u64> = acked.iter().map(|(seq, _, _)| *seq).collect();
    assert_eq!(
        seqs,
        (0..total).collect::<Vec<u64>>(),
        "one log, no number twice"
    );
    assert_eq!(first.refresh().unwrap(), total);
    assert_eq!(second.refresh().unwrap(), total);
    assert_eq!(
        first.checkpoint(),
        second.checkpoint(),
        "the same checkpoint for a size"
    );
    for (seq, t, n) in &acked {
        assert_eq!(
            first.entry(Seq(*seq)).unwrap().actor,
            format!("writer-{t}"),
            "{n}"
        );
    }
    let report = ledger::audit(&second, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    let reader = Ledger::open_at(&storage, None, clock()).unwrap();
    assert_eq!(reader.size(), total);
}

#[test]
fn postgres_refuses_an_append_when_the_counter_moved() {
    let Some(storage) = postgres() else { return };
    let ledger = Ledger::open_at(&storage, Some(log_key()), clock()).unwrap();
    ledger.append(entry(0, 0)).unwrap();
    // Another writer (here: by hand) took sequence number 1.
    sql(&storage, "UPDATE licreg_sequence SET size = 2 WHERE id = 1");
    let refused = ledger.append(entry(0, 1)).unwrap_err().to_string();
    assert!(refused.contains("counter"), "{refused}");
    sql(&storage, "UPDATE licreg_sequence SET size = 1 WHERE id = 1");
    drop(ledger);
    let reopened = Ledger::open_at(&storage, None, clock()).unwrap();
    assert_eq!(reopened.size(), 1, "the refused append left nothing behind");
    let report = ledger::audit(&reopened, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
}

#[test]
fn postgres_refuses_a_newer_schema_and_undurable_commits() {
    let Some(storage) = postgres() else { return };
    drop(Ledger::open_at(&storage, Some(log_key()), clock()).unwrap());
    sql(
        &storage,
        "INSERT INTO licreg_migrations (version) VALUES (999)",
    );
    let newer = Ledger::open_at(&storage, None, clock()).err().unwrap();
    assert!(
        newer.to_string().contains("newer than this build"),
        "{newer}"
    );
    let Storage::Postgres(url) = postgres().unwrap() else {
        unreachable!()
    };
    let lossy = Storage::parse(&format!("{}%20-csynchronous_commit%3Doff", url.as_str())).unwrap();
    let refused = Ledger::open_at(&lossy, Some(log_key()), clock())
        .err()
        .unwrap();
    assert!(
        refused.to_string().contains("synchronous_commit = off"),
        "{refused}"
    );
}

/// Number counters two registry nodes take blocks from under contention: every value once.
#[test]
fn postgres_counters_never_hand_out_a_number_twice() {
    let Some(storage) = postgres() else { return };
    let first = Ledger::open_at(&storage, Some(log_key()), clock()).unwrap();
    let second = Ledger::open_at(&storage, None, clock()).unwrap();
    assert_eq!(
        first.next_counter("serial", 5, 1).unwrap(),
        Some(5),
        "starts at the floor"
    );
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ledger = if t % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                // Blocks of 1 to 4 numbers, as nodes with different block sizes would take.
                let count = 1 + (t % 4) as u64;
                barrier.wait();
                (0..APPENDS_PER_THREAD)
                    .flat_map(|_| {
                        let start = ledger.next_counter("serial", 1, count).unwrap().unwrap();
                        start..start + count
                    })
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut values: Vec<u64> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    values.sort_unstable();
    let taken: u64 = (0..THREADS)
        .map(|t| ((1 + t % 4) * APPENDS_PER_THREAD) as u64)
        .sum();
    let expected: Vec<u64> = (6..6 + taken).collect();
    assert_eq!(values, expected, "each number once, none skipped");
    assert_eq!(
        second.next_counter("serial", 10_000, 64).unwrap(),
        Some(10_000),
        "a higher floor (numbers seen in the log) wins"
    );
    let dir = tempfile::tempdir().unwrap();
    let sled = Ledger::open_at(&Storage::sled(dir.path()), Some(log_key()), clock()).unwrap();
    assert_eq!(
        sled.next_counter("serial", 1, 64).unwrap(),
        None,
        "sled counts in memory"
    );
}

/// Two registry nodes' allocators, each taking numbers in blocks from the shared counter under
/// contention: no serial, application id or status position is handed out twice, also after
/// one node catches up with what the view shows.
#[test]
fn postgres_allocators_on_two_nodes_never_collide() {
    use licreg::ids::LicenceKind;
    use licreg::registry::{Allocators, RegistryProjection, View};
    let Some(storage) = postgres() else { return };
    let open =
        |key| Ledger::open_storage(&storage, key, clock(), Arc::new(RegistryProjection)).unwrap();
    let (first, second) = (open(Some(log_key())), open(None));
    let nodes: Vec<Arc<Allocators>> = [&first, &second]
        .iter()
        .map(|l| Arc::new(Allocators::load(&View::new(l).unwrap()).unwrap()))
        .collect();
    let barrier = Arc::new(Barrier::new(THREADS));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let ids = Arc::clone(&nodes[t % 2]);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..200)
                    .map(|_| {
                        (
                            ids.next_serial().unwrap(),
                            ids.next_application_id(2026),
                            ids.next_status_index(LicenceKind::Vehicle),
                        )
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut taken: Vec<(u64, String, u64)> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    nodes[0].catch_up(&View::new(&first).unwrap()).unwrap();
    taken.extend((0..100).map(|i| {
        let ids = &nodes[i % 2];
        (
            ids.next_serial().unwrap(),
            ids.next_application_id(2026),
            ids.next_status_index(LicenceKind::Vehicle),
        )
    }));
    let count = taken.len();
    let serials: std::collections::BTreeSet<u64> = taken.iter().map(|t| t.0).collect();
    let applications: std::collections::BTreeSet<&String> = taken.iter().map(|t| &t.1).collect();
    let positions: std::collections::BTreeSet<u64> = taken.iter().map(|t| t.2).collect();
    assert_eq!(serials.len(), count, "serials");
    assert_eq!(applications.len(), count, "application ids");
    assert_eq!(positions.len(), count, "status positions");
}

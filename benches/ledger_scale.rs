//! The ledger at scale: a one-million-entry log on sled, then inclusion proofs and a full audit.
//!
//! Run with `cargo bench --bench ledger_scale`. `LICREG_BENCH_ENTRIES` changes the size.

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::SigningKey;
use licreg::clock::FixedClock;
use licreg::keys::LogKey;
use licreg::ledger::{self, EventType, Ledger, NewEntry, Subject, SubjectKind};

const DEFAULT_ENTRIES: u64 = 1_000_000;
const LOADERS: u64 = 16;
const PER_APPEND: u64 = 64;

fn entry(n: u64) -> NewEntry {
    NewEntry {
        event: EventType::Issue,
        actor: "bench".into(),
        subjects: vec![
            Subject::new(SubjectKind::Licence, format!("L{n:010}")),
            Subject::new(SubjectKind::Holder, format!("H{:08}", n % 5_000_000)),
        ],
        body: vec![0xA5; 240],
    }
}

/// Fills the ledger with `total` entries from several threads, in atomic groups.
fn load(ledger: &Ledger, total: u64) -> Duration {
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..LOADERS {
            s.spawn(move || {
                let mut n = t * PER_APPEND;
                while n < total {
                    let count = PER_APPEND.min(total - n);
                    let batch = (n..n + count).map(entry).collect();
                    ledger.append_all(batch).expect("append");
                    n += LOADERS * PER_APPEND;
                }
            });
        }
    });
    started.elapsed()
}

fn scale(c: &mut Criterion) {
    let total = std::env::var("LICREG_BENCH_ENTRIES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_ENTRIES);
    let dir = tempfile::tempdir().expect("tempdir");
    let key = LogKey {
        origin: "bench.example/log".into(),
        key: SigningKey::from_bytes(&[3; 32]),
    };
    let ledger = Ledger::open(dir.path(), Some(key), Arc::new(FixedClock::at(0))).expect("open");
    let took = load(&ledger, total);
    println!(
        "loaded {total} entries in {:.1}s: {:.0} durable appends/s (grouped, {LOADERS} writers)",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64()
    );
    let size = ledger.size();
    let mut index = 0u64;
    c.bench_function("ledger/inclusion_proof_at_1M_sled", |b| {
        b.iter(|| {
            index = (index + 104_729) % size;
            ledger.inclusion_proof(index, size).expect("proof")
        })
    });
    c.bench_function("ledger/receipt_at_1M_sled", |b| {
        b.iter(|| {
            index = (index + 104_729) % size;
            ledger.receipt(ledger::Seq(index)).expect("receipt")
        })
    });
    let mut group = c.benchmark_group("ledger");
    group.sample_size(10);
    group.throughput(Throughput::Elements(size));
    group.bench_function("full_audit_1M", |b| {
        b.iter(|| {
            let report = ledger::audit(&ledger, |_| {}).expect("audit");
            assert!(report.is_clean());
        })
    });
    group.finish();
}

criterion_group!(benches, scale);
criterion_main!(benches);

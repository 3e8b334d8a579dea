//! Criterion benchmarks for the pure core and the ledger, each beside its baseline.
//!
//! Run with `cargo bench --bench core`. Numbers are recorded in README.md.

use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ed25519_dalek::{Signature, Signer, SigningKey};
use licreg::clock::FixedClock;
use licreg::credential::{self, Claims};
use licreg::ids::{CreditCode, LicenceKind, LicenceNumber};
use licreg::keys::{CredentialSigner, KeyId, LogKey, TrustList};
use licreg::ledger::{EventType, Ledger, NewEntry, Subject, SubjectKind};
use licreg::log::merkle::{self, MemoryStore};

const BATCH: usize = 256;

fn signer() -> CredentialSigner {
    let key = SigningKey::from_bytes(&[11; 32]);
    CredentialSigner {
        kid: KeyId::of(&key.verifying_key()),
        key,
    }
}

fn claims() -> Claims {
    let issuer = CreditCode::with_check("11350200MB0000000").expect("issuer");
    let number = LicenceNumber::new(LicenceKind::Vehicle, &issuer, 123_456, 1).expect("number");
    Claims {
        issuer: "350200".into(),
        issued_at: 1_700_000_000,
        not_before: 1_700_000_000,
        expires: 1_900_000_000,
        serial: number.short_serial(),
        kind: LicenceKind::Vehicle,
        holder_masked: None,
        plate: Some("闽DD12345".into()),
        make: Some("比亚迪".into()),
        colour: Some("白色".into()),
        status_index: Some(123_456),
        device_key: None,
    }
}

fn trust(signer: &CredentialSigner) -> TrustList {
    TrustList::with_active(signer)
}

fn signatures(c: &mut Criterion) {
    let signer = signer();
    let bytes = credential::issue(&signer, &claims());
    let trust = trust(&signer);
    let sign1 = licreg::cose::decode(&bytes).expect("decode");
    let tbs = sign1.to_be_signed();
    let sig = Signature::from_bytes(&sign1.signature);
    let vk = signer.key.verifying_key();

    let mut group = c.benchmark_group("verify");
    group.throughput(Throughput::Elements(1));
    group.bench_function("baseline_verify_strict", |b| {
        b.iter(|| vk.verify_strict(&tbs, &sig).expect("valid"))
    });
    group.bench_function("credential_verify", |b| {
        b.iter(|| credential::verify(&bytes, &trust, 1_800_000_000, 0).expect("valid"))
    });
    group.finish();

    let messages: Vec<Vec<u8>> = (0..BATCH).map(|i| format!("m{i}").into_bytes()).collect();
    let sigs: Vec<Signature> = messages.iter().map(|m| signer.key.sign(m)).collect();
    let keys = vec![vk; BATCH];
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
    let mut group = c.benchmark_group("batch_verify");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("verify_batch_256", |b| {
        b.iter(|| ed25519_dalek::verify_batch(&refs, &sigs, &keys).expect("valid"))
    });
    group.finish();

    let mut group = c.benchmark_group("sign");
    group.throughput(Throughput::Elements(1));
    group.bench_function("credential_issue", |b| {
        b.iter(|| credential::issue(&signer, &claims()))
    });
    group.finish();

    let url = licreg::qr::verification_url("https://licreg.example", &bytes);
    let mut group = c.benchmark_group("qr");
    group.bench_function("encode_svg", |b| {
        b.iter(|| licreg::qr::to_svg(&licreg::qr::encode_url(&url).expect("fits")))
    });
    group.bench_function("encode_png", |b| {
        b.iter(|| licreg::qr::to_png(&licreg::qr::encode_url(&url).expect("fits"), 8))
    });
    group.finish();
}

fn merkle_proofs(c: &mut Criterion) {
    const SIZE: u64 = 1 << 20;
    let store = MemoryStore::from_leaves((0..SIZE).map(|i| merkle::leaf_hash(&i.to_be_bytes())))
        .expect("store");
    let mut index = 0u64;
    c.bench_function("inclusion_proof_1M_memory", |b| {
        b.iter(|| {
            index = (index + 7919) % SIZE;
            merkle::inclusion_proof(&store, index, SIZE).expect("proof")
        })
    });
}

fn ledger_appends(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = LogKey {
        origin: "bench.example/log".into(),
        key: SigningKey::from_bytes(&[3; 32]),
    };
    // sled in a temporary directory, or the database LICREG_BENCH_STORAGE names (a fresh schema).
    let storage = match std::env::var("LICREG_BENCH_STORAGE") {
        Ok(url) => licreg::ledger::Storage::parse(&url).expect("LICREG_BENCH_STORAGE"),
        Err(_) => licreg::ledger::Storage::sled(dir.path()),
    };
    println!("ledger storage: {}", storage.describe());
    let ledger = Ledger::open_at(&storage, Some(key), Arc::new(FixedClock::at(0))).expect("open");
    let entry = |n: u64| NewEntry {
        event: EventType::Application,
        actor: "bench".into(),
        subjects: vec![Subject::new(SubjectKind::Application, format!("A{n}"))],
        body: vec![0u8; 200],
    };
    let mut group = c.benchmark_group("ledger");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    // 256 callers that live across iterations (spawning them is not the ledger's cost): each
    // iteration releases all of them at once and ends when every append is acknowledged.
    let start = Arc::new(std::sync::Barrier::new(BATCH + 1));
    let done = Arc::new(std::sync::Barrier::new(BATCH + 1));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let callers: Vec<_> = (0..BATCH as u64)
        .map(|t| {
            let (ledger, start, done, stop) =
                (ledger.clone(), start.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || loop {
                start.wait();
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                ledger.append(entry(t)).expect("append");
                done.wait();
            })
        })
        .collect();
    group.bench_function("durable_append_256_concurrent", |b| {
        b.iter_custom(|iterations| {
            let began = std::time::Instant::now();
            for _ in 0..iterations {
                start.wait();
                done.wait();
            }
            began.elapsed()
        })
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    start.wait();
    for caller in callers {
        caller.join().expect("caller");
    }
    // The same 256 concurrent appends from tokio tasks, as the service makes them
    // (`append_async`): on two cores the 256 OS threads above spend most of their time being
    // switched in and out (a perf profile: 47% of samples in the callers' threads, mostly
    // context switches and barrier wake-ups, against 30% in the ledger writer).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut next = 0u64;
    group.bench_function("durable_append_256_concurrent_tasks", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let tasks: Vec<_> = (0..BATCH as u64)
                    .map(|t| {
                        let ledger = ledger.clone();
                        next += 1;
                        let n = next * BATCH as u64 + t;
                        tokio::spawn(async move { ledger.append_async(entry(n)).await })
                    })
                    .collect();
                for task in tasks {
                    task.await.expect("task").expect("append");
                }
            })
        })
    });
    let sled_dir = tempfile::tempdir().expect("tempdir");
    let db = sled::open(sled_dir.path()).expect("sled");
    let mut n = 0u64;
    group.bench_function("baseline_sled_insert_flush_256", |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                n += 1;
                db.insert(n.to_be_bytes(), vec![0u8; 200]).expect("insert");
            }
            db.flush().expect("flush")
        })
    });
    group.finish();
}

criterion_group!(benches, signatures, merkle_proofs, ledger_appends);
criterion_main!(benches);

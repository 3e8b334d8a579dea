//! The vendored sled's transaction commit (vendor/sled/LICREG-PATCH.md, change 6) applies runs of
//! writes into one leaf as one page replace. These tests hold it to what 0.34.7 promised: every
//! committed write is read back, live and after a reopen, deletes and overwrites included, while
//! readers walk the same leaves concurrently and see each transaction whole or not at all.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};

use sled::transaction::{ConflictableTransactionError, TransactionError};
use sled::Transactional;

const GROUPS: u64 = 60;
const KEYS_PER_GROUP: u64 = 300;

fn key(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

/// The value group `g` writes for key `i`: readers can tell which transaction wrote it.
fn value(i: u64, g: u64) -> Vec<u8> {
    let mut v = format!("{i}:{g}:").into_bytes();
    v.resize(40 + (i % 7) as usize * 30, b'x');
    v
}

/// Group `g` inserts its own block of sequential keys (long runs into the rightmost leaves),
/// overwrites every third key of the group before and deletes every fifth of the one before
/// that (short and long runs into inner leaves), in both trees, in one transaction.
fn group_writes(g: u64) -> Vec<(u64, Option<Vec<u8>>)> {
    let mut writes = Vec::new();
    for i in g * KEYS_PER_GROUP..(g + 1) * KEYS_PER_GROUP {
        writes.push((i, Some(value(i, g))));
    }
    if g >= 1 {
        for i in ((g - 1) * KEYS_PER_GROUP..g * KEYS_PER_GROUP).step_by(3) {
            writes.push((i, Some(value(i, g))));
        }
    }
    if g >= 2 {
        for i in ((g - 2) * KEYS_PER_GROUP..(g - 1) * KEYS_PER_GROUP).step_by(5) {
            writes.push((i, None));
        }
    }
    writes
}

/// What key `i` holds once every group that writes it has committed.
fn final_value(i: u64) -> Option<Vec<u8>> {
    let g = i / KEYS_PER_GROUP;
    if i % 5 == 0 && g + 2 < GROUPS {
        None
    } else if i % 3 == 0 && g + 1 < GROUPS {
        Some(value(i, g + 1))
    } else {
        Some(value(i, g))
    }
}

fn check(db: &sled::Db, model: &BTreeMap<u64, Vec<u8>>) {
    for name in ["a", "b"] {
        let tree = db.open_tree(name).unwrap();
        let stored: BTreeMap<u64, Vec<u8>> = tree
            .iter()
            .map(|r| {
                let (k, v) = r.unwrap();
                (
                    u64::from_be_bytes(k.as_ref().try_into().unwrap()),
                    v.to_vec(),
                )
            })
            .collect();
        assert_eq!(stored.len(), model.len(), "tree {name}: row count");
        assert!(stored == *model, "tree {name}: rows differ from the model");
        for (i, v) in model.iter().step_by(97) {
            assert_eq!(tree.get(key(*i)).unwrap().unwrap().as_ref(), &v[..]);
        }
    }
}

#[test]
fn runs_of_writes_commit_whole_and_survive_a_reopen() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut model = BTreeMap::new();
        {
            let db = sled::Config::new()
                .path(dir.path())
                .use_compression(true)
                .cache_capacity(1 << 20)
                .open()
                .unwrap();
            let a = db.open_tree("a").unwrap();
            let b = db.open_tree("b").unwrap();
            let committed = Arc::new(AtomicU64::new(0));
            let stop = Arc::new(AtomicBool::new(false));
            let start = Arc::new(Barrier::new(3));
            let readers: Vec<_> = (0..2)
                .map(|r| {
                    let (a, b) = (a.clone(), b.clone());
                    let (committed, stop, start) = (
                        Arc::clone(&committed),
                        Arc::clone(&stop),
                        Arc::clone(&start),
                    );
                    std::thread::spawn(move || {
                        start.wait();
                        let mut reads = 0u64;
                        while !stop.load(Ordering::Acquire) {
                            // Keys of group g are written by groups g, g + 1 and g + 2 only: once
                            // g + 2 has committed, each reads back its final value in both trees.
                            let done = committed.load(Ordering::Acquire);
                            if done >= 3 {
                                let g = (reads * 7 + r) % (done - 2);
                                let i = g * KEYS_PER_GROUP + (reads % KEYS_PER_GROUP);
                                let expected = final_value(i);
                                for tree in [&a, &b] {
                                    let found = tree.get(key(i)).unwrap().map(|v| v.to_vec());
                                    assert_eq!(found, expected, "key {i} after {done} groups");
                                }
                            }
                            // Scans over the leaves being written see only well-formed rows.
                            let from = done.saturating_sub(1) * KEYS_PER_GROUP;
                            for row in a.range(key(from)..).take(KEYS_PER_GROUP as usize) {
                                let (k, v) = row.unwrap();
                                let i = u64::from_be_bytes(k.as_ref().try_into().unwrap());
                                assert!(v.starts_with(format!("{i}:").as_bytes()), "row {i}");
                            }
                            reads += 1;
                        }
                        reads
                    })
                })
                .collect();
            start.wait();
            for g in 0..GROUPS {
                let writes = group_writes(g);
                (&a, &b)
                    .transaction(|(ta, tb)| {
                        for (i, v) in &writes {
                            match v {
                                Some(v) => {
                                    ta.insert(&key(*i), v.clone())?;
                                    tb.insert(&key(*i), v.clone())?;
                                }
                                None => {
                                    ta.remove(&key(*i))?;
                                    tb.remove(&key(*i))?;
                                }
                            }
                        }
                        Ok::<_, ConflictableTransactionError<()>>(())
                    })
                    .map_err(|e: TransactionError<()>| format!("{e:?}"))
                    .unwrap();
                for (i, v) in writes {
                    match v {
                        Some(v) => model.insert(i, v),
                        None => model.remove(&i),
                    };
                }
                committed.store(g + 1, Ordering::Release);
            }
            stop.store(true, Ordering::Release);
            for reader in readers {
                assert!(
                    reader.join().unwrap() > 0,
                    "round {round}: a reader never ran"
                );
            }
            db.flush().unwrap();
            for i in 0..GROUPS * KEYS_PER_GROUP {
                assert_eq!(model.get(&i).cloned(), final_value(i), "model, key {i}");
            }
            check(&db, &model);
        }
        let reopened = sled::Config::new()
            .path(dir.path())
            .use_compression(true)
            .open()
            .unwrap();
        check(&reopened, &model);
    }
}

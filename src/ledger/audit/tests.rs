//! The audit's tests: a clean ledger, and each kind of tampering found at its entry.

use super::*;
use crate::clock::FixedClock;
use crate::keys::LogKey;
use crate::ledger::entry::Seq;
use crate::ledger::entry::{EventType, NewEntry, Subject};
use crate::ledger::store::{index_key, Batches, TREE_CHECKPOINTS};
use ed25519_dalek::SigningKey;

fn key() -> LogKey {
    LogKey {
        origin: "audit.example/log".into(),
        key: SigningKey::from_bytes(&[5; 32]),
    }
}

fn filled(dir: &std::path::Path, n: u64) -> Ledger {
    let ledger = Ledger::open(dir, Some(key()), Arc::new(FixedClock::at(0))).unwrap();
    for i in 0..n {
        ledger
            .append(NewEntry {
                event: EventType::Application,
                actor: "portal".into(),
                subjects: vec![Subject::new(SubjectKind::Holder, format!("H{i}"))],
                body: vec![0xA0],
            })
            .unwrap();
    }
    ledger
}

/// Changes the stored tables behind the ledger's back, as an attacker with the disk would.
fn tamper(ledger: &Ledger, change: impl FnOnce(&mut Batches)) {
    let shared = ledger.shared();
    let mut writes = Batches::new(shared.table_count);
    change(&mut writes);
    shared.backend.commit(&writes).unwrap();
}

/// Rewrites the stored row holding entry `seq` after `change` edits its entries.
fn tamper_row(ledger: &Ledger, seq: u64, change: impl FnOnce(&mut Vec<Vec<u8>>)) {
    let key = entry_rows::row_key(seq);
    let stored = ledger
        .shared()
        .backend
        .get(TREE_ENTRIES, &key)
        .unwrap()
        .unwrap();
    let mut entries: Vec<Vec<u8>> = entry_rows::split_row(0, &stored)
        .unwrap()
        .into_iter()
        .map(<[u8]>::to_vec)
        .collect();
    change(&mut entries);
    let mut row = Vec::new();
    for entry in &entries {
        crate::log::tiles::push_bundle_entry(&mut row, entry).unwrap();
    }
    tamper(ledger, |w| w.insert(TREE_ENTRIES, key, row));
}

#[test]
fn clean_ledger_audits_clean() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = filled(dir.path(), 37);
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(report.entries, 37);
    assert_eq!(report.checkpoints, 37);
    assert_eq!(report.index_keys, 37);
}

#[test]
fn a_changed_byte_is_reported_with_its_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = filled(dir.path(), 20);
    tamper_row(&ledger, 11, |entries| {
        let bytes = &mut entries[11];
        let last = bytes.len() - 40;
        bytes[last] ^= 1;
    });
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.seq == Some(11)),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_broken_chain_link_is_reported_at_its_entry_across_batches() {
    // Entries 4,095 and 4,096 sit on either side of the batches the entry walk hands on.
    let dir = tempfile::tempdir().unwrap();
    let ledger = grouped(dir.path(), 80, 64);
    assert!(audit(&ledger, |_| {}).unwrap().is_clean());
    // An entry naming another predecessor breaks its own link, and, its bytes changed, the
    // next entry's.
    for seq in [7u64, 4_095] {
        tamper_row(&ledger, seq, |entries| {
            let at = (seq % entry_rows::ENTRIES_PER_ROW) as usize;
            let mut entry = Entry::decode(&entries[at]).unwrap();
            entry.prev_hash[0] ^= 1;
            entries[at] = entry.encode();
        });
    }
    let report = audit(&ledger, |_| {}).unwrap();
    let broken: Vec<u64> = report
        .problems
        .iter()
        .filter(|p| p.what.contains("hash chain broken"))
        .filter_map(|p| p.seq)
        .collect();
    assert_eq!(broken, [7, 8, 4_095, 4_096], "{:?}", report.problems);
}

/// A ledger of 600 entries: level-0 tiles 0, 1 (full) and 2 (88 hashes), level-1 tile 0
/// (2 hashes). Appended in groups so tiles are rewritten as they grow.
fn tiled(dir: &std::path::Path) -> Ledger {
    grouped(dir, 12, 50)
}

/// A ledger appended in `groups` group commits of `per_group` entries each.
fn grouped(dir: &std::path::Path, groups: u64, per_group: u64) -> Ledger {
    let ledger = Ledger::open(dir, Some(key()), Arc::new(FixedClock::at(0))).unwrap();
    for group in 0..groups {
        let entries = (0..per_group)
            .map(|i| NewEntry {
                event: EventType::Application,
                actor: "portal".into(),
                subjects: vec![Subject::new(SubjectKind::Holder, format!("H{group}-{i}"))],
                body: vec![0xA0],
            })
            .collect();
        ledger.append_all(entries).unwrap();
    }
    ledger
}

fn tile_row(ledger: &Ledger, level: u8, index: u64) -> Vec<u8> {
    let backend = &ledger.shared().backend;
    backend
        .get(TREE_TILES, &tile_key(level, index))
        .unwrap()
        .unwrap()
}

#[test]
fn tiles_written_in_groups_audit_clean_and_serve_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = tiled(dir.path());
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(report.is_clean(), "{:?}", report.problems);
    assert_eq!(tile_row(&ledger, 0, 2).len(), 88 * HASH_LEN);
    assert_eq!(tile_row(&ledger, 1, 0).len(), 2 * HASH_LEN);
    let root = ledger.root_at(600).unwrap();
    for index in [0, 255, 256, 599] {
        let proof = ledger.inclusion_proof(index, 600).unwrap();
        let leaf = merkle::leaf_hash(&ledger.entry_bytes(Seq(index)).unwrap());
        merkle::verify_inclusion(&leaf, index, 600, &proof, &root).unwrap();
    }
}

#[test]
fn a_changed_tile_hash_is_reported_with_its_sequence_number() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = tiled(dir.path());
    let mut row = tile_row(&ledger, 0, 1);
    row[(300 - 256) * HASH_LEN] ^= 1;
    tamper(&ledger, |w| w.insert(TREE_TILES, tile_key(0, 1), row));
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.seq == Some(300)),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_missing_tile_and_hashes_beyond_the_log_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = tiled(dir.path());
    let mut longer = tile_row(&ledger, 0, 2);
    longer.extend_from_slice(&[7; HASH_LEN]);
    tamper(&ledger, |w| {
        w.remove(TREE_TILES, tile_key(0, 0));
        w.insert(TREE_TILES, tile_key(0, 2), longer);
    });
    let report = audit(&ledger, |_| {}).unwrap();
    let said = |text: &str| report.problems.iter().any(|p| p.what.contains(text));
    assert!(said("hash tile 0/0 is missing"), "{:?}", report.problems);
    assert!(
        said("hash tile 0/2 holds 89 hashes"),
        "{:?}",
        report.problems
    );
    assert_eq!(
        report
            .problems
            .iter()
            .filter(|p| p.what.contains("is missing"))
            .count(),
        1,
        "one gap, one report: {:?}",
        report.problems
    );
}

#[test]
fn a_stray_index_key_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = filled(dir.path(), 5);
    let table = TREE_INDEX_FIRST + kind_slot(SubjectKind::Plate);
    tamper(&ledger, |w| w.insert(table, index_key("闽D99999", 3), []));
    let report = audit(&ledger, |_| {}).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert_eq!(report.problems[0].seq, Some(3));
}

#[test]
fn a_missing_index_key_or_one_moved_to_another_kind_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = filled(dir.path(), 5);
    let holders = TREE_INDEX_FIRST + kind_slot(SubjectKind::Holder);
    tamper(&ledger, |w| w.remove(holders, index_key("H2", 2)));
    let report = audit(&ledger, |_| {}).unwrap();
    assert_eq!(report.index_keys, 4);
    assert_eq!(
        report
            .problems
            .iter()
            .map(|p| p.what.as_str())
            .collect::<Vec<_>>(),
        ["an index is missing keys that its entries name"]
    );
    // The same key under another kind: the key sets match, the (kind, key) pairs do not.
    let plates = TREE_INDEX_FIRST + kind_slot(SubjectKind::Plate);
    tamper(&ledger, |w| w.insert(plates, index_key("H2", 2), []));
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(!report.is_clean());
    assert!(
        report.problems.iter().any(|p| p.seq == Some(2)),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_deleted_entry_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = filled(dir.path(), 8);
    tamper_row(&ledger, 4, |entries| {
        entries.remove(4);
    });
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.seq == Some(4)),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_deleted_or_unreadable_entry_row_is_reported_at_its_first_entry() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = filled(dir.path(), 40);
    tamper(&ledger, |w| w.remove(TREE_ENTRIES, entry_rows::row_key(16)));
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.seq == Some(16)),
        "{:?}",
        report.problems
    );

    let dir = tempfile::tempdir().unwrap();
    let ledger = filled(dir.path(), 40);
    tamper(&ledger, |w| {
        w.insert(TREE_ENTRIES, entry_rows::row_key(32), [0, 200, 1])
    });
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.seq == Some(32)),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_changed_checkpoint_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = filled(dir.path(), 6);
    let backend = &ledger.shared().backend;
    let note = backend
        .get(TREE_CHECKPOINTS, &3u64.to_be_bytes())
        .unwrap()
        .unwrap();
    let changed = String::from_utf8(note)
        .unwrap()
        .replacen("\n3\n", "\n2\n", 1);
    tamper(&ledger, |w| {
        w.insert(TREE_CHECKPOINTS, 3u64.to_be_bytes(), changed.as_bytes())
    });
    let report = audit(&ledger, |_| {}).unwrap();
    assert!(
        report.problems.iter().any(|p| p.seq == Some(2)),
        "{:?}",
        report.problems
    );
}

#[test]
fn an_index_key_in_parts_digests_as_the_built_key() {
    let mut built = SetDigest::new();
    let mut parts = built.empty_like();
    let key = index_key("粤B12345", 7);
    built.add(2, &key);
    parts.add_parts(2, &["粤B12345".as_bytes(), &[0], &7u64.to_be_bytes()]);
    assert_eq!(built.sums, parts.sums);
    assert_ne!(built.sums, [0, 0]);
    // Another slot, or another split of different bytes, is another member.
    let mut other = built.empty_like();
    other.add(3, &key);
    assert_ne!(built.sums, other.sums);
}

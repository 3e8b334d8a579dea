//! The upper levels of the Merkle tree, kept in memory after their first read.
//!
//! Every root, inclusion proof, consistency proof and receipt reads one complete-subtree hash
//! per level: about 24 point reads at ten million entries. The high levels are few (there are
//! n / 2^level nodes at a level) and every proof reads them; the low levels are many and each
//! is read rarely. A stored node never changes once written (it is the hash of a complete
//! subtree), so a node read from storage can be kept without ever being invalidated, on every
//! backend and across nodes sharing one database. Nodes at [`CACHED_NODE_MIN_LEVEL`] and above
//! are kept, up to [`MAX_CACHED_NODES`]; past that bound the cache stops growing (it holds the
//! top of the tree up to about 2^(8 + 18) = 67M entries before that happens).

use std::collections::HashMap;
use std::sync::RwLock;

use crate::log::merkle::Hash;

/// Lowest tree level kept: a proof at any size then reads at most this many nodes from storage.
pub const CACHED_NODE_MIN_LEVEL: u8 = 8;
/// Most nodes kept (about 48 bytes each with the map's overhead: 12 MiB).
pub const MAX_CACHED_NODES: usize = 256 * 1024;

/// Complete-subtree hashes by (level, index).
#[derive(Default)]
pub struct NodeCache {
    nodes: RwLock<HashMap<(u8, u64), Hash>>,
}

impl NodeCache {
    /// Whether a node at `level` is worth keeping.
    pub fn keeps(level: u8) -> bool {
        level >= CACHED_NODE_MIN_LEVEL
    }

    pub fn get(&self, level: u8, index: u64) -> Option<Hash> {
        if !Self::keeps(level) {
            return None;
        }
        let nodes = match self.nodes.read() {
            Ok(nodes) => nodes,
            Err(poisoned) => poisoned.into_inner(),
        };
        nodes.get(&(level, index)).copied()
    }

    /// Keeps a node read from storage, unless the level is too low or the cache is full.
    pub fn insert(&self, level: u8, index: u64, hash: Hash) {
        if !Self::keeps(level) {
            return;
        }
        let mut nodes = match self.nodes.write() {
            Ok(nodes) => nodes,
            Err(poisoned) => poisoned.into_inner(),
        };
        if nodes.len() < MAX_CACHED_NODES {
            nodes.insert((level, index), hash);
        }
    }

    pub fn len(&self) -> usize {
        match self.nodes.read() {
            Ok(nodes) => nodes.len(),
            Err(poisoned) => poisoned.into_inner().len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::entry::{EventType, NewEntry};
    use crate::ledger::store::StoredNodes;
    use crate::log::merkle;

    /// Proofs through the cache, cold and warm, equal proofs read straight from storage, and the
    /// cache holds only the levels it keeps.
    #[test]
    fn proofs_through_the_cache_equal_proofs_from_storage() {
        let dir = tempfile::tempdir().unwrap();
        let key = crate::keys::LogKey {
            origin: "test.example/log".into(),
            key: ed25519_dalek::SigningKey::from_bytes(&[9; 32]),
        };
        let clock = std::sync::Arc::new(crate::clock::FixedClock::at(0));
        let ledger = crate::ledger::Ledger::open(dir.path(), Some(key), clock).unwrap();
        let entries: Vec<NewEntry> = (0..1_000u64)
            .map(|n| NewEntry {
                event: EventType::Report,
                actor: "test".into(),
                subjects: vec![],
                body: crate::cbor::to_vec(&n).unwrap(),
            })
            .collect();
        for chunk in entries.chunks(50) {
            ledger.append_all(chunk.to_vec()).unwrap();
        }
        let size = ledger.size();
        let stored = StoredNodes(ledger.shared().backend.as_ref(), None);
        for round in ["cold", "warm"] {
            for index in (0..size).step_by(7) {
                for tree_size in [index + 1, size / 2 + index / 2 + 1, size] {
                    assert_eq!(
                        ledger.inclusion_proof(index, tree_size).unwrap(),
                        merkle::inclusion_proof(&stored, index, tree_size).unwrap(),
                        "{round}: {index} in {tree_size}"
                    );
                }
            }
            assert_eq!(
                ledger.consistency_proof(size / 3, size).unwrap(),
                merkle::consistency_proof(&stored, size / 3, size).unwrap(),
                "{round}"
            );
        }
        let cache = &ledger.shared().node_cache;
        assert!(!cache.is_empty(), "proofs filled the cache");
        assert!(
            cache.len() <= 4,
            "1,000 leaves have at most 3 complete subtrees of 256 and 1 of 512"
        );
    }

    #[test]
    fn keeps_only_high_levels_and_stops_at_its_bound() {
        let cache = NodeCache::default();
        cache.insert(CACHED_NODE_MIN_LEVEL - 1, 0, [1; 32]);
        assert_eq!(cache.get(CACHED_NODE_MIN_LEVEL - 1, 0), None);
        assert!(cache.is_empty());
        cache.insert(CACHED_NODE_MIN_LEVEL, 3, [2; 32]);
        assert_eq!(cache.get(CACHED_NODE_MIN_LEVEL, 3), Some([2; 32]));
        assert_eq!(cache.get(CACHED_NODE_MIN_LEVEL, 4), None);
        for index in 0..(MAX_CACHED_NODES as u64 + 10) {
            cache.insert(20, index, [3; 32]);
        }
        assert_eq!(cache.len(), MAX_CACHED_NODES, "bounded");
        assert_eq!(cache.get(20, MAX_CACHED_NODES as u64 + 5), None);
    }
}

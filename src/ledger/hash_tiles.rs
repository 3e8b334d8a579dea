//! The Merkle tree stored as C2SP tlog-tiles hash tiles: one row per 256 hashes.
//!
//! The tree used to be stored one row per complete subtree, two rows per entry (the leaf hash
//! and, on average, one interior node). A row costs the store a key, a length and its share of
//! page overhead, and 41 bytes of raw data, so the tree was 82 of the bytes per entry and two
//! of the fourteen rows a licence wrote. Stored as tiles, a tree level that is a multiple of 8
//! keeps its hashes 256 to a row (`tile level ‖ tile index`, exactly the tile a tlog-tiles
//! client fetches), and the levels in between are hashed from them when read: one row per 256
//! entries, 32 bytes per entry.
//!
//! The right-hand tile of each tile level is partial and is rewritten, longer, by each group
//! commit that extends it; a full tile is never written again. A node at level `8·L + r` is the
//! root of `2^r` consecutive hashes of one tile at level `L`: at most 127 hashes to recompute,
//! and the upper-tree cache keeps levels 8 and up once read.

use std::collections::BTreeMap;

use crate::log::merkle::{node_hash, Hash, HASH_LEN};
use crate::log::tiles::{TILE_HEIGHT, TILE_WIDTH};

/// Key of a tile row: tile level, then tile index big-endian, so one level's tiles sort in
/// order.
pub(crate) fn tile_key(tile_level: u8, tile_index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = tile_level;
    key[1..].copy_from_slice(&tile_index.to_be_bytes());
    key
}

/// Where a complete-subtree hash comes from: `count` hashes from `offset` in one tile row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TileSpan {
    pub tile_level: u8,
    pub tile_index: u64,
    pub offset: usize,
    pub count: usize,
}

impl TileSpan {
    /// The span whose hashes reduce to node `index` at tree `level`.
    pub fn of_node(level: u8, index: u64) -> Option<Self> {
        let height = TILE_HEIGHT as u8;
        let (tile_level, below) = (level / height, level % height);
        let first = index.checked_shl(u32::from(below))?;
        if first >> u32::from(below) != index {
            return None;
        }
        Some(TileSpan {
            tile_level,
            tile_index: first / TILE_WIDTH,
            offset: (first % TILE_WIDTH) as usize,
            count: 1 << below,
        })
    }

    pub fn key(&self) -> [u8; 9] {
        tile_key(self.tile_level, self.tile_index)
    }

    /// The node's hash from its tile row, or `None` if the row is too short to hold it.
    pub fn hash_in(&self, row: &[u8]) -> Option<Hash> {
        let start = self.offset.checked_mul(HASH_LEN)?;
        let end = start.checked_add(self.count.checked_mul(HASH_LEN)?)?;
        let mut level: Vec<Hash> = row
            .get(start..end)?
            .chunks_exact(HASH_LEN)
            .map(|c| c.try_into().unwrap_or([0; HASH_LEN]))
            .collect();
        while level.len() > 1 {
            level = level
                .chunks_exact(2)
                .map(|pair| node_hash(&pair[0], &pair[1]))
                .collect();
        }
        level.first().copied()
    }
}

/// The tile a newly completed node at `level` (a multiple of 8) goes into, and its position.
pub(crate) fn stored_position(level: u8, index: u64) -> Option<(u8, u64, usize)> {
    let height = TILE_HEIGHT as u8;
    (level % height == 0).then(|| {
        (
            level / height,
            index / TILE_WIDTH,
            (index % TILE_WIDTH) as usize,
        )
    })
}

/// Why new hashes could not be added to the stored tiles.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TileError {
    #[error("tile {level}/{index} holds {held} hashes but the next one goes at {offset}")]
    Gap {
        level: u8,
        index: u64,
        held: usize,
        offset: usize,
    },
    #[error("cannot read tile {level}/{index}: {reason}")]
    Read {
        level: u8,
        index: u64,
        reason: String,
    },
}

/// The tile rows one group commit rewrites: each touched tile as it will be stored.
#[derive(Default)]
pub(crate) struct TileWrites {
    tiles: BTreeMap<(u8, u64), Vec<u8>>,
}

impl TileWrites {
    /// Adds the hash of node (`level`, `index`) if its level is stored; `stored` reads a tile
    /// row as committed (only for a tile this group did not start).
    pub fn add(
        &mut self,
        level: u8,
        index: u64,
        hash: &Hash,
        stored: impl FnOnce(&[u8; 9]) -> Result<Option<Vec<u8>>, String>,
    ) -> Result<(), TileError> {
        let Some((tile_level, tile_index, offset)) = stored_position(level, index) else {
            return Ok(());
        };
        let row = match self.tiles.entry((tile_level, tile_index)) {
            std::collections::btree_map::Entry::Occupied(row) => row.into_mut(),
            std::collections::btree_map::Entry::Vacant(slot) => {
                // A tile this group starts has nothing stored yet; one it extends is read once.
                let existing = if offset == 0 {
                    Vec::new()
                } else {
                    stored(&tile_key(tile_level, tile_index))
                        .map_err(|reason| TileError::Read {
                            level: tile_level,
                            index: tile_index,
                            reason,
                        })?
                        .unwrap_or_default()
                };
                slot.insert(existing)
            }
        };
        if row.len() != offset * HASH_LEN {
            return Err(TileError::Gap {
                level: tile_level,
                index: tile_index,
                held: row.len() / HASH_LEN,
                offset,
            });
        }
        row.extend_from_slice(hash);
        Ok(())
    }

    /// Every touched tile row, by key.
    pub fn into_rows(self) -> impl Iterator<Item = ([u8; 9], Vec<u8>)> {
        self.tiles
            .into_iter()
            .map(|((level, index), row)| (tile_key(level, index), row))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::merkle::{leaf_hash, CompactRange, MemoryStore, NodeStore};

    /// Stores a tree of `n` leaves as tiles, appending in groups of `group`.
    fn build(n: u64, group: u64) -> (BTreeMap<[u8; 9], Vec<u8>>, Vec<Hash>) {
        let mut stored: BTreeMap<[u8; 9], Vec<u8>> = BTreeMap::new();
        let mut range = CompactRange::new();
        let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        for chunk in leaves.chunks(group as usize) {
            let mut writes = TileWrites::default();
            for leaf in chunk {
                for (level, index, hash) in range.append(*leaf).unwrap() {
                    writes
                        .add(level, index, &hash, |key| Ok(stored.get(key).cloned()))
                        .unwrap();
                }
            }
            stored.extend(writes.into_rows());
        }
        (stored, leaves)
    }

    #[test]
    fn every_complete_node_is_read_back_from_tiles() {
        for group in [1, 7, 300] {
            let (stored, leaves) = build(70_000, group);
            let memory = MemoryStore::from_leaves(leaves.iter().copied()).unwrap();
            for level in 0..17u8 {
                let complete = 70_000u64 >> level;
                for index in [0, 1, complete / 2, complete.saturating_sub(1)] {
                    if index >= complete {
                        continue;
                    }
                    let span = TileSpan::of_node(level, index).unwrap();
                    let row = stored.get(&span.key()).unwrap();
                    assert_eq!(
                        span.hash_in(row),
                        Some(memory.node(level, index).unwrap()),
                        "level {level} index {index} group {group}"
                    );
                }
            }
        }
    }

    #[test]
    fn tiles_hold_256_hashes_and_only_the_right_edge_is_partial() {
        let (stored, _) = build(70_000, 97);
        // 70,000 leaves: 273 full level-0 tiles and one of 112; level 1 holds 273 hashes.
        assert_eq!(stored.len(), 274 + 2 + 1);
        assert_eq!(stored[&tile_key(0, 0)].len(), 256 * HASH_LEN);
        assert_eq!(stored[&tile_key(0, 273)].len(), 112 * HASH_LEN);
        assert_eq!(stored[&tile_key(1, 1)].len(), 17 * HASH_LEN);
        assert_eq!(stored[&tile_key(2, 0)].len(), HASH_LEN);
    }

    #[test]
    fn a_short_row_or_a_gap_is_an_error_not_a_wrong_hash() {
        let span = TileSpan::of_node(3, 1).unwrap();
        assert_eq!((span.offset, span.count), (8, 8));
        assert_eq!(span.hash_in(&[0u8; 15 * HASH_LEN]), None);
        let mut writes = TileWrites::default();
        let gap = writes.add(0, 5, &[1; 32], |_| Ok(Some(vec![0u8; 3 * HASH_LEN])));
        assert!(matches!(
            gap,
            Err(TileError::Gap {
                held: 3,
                offset: 5,
                ..
            })
        ));
        assert_eq!(TileSpan::of_node(7, u64::MAX), None);
    }
}

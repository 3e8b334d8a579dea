//! The ledger as C2SP tlog-tiles: Merkle tiles and entry bundles, read from the store.
//!
//! The tree is stored as these very tiles (`ledger::hash_tiles`), so serving a tile is one
//! point read, and any static host or CDN could serve the same bytes. The paths and the bundle
//! format are `log::tiles`, shared with the mirror.

use super::entry::Seq;
use super::hash_tiles::tile_key;
use super::store::{Ledger, LedgerError, TREE_TILES};
use crate::log::merkle::HASH_LEN;
use crate::log::tiles::push_bundle_entry;
pub use crate::log::tiles::{TilePath, TilePathError, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH};

impl Ledger {
    /// The tile bytes, or `None` when the tile does not exist at the current size.
    pub fn tile(
        &self,
        level: u8,
        index: u64,
        width: Option<u16>,
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        if level > MAX_TILE_LEVEL {
            return Ok(None);
        }
        let count = u64::from(width.unwrap_or(TILE_WIDTH as u16));
        let tree_level = u32::from(level) * TILE_HEIGHT;
        // Every hash in the tile must cover a complete range of the current tree.
        let span = 1u64.checked_shl(tree_level).unwrap_or(u64::MAX);
        let first = index
            .checked_mul(TILE_WIDTH)
            .ok_or(LedgerError::NoSuchEntry(index))?;
        let end = first
            .checked_add(count)
            .and_then(|n| n.checked_mul(span))
            .ok_or(LedgerError::NoSuchEntry(index))?;
        if end > self.size() {
            return Ok(None);
        }
        // The stored row is this tile, at least as wide as the tree now makes it.
        let row = self
            .shared()
            .backend
            .get(TREE_TILES, &tile_key(level, index))?;
        let want = count as usize * HASH_LEN;
        match row {
            Some(mut row) if row.len() >= want => {
                row.truncate(want);
                Ok(Some(row))
            }
            _ => Err(LedgerError::Storage(format!(
                "tile {level}/{index} is missing hashes"
            ))),
        }
    }

    /// The entry bundle bytes, or `None` when the bundle does not exist at the current size.
    pub fn entry_bundle(
        &self,
        index: u64,
        width: Option<u16>,
    ) -> Result<Option<Vec<u8>>, LedgerError> {
        let count = u64::from(width.unwrap_or(TILE_WIDTH as u16));
        let first = index
            .checked_mul(TILE_WIDTH)
            .ok_or(LedgerError::NoSuchEntry(index))?;
        if first.checked_add(count).is_none_or(|end| end > self.size()) {
            return Ok(None);
        }
        let mut out = Vec::new();
        for item in self.entries_bytes(Seq(first), Seq(first + count)) {
            let (_, bytes) = item?;
            push_bundle_entry(&mut out, &bytes).map_err(|e| LedgerError::Storage(e.to_string()))?;
        }
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::keys::LogKey;
    use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
    use crate::log::merkle::{self, Hash, MemoryStore};
    use ed25519_dalek::SigningKey;
    use std::sync::Arc;

    fn hashes(bytes: &[u8]) -> Vec<Hash> {
        bytes.chunks(32).map(|c| c.try_into().unwrap()).collect()
    }

    #[test]
    fn tiles_and_bundles_rebuild_the_checkpointed_root() {
        let dir = tempfile::tempdir().unwrap();
        let key = LogKey {
            origin: "tiles.example/log".into(),
            key: SigningKey::from_bytes(&[9; 32]),
        };
        let ledger = Ledger::open(dir.path(), Some(key), Arc::new(FixedClock::at(0))).unwrap();
        for batch in 0..5u64 {
            let entries = (0..60u64)
                .map(|i| NewEntry {
                    event: EventType::Application,
                    actor: "t".into(),
                    subjects: vec![Subject::new(
                        SubjectKind::Application,
                        format!("A{batch}-{i}"),
                    )],
                    body: vec![0xA0],
                })
                .collect();
            ledger.append_all(entries).unwrap();
        }
        assert_eq!(ledger.size(), 300);
        let full = ledger.tile(0, 0, None).unwrap().unwrap();
        let partial = ledger.tile(0, 1, Some(44)).unwrap().unwrap();
        assert_eq!((full.len(), partial.len()), (256 * 32, 44 * 32));
        assert_eq!(
            ledger.tile(0, 1, Some(45)).unwrap(),
            None,
            "beyond the tree"
        );
        assert_eq!(ledger.tile(0, 2, Some(1)).unwrap(), None);
        let leaves: Vec<Hash> = hashes(&full).into_iter().chain(hashes(&partial)).collect();
        let store = MemoryStore::from_leaves(leaves.iter().copied()).unwrap();
        assert_eq!(store.root(), ledger.root_at(300).unwrap());
        // Level 1 holds the hash of the one full level-0 tile.
        let level1 = ledger.tile(1, 0, Some(1)).unwrap().unwrap();
        let first_tile = MemoryStore::from_leaves(leaves[..256].iter().copied()).unwrap();
        assert_eq!(level1, first_tile.root().to_vec());
        let bundle = ledger.entry_bundle(1, Some(44)).unwrap().unwrap();
        let bundled: Vec<Hash> = crate::log::tiles::split_bundle(&bundle)
            .unwrap()
            .into_iter()
            .map(merkle::leaf_hash)
            .collect();
        assert_eq!(bundled, hashes(&partial));
    }
}

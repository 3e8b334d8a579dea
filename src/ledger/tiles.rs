//! The ledger as C2SP tlog-tiles: Merkle tiles and entry bundles.
//!
//! A tile at level `l`, index `n` holds the tree hashes at tree level `8·l` for nodes
//! `n·256 .. n·256+W`. Those are exactly the complete-subtree hashes the `nodes` tree already
//! stores, so serving a tile is a range read, and any static host or CDN could serve the same
//! bytes. Entry bundles are the entries with big-endian u16 length prefixes.

use super::store::{node_key, Ledger, LedgerError, TREE_ENTRIES, TREE_NODES};

/// Hashes in a full tile.
pub const TILE_WIDTH: u64 = 256;
/// Tree levels one tile level spans.
pub const TILE_HEIGHT: u32 = 8;
/// Highest tile level whose tiles can exist for a 64-bit tree size.
pub const MAX_TILE_LEVEL: u8 = 7;
/// Longest tile path accepted (digits and separators), a bound checked before parsing.
pub const MAX_TILE_PATH_BYTES: usize = 96;

/// What a tile path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TilePath {
    /// `None` for an entry bundle.
    pub level: Option<u8>,
    pub index: u64,
    /// `Some(W)` for a partial tile of width W (1..=255).
    pub width: Option<u16>,
}

/// Why a tile path was refused.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("malformed tile path: {0}")]
pub struct TilePathError(pub &'static str);

impl TilePath {
    /// Parses the part after `tile/`: `<L>/<N>[.p/<W>]` or `entries/<N>[.p/<W>]`, where `<N>` is
    /// zero-padded 3-digit elements, all but the last prefixed with `x`.
    pub fn parse(path: &str) -> Result<Self, TilePathError> {
        if path.len() > MAX_TILE_PATH_BYTES {
            return Err(TilePathError("too long"));
        }
        let mut parts: Vec<&str> = path.split('/').collect();
        let first = parts.first().copied().ok_or(TilePathError("empty"))?;
        let level = match first {
            "entries" => None,
            text => Some(parse_level(text)?),
        };
        parts.remove(0);
        let width = match parts.as_slice() {
            [.., last, w] if last.ends_with(".p") => {
                let w = parse_width(w)?;
                parts.pop();
                Some(w)
            }
            _ => None,
        };
        let last = parts.pop().ok_or(TilePathError("missing index"))?;
        let last = match width {
            Some(_) => last
                .strip_suffix(".p")
                .ok_or(TilePathError("bad partial suffix"))?,
            None => last,
        };
        let mut index = 0u64;
        for element in &parts {
            let digits = element
                .strip_prefix('x')
                .ok_or(TilePathError("index element lacks x"))?;
            index = push_digits(index, digits)?;
        }
        index = push_digits(index, last)?;
        Ok(TilePath {
            level,
            index,
            width,
        })
    }
}

fn parse_level(text: &str) -> Result<u8, TilePathError> {
    let canonical = text == "0" || !text.starts_with('0');
    match text.parse::<u8>() {
        Ok(level) if canonical && level <= 63 && text.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(level)
        }
        _ => Err(TilePathError("bad level")),
    }
}

fn parse_width(text: &str) -> Result<u16, TilePathError> {
    match text.parse::<u16>() {
        Ok(w)
            if (1..=255).contains(&w)
                && !text.starts_with('0')
                && text.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Ok(w)
        }
        _ => Err(TilePathError("bad width")),
    }
}

fn push_digits(index: u64, digits: &str) -> Result<u64, TilePathError> {
    if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TilePathError("index elements are three digits"));
    }
    let value: u64 = digits.parse().map_err(|_| TilePathError("bad digits"))?;
    index
        .checked_mul(1000)
        .and_then(|i| i.checked_add(value))
        .ok_or(TilePathError("index too large"))
}

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
        let nodes = &self.shared().trees[TREE_NODES];
        let mut out = Vec::with_capacity(count as usize * 32);
        let start = node_key(tree_level as u8, first);
        for (offset, item) in nodes.range(start..).take(count as usize).enumerate() {
            let (key, hash) = item?;
            if key.as_ref() != node_key(tree_level as u8, first + offset as u64) {
                return Err(LedgerError::Storage(format!(
                    "tile {level}/{index} is missing nodes"
                )));
            }
            out.extend_from_slice(&hash);
        }
        if out.len() != count as usize * 32 {
            return Err(LedgerError::Storage(format!(
                "tile {level}/{index} is missing nodes"
            )));
        }
        Ok(Some(out))
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
        let entries = &self.shared().trees[TREE_ENTRIES];
        let mut out = Vec::new();
        for item in entries.range(first.to_be_bytes()..).take(count as usize) {
            let (_, bytes) = item?;
            let len = u16::try_from(bytes.len())
                .map_err(|_| LedgerError::Storage("entry too long for a bundle".into()))?;
            out.extend_from_slice(&len.to_be_bytes());
            out.extend_from_slice(&bytes);
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
        let mut rest = bundle.as_slice();
        let mut bundled = Vec::new();
        while let [hi, lo, tail @ ..] = rest {
            let len = usize::from(u16::from_be_bytes([*hi, *lo]));
            bundled.push(merkle::leaf_hash(&tail[..len]));
            rest = &tail[len..];
        }
        assert_eq!(bundled, hashes(&partial));
    }

    #[test]
    fn tile_paths_parse_as_the_spec_writes_them() {
        let full = TilePath::parse("0/x001/x234/067").unwrap();
        assert_eq!(
            full,
            TilePath {
                level: Some(0),
                index: 1_234_067,
                width: None
            }
        );
        let partial = TilePath::parse("2/000.p/1").unwrap();
        assert_eq!(
            partial,
            TilePath {
                level: Some(2),
                index: 0,
                width: Some(1)
            }
        );
        let bundle = TilePath::parse("entries/x001/067.p/112").unwrap();
        assert_eq!(
            bundle,
            TilePath {
                level: None,
                index: 1067,
                width: Some(112)
            }
        );
        for bad in [
            "",
            "0",
            "00/000",
            "64/000",
            "0/1",
            "0/001/002",
            "0/x001",
            "0/000.p/0",
            "0/000.p/256",
            "0/000.p/01",
            "0/000/1",
            "entries/000.q/3",
            "a/000",
        ] {
            assert!(TilePath::parse(bad).is_err(), "{bad}");
        }
    }
}

//! The compact range: the right border of a Merkle tree, one hash per set bit of its size.
//!
//! It is all the state an appender needs to compute the next root in O(log n) without reading
//! the store, and each append reports the complete nodes it created so a store can persist them
//! in the same transaction as the leaf.

use thiserror::Error;

use super::{empty_root, node_hash, Hash};

/// Why a compact range could not be built or extended.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompactRangeError {
    #[error("size {size} needs {want} border hashes, got {got}")]
    WrongHashCount { size: u64, want: u32, got: usize },
    #[error("the tree is full: it already holds 2^64 - 1 leaves")]
    Full,
}

/// Right border of the tree: roots of the maximal complete subtrees, largest (left-most) first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

impl CompactRange {
    /// The empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a range from persisted state; the hash count must match the size's set bits.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, CompactRangeError> {
        let want = size.count_ones();
        if u32::try_from(hashes.len()).ok() != Some(want) {
            return Err(CompactRangeError::WrongHashCount {
                size,
                want,
                got: hashes.len(),
            });
        }
        Ok(Self { size, hashes })
    }

    /// Number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Border hashes, largest subtree first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends a leaf hash. Returns every complete node this append created as
    /// `(level, index, hash)`, starting with the leaf itself at level 0, so the caller can store
    /// exactly what [`super::NodeStore`] will later be asked for.
    pub fn append(&mut self, leaf: Hash) -> Result<Vec<(u8, u64, Hash)>, CompactRangeError> {
        let index = self.size;
        let new_size = index.checked_add(1).ok_or(CompactRangeError::Full)?;
        let mut created = vec![(0u8, index, leaf)];
        let mut hash = leaf;
        let mut level = 0u8;
        // Each trailing one bit of the old size is a same-sized left sibling waiting to be merged.
        while (index >> level) & 1 == 1 {
            let Some(left) = self.hashes.pop() else {
                // Unreachable while the count invariant holds; refuse rather than corrupt.
                return Err(CompactRangeError::WrongHashCount {
                    size: self.size,
                    want: self.size.count_ones(),
                    got: 0,
                });
            };
            hash = node_hash(&left, &hash);
            level += 1;
            created.push((level, index >> level, hash));
        }
        self.hashes.push(hash);
        self.size = new_size;
        Ok(created)
    }

    /// Root of the tree covered, folding the border from the right.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        let Some(last) = iter.next() else {
            return empty_root();
        };
        iter.fold(*last, |acc, left| node_hash(left, &acc))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{leaf_hash, naive_root};
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn append_reports_created_nodes() {
        let mut cr = CompactRange::new();
        assert_eq!(cr.root(), empty_root());
        let l: Vec<Hash> = (0u8..4).map(|i| leaf_hash(&[i])).collect();
        assert_eq!(cr.append(l[0]).unwrap(), vec![(0, 0, l[0])]);
        let n01 = node_hash(&l[0], &l[1]);
        assert_eq!(cr.append(l[1]).unwrap(), vec![(0, 1, l[1]), (1, 0, n01)]);
        assert_eq!(cr.append(l[2]).unwrap(), vec![(0, 2, l[2])]);
        let n23 = node_hash(&l[2], &l[3]);
        let n03 = node_hash(&n01, &n23);
        assert_eq!(
            cr.append(l[3]).unwrap(),
            vec![(0, 3, l[3]), (1, 1, n23), (2, 0, n03)]
        );
        assert_eq!(cr.hashes(), &[n03]);
        assert_eq!(cr.root(), n03);
    }

    #[test]
    fn from_parts_checks_hash_count() {
        assert!(CompactRange::from_parts(5, vec![[0; 32]]).is_err());
        assert!(CompactRange::from_parts(5, vec![[0; 32]; 2]).is_ok());
        assert!(CompactRange::from_parts(0, vec![]).is_ok());
    }

    #[test]
    fn full_tree_refuses_append() {
        let mut cr = CompactRange::from_parts(u64::MAX, vec![[1; 32]; 64]).unwrap();
        assert_eq!(cr.append([2; 32]), Err(CompactRangeError::Full));
        assert_eq!(cr.size(), u64::MAX);
    }

    proptest! {
        #[test]
        fn root_matches_naive_and_survives_from_parts(n in 0usize..300) {
            let leaves: Vec<Hash> = (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect();
            let mut cr = CompactRange::new();
            for leaf in &leaves {
                cr.append(*leaf).unwrap();
            }
            prop_assert_eq!(cr.root(), naive_root(&leaves));
            let again = CompactRange::from_parts(cr.size(), cr.hashes().to_vec()).unwrap();
            prop_assert_eq!(again, cr);
        }
    }
}

//! Proof generation over a persistent node store.
//!
//! The log keeps the hash of every complete subtree it has built, so any root, inclusion proof or
//! consistency proof can be produced with O(log n) node reads instead of rehashing all leaves.
//! Incomplete subtrees on the right edge are folded from the complete ones under them; along any
//! RFC 6962 PATH or SUBPROOF descent at most one sibling is incomplete, which keeps the total
//! cost logarithmic.

use thiserror::Error;

use super::{empty_root, node_hash, CompactRange, CompactRangeError, Hash};

/// Read access to stored complete-subtree hashes.
///
/// `(level, index)` names the hash of the complete subtree covering leaves
/// `[index·2^level, (index+1)·2^level)`; level 0 holds leaf hashes.
pub trait NodeStore {
    type Error;
    fn node(&self, level: u8, index: u64) -> Result<Hash, Self::Error>;
}

/// Why a proof or root could not be produced.
#[derive(Debug, Error)]
pub enum ProofGenError<E> {
    #[error("node store lookup failed")]
    Store(#[source] E),
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("range [{start}, {end}) is empty or not aligned to a subtree")]
    BadRange { start: u64, end: u64 },
    #[error("consistency from an empty tree is not defined")]
    EmptyOldTree,
    #[error("new size {size2} is smaller than old size {size1}")]
    SizeDecreased { size1: u64, size2: u64 },
}

/// Largest power of two strictly below `n` (the RFC 6962 split point `k`). Callers only pass
/// `n >= 2`; smaller `n` yields 1 instead of overflowing.
fn split_point(n: u64) -> u64 {
    1u64 << (63 - n.saturating_sub(1).leading_zeros().min(63))
}

/// Level of a complete subtree of `width` leaves (`width` is a power of two, so this is exact).
fn level_of(width: u64) -> u8 {
    // trailing_zeros of a u64 is at most 64, which always fits.
    width.trailing_zeros() as u8
}

/// Reads a complete subtree of `width` leaves starting at leaf `start` (both aligned).
fn complete<S: NodeStore>(
    store: &S,
    start: u64,
    width: u64,
) -> Result<Hash, ProofGenError<S::Error>> {
    let level = level_of(width);
    store
        .node(level, start >> level)
        .map_err(ProofGenError::Store)
}

/// Hash of leaves `[start, end)`, where `start` is a multiple of the smallest power of two not
/// below `end - start` — exactly the ranges RFC 6962's recursion visits. Reads one stored node per
/// set bit of the width.
pub fn subtree_hash<S: NodeStore>(
    store: &S,
    start: u64,
    end: u64,
) -> Result<Hash, ProofGenError<S::Error>> {
    let bad = ProofGenError::BadRange { start, end };
    if end <= start {
        return Err(bad);
    }
    let width = end - start;
    let aligned = match width.checked_next_power_of_two() {
        Some(p) => start % p == 0,
        None => start == 0,
    };
    if !aligned {
        return Err(bad);
    }
    // The range splits into complete subtrees, largest first, one per set bit of the width; the
    // MTH of such a range is those subtrees folded from the right.
    let mut acc: Option<Hash> = None;
    let mut remaining = width;
    while remaining != 0 {
        let bit = 1u64 << level_of(remaining);
        remaining &= !bit;
        let sub_start = start + remaining;
        let h = complete(store, sub_start, bit)?;
        acc = Some(match acc {
            None => h,
            Some(right) => node_hash(&h, &right),
        });
    }
    acc.ok_or(bad)
}

/// Root of the first `size` leaves.
pub fn root<S: NodeStore>(store: &S, size: u64) -> Result<Hash, ProofGenError<S::Error>> {
    if size == 0 {
        return Ok(empty_root());
    }
    subtree_hash(store, 0, size)
}

/// RFC 6962 PATH(index, D[0:size]): sibling hashes from the leaf's sibling up to the root's child.
pub fn inclusion_proof<S: NodeStore>(
    store: &S,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, ProofGenError<S::Error>> {
    if index >= size {
        return Err(ProofGenError::IndexOutOfRange { index, size });
    }
    let (mut start, mut end) = (0u64, size);
    let mut path = Vec::new();
    while end - start > 1 {
        let k = split_point(end - start);
        if index < start + k {
            path.push(subtree_hash(store, start + k, end)?);
            end = start + k;
        } else {
            path.push(complete(store, start, k)?);
            start += k;
        }
    }
    path.reverse();
    Ok(path)
}

/// RFC 6962 PROOF(size1, D[0:size2]) via SUBPROOF. Equal sizes give an empty proof; an empty old
/// tree is refused because verifiers refuse it too.
pub fn consistency_proof<S: NodeStore>(
    store: &S,
    size1: u64,
    size2: u64,
) -> Result<Vec<Hash>, ProofGenError<S::Error>> {
    if size1 == 0 {
        return Err(ProofGenError::EmptyOldTree);
    }
    if size2 < size1 {
        return Err(ProofGenError::SizeDecreased { size1, size2 });
    }
    let (mut start, mut end) = (0u64, size2);
    let mut whole_old_tree = true;
    let mut descent = Vec::new();
    while size1 != end {
        let k = split_point(end - start);
        if size1 <= start + k {
            descent.push(subtree_hash(store, start + k, end)?);
            end = start + k;
        } else {
            descent.push(complete(store, start, k)?);
            start += k;
            whole_old_tree = false;
        }
    }
    let mut proof = Vec::with_capacity(descent.len() + 1);
    if !whole_old_tree {
        proof.push(subtree_hash(store, start, end)?);
    }
    proof.extend(descent.into_iter().rev());
    Ok(proof)
}

/// Why the in-memory store refused a read or write.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MemoryStoreError {
    #[error("no node at level {level}, index {index}")]
    MissingNode { level: u8, index: u64 },
    #[error("node at level {level}, index {index} is not the next one to append")]
    OutOfOrder { level: u8, index: u64 },
    #[error(transparent)]
    Range(#[from] CompactRangeError),
}

/// Append-only in-memory node store, one vector of complete-subtree hashes per level. Meant for
/// tests, benches and tools; the service persists the same nodes elsewhere.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    levels: Vec<Vec<Hash>>,
    border: CompactRange,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a store holding `leaves` (already leaf-hashed) in order.
    pub fn from_leaves<I: IntoIterator<Item = Hash>>(leaves: I) -> Result<Self, MemoryStoreError> {
        let mut store = Self::new();
        for leaf in leaves {
            store.push_leaf(leaf)?;
        }
        Ok(store)
    }

    /// Appends one leaf hash and stores every complete node it completes.
    pub fn push_leaf(&mut self, leaf: Hash) -> Result<(), MemoryStoreError> {
        let nodes = self.border.append(leaf)?;
        for (level, index, hash) in nodes {
            self.put(level, index, hash)?;
        }
        Ok(())
    }

    fn put(&mut self, level: u8, index: u64, hash: Hash) -> Result<(), MemoryStoreError> {
        let lvl = usize::from(level);
        while self.levels.len() <= lvl {
            self.levels.push(Vec::new());
        }
        let row = self
            .levels
            .get_mut(lvl)
            .ok_or(MemoryStoreError::OutOfOrder { level, index })?;
        if u64::try_from(row.len()).ok() != Some(index) {
            return Err(MemoryStoreError::OutOfOrder { level, index });
        }
        row.push(hash);
        Ok(())
    }

    /// Number of leaves stored.
    pub fn size(&self) -> u64 {
        self.border.size()
    }

    /// Current root, from the compact range (no store reads).
    pub fn root(&self) -> Hash {
        self.border.root()
    }
}

impl NodeStore for MemoryStore {
    type Error = MemoryStoreError;

    fn node(&self, level: u8, index: u64) -> Result<Hash, MemoryStoreError> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.levels.get(usize::from(level))?.get(i))
            .copied()
            .ok_or(MemoryStoreError::MissingNode { level, index })
    }
}

#[cfg(test)]
mod tests {
    use super::super::{leaf_hash, naive_root, verify_consistency, verify_inclusion};
    use super::*;
    use proptest::prelude::*;
    use std::cell::Cell;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn store(n: u64) -> MemoryStore {
        MemoryStore::from_leaves(leaves(n)).unwrap()
    }

    /// Counts reads so the O(log n) claim is tested, not just asserted in prose.
    struct Counting<'a> {
        inner: &'a MemoryStore,
        reads: Cell<usize>,
    }

    impl NodeStore for Counting<'_> {
        type Error = MemoryStoreError;
        fn node(&self, level: u8, index: u64) -> Result<Hash, MemoryStoreError> {
            self.reads.set(self.reads.get() + 1);
            self.inner.node(level, index)
        }
    }

    #[test]
    fn roots_agree_with_naive_mth_for_small_trees() {
        let all = leaves(130);
        let mut s = MemoryStore::new();
        assert_eq!(root(&s, 0).unwrap(), empty_root());
        for (i, leaf) in all.iter().enumerate() {
            s.push_leaf(*leaf).unwrap();
            let n = i + 1;
            let want = naive_root(&all[..n]);
            assert_eq!(root(&s, n as u64).unwrap(), want, "size {n}");
            assert_eq!(s.root(), want, "compact range at size {n}");
            for m in 1..=n {
                assert_eq!(root(&s, m as u64).unwrap(), naive_root(&all[..m]));
            }
        }
    }

    #[test]
    fn unaligned_or_empty_ranges_are_refused() {
        let s = store(8);
        assert!(matches!(
            subtree_hash(&s, 1, 3),
            Err(ProofGenError::BadRange { .. })
        ));
        assert!(matches!(
            subtree_hash(&s, 4, 4),
            Err(ProofGenError::BadRange { .. })
        ));
        assert!(matches!(
            subtree_hash(&s, 2, 9),
            Err(ProofGenError::BadRange { .. })
        ));
        assert!(matches!(
            subtree_hash(&s, 8, 9),
            Err(ProofGenError::Store(MemoryStoreError::MissingNode { .. }))
        ));
        assert!(matches!(
            subtree_hash(&s, 1, u64::MAX),
            Err(ProofGenError::BadRange { .. })
        ));
    }

    #[test]
    fn generation_refuses_bad_arguments() {
        let s = store(5);
        assert!(matches!(
            inclusion_proof(&s, 5, 5),
            Err(ProofGenError::IndexOutOfRange { .. })
        ));
        assert!(matches!(
            consistency_proof(&s, 0, 5),
            Err(ProofGenError::EmptyOldTree)
        ));
        assert!(matches!(
            consistency_proof(&s, 5, 4),
            Err(ProofGenError::SizeDecreased { .. })
        ));
        assert!(consistency_proof(&s, 5, 5).unwrap().is_empty());
        assert!(matches!(
            inclusion_proof(&s, 0, 6),
            Err(ProofGenError::Store(_))
        ));
    }

    #[test]
    fn reads_are_logarithmic() {
        let s = store(100_003);
        let counting = Counting {
            inner: &s,
            reads: Cell::new(0),
        };
        for (a, b) in [(0, 100_003), (77_777, 100_003), (99_999, 100_000)] {
            counting.reads.set(0);
            inclusion_proof(&counting, a, b).unwrap();
            assert!(
                counting.reads.get() <= 2 * 17 + 2,
                "{}",
                counting.reads.get()
            );
            counting.reads.set(0);
            consistency_proof(&counting, a.max(1), b).unwrap();
            assert!(
                counting.reads.get() <= 2 * 17 + 2,
                "{}",
                counting.reads.get()
            );
        }
    }

    #[test]
    fn memory_store_rejects_out_of_order_nodes() {
        let mut s = MemoryStore::new();
        assert_eq!(
            s.put(0, 1, [0; 32]),
            Err(MemoryStoreError::OutOfOrder { level: 0, index: 1 })
        );
        assert_eq!(
            s.node(0, 0),
            Err(MemoryStoreError::MissingNode { level: 0, index: 0 })
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn inclusion_proofs_verify(size in 1u64..2000, seed in any::<u64>()) {
            let s = store(size);
            let all = leaves(size);
            let r = root(&s, size).unwrap();
            prop_assert_eq!(r, naive_root(&all));
            prop_assert_eq!(r, s.root());
            for index in [seed % size, 0, size - 1] {
                let proof = inclusion_proof(&s, index, size).unwrap();
                prop_assert!(proof.len() <= 64);
                prop_assert_eq!(verify_inclusion(&all[index as usize], index, size, &proof, &r), Ok(()));
                if let Some(other) = all.get(index as usize + 1) {
                    prop_assert!(verify_inclusion(other, index, size, &proof, &r).is_err());
                }
            }
        }

        #[test]
        fn consistency_proofs_verify(size2 in 1u64..2000, seed in any::<u64>()) {
            let s = store(size2);
            let size1 = 1 + seed % size2;
            let r1 = root(&s, size1).unwrap();
            let r2 = root(&s, size2).unwrap();
            let proof = consistency_proof(&s, size1, size2).unwrap();
            prop_assert_eq!(verify_consistency(size1, size2, &proof, &r1, &r2), Ok(()));
            if size1 < size2 {
                prop_assert!(verify_consistency(size1, size2, &proof, &r2, &r1).is_err());
            }
        }

        #[test]
        fn any_flipped_proof_bit_fails(size in 2u64..300, seed in any::<u64>(), bit in 0usize..256) {
            let s = store(size);
            let index = seed % size;
            let r = root(&s, size).unwrap();
            let leaf = leaf_hash(&index.to_be_bytes());
            let mut proof = inclusion_proof(&s, index, size).unwrap();
            let which = (seed as usize) % proof.len();
            proof[which][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_inclusion(&leaf, index, size, &proof, &r).is_err());

            let size1 = 1 + seed % (size - 1);
            let r1 = root(&s, size1).unwrap();
            let mut cproof = consistency_proof(&s, size1, size).unwrap();
            let which = (seed as usize / 7) % cproof.len();
            cproof[which][bit / 8] ^= 1 << (bit % 8);
            prop_assert!(verify_consistency(size1, size, &cproof, &r1, &r).is_err());
        }
    }
}

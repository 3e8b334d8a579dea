//! RFC 6962 / RFC 9162 Merkle tree hashing and proof verification.
//!
//! Everything that decides whether a log proof is believable lives here, so it is kept small,
//! allocation-free on the verification path and written to follow RFC 9162 §2.1.3.2 and §2.1.4.2
//! step by step; the reference test vectors in `tests/merkle_vectors.rs` pin that behaviour.
//! Proof generation over a persistent node store and the compact right border of the tree live in
//! the submodules and are re-exported from here.

use sha2::{Digest, Sha256};
use thiserror::Error;

mod compact;
mod store;

pub use compact::{CompactRange, CompactRangeError};
pub use store::{
    consistency_proof, inclusion_proof, root, subtree_hash, MemoryStore, MemoryStoreError,
    NodeStore, ProofGenError,
};

/// A SHA-256 Merkle tree hash.
pub type Hash = [u8; 32];

/// Length in bytes of every hash in the tree.
pub const HASH_LEN: usize = 32;

/// Longest proof accepted or produced. A tree of at most 2^64 - 1 leaves is at most 64 levels
/// deep, so no honest inclusion or consistency proof is longer; anything longer is rejected
/// before any hashing is done.
pub const MAX_PROOF_HASHES: usize = 64;

/// RFC 6962 domain-separation prefix for leaf hashes.
const LEAF_PREFIX: u8 = 0x00;
/// RFC 6962 domain-separation prefix for interior node hashes.
const NODE_PREFIX: u8 = 0x01;

/// Why a proof did not verify. The variants exist for diagnostics; callers must treat every one
/// of them as "not proven".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ProofError {
    #[error("proof has {len} hashes, more than the limit of {MAX_PROOF_HASHES}")]
    ProofTooLong { len: usize },
    #[error("leaf index {index} is not below tree size {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("consistency from an empty tree proves nothing")]
    EmptyOldTree,
    #[error("new size {size2} is smaller than old size {size1}")]
    SizeDecreased { size1: u64, size2: u64 },
    #[error("sizes are equal but the proof is not empty")]
    UnexpectedProof,
    #[error("consistency proof is empty")]
    EmptyProof,
    #[error("proof has more hashes than the tree shape allows")]
    TooManyHashes,
    #[error("proof has fewer hashes than the tree shape needs")]
    TooFewHashes,
    #[error("computed root does not match the expected root")]
    RootMismatch,
    #[error("computed old root does not match the expected old root")]
    OldRootMismatch,
}

/// RFC 6962 leaf hash: SHA-256(0x00 ‖ entry).
pub fn leaf_hash(entry: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([LEAF_PREFIX]);
    h.update(entry);
    h.finalize().into()
}

/// RFC 6962 interior node hash: SHA-256(0x01 ‖ left ‖ right).
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([NODE_PREFIX]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// Root of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

fn check_proof_len(proof: &[Hash]) -> Result<(), ProofError> {
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::ProofTooLong { len: proof.len() });
    }
    Ok(())
}

/// Shifts `fn_` and `sn` right together until `fn_` is odd or zero (the RFC 9162 step that skips
/// levels where the path node is a right-most left child with no sibling).
fn shift_to_set_bit(fn_: &mut u64, sn: &mut u64) {
    while *fn_ != 0 && *fn_ & 1 == 0 {
        *fn_ >>= 1;
        *sn >>= 1;
    }
}

/// Verifies that `leaf` is at `index` in the tree of `size` leaves whose root is `root`
/// (RFC 9162 §2.1.3.2).
pub fn verify_inclusion(
    leaf: &Hash,
    index: u64,
    size: u64,
    proof: &[Hash],
    root: &Hash,
) -> Result<(), ProofError> {
    check_proof_len(proof)?;
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut fn_ = index;
    let mut sn = size - 1;
    let mut r = *leaf;
    for p in proof {
        if sn == 0 {
            return Err(ProofError::TooManyHashes);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            r = node_hash(p, &r);
            if fn_ & 1 == 0 {
                shift_to_set_bit(&mut fn_, &mut sn);
            }
        } else {
            r = node_hash(&r, p);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::TooFewHashes);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Verifies that the tree of `size2` leaves with root `root2` extends the tree of `size1` leaves
/// with root `root1` (RFC 9162 §2.1.4.2). Equal sizes need an empty proof and equal roots; an
/// empty old tree is rejected because such a "proof" would vouch for any new root.
pub fn verify_consistency(
    size1: u64,
    size2: u64,
    proof: &[Hash],
    root1: &Hash,
    root2: &Hash,
) -> Result<(), ProofError> {
    check_proof_len(proof)?;
    if size1 == 0 {
        return Err(ProofError::EmptyOldTree);
    }
    if size2 < size1 {
        return Err(ProofError::SizeDecreased { size1, size2 });
    }
    if size1 == size2 {
        if !proof.is_empty() {
            return Err(ProofError::UnexpectedProof);
        }
        if root1 != root2 {
            return Err(ProofError::RootMismatch);
        }
        return Ok(());
    }
    let Some((first, rest)) = proof.split_first() else {
        return Err(ProofError::EmptyProof);
    };
    // Step 2: when the old tree is a complete subtree its root is the implicit first element.
    let (seed, path) = if size1.is_power_of_two() {
        (root1, proof)
    } else {
        (first, rest)
    };
    let mut fn_ = size1 - 1;
    let mut sn = size2 - 1;
    while fn_ & 1 == 1 {
        fn_ >>= 1;
        sn >>= 1;
    }
    let mut fr = *seed;
    let mut sr = *seed;
    for c in path {
        if sn == 0 {
            return Err(ProofError::TooManyHashes);
        }
        if fn_ & 1 == 1 || fn_ == sn {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if fn_ & 1 == 0 {
                shift_to_set_bit(&mut fn_, &mut sn);
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fn_ >>= 1;
        sn >>= 1;
    }
    if sn != 0 {
        return Err(ProofError::TooFewHashes);
    }
    if fr != *root1 {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *root2 {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Naive recursive MTH from RFC 6962 §2.1, used only to cross-check the O(log n) code.
#[cfg(test)]
pub(crate) fn naive_root(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            node_hash(&naive_root(&leaves[..k]), &naive_root(&leaves[k..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(h: &Hash) -> String {
        h.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn empty_root_is_sha256_of_nothing() {
        assert_eq!(
            hex(&empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn leaf_hash_of_empty_entry_matches_rfc6962() {
        assert_eq!(
            hex(&leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
    }

    #[test]
    fn single_leaf_tree_needs_empty_proof() {
        let leaf = leaf_hash(b"x");
        assert_eq!(verify_inclusion(&leaf, 0, 1, &[], &leaf), Ok(()));
        assert_eq!(
            verify_inclusion(&leaf, 0, 1, &[leaf], &leaf),
            Err(ProofError::TooManyHashes)
        );
        assert_eq!(
            verify_inclusion(&leaf, 1, 1, &[], &leaf),
            Err(ProofError::IndexOutOfRange { index: 1, size: 1 })
        );
    }

    #[test]
    fn overlong_proofs_are_rejected_before_hashing() {
        let proof = vec![[0u8; 32]; MAX_PROOF_HASHES + 1];
        let h = [0u8; 32];
        assert!(matches!(
            verify_inclusion(&h, 0, u64::MAX, &proof, &h),
            Err(ProofError::ProofTooLong { .. })
        ));
        assert!(matches!(
            verify_consistency(1, u64::MAX, &proof, &h, &h),
            Err(ProofError::ProofTooLong { .. })
        ));
    }

    #[test]
    fn consistency_edge_cases() {
        let a = leaf_hash(b"a");
        let b = leaf_hash(b"b");
        assert_eq!(
            verify_consistency(0, 0, &[], &a, &a),
            Err(ProofError::EmptyOldTree)
        );
        assert_eq!(verify_consistency(3, 3, &[], &a, &a), Ok(()));
        assert_eq!(
            verify_consistency(3, 3, &[], &a, &b),
            Err(ProofError::RootMismatch)
        );
        assert_eq!(
            verify_consistency(3, 3, &[a], &a, &a),
            Err(ProofError::UnexpectedProof)
        );
        assert_eq!(
            verify_consistency(4, 3, &[], &a, &a),
            Err(ProofError::SizeDecreased { size1: 4, size2: 3 })
        );
        assert_eq!(
            verify_consistency(1, 2, &[], &a, &b),
            Err(ProofError::EmptyProof)
        );
        let root2 = node_hash(&a, &b);
        assert_eq!(verify_consistency(1, 2, &[b], &a, &root2), Ok(()));
    }

    #[test]
    fn huge_indices_do_not_overflow() {
        let h = [7u8; 32];
        let proof = vec![h; MAX_PROOF_HASHES];
        assert!(verify_inclusion(&h, u64::MAX - 1, u64::MAX, &proof, &h).is_err());
        assert!(verify_consistency(u64::MAX - 1, u64::MAX, &proof, &h, &h).is_err());
        assert!(verify_consistency(1 << 63, u64::MAX, &proof, &h, &h).is_err());
    }
}

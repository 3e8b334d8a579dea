//! Transparency-log core: Merkle math, signed notes, checkpoints, cosignatures and receipts.
//!
//! Everything here is pure and deterministic (no I/O, no clocks, no randomness) so that the
//! parts deciding what the registry has committed to can be tested exhaustively and reused by
//! both the ledger and offline verifiers. The formats follow the C2SP specifications
//! (signed-note, tlog-checkpoint, tlog-cosignature, tlog-proof) and RFC 6962 / RFC 9162.
//!
//! - [`merkle`]: hashing, proof verification, proof generation over a [`NodeStore`], the
//!   [`CompactRange`] right border.
//! - [`note`]: signed notes, key names and IDs, vkeys, the note signer.
//! - [`checkpoint`]: the signed tree head.
//! - [`cosignature`]: timestamped Ed25519 witness cosignatures.
//! - [`proof`]: `c2sp.org/tlog-proof@v1` receipts.
//! - [`tiles`]: tlog-tiles paths and the entry-bundle format.

pub mod checkpoint;
pub mod cosignature;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod tiles;
mod vkey;

pub use checkpoint::{Checkpoint, CheckpointError};
pub use cosignature::{
    verify_cosignatures, CosignatureError, CosignatureVerifier, Cosigner, VerifiedCosignature,
};
pub use merkle::{
    consistency_proof, empty_root, inclusion_proof, leaf_hash, node_hash, verify_consistency,
    verify_inclusion, CompactRange, CompactRangeError, Hash, MemoryStore, NodeStore, ProofError,
    ProofGenError,
};
pub use note::{
    verify_note, KeyError, KeyId, KeyName, NoteError, NoteSignature, NoteSigner, SignatureType,
    SignedNote, VerifiedNote, VerifiedSignature, VerifierKey,
};
pub use proof::{ReceiptError, TlogProof, VerifiedReceipt};

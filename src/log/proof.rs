//! C2SP tlog-proof v1 receipts (`c2sp.org/tlog-proof@v1`): an offline-verifiable proof that an
//! entry is in the log, as seen by some number of witnesses.
//!
//! A receipt bundles the signed (and cosigned) checkpoint, the entry's index and its inclusion
//! proof, plus optional unauthenticated `extra` data — in this registry, the logged entry bytes
//! themselves, which the inclusion proof then authenticates. Parsing is strict and bounded;
//! verification runs the spec's four steps and nothing is trusted before its step has passed.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use thiserror::Error;

use super::checkpoint::{decode_hash, parse_decimal, Checkpoint, CheckpointError};
use super::cosignature::{
    verify_cosignatures, CosignatureError, CosignatureVerifier, VerifiedCosignature,
};
use super::merkle::{leaf_hash, verify_inclusion, Hash, ProofError, MAX_PROOF_HASHES};
use super::note::{NoteError, SignedNote, VerifierKey, MAX_NOTE_BYTES, MAX_VERIFIERS};

/// First line of every receipt.
pub const PROOF_HEADER: &str = "c2sp.org/tlog-proof@v1";
/// Largest `extra` payload accepted. It carries a whole ledger entry, so it matches the ledger's
/// 64 KiB entry limit.
pub const MAX_EXTRA_BYTES: usize = 64 * 1024;
/// Largest receipt accepted: header, extra, index, a full-depth proof, blank line, checkpoint.
pub const MAX_PROOF_BYTES: usize = PROOF_HEADER.len()
    + 1
    + EXTRA_PREFIX.len()
    + MAX_EXTRA_B64
    + 1
    + INDEX_PREFIX.len()
    + 20
    + 1
    + MAX_PROOF_HASHES * 45
    + 1
    + MAX_NOTE_BYTES;

const EXTRA_PREFIX: &str = "extra ";
const INDEX_PREFIX: &str = "index ";
const MAX_EXTRA_B64: usize = MAX_EXTRA_BYTES.div_ceil(3) * 4;

/// Why a receipt was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ReceiptError {
    #[error("receipt is larger than {MAX_PROOF_BYTES} bytes")]
    TooLarge,
    #[error("receipt is not valid UTF-8")]
    NotUtf8,
    #[error("receipt does not start with {PROOF_HEADER}")]
    BadHeader,
    #[error("receipt ends before its checkpoint")]
    Truncated,
    #[error("extra line is empty, not canonical base64 or larger than {MAX_EXTRA_BYTES} bytes")]
    BadExtra,
    #[error("index line is missing or not a canonical decimal")]
    BadIndex,
    #[error("more than {MAX_PROOF_HASHES} inclusion proof lines")]
    TooManyHashes,
    #[error("inclusion proof line is not base64 of 32 bytes")]
    BadHash,
    #[error("receipt has no extra data to use as the entry")]
    MissingExtra,
    #[error("the log's signature on the checkpoint is missing or invalid")]
    NotSignedByLog(#[source] CheckpointError),
    #[error("witness key is not usable")]
    WitnessKey(#[source] CosignatureError),
    #[error("{got} valid cosignatures, {required} required")]
    InsufficientCosignatures { got: usize, required: usize },
    #[error(transparent)]
    Cosignature(CosignatureError),
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error("inclusion proof does not verify")]
    Inclusion(#[source] ProofError),
}

/// A parsed receipt. Fields are public; [`TlogProof::validate`] says whether they encode to a
/// receipt that [`TlogProof::parse`] accepts, and verification checks everything again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub inclusion: Vec<Hash>,
    pub checkpoint_note: String,
}

/// What a successful verification established.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedReceipt {
    pub checkpoint: Checkpoint,
    pub index: u64,
    pub leaf_hash: Hash,
    /// One per distinct trusted witness whose cosignature verified.
    pub cosignatures: Vec<VerifiedCosignature>,
}

/// Splits off one newline-terminated line.
fn next_line(s: &str) -> Result<(&str, &str), ReceiptError> {
    s.split_once('\n').ok_or(ReceiptError::Truncated)
}

fn decode_extra(b64: &str) -> Result<Vec<u8>, ReceiptError> {
    if b64.is_empty() || b64.len() > MAX_EXTRA_B64 {
        return Err(ReceiptError::BadExtra);
    }
    let extra = STANDARD.decode(b64).map_err(|_| ReceiptError::BadExtra)?;
    if extra.len() > MAX_EXTRA_BYTES {
        return Err(ReceiptError::BadExtra);
    }
    Ok(extra)
}

/// Structural check of an embedded checkpoint: a signed note whose text is a checkpoint.
fn check_checkpoint_note(note: &str) -> Result<(), ReceiptError> {
    let parsed = SignedNote::parse(note)?;
    Checkpoint::parse(parsed.text())?;
    Ok(())
}

impl TlogProof {
    /// Checks the fields against the format's rules and limits.
    pub fn validate(&self) -> Result<(), ReceiptError> {
        if let Some(extra) = &self.extra {
            if extra.is_empty() || extra.len() > MAX_EXTRA_BYTES {
                return Err(ReceiptError::BadExtra);
            }
        }
        if self.inclusion.len() > MAX_PROOF_HASHES {
            return Err(ReceiptError::TooManyHashes);
        }
        check_checkpoint_note(&self.checkpoint_note)
    }

    /// The receipt text. Formatting cannot fail; a receipt whose fields do not
    /// [`validate`](Self::validate) encodes to text that parsers and verifiers reject.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(256 + self.checkpoint_note.len());
        out.push_str(PROOF_HEADER);
        out.push('\n');
        if let Some(extra) = &self.extra {
            out.push_str(EXTRA_PREFIX);
            out.push_str(&STANDARD.encode(extra));
            out.push('\n');
        }
        out.push_str(INDEX_PREFIX);
        out.push_str(&self.index.to_string());
        out.push('\n');
        for h in &self.inclusion {
            out.push_str(&STANDARD.encode(h));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint_note);
        out
    }

    pub fn parse_bytes(text: &[u8]) -> Result<Self, ReceiptError> {
        if text.len() > MAX_PROOF_BYTES {
            return Err(ReceiptError::TooLarge);
        }
        Self::parse(std::str::from_utf8(text).map_err(|_| ReceiptError::NotUtf8)?)
    }

    /// Parses a receipt strictly: exact header, optional non-empty extra, canonical index, at most
    /// [`MAX_PROOF_HASHES`] hash lines, blank line, then a signed checkpoint note.
    pub fn parse(text: &str) -> Result<Self, ReceiptError> {
        if text.len() > MAX_PROOF_BYTES {
            return Err(ReceiptError::TooLarge);
        }
        let (header, rest) = next_line(text)?;
        if header != PROOF_HEADER {
            return Err(ReceiptError::BadHeader);
        }
        let (mut line, mut rest) = next_line(rest)?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix(EXTRA_PREFIX) {
            extra = Some(decode_extra(b64)?);
            (line, rest) = next_line(rest)?;
        }
        let index = line
            .strip_prefix(INDEX_PREFIX)
            .and_then(parse_decimal)
            .ok_or(ReceiptError::BadIndex)?;
        let mut inclusion = Vec::new();
        loop {
            (line, rest) = next_line(rest)?;
            if line.is_empty() {
                break;
            }
            if inclusion.len() >= MAX_PROOF_HASHES {
                return Err(ReceiptError::TooManyHashes);
            }
            inclusion.push(decode_hash(line).ok_or(ReceiptError::BadHash)?);
        }
        check_checkpoint_note(rest)?;
        Ok(Self {
            extra,
            index,
            inclusion,
            checkpoint_note: rest.to_owned(),
        })
    }

    /// Verifies that `leaf_entry` is in the log under `log_key` for `origin`, with at least
    /// `required_cosignatures` valid cosignatures from distinct `witnesses` (type 0x04 vkeys).
    pub fn verify(
        &self,
        leaf_entry: &[u8],
        log_key: &VerifierKey,
        origin: &str,
        witnesses: &[VerifierKey],
        required_cosignatures: usize,
    ) -> Result<VerifiedReceipt, ReceiptError> {
        self.verify_leaf_hash(
            &leaf_hash(leaf_entry),
            log_key,
            origin,
            witnesses,
            required_cosignatures,
        )
    }

    /// [`verify`](Self::verify) with the receipt's own `extra` as the entry. The extra data is
    /// unauthenticated until the inclusion proof binds its hash to the signed root, which this
    /// does before returning.
    pub fn verify_with_extra(
        &self,
        log_key: &VerifierKey,
        origin: &str,
        witnesses: &[VerifierKey],
        required_cosignatures: usize,
    ) -> Result<VerifiedReceipt, ReceiptError> {
        let entry = self.extra.as_deref().ok_or(ReceiptError::MissingExtra)?;
        self.verify(entry, log_key, origin, witnesses, required_cosignatures)
    }

    /// Steps 2–4 of the spec for a leaf hash computed by the caller (step 1).
    pub fn verify_leaf_hash(
        &self,
        leaf: &Hash,
        log_key: &VerifierKey,
        origin: &str,
        witnesses: &[VerifierKey],
        required_cosignatures: usize,
    ) -> Result<VerifiedReceipt, ReceiptError> {
        if witnesses.len() > MAX_VERIFIERS {
            return Err(ReceiptError::WitnessKey(CosignatureError::TooManyWitnesses));
        }
        let witnesses = witnesses
            .iter()
            .map(|w| CosignatureVerifier::new(w.clone()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ReceiptError::WitnessKey)?;
        // Step 2: origin and log signature.
        let (checkpoint, note) = Checkpoint::open_signed(&self.checkpoint_note, log_key, origin)
            .map_err(|e| match e {
                CheckpointError::WrongOrigin { .. } | CheckpointError::Note(_) => {
                    ReceiptError::NotSignedByLog(e)
                }
                other => ReceiptError::Checkpoint(other),
            })?;
        // Step 3: cosignatures from known witnesses.
        let cosignatures =
            verify_cosignatures(&note, &witnesses).map_err(ReceiptError::Cosignature)?;
        if cosignatures.len() < required_cosignatures {
            return Err(ReceiptError::InsufficientCosignatures {
                got: cosignatures.len(),
                required: required_cosignatures,
            });
        }
        // Step 4: the inclusion proof binds the leaf to the signed root.
        verify_inclusion(
            leaf,
            self.index,
            checkpoint.size,
            &self.inclusion,
            &checkpoint.root,
        )
        .map_err(ReceiptError::Inclusion)?;
        Ok(VerifiedReceipt {
            checkpoint,
            index: self.index,
            leaf_hash: *leaf,
            cosignatures,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::cosignature::Cosigner;
    use super::super::merkle::{inclusion_proof, root, MemoryStore};
    use super::super::note::NoteSigner;
    use super::*;
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    const ORIGIN: &str = "registry.example/log";

    struct Fixture {
        log: NoteSigner,
        witnesses: Vec<Cosigner>,
        entries: Vec<Vec<u8>>,
        store: MemoryStore,
    }

    fn fixture(n: u64) -> Fixture {
        let entries: Vec<Vec<u8>> = (0..n).map(|i| format!("entry {i}").into_bytes()).collect();
        let store = MemoryStore::from_leaves(entries.iter().map(|e| leaf_hash(e))).unwrap();
        Fixture {
            log: NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[1; 32])).unwrap(),
            witnesses: (0..3)
                .map(|i| {
                    let name = format!("w{i}.example");
                    Cosigner::new(&name, SigningKey::from_bytes(&[10 + i; 32])).unwrap()
                })
                .collect(),
            entries,
            store,
        }
    }

    impl Fixture {
        fn witness_keys(&self) -> Vec<VerifierKey> {
            self.witnesses.iter().map(|w| w.verifier_key()).collect()
        }

        fn receipt(&self, index: u64, cosigners: usize) -> TlogProof {
            let size = self.store.size();
            let cp = Checkpoint::new(ORIGIN, size, root(&self.store, size).unwrap()).unwrap();
            let mut note = SignedNote::parse(&cp.sign(&self.log).unwrap()).unwrap();
            for w in self.witnesses.iter().take(cosigners) {
                note.add_signature(w.cosign(&cp, 1_700_000_000).unwrap())
                    .unwrap();
            }
            TlogProof {
                extra: self.entries.get(index as usize).cloned(),
                index,
                inclusion: inclusion_proof(&self.store, index, size).unwrap(),
                checkpoint_note: note.encode(),
            }
        }
    }

    #[test]
    fn encode_parse_verify() {
        let f = fixture(21);
        let receipt = f.receipt(13, 2);
        receipt.validate().unwrap();
        let text = receipt.encode();
        assert!(text.starts_with("c2sp.org/tlog-proof@v1\nextra "));
        let parsed = TlogProof::parse(&text).unwrap();
        assert_eq!(parsed, receipt);
        let wk = f.witness_keys();
        let v = parsed
            .verify(&f.entries[13], &f.log.verifier_key(), ORIGIN, &wk, 2)
            .unwrap();
        assert_eq!(v.cosignatures.len(), 2);
        assert_eq!(v.checkpoint.size, 21);
        assert_eq!(v.leaf_hash, leaf_hash(&f.entries[13]));
        assert!(parsed
            .verify_with_extra(&f.log.verifier_key(), ORIGIN, &wk, 2)
            .is_ok());
    }

    #[test]
    fn verification_failures() {
        let f = fixture(9);
        let r = f.receipt(4, 1);
        let lk = f.log.verifier_key();
        let wk = f.witness_keys();
        let err = |res: Result<VerifiedReceipt, ReceiptError>| res.unwrap_err();
        assert!(matches!(
            err(r.verify(b"entry 5", &lk, ORIGIN, &wk, 1)),
            ReceiptError::Inclusion(_)
        ));
        assert!(matches!(
            err(r.verify(&f.entries[4], &lk, "other.example/log", &wk, 1)),
            ReceiptError::NotSignedByLog(_)
        ));
        let wrong_log = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[2; 32])).unwrap();
        assert!(matches!(
            err(r.verify(&f.entries[4], &wrong_log.verifier_key(), ORIGIN, &wk, 0)),
            ReceiptError::NotSignedByLog(_)
        ));
        assert_eq!(
            err(r.verify(&f.entries[4], &lk, ORIGIN, &wk, 2)),
            ReceiptError::InsufficientCosignatures {
                got: 1,
                required: 2
            }
        );
        assert!(matches!(
            err(r.verify(&f.entries[4], &lk, ORIGIN, std::slice::from_ref(&lk), 0)),
            ReceiptError::WitnessKey(_)
        ));
        let mut no_extra = r.clone();
        no_extra.extra = None;
        assert_eq!(
            err(no_extra.verify_with_extra(&lk, ORIGIN, &wk, 0)),
            ReceiptError::MissingExtra
        );
        assert!(r.verify(&f.entries[4], &lk, ORIGIN, &[], 0).is_ok());
    }

    #[test]
    fn strict_parsing() {
        let f = fixture(5);
        let good = f.receipt(2, 0).encode();
        let (head, note) = good.split_once("\n\n").unwrap();
        let bad = [
            good.replacen("tlog-proof@v1", "tlog-proof@v2", 1),
            good.replacen("index 2", "index 02", 1),
            good.replacen("index 2", "index  2", 1),
            good.replacen("extra ", "extra  ", 1),
            format!("{PROOF_HEADER}\nextra \nindex 2\n\n{note}"),
            format!("{head}\nAAAA\n\n{note}"),
            format!("{head}\n\n"),
            format!("{head}\n\n{note}trailing"),
            format!("{head}\n\n\n{note}"),
            head.to_owned(),
            format!("{PROOF_HEADER}\n"),
            String::new(),
        ];
        for b in bad {
            assert!(TlogProof::parse(&b).is_err(), "{b:?}");
        }
        let mut deep = f.receipt(2, 0);
        deep.inclusion = vec![[0; 32]; MAX_PROOF_HASHES + 1];
        assert_eq!(deep.validate(), Err(ReceiptError::TooManyHashes));
        assert_eq!(
            TlogProof::parse(&deep.encode()),
            Err(ReceiptError::TooManyHashes)
        );
        let mut no_extra = f.receipt(2, 0);
        no_extra.extra = None;
        assert_eq!(TlogProof::parse(&no_extra.encode()).unwrap(), no_extra);
        assert_eq!(
            TlogProof::parse_bytes(&vec![b'a'; MAX_PROOF_BYTES + 1]),
            Err(ReceiptError::TooLarge)
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn round_trip_and_any_changed_bit_fails(size in 1u64..64, seed in any::<u64>(),
                                                bit in any::<prop::sample::Index>()) {
            let f = fixture(size);
            let index = seed % size;
            let receipt = f.receipt(index, 1);
            let text = receipt.encode();
            prop_assert_eq!(TlogProof::parse(&text).unwrap(), receipt);
            let lk = f.log.verifier_key();
            let wk = f.witness_keys();
            let mut bytes = text.into_bytes();
            let bit = bit.index(bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let result = TlogProof::parse_bytes(&bytes)
                .and_then(|r| r.verify_with_extra(&lk, ORIGIN, &wk, 1));
            prop_assert!(result.is_err());
        }
    }
}

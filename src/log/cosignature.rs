//! C2SP tlog-cosignature v1: timestamped Ed25519 checkpoint cosignatures (signature type 0x04).
//!
//! Witness cosignatures are what stop a log from showing different trees to different clients,
//! so receipts count them. A cosignature signs `cosignature/v1\ntime <t>\n` followed by the
//! whole checkpoint body, and its note signature is the 8-byte big-endian timestamp followed by
//! the 64-byte Ed25519 signature; the key ID hashes the name with type byte 0x04.

use std::fmt;

use ed25519_dalek::{Signer as _, SigningKey};
use thiserror::Error;

use super::checkpoint::{Checkpoint, CheckpointError};
use super::note::{
    KeyId, KeyName, NoteError, NoteSignature, SignatureType, SignedNote, VerifierKey, MAX_VERIFIERS,
};

/// Domain-separation header line of the v1 signed message.
pub const COSIGNATURE_V1_HEADER: &str = "cosignature/v1";
/// Largest timestamp the spec allows (2^63 - 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// Why a cosignature could not be made or did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CosignatureError {
    #[error("timestamp {0} exceeds 2^63 - 1")]
    TimestampTooLarge(u64),
    #[error("key {0} is not a cosignature/v1 (type 0x04) key")]
    NotCosignatureKey(String),
    #[error("more than {MAX_VERIFIERS} witness keys")]
    TooManyWitnesses,
    #[error("cosignature by witness {name} ({key_id}) does not verify")]
    InvalidCosignature { name: String, key_id: KeyId },
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
}

/// The message a v1 cosignature signs: header line, timestamp line, then the checkpoint body
/// (note text, final newline included, no signature lines).
pub fn signed_message(timestamp: u64, body: &str) -> Vec<u8> {
    format!("{COSIGNATURE_V1_HEADER}\ntime {timestamp}\n{body}").into_bytes()
}

/// A witness key that produces v1 cosignatures.
#[derive(Clone)]
pub struct Cosigner {
    name: KeyName,
    id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for Cosigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cosigner")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl Cosigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, CosignatureError> {
        let name = KeyName::new(name).map_err(NoteError::from)?;
        let public = key.verifying_key();
        let id = KeyId::compute(&name, SignatureType::CosignatureV1, public.as_bytes());
        Ok(Self { name, id, key })
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The type-0x04 vkey that verifies this cosigner.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey::for_signing_key(self.name.clone(), SignatureType::CosignatureV1, &self.key)
    }

    /// Cosigns `checkpoint` as of `timestamp` (POSIX seconds).
    pub fn cosign(
        &self,
        checkpoint: &Checkpoint,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        self.cosign_text(&checkpoint.to_note_text()?, timestamp)
    }

    /// Cosigns a checkpoint body given as note text; the text must parse as a checkpoint, so a
    /// witness key can never be made to sign anything else.
    pub fn cosign_text(
        &self,
        body: &str,
        timestamp: u64,
    ) -> Result<NoteSignature, CosignatureError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(CosignatureError::TimestampTooLarge(timestamp));
        }
        Checkpoint::parse(body)?;
        let sig = self.key.sign(&signed_message(timestamp, body));
        let mut raw = Vec::with_capacity(72);
        raw.extend_from_slice(&timestamp.to_be_bytes());
        raw.extend_from_slice(&sig.to_bytes());
        Ok(NoteSignature::new(self.name.clone(), self.id, raw)?)
    }
}

/// A trusted witness key (a vkey of type 0x04).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    key: VerifierKey,
}

impl CosignatureVerifier {
    pub fn new(key: VerifierKey) -> Result<Self, CosignatureError> {
        if key.signature_type() != SignatureType::CosignatureV1 {
            return Err(CosignatureError::NotCosignatureKey(key.to_string()));
        }
        Ok(Self { key })
    }

    pub fn key(&self) -> &VerifierKey {
        &self.key
    }

    /// Verifies one signature line over checkpoint `body`; returns its timestamp. A line from a
    /// different key is an error here — callers pick lines with [`VerifierKey::matches`].
    pub fn verify(&self, body: &str, sig: &NoteSignature) -> Result<u64, CosignatureError> {
        let invalid = || CosignatureError::InvalidCosignature {
            name: sig.name().to_owned(),
            key_id: sig.key_id(),
        };
        if !self.key.matches(sig) {
            return Err(invalid());
        }
        match self.key.verify(body, sig.signature()) {
            Ok(Some(timestamp)) => Ok(timestamp),
            _ => Err(invalid()),
        }
    }
}

/// A cosignature that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedCosignature {
    pub name: KeyName,
    pub key_id: KeyId,
    pub timestamp: u64,
}

/// Verifies every cosignature in `note` made by one of `witnesses`, ignoring other lines.
/// Returns one entry per distinct witness that cosigned; a failing cosignature by a known witness
/// rejects the note, as signed-note asks. Does not check the log's own signature.
pub fn verify_cosignatures(
    note: &SignedNote,
    witnesses: &[CosignatureVerifier],
) -> Result<Vec<VerifiedCosignature>, CosignatureError> {
    if witnesses.len() > MAX_VERIFIERS {
        return Err(CosignatureError::TooManyWitnesses);
    }
    let mut out: Vec<VerifiedCosignature> = Vec::new();
    for sig in note.signatures() {
        let Some(witness) = witnesses.iter().find(|w| w.key.matches(sig)) else {
            continue;
        };
        let timestamp = witness.verify(note.text(), sig)?;
        if !out
            .iter()
            .any(|c| c.name == *sig.key_name() && c.key_id == sig.key_id())
        {
            out.push(VerifiedCosignature {
                name: sig.key_name().clone(),
                key_id: sig.key_id(),
                timestamp,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::merkle::leaf_hash;
    use super::super::note::{verify_note, NoteSigner};
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine as _;
    use proptest::prelude::*;

    const ORIGIN: &str = "example.com/behind-the-sofa";

    fn checkpoint() -> Checkpoint {
        Checkpoint::new(ORIGIN, 20852163, leaf_hash(b"root")).unwrap()
    }

    fn witness(seed: u8, name: &str) -> (Cosigner, CosignatureVerifier) {
        let c = Cosigner::new(name, SigningKey::from_bytes(&[seed; 32])).unwrap();
        let v = CosignatureVerifier::new(c.verifier_key()).unwrap();
        (c, v)
    }

    fn cosigned_note(timestamp: u64) -> (SignedNote, CosignatureVerifier, VerifierKey) {
        let log = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[9; 32])).unwrap();
        let (w, wv) = witness(1, "witness.example.com/w1");
        let text = checkpoint().to_note_text().unwrap();
        let mut note = SignedNote::new(&text).unwrap();
        note.add_signature(log.sign(&text).unwrap()).unwrap();
        note.add_signature(w.cosign(&checkpoint(), timestamp).unwrap())
            .unwrap();
        (note, wv, log.verifier_key())
    }

    #[test]
    fn message_matches_the_spec_example() {
        let body =
            "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";
        let want = format!("cosignature/v1\ntime 1679315147\n{body}");
        assert_eq!(signed_message(1679315147, body), want.into_bytes());
    }

    #[test]
    fn spec_example_line_carries_its_timestamp() {
        let line = "\u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==";
        let sig = NoteSignature::parse_line(line).unwrap();
        assert_eq!(sig.signature().len(), 72);
        let ts: [u8; 8] = sig.signature()[..8].try_into().unwrap();
        assert_eq!(u64::from_be_bytes(ts), 1679315147);
    }

    #[test]
    fn cosignatures_round_trip_and_coexist_with_the_log_signature() {
        let (note, wv, log_key) = cosigned_note(1679315147);
        let encoded = note.encode();
        let parsed = SignedNote::parse(&encoded).unwrap();
        let got = verify_cosignatures(&parsed, std::slice::from_ref(&wv)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].timestamp, 1679315147);
        let v = verify_note(&encoded, &[log_key, wv.key().clone()]).unwrap();
        assert_eq!(v.verified().len(), 2);
        assert_eq!(v.verified()[1].timestamp, Some(1679315147));
        let (_, stranger) = witness(2, "witness.example.com/w2");
        assert!(verify_cosignatures(&parsed, &[stranger])
            .unwrap()
            .is_empty());
    }

    #[test]
    fn plain_ed25519_keys_are_not_witness_keys() {
        let log = NoteSigner::new(ORIGIN, SigningKey::from_bytes(&[9; 32])).unwrap();
        assert!(matches!(
            CosignatureVerifier::new(log.verifier_key()),
            Err(CosignatureError::NotCosignatureKey(_))
        ));
    }

    #[test]
    fn refuses_bad_timestamps_and_non_checkpoints() {
        let (w, _) = witness(1, "w");
        assert_eq!(
            w.cosign(&checkpoint(), MAX_TIMESTAMP + 1),
            Err(CosignatureError::TimestampTooLarge(MAX_TIMESTAMP + 1))
        );
        assert!(w.cosign_text("hello\n", 1).is_err());
        assert!(w.cosign(&checkpoint(), MAX_TIMESTAMP).is_ok());
    }

    #[test]
    fn a_forged_timestamp_fails() {
        let (note, wv, _) = cosigned_note(1000);
        let sig = &note.signatures()[1];
        let mut raw = sig.signature().to_vec();
        raw[7] ^= 1;
        let forged = NoteSignature::new(sig.key_name().clone(), sig.key_id(), raw).unwrap();
        assert!(wv.verify(note.text(), &forged).is_err());
        let wrong_body = checkpoint().to_note_text().unwrap().replace("2085", "2086");
        assert!(wv.verify(&wrong_body, sig).is_err());
        let line = sig.to_line();
        let b64 = line.trim_end().rsplit(' ').next().unwrap();
        assert_eq!(STANDARD.decode(b64).unwrap().len(), 4 + 72);
    }

    proptest! {
        #[test]
        fn any_changed_cosignature_bit_fails(ts in 0u64..=MAX_TIMESTAMP, bit in 0usize..(72 * 8)) {
            let (note, wv, _) = cosigned_note(ts);
            let sig = &note.signatures()[1];
            prop_assert_eq!(wv.verify(note.text(), sig), Ok(ts));
            let mut raw = sig.signature().to_vec();
            raw[bit / 8] ^= 1 << (bit % 8);
            let changed = NoteSignature::new(sig.key_name().clone(), sig.key_id(), raw).unwrap();
            prop_assert!(wv.verify(note.text(), &changed).is_err());
        }
    }
}

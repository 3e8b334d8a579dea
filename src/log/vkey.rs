//! Signed-note keys: key names, key IDs, verifier keys (vkeys) and the note signer.
//!
//! A note signature is only as good as the binding between a key name, its 4-byte key ID and
//! its public key; this module owns that binding (c2sp.org/signed-note "Verifier keys") for the
//! two signature types the registry uses: plain Ed25519 (0x01) for the log's own checkpoint
//! signature and timestamped Ed25519 cosignatures (0x04, c2sp.org/tlog-cosignature) for witnesses.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::cosignature::{signed_message, MAX_TIMESTAMP};
use super::note::{check_text, NoteError, NoteSignature};

/// Longest key name accepted. Names are schema-less URLs in practice; this bounds the work of
/// matching names while parsing untrusted notes.
pub const MAX_KEY_NAME_BYTES: usize = 255;
/// Longest vkey string accepted: name, '+', 8 hex digits, '+', base64 of 33 bytes.
pub const MAX_VKEY_BYTES: usize = MAX_KEY_NAME_BYTES + 1 + 8 + 1 + 44;
/// Length of an Ed25519 signature.
const ED25519_SIG_LEN: usize = 64;
/// Length of a timestamped Ed25519 cosignature: 8-byte timestamp then the signature.
const COSIG_V1_SIG_LEN: usize = 8 + ED25519_SIG_LEN;

/// Why a key name, key ID or vkey was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    #[error("key name is empty, too long, or contains whitespace, '+' or control characters")]
    BadName,
    #[error("verifier key is too long")]
    TooLong,
    #[error("verifier key is not name+keyid+key")]
    Malformed,
    #[error("key ID is not 8 lowercase hex digits")]
    BadKeyId,
    #[error("key material is not valid base64")]
    BadBase64,
    #[error("unsupported signature type 0x{0:02x}")]
    UnsupportedType(u8),
    #[error("public key is not a valid, non-weak Ed25519 key")]
    BadPublicKey,
    #[error("key ID does not match the key name and public key")]
    KeyIdMismatch,
}

/// A validated key name: non-empty, at most [`MAX_KEY_NAME_BYTES`], no Unicode whitespace, no
/// '+', no ASCII control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeyName(String);

impl KeyName {
    pub fn new(name: &str) -> Result<Self, KeyError> {
        let ok = !name.is_empty()
            && name.len() <= MAX_KEY_NAME_BYTES
            && !name
                .chars()
                .any(|c| c.is_whitespace() || c == '+' || c < ' ');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(KeyError::BadName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The 4-byte key ID that, together with the name, selects a verifier for a signature line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; 4]);

impl KeyId {
    /// SHA-256(name ‖ 0x0A ‖ type ‖ public key)[:4], as signed-note recommends and
    /// tlog-cosignature requires.
    pub fn compute(name: &KeyName, sig_type: SignatureType, public_key: &[u8]) -> Self {
        let mut h = Sha256::new();
        h.update(name.as_str().as_bytes());
        h.update([b'\n', sig_type.byte()]);
        h.update(public_key);
        let digest: [u8; 32] = h.finalize().into();
        let [a, b, c, d, ..] = digest;
        Self([a, b, c, d])
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Signature types this crate can verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureType {
    /// 0x01: Ed25519 over the note text.
    Ed25519,
    /// 0x04: timestamped Ed25519 checkpoint cosignature (c2sp.org/tlog-cosignature).
    CosignatureV1,
}

impl SignatureType {
    pub fn byte(self) -> u8 {
        match self {
            Self::Ed25519 => 0x01,
            Self::CosignatureV1 => 0x04,
        }
    }

    pub fn from_byte(b: u8) -> Result<Self, KeyError> {
        match b {
            0x01 => Ok(Self::Ed25519),
            0x04 => Ok(Self::CosignatureV1),
            other => Err(KeyError::UnsupportedType(other)),
        }
    }
}

/// A signature that failed to verify; deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadSignature;

/// A trusted public key for notes, in C2SP vkey form `<name>+<hex id>+<base64(type ‖ key)>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifierKey {
    name: KeyName,
    id: KeyId,
    sig_type: SignatureType,
    key: VerifyingKey,
}

impl VerifierKey {
    pub fn new(name: &str, sig_type: SignatureType, key: VerifyingKey) -> Result<Self, NoteError> {
        if key.is_weak() {
            return Err(KeyError::BadPublicKey.into());
        }
        let name = KeyName::new(name)?;
        let id = KeyId::compute(&name, sig_type, key.as_bytes());
        Ok(Self {
            name,
            id,
            sig_type,
            key,
        })
    }

    /// The verifier for a key we hold; a derived public key is never weak, so no check needed.
    pub(crate) fn for_signing_key(
        name: KeyName,
        sig_type: SignatureType,
        key: &SigningKey,
    ) -> Self {
        let key = key.verifying_key();
        let id = KeyId::compute(&name, sig_type, key.as_bytes());
        Self {
            name,
            id,
            sig_type,
            key,
        }
    }

    /// A plain Ed25519 (0x01) note verifier, as used for the log's checkpoint signature.
    pub fn ed25519(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        Self::new(name, SignatureType::Ed25519, key)
    }

    /// A witness cosignature (0x04) verifier.
    pub fn cosignature_v1(name: &str, key: VerifyingKey) -> Result<Self, NoteError> {
        Self::new(name, SignatureType::CosignatureV1, key)
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    pub fn key_name(&self) -> &KeyName {
        &self.name
    }

    pub fn key_id(&self) -> KeyId {
        self.id
    }

    pub fn signature_type(&self) -> SignatureType {
        self.sig_type
    }

    pub fn public_key(&self) -> &VerifyingKey {
        &self.key
    }

    /// Whether this key is the one named by a signature line (name and ID both match).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        self.name == *sig.key_name() && self.id == sig.key_id()
    }

    /// Verifies `sig` (the bytes after the key ID) over note `text` with `verify_strict`, which
    /// refuses malleable and small-order signatures. Returns the cosignature timestamp if any.
    pub(crate) fn verify(&self, text: &str, sig: &[u8]) -> Result<Option<u64>, BadSignature> {
        match self.sig_type {
            SignatureType::Ed25519 => {
                self.verify_raw(text.as_bytes(), sig)?;
                Ok(None)
            }
            SignatureType::CosignatureV1 => {
                if sig.len() != COSIG_V1_SIG_LEN {
                    return Err(BadSignature);
                }
                let (ts, ed) = sig.split_first_chunk::<8>().ok_or(BadSignature)?;
                let ts = u64::from_be_bytes(*ts);
                if ts > MAX_TIMESTAMP {
                    return Err(BadSignature);
                }
                self.verify_raw(&signed_message(ts, text), ed)?;
                Ok(Some(ts))
            }
        }
    }

    fn verify_raw(&self, message: &[u8], sig: &[u8]) -> Result<(), BadSignature> {
        if sig.len() != ED25519_SIG_LEN {
            return Err(BadSignature);
        }
        let sig = Signature::from_slice(sig).map_err(|_| BadSignature)?;
        self.key
            .verify_strict(message, &sig)
            .map_err(|_| BadSignature)
    }
}

impl fmt::Display for VerifierKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut material = Vec::with_capacity(33);
        material.push(self.sig_type.byte());
        material.extend_from_slice(self.key.as_bytes());
        write!(f, "{}+{}+{}", self.name, self.id, STANDARD.encode(material))
    }
}

fn parse_key_id(hex: &str) -> Result<KeyId, KeyError> {
    let bytes = hex.as_bytes();
    if bytes.len() != 8 || !bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(KeyError::BadKeyId);
    }
    let mut id = [0u8; 4];
    for (out, pair) in id.iter_mut().zip(bytes.chunks_exact(2)) {
        let s = std::str::from_utf8(pair).map_err(|_| KeyError::BadKeyId)?;
        *out = u8::from_str_radix(s, 16).map_err(|_| KeyError::BadKeyId)?;
    }
    Ok(KeyId(id))
}

impl FromStr for VerifierKey {
    type Err = NoteError;

    fn from_str(s: &str) -> Result<Self, NoteError> {
        if s.len() > MAX_VKEY_BYTES {
            return Err(KeyError::TooLong.into());
        }
        // The name has no '+', so the first two '+' are the separators; base64 may contain more.
        let mut parts = s.splitn(3, '+');
        let (Some(name), Some(hex), Some(b64)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(KeyError::Malformed.into());
        };
        let id = parse_key_id(hex)?;
        let material = STANDARD.decode(b64).map_err(|_| KeyError::BadBase64)?;
        let Some((&type_byte, public)) = material.split_first() else {
            return Err(KeyError::Malformed.into());
        };
        let sig_type = SignatureType::from_byte(type_byte)?;
        let public: &[u8; 32] = public.try_into().map_err(|_| KeyError::BadPublicKey)?;
        let key = VerifyingKey::from_bytes(public).map_err(|_| KeyError::BadPublicKey)?;
        let vkey = Self::new(name, sig_type, key)?;
        if vkey.id != id {
            return Err(KeyError::KeyIdMismatch.into());
        }
        Ok(vkey)
    }
}

/// Signs notes with a plain Ed25519 (0x01) key under a fixed key name.
#[derive(Clone)]
pub struct NoteSigner {
    name: KeyName,
    id: KeyId,
    key: SigningKey,
}

impl fmt::Debug for NoteSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NoteSigner")
            .field("name", &self.name)
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl NoteSigner {
    pub fn new(name: &str, key: SigningKey) -> Result<Self, NoteError> {
        let name = KeyName::new(name)?;
        let id = KeyId::compute(
            &name,
            SignatureType::Ed25519,
            key.verifying_key().as_bytes(),
        );
        Ok(Self { name, id, key })
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }

    pub fn key_id(&self) -> KeyId {
        self.id
    }

    /// The vkey that verifies this signer's signatures.
    pub fn verifier_key(&self) -> VerifierKey {
        VerifierKey::for_signing_key(self.name.clone(), SignatureType::Ed25519, &self.key)
    }

    /// Signs note `text` (validated first: it must be a well-formed note text).
    pub fn sign(&self, text: &str) -> Result<NoteSignature, NoteError> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes());
        NoteSignature::new(self.name.clone(), self.id, sig.to_bytes().to_vec())
    }

    /// Signs `text` and returns the complete signed note.
    pub fn sign_note(&self, text: &str) -> Result<String, NoteError> {
        let sig = self.sign(text)?;
        Ok(format!("{text}\n{}", sig.to_line()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE_VKEY: &str =
        "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";

    #[test]
    fn example_vkey_round_trips() {
        let v: VerifierKey = EXAMPLE_VKEY.parse().unwrap();
        assert_eq!(v.name(), "example.com/foo");
        assert_eq!(v.key_id(), KeyId([0x53, 0x0d, 0x90, 0x3a]));
        assert_eq!(v.signature_type(), SignatureType::Ed25519);
        assert_eq!(v.to_string(), EXAMPLE_VKEY);
    }

    #[test]
    fn malformed_vkeys_are_refused() {
        let bad = [
            "",
            "example.com/foo",
            "example.com/foo+530d903a",
            "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/fop+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2",
            "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k ",
            "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "exa mple+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        ];
        for b in bad {
            assert!(b.parse::<VerifierKey>().is_err(), "{b:?}");
        }
        let long = format!(
            "{}+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
            "a".repeat(300)
        );
        assert!(long.parse::<VerifierKey>().is_err());
    }

    #[test]
    fn key_names_are_validated() {
        for ok in ["a", "example.com/log", "oid/1.3.6.1", "ünïcode"] {
            assert!(KeyName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a b",
            "a+b",
            "a\tb",
            "a\u{a0}b",
            "a\u{2003}b",
            "a\u{1}b",
        ] {
            assert_eq!(KeyName::new(bad), Err(KeyError::BadName), "{bad:?}");
        }
        assert!(KeyName::new(&"x".repeat(MAX_KEY_NAME_BYTES + 1)).is_err());
    }

    #[test]
    fn signer_vkey_verifies_its_signatures_and_types_differ() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let signer = NoteSigner::new("example.com/log", key.clone()).unwrap();
        let vkey = signer.verifier_key();
        assert_eq!(vkey.to_string().parse::<VerifierKey>().unwrap(), vkey);
        let sig = signer.sign("hello\n").unwrap();
        assert!(vkey.matches(&sig));
        assert_eq!(vkey.verify("hello\n", sig.signature()), Ok(None));
        assert_eq!(vkey.verify("hellO\n", sig.signature()), Err(BadSignature));
        let cosig = VerifierKey::cosignature_v1("example.com/log", key.verifying_key()).unwrap();
        assert_ne!(cosig.key_id(), vkey.key_id());
        assert!(!cosig.matches(&sig));
        assert!(format!("{signer:?}").contains("example.com/log"));
        assert!(signer.sign("no newline").is_err());
    }

    #[test]
    fn weak_keys_are_refused() {
        // The identity point encodes as 0x01 followed by zeros and has small order.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let key = VerifyingKey::from_bytes(&identity).unwrap();
        assert!(VerifierKey::ed25519("x", key).is_err());
    }
}

//! COSE_Sign1 (RFC 9052 §4.2) with Ed25519: the envelope every licence credential travels in.
//!
//! The decoder is deliberately strict, because a credential is attacker-supplied input scanned
//! from a QR code: the CBOR tag must be 18, the array must have exactly four members, the
//! algorithm must sit in the protected header, unknown critical headers are refused, duplicate
//! header labels are refused, and nothing may follow the structure. Signatures are checked with
//! `verify_strict`, which refuses small-order keys and non-canonical signatures.

use std::collections::BTreeMap;
use std::fmt;

use crate::cbor::Tagged;
use crate::cbor::Value;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

/// CBOR tag of a COSE_Sign1 structure (RFC 9052 §2).
pub const COSE_SIGN1_TAG: u64 = 18;
/// `EdDSA` (RFC 9053), what deployed verifiers accept.
pub const ALG_EDDSA: i64 = -8;
/// `Ed25519`, the fully specified algorithm of RFC 9864.
pub const ALG_ED25519: i64 = -19;
/// Largest encoded COSE_Sign1 this decoder looks at.
pub const MAX_SIGN1_BYTES: usize = 8 * 1024;
/// Most labels one header map may carry.
pub const MAX_HEADER_LABELS: usize = 16;
/// Longest key identifier accepted.
pub const MAX_KID_BYTES: usize = 64;

const LABEL_ALG: i64 = 1;
const LABEL_CRIT: i64 = 2;
const LABEL_CONTENT_TYPE: i64 = 3;
const LABEL_KID: i64 = 4;
/// Header labels this implementation understands, and so may appear in `crit`.
const UNDERSTOOD_LABELS: [i64; 3] = [LABEL_ALG, LABEL_CONTENT_TYPE, LABEL_KID];
const SIGNATURE_LEN: usize = 64;

/// Why a COSE_Sign1 was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CoseError {
    #[error("credential is {found} bytes, over the {limit}-byte limit")]
    TooLarge { found: usize, limit: usize },
    #[error("not well-formed CBOR: {0}")]
    Cbor(String),
    #[error("not a COSE_Sign1: {0}")]
    Structure(&'static str),
    #[error("CBOR tag {0:?} is not the COSE_Sign1 tag 18")]
    WrongTag(Option<u64>),
    #[error("header is malformed: {0}")]
    Header(&'static str),
    #[error("header label {0} appears twice")]
    DuplicateLabel(String),
    #[error("critical header label {0} is not understood")]
    UnknownCritical(String),
    #[error("algorithm is missing from the protected header")]
    MissingAlgorithm,
    #[error("algorithm {0} is not EdDSA (-8) or Ed25519 (-19)")]
    WrongAlgorithm(i64),
    #[error("no key identifier (kid) in the headers")]
    MissingKid,
    #[error("signature is invalid")]
    BadSignature,
}

/// A header map decoded with duplicate labels refused, in wire order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StrictMap(pub Vec<(Value, Value)>);

impl StrictMap {
    /// The value stored under integer label `label`.
    pub fn get_int(&self, label: i64) -> Option<&Value> {
        let wanted = Value::Integer(i128::from(label));
        self.0.iter().find(|(k, _)| *k == wanted).map(|(_, v)| v)
    }
}

impl<'de> Deserialize<'de> for StrictMap {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrictMapVisitor;
        impl<'de> Visitor<'de> for StrictMapVisitor {
            type Value = StrictMap;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a CBOR map without duplicate keys")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StrictMap, A::Error> {
                let mut entries: Vec<(Value, Value)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<Value, Value>()? {
                    if entries.len() >= MAX_HEADER_LABELS * 4 {
                        return Err(serde::de::Error::custom("map has too many entries"));
                    }
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(serde::de::Error::custom(format!("duplicate key {key:?}")));
                    }
                    entries.push((key, value));
                }
                Ok(StrictMap(entries))
            }
        }
        deserializer.deserialize_map(StrictMapVisitor)
    }
}

/// The header parameters this registry acts on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    pub alg: Option<i64>,
    pub kid: Option<Vec<u8>>,
    pub crit: Vec<i64>,
}

impl Header {
    fn from_map(map: &StrictMap) -> Result<Self, CoseError> {
        if map.0.len() > MAX_HEADER_LABELS {
            return Err(CoseError::Header("too many header labels"));
        }
        let alg = match map.get_int(LABEL_ALG) {
            None => None,
            Some(Value::Integer(v)) => {
                Some(i64::try_from(*v).map_err(|_| CoseError::Header("alg out of range"))?)
            }
            Some(_) => return Err(CoseError::Header("alg must be an integer")),
        };
        let kid = match map.get_int(LABEL_KID) {
            None => None,
            Some(Value::Bytes(b)) if b.len() <= MAX_KID_BYTES => Some(b.clone()),
            Some(Value::Bytes(_)) => return Err(CoseError::Header("kid too long")),
            Some(_) => return Err(CoseError::Header("kid must be a byte string")),
        };
        let crit = match map.get_int(LABEL_CRIT) {
            None => Vec::new(),
            Some(Value::Array(items)) if !items.is_empty() => parse_crit(items)?,
            Some(_) => return Err(CoseError::Header("crit must be a non-empty array")),
        };
        Ok(Header { alg, kid, crit })
    }
}

fn parse_crit(items: &[Value]) -> Result<Vec<i64>, CoseError> {
    items
        .iter()
        .map(|item| match item {
            Value::Integer(v) => {
                i64::try_from(*v).map_err(|_| CoseError::UnknownCritical(v.to_string()))
            }
            Value::Text(t) => Err(CoseError::UnknownCritical(t.clone())),
            _ => Err(CoseError::Header("crit labels must be integers or text")),
        })
        .collect()
}

/// A decoded COSE_Sign1 whose structure has been checked but whose signature has not.
#[derive(Debug, Clone, PartialEq)]
pub struct Sign1 {
    /// The protected header exactly as it was on the wire (it is what was signed).
    pub protected_bytes: Vec<u8>,
    pub protected: Header,
    pub unprotected: Header,
    pub payload: Vec<u8>,
    pub signature: [u8; SIGNATURE_LEN],
}

impl Sign1 {
    /// The key identifier, preferring the protected header.
    pub fn kid(&self) -> Option<&[u8]> {
        self.protected
            .kid
            .as_deref()
            .or(self.unprotected.kid.as_deref())
    }

    /// The algorithm, which must be protected and must be an Ed25519 identifier.
    pub fn algorithm(&self) -> Result<i64, CoseError> {
        match self.protected.alg {
            None => Err(CoseError::MissingAlgorithm),
            Some(alg @ (ALG_EDDSA | ALG_ED25519)) => Ok(alg),
            Some(other) => Err(CoseError::WrongAlgorithm(other)),
        }
    }

    /// The bytes the signature covers.
    pub fn to_be_signed(&self) -> Vec<u8> {
        sig_structure(&self.protected_bytes, &self.payload)
    }

    /// Checks the algorithm and the signature with `verify_strict`.
    pub fn verify(&self, key: &VerifyingKey) -> Result<(), CoseError> {
        self.algorithm()?;
        let signature = Signature::from_bytes(&self.signature);
        key.verify_strict(&self.to_be_signed(), &signature)
            .map_err(|_| CoseError::BadSignature)
    }
}

/// Ed25519 verification of raw bytes with the same strictness as credentials: a public key that
/// is not a canonical point, a small-order key, or a malleable signature is refused.
pub fn verify_ed25519(
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<(), CoseError> {
    let key: [u8; 32] = public_key.try_into().map_err(|_| CoseError::BadSignature)?;
    let key = VerifyingKey::from_bytes(&key).map_err(|_| CoseError::BadSignature)?;
    let signature = Signature::from_slice(signature).map_err(|_| CoseError::BadSignature)?;
    key.verify_strict(message, &signature)
        .map_err(|_| CoseError::BadSignature)
}

/// `Sig_structure = ["Signature1", body_protected, external_aad = h'', payload]`.
pub fn sig_structure(protected: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(protected.len() + payload.len() + 20);
    out.push(0x84); // array(4)
    out.push(0x6A); // text(10)
    out.extend_from_slice(b"Signature1");
    push_bstr_header(&mut out, protected.len());
    out.extend_from_slice(protected);
    out.push(0x40); // empty external_aad
    push_bstr_header(&mut out, payload.len());
    out.extend_from_slice(payload);
    out
}

fn push_bstr_header(out: &mut Vec<u8>, len: usize) {
    const MAJOR_BYTES: u8 = 0x40;
    let len = len as u64;
    if len < 24 {
        out.push(MAJOR_BYTES | len as u8);
    } else if len <= 0xFF {
        out.extend_from_slice(&[MAJOR_BYTES | 24, len as u8]);
    } else if len <= 0xFFFF {
        out.push(MAJOR_BYTES | 25);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else if len <= 0xFFFF_FFFF {
        out.push(MAJOR_BYTES | 26);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    } else {
        out.push(MAJOR_BYTES | 27);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Encodes the protected header `{1: alg, 4: kid}`.
pub fn protected_header(alg: i64, kid: &[u8]) -> Vec<u8> {
    let mut map = BTreeMap::new();
    map.insert(
        Value::Integer(i128::from(LABEL_ALG)),
        Value::Integer(i128::from(alg)),
    );
    map.insert(
        Value::Integer(i128::from(LABEL_KID)),
        Value::Bytes(kid.to_vec()),
    );
    // Serialising an in-memory map of integers and bytes cannot fail.
    crate::cbor::to_vec(&Value::Map(map)).unwrap_or_default()
}

/// Signs `payload` as a tagged COSE_Sign1 with `alg` = EdDSA and the given kid.
pub fn sign(key: &SigningKey, kid: &[u8], payload: &[u8]) -> Vec<u8> {
    let protected = protected_header(ALG_EDDSA, kid);
    let signature = key.sign(&sig_structure(&protected, payload)).to_bytes();
    encode(&protected, payload, &signature)
}

/// Assembles the tagged COSE_Sign1 bytes from its parts.
pub fn encode(protected: &[u8], payload: &[u8], signature: &[u8; SIGNATURE_LEN]) -> Vec<u8> {
    let body = (
        serde_bytes::Bytes::new(protected),
        BTreeMap::<i64, Value>::new(),
        serde_bytes::Bytes::new(payload),
        serde_bytes::Bytes::new(signature),
    );
    // Serialising byte strings and an empty map cannot fail.
    crate::cbor::to_vec(&Tagged::new(Some(COSE_SIGN1_TAG), body)).unwrap_or_default()
}

/// Decodes a tagged COSE_Sign1, refusing anything malformed, oversize or trailing.
pub fn decode(bytes: &[u8]) -> Result<Sign1, CoseError> {
    decode_with_limit(bytes, MAX_SIGN1_BYTES)
}

/// [`decode`] with another size limit, for signed documents larger than a credential.
pub fn decode_with_limit(bytes: &[u8], limit: usize) -> Result<Sign1, CoseError> {
    if bytes.len() > limit {
        return Err(CoseError::TooLarge {
            found: bytes.len(),
            limit,
        });
    }
    let value: Value =
        crate::cbor::from_slice(bytes).map_err(|e| CoseError::Cbor(e.to_string()))?;
    let items = match value {
        Value::Tag(COSE_SIGN1_TAG, inner) => match *inner {
            Value::Array(items) => items,
            _ => return Err(CoseError::Structure("tag 18 must wrap an array")),
        },
        Value::Tag(other, _) => return Err(CoseError::WrongTag(Some(other))),
        _ => return Err(CoseError::WrongTag(None)),
    };
    let [protected, unprotected, payload, signature]: [Value; 4] = items
        .try_into()
        .map_err(|_| CoseError::Structure("COSE_Sign1 must have exactly four members"))?;
    let protected_bytes = match protected {
        Value::Bytes(b) => b,
        _ => {
            return Err(CoseError::Structure(
                "protected header must be a byte string",
            ))
        }
    };
    let protected = decode_protected(&protected_bytes)?;
    let unprotected = decode_unprotected(unprotected)?;
    if unprotected.alg.is_some() || !unprotected.crit.is_empty() {
        return Err(CoseError::Header("alg and crit must be protected"));
    }
    let payload = match payload {
        Value::Bytes(b) => b,
        Value::Null => return Err(CoseError::Structure("detached payloads are not accepted")),
        _ => return Err(CoseError::Structure("payload must be a byte string")),
    };
    let signature: [u8; SIGNATURE_LEN] = match signature {
        Value::Bytes(b) => b
            .try_into()
            .map_err(|_| CoseError::Structure("Ed25519 signature must be 64 bytes"))?,
        _ => return Err(CoseError::Structure("signature must be a byte string")),
    };
    Ok(Sign1 {
        protected_bytes,
        protected,
        unprotected,
        payload,
        signature,
    })
}

fn decode_protected(bytes: &[u8]) -> Result<Header, CoseError> {
    // A zero-length protected header stands for the empty map (RFC 9052 §3).
    if bytes.is_empty() {
        return Ok(Header::default());
    }
    let map: StrictMap = crate::cbor::from_slice(bytes).map_err(|e| {
        if e.to_string().contains("duplicate key") {
            CoseError::DuplicateLabel(e.to_string())
        } else {
            CoseError::Header("protected header must be a CBOR map")
        }
    })?;
    let header = Header::from_map(&map)?;
    for label in &header.crit {
        if !UNDERSTOOD_LABELS.contains(label) {
            return Err(CoseError::UnknownCritical(label.to_string()));
        }
        if map.get_int(*label).is_none() {
            return Err(CoseError::Header("crit names a label that is absent"));
        }
    }
    Ok(header)
}

fn decode_unprotected(value: Value) -> Result<Header, CoseError> {
    match value {
        Value::Map(map) => {
            let entries = StrictMap(map.into_iter().collect());
            Header::from_map(&entries)
        }
        _ => Err(CoseError::Structure("unprotected header must be a map")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    #[test]
    fn sign_then_decode_verifies() {
        let bytes = sign(&key(), b"kid1", b"hello");
        assert_eq!(bytes[0], 0xD2, "tag 18 in one byte");
        let decoded = decode(&bytes).unwrap();
        assert_eq!(decoded.kid(), Some(&b"kid1"[..]));
        assert_eq!(decoded.payload, b"hello");
        decoded.verify(&key().verifying_key()).unwrap();
    }

    #[test]
    fn trailing_bytes_are_refused() {
        let mut bytes = sign(&key(), b"kid1", b"hello");
        bytes.push(0);
        assert!(matches!(decode(&bytes), Err(CoseError::Cbor(_))));
    }

    #[test]
    fn wrong_or_missing_tag_is_refused() {
        let bytes = sign(&key(), b"kid1", b"hello");
        assert_eq!(decode(&bytes[1..]), Err(CoseError::WrongTag(None)));
        let mut retagged = vec![0xD1];
        retagged.extend_from_slice(&bytes[1..]);
        assert_eq!(decode(&retagged), Err(CoseError::WrongTag(Some(17))));
    }

    #[test]
    fn oversize_input_is_refused_before_decoding() {
        let big = vec![0u8; MAX_SIGN1_BYTES + 1];
        assert!(matches!(decode(&big), Err(CoseError::TooLarge { .. })));
    }

    fn with_protected(protected: &[u8]) -> Vec<u8> {
        let signature = key().sign(&sig_structure(protected, b"x")).to_bytes();
        encode(protected, b"x", &signature)
    }

    #[test]
    fn unknown_critical_header_is_refused() {
        // {1: -8, 2: [99], 99: 0}
        let protected = [0xA3, 0x01, 0x27, 0x02, 0x81, 0x18, 0x63, 0x18, 0x63, 0x00];
        let err = decode(&with_protected(&protected)).unwrap_err();
        assert_eq!(err, CoseError::UnknownCritical("99".into()));
    }

    #[test]
    fn duplicate_protected_label_is_refused() {
        // {1: -8, 1: -8}
        let protected = [0xA2, 0x01, 0x27, 0x01, 0x27];
        let err = decode(&with_protected(&protected)).unwrap_err();
        assert!(matches!(err, CoseError::DuplicateLabel(_)), "{err:?}");
    }

    #[test]
    fn absent_and_wrong_algorithms_are_refused() {
        let vk = key().verifying_key();
        let no_alg = decode(&with_protected(&[0xA0])).unwrap();
        assert_eq!(no_alg.verify(&vk), Err(CoseError::MissingAlgorithm));
        // {1: -7} (ES256)
        let es256 = decode(&with_protected(&[0xA1, 0x01, 0x26])).unwrap();
        assert_eq!(es256.verify(&vk), Err(CoseError::WrongAlgorithm(-7)));
        // {1: -19} (Ed25519, RFC 9864) is accepted.
        let ed25519 = decode(&with_protected(&[0xA1, 0x01, 0x32])).unwrap();
        assert_eq!(ed25519.verify(&vk), Ok(()));
    }

    #[test]
    fn alg_in_unprotected_header_is_refused() {
        let protected = protected_header(ALG_EDDSA, b"k");
        let signature = key().sign(&sig_structure(&protected, b"x")).to_bytes();
        let body = (
            serde_bytes::Bytes::new(&protected),
            BTreeMap::from([(1i64, -8i64)]),
            serde_bytes::Bytes::new(b"x"),
            serde_bytes::Bytes::new(&signature),
        );
        let bytes = crate::cbor::to_vec(&Tagged::new(Some(18), body)).unwrap();
        assert!(matches!(decode(&bytes), Err(CoseError::Header(_))));
    }

    #[test]
    fn sig_structure_matches_rfc_example_bytes() {
        // ToBeSign of cose-wg eddsa-sig-01: protected {1:-8, 3:0}, payload "This is the content."
        let tbs = sig_structure(&[0xA2, 0x01, 0x27, 0x03, 0x00], b"This is the content.");
        let hex: String = tbs.iter().map(|b| format!("{b:02X}")).collect();
        assert_eq!(
            hex,
            "846A5369676E61747572653145A2012703004054546869732069732074686520636F6E74656E742E"
        );
    }
}

//! Status lists for offline verifiers, after the W3C Bitstring Status List.
//!
//! Each kind of licence has one list; every credential the service issues carries its fixed
//! index (`status_index`). An entry is two bits, read most significant bit first from the
//! left-most bit of the list: 0 valid, 1 suspended, 2 revoked, 3 superseded (expiry needs no bit:
//! the credential's `exp` says it). The list holds at least [`MIN_ENTRIES`] entries so that a
//! fetch reveals little about which licence a verifier cares about, is gzipped and base64url
//! encoded with the multibase `u` prefix, and travels inside a `BitstringStatusListCredential`
//! that the registry signs as a COSE_Sign1 with its credential key. `validUntil` is the ttl.

use std::io::{Read, Write};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::clock::{parse_rfc3339, rfc3339, UnixSeconds};
use crate::cose::{self, CoseError};
use crate::keys::{CredentialSigner, KeyError, KeyId, TrustList};

/// Fewest entries a list holds, for herd privacy.
pub const MIN_ENTRIES: u64 = 131_072;
/// Most entries a list may hold (64 MiB of bits), checked before inflating.
pub const MAX_ENTRIES: u64 = 1 << 28;
/// Bits per entry.
pub const STATUS_BITS: u64 = 2;
/// Largest signed status list accepted, in bytes.
pub const MAX_SIGNED_BYTES: usize = 8 * 1024 * 1024;

/// What an entry says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ListStatus {
    Valid,
    Suspended,
    Revoked,
    Superseded,
}

impl ListStatus {
    fn bits(self) -> u8 {
        match self {
            ListStatus::Valid => 0,
            ListStatus::Suspended => 1,
            ListStatus::Revoked => 2,
            ListStatus::Superseded => 3,
        }
    }

    fn from_bits(bits: u8) -> Self {
        match bits & 3 {
            0 => ListStatus::Valid,
            1 => ListStatus::Suspended,
            2 => ListStatus::Revoked,
            _ => ListStatus::Superseded,
        }
    }
}

/// Why a status list was refused.
#[derive(Debug, thiserror::Error)]
pub enum StatusListError {
    #[error("status list is over the size limit")]
    TooLarge,
    #[error("not a signed status list: {0}")]
    Cose(#[from] CoseError),
    #[error("signing key: {0}")]
    Key(#[from] KeyError),
    #[error("status list document is malformed: {0}")]
    Malformed(String),
    #[error("status list expired at {0}; fetch a fresh one")]
    Stale(String),
    #[error("index {0} is outside the list")]
    OutOfRange(u64),
}

/// The bits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusList {
    bytes: Vec<u8>,
}

impl StatusList {
    /// A list of all-valid entries big enough for `highest_index`.
    pub fn with_capacity_for(highest_index: Option<u64>) -> Self {
        let needed = highest_index.map_or(0, |i| i.saturating_add(1));
        let entries = needed.clamp(MIN_ENTRIES, MAX_ENTRIES).next_power_of_two();
        StatusList {
            bytes: vec![0; (entries * STATUS_BITS / 8) as usize],
        }
    }

    pub fn entries(&self) -> u64 {
        self.bytes.len() as u64 * 8 / STATUS_BITS
    }

    fn locate(&self, index: u64) -> Option<(usize, u32)> {
        let bit = index.checked_mul(STATUS_BITS)?;
        let byte = usize::try_from(bit / 8).ok()?;
        (byte < self.bytes.len()).then_some((byte, 6 - (bit % 8) as u32))
    }

    pub fn set(&mut self, index: u64, status: ListStatus) -> Result<(), StatusListError> {
        let (byte, shift) = self
            .locate(index)
            .ok_or(StatusListError::OutOfRange(index))?;
        if let Some(slot) = self.bytes.get_mut(byte) {
            *slot = (*slot & !(3 << shift)) | (status.bits() << shift);
        }
        Ok(())
    }

    pub fn get(&self, index: u64) -> Result<ListStatus, StatusListError> {
        let (byte, shift) = self
            .locate(index)
            .ok_or(StatusListError::OutOfRange(index))?;
        let value = self.bytes.get(byte).copied().unwrap_or(0);
        Ok(ListStatus::from_bits(value >> shift))
    }

    /// `u` + base64url(gzip(bits)), the W3C `encodedList` form.
    pub fn encode(&self) -> String {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        // Writing to a Vec cannot fail.
        let _ = gz.write_all(&self.bytes);
        let compressed = gz.finish().unwrap_or_default();
        format!("u{}", URL_SAFE_NO_PAD.encode(compressed))
    }

    /// Reads an `encodedList`, inflating at most [`MAX_ENTRIES`] entries.
    pub fn decode(encoded: &str) -> Result<Self, StatusListError> {
        let data = encoded.strip_prefix('u').ok_or_else(|| {
            StatusListError::Malformed("encodedList lacks the multibase u".into())
        })?;
        let compressed = URL_SAFE_NO_PAD
            .decode(data)
            .map_err(|e| StatusListError::Malformed(e.to_string()))?;
        let limit = MAX_ENTRIES * STATUS_BITS / 8;
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(compressed.as_slice())
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| StatusListError::Malformed(e.to_string()))?;
        if bytes.len() as u64 > limit {
            return Err(StatusListError::TooLarge);
        }
        if (bytes.len() as u64) * 8 / STATUS_BITS < MIN_ENTRIES {
            return Err(StatusListError::Malformed(
                "fewer entries than the minimum".into(),
            ));
        }
        Ok(StatusList { bytes })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Subject {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    status_purpose: String,
    status_size: u8,
    encoded_list: String,
    ttl: u64,
}

/// The signed document (a `BitstringStatusListCredential`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Document {
    #[serde(rename = "@context")]
    context: Vec<String>,
    id: String,
    #[serde(rename = "type")]
    kind: Vec<String>,
    issuer: String,
    valid_from: String,
    valid_until: String,
    credential_subject: Subject,
}

/// Signs `list` for the licences of `kind`, valid for `ttl_seconds` from `now`.
pub fn sign(
    signer: &CredentialSigner,
    list: &StatusList,
    url: &str,
    issuer: &str,
    now: UnixSeconds,
    ttl_seconds: u64,
) -> Vec<u8> {
    let document = Document {
        context: vec!["https://www.w3.org/ns/credentials/v2".into()],
        id: url.to_string(),
        kind: vec![
            "VerifiableCredential".into(),
            "BitstringStatusListCredential".into(),
        ],
        issuer: issuer.to_string(),
        valid_from: rfc3339(now),
        valid_until: rfc3339(now.saturating_add(i64::try_from(ttl_seconds).unwrap_or(0))),
        credential_subject: Subject {
            id: format!("{url}#list"),
            kind: "BitstringStatusList".into(),
            status_purpose: "message".into(),
            status_size: STATUS_BITS as u8,
            encoded_list: list.encode(),
            ttl: ttl_seconds.saturating_mul(1000),
        },
    };
    let payload = serde_json::to_vec(&document).unwrap_or_default();
    cose::sign(&signer.key, signer.kid.as_bytes(), &payload)
}

/// A verified status list and when it stops being fresh.
#[derive(Debug, Clone)]
pub struct VerifiedList {
    pub list: StatusList,
    pub url: String,
    /// The log origin that published the list.
    pub issuer: String,
    pub valid_until: UnixSeconds,
}

impl VerifiedList {
    /// The licence kind the list is for, from its URL (`…/v1/status-lists/driver`).
    pub fn kind(&self) -> Option<crate::ids::LicenceKind> {
        self.url.rsplit('/').next()?.parse().ok()
    }
}

/// Checks the signature (with the trust list), freshness and shape of a signed status list.
pub fn verify(
    bytes: &[u8],
    trust: &TrustList,
    now: UnixSeconds,
) -> Result<VerifiedList, StatusListError> {
    if bytes.len() > MAX_SIGNED_BYTES {
        return Err(StatusListError::TooLarge);
    }
    let sign1 = decode_large(bytes)?;
    let kid = sign1
        .kid()
        .and_then(KeyId::from_bytes)
        .ok_or(CoseError::MissingKid)?;
    let key = trust.resolve(kid.as_bytes(), now)?;
    sign1.verify(&key.key)?;
    let document: Document = serde_json::from_slice(&sign1.payload)
        .map_err(|e| StatusListError::Malformed(e.to_string()))?;
    let valid_until = parse_rfc3339(&document.valid_until)
        .ok_or_else(|| StatusListError::Malformed("validUntil is not RFC 3339".into()))?;
    if now > valid_until {
        return Err(StatusListError::Stale(document.valid_until));
    }
    if document.credential_subject.status_size != STATUS_BITS as u8 {
        return Err(StatusListError::Malformed("statusSize must be 2".into()));
    }
    Ok(VerifiedList {
        list: StatusList::decode(&document.credential_subject.encoded_list)?,
        url: document.id,
        issuer: document.issuer,
        valid_until,
    })
}

/// COSE decoding for lists, which are larger than a credential.
fn decode_large(bytes: &[u8]) -> Result<cose::Sign1, StatusListError> {
    cose::decode_with_limit(bytes, MAX_SIGNED_BYTES).map_err(StatusListError::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{KeyStatus, TrustedKey};
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    fn signer() -> CredentialSigner {
        let key = SigningKey::from_bytes(&[21; 32]);
        CredentialSigner {
            kid: KeyId::of(&key.verifying_key()),
            key,
        }
    }

    #[test]
    fn lists_have_herd_privacy_and_round_trip_signed() {
        let mut list = StatusList::with_capacity_for(Some(10));
        assert_eq!(list.entries(), MIN_ENTRIES);
        list.set(3, ListStatus::Suspended).unwrap();
        list.set(4, ListStatus::Superseded).unwrap();
        list.set(MIN_ENTRIES - 1, ListStatus::Revoked).unwrap();
        assert!(list.set(MIN_ENTRIES, ListStatus::Revoked).is_err());
        let signer = signer();
        let trust = TrustList::from_keys(vec![TrustedKey {
            kid: signer.kid,
            key: signer.key.verifying_key(),
            status: KeyStatus::Active,
            not_before: 0,
            not_after: None,
        }]);
        let signed = sign(
            &signer,
            &list,
            "https://l.example/v1/status-lists/driver",
            "l.example",
            1_000,
            300,
        );
        assert!(
            signed.len() < 4096,
            "an almost empty list compresses: {} bytes",
            signed.len()
        );
        let verified = verify(&signed, &trust, 1_200).unwrap();
        assert_eq!(verified.list.get(3).unwrap(), ListStatus::Suspended);
        assert_eq!(verified.list.get(4).unwrap(), ListStatus::Superseded);
        assert_eq!(verified.list.get(5).unwrap(), ListStatus::Valid);
        assert_eq!(
            verified.list.get(MIN_ENTRIES - 1).unwrap(),
            ListStatus::Revoked
        );
        assert!(matches!(
            verify(&signed, &trust, 1_301),
            Err(StatusListError::Stale(_))
        ));
        let mut tampered = signed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(verify(&tampered, &trust, 1_200).is_err());
    }

    #[test]
    fn lists_grow_past_the_minimum_in_powers_of_two() {
        let list = StatusList::with_capacity_for(Some(MIN_ENTRIES));
        assert_eq!(list.entries(), MIN_ENTRIES * 2);
    }

    proptest! {
        #[test]
        fn set_then_get(index in 0u64..MIN_ENTRIES, bits in 0u8..4) {
            let mut list = StatusList::with_capacity_for(None);
            let status = ListStatus::from_bits(bits);
            list.set(index, status).unwrap();
            prop_assert_eq!(list.get(index).unwrap(), status);
            let decoded = StatusList::decode(&list.encode()).unwrap();
            prop_assert_eq!(decoded.get(index).unwrap(), status);
        }
    }
}

//! The trust list as a signed, expiring document.
//!
//! A verifier away from the registry (the passenger page offline, `licreg verify` on an
//! inspector's laptop) holds a copy of the trust list. Unsigned, that copy could be edited to
//! trust any key; kept forever, it would keep trusting a key the registry has since revoked.
//! So the registry publishes the list as a COSE_Sign1 (RFC 9052) signed by the log key, which
//! verifiers already pin to check checkpoints and receipts, with an issue time and an expiry:
//! a verifier refuses a list that is not signed by the log it trusts, not issued by that log's
//! origin, or past its expiry.
//!
//! The payload is JSON, one object: the trust list's own `keys` array exactly as in
//! `trust-list.json` (one definition, [`TrustList::parse`]), plus `type`, `issuer` (the log
//! origin), `issued_at` and `valid_until` (RFC 3339, UTC). The protected header is
//! `{1: -8 (EdDSA), 4: kid}` with the kid computed from the log's public key as for credential
//! keys. Pure: signing and checking, no I/O.
//!
//! Why the log key and not a key of its own: the log key is the one key every verifier already
//! pins, and a COSE `Sig_structure` (a CBOR array starting `0x84`) can never be the text of a
//! signed note (valid UTF-8 that starts with the origin), so the two uses cannot be confused.

use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::clock::{parse_rfc3339, rfc3339, UnixSeconds};
use crate::cose::{self, CoseError, ALG_ED25519, ALG_EDDSA};
use crate::keys::{KeyError, KeyId, TrustList, MAX_TRUST_LIST_BYTES};

/// How long a signed trust list may be relied on after it was issued. Verifiers refetch it
/// well before (the service lets caches keep it a minute); offline, a revocation reaches a
/// verifier at most this late.
pub const TRUST_LIST_VALIDITY_SECONDS: i64 = 24 * 3600;
/// Largest signed trust list a verifier looks at: the list's own limit plus the envelope.
pub const MAX_SIGNED_TRUST_LIST_BYTES: usize = MAX_TRUST_LIST_BYTES + 1024;
/// The payload's `type`.
pub const DOCUMENT_TYPE: &str = "LicregTrustList";
/// The media type the service answers with.
pub const CONTENT_TYPE: &str = "application/cose; cose-type=\"cose-sign1\"";

/// Why a signed trust list was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignedTrustError {
    #[error(
        "signed trust list is {found} bytes, over the {MAX_SIGNED_TRUST_LIST_BYTES}-byte limit"
    )]
    TooLarge { found: usize },
    #[error("signed trust list: {0}")]
    Cose(#[from] CoseError),
    #[error("signed trust list is not signed by this log's key")]
    WrongKey,
    #[error("signed trust list payload is malformed: {0}")]
    Malformed(String),
    #[error("signed trust list was issued by {found:?}, not by this log ({expected:?})")]
    WrongIssuer { found: String, expected: String },
    #[error("signed trust list is issued at {issued_at}, later than now")]
    NotYetValid { issued_at: String },
    #[error("signed trust list expired at {valid_until}: fetch a fresh one")]
    Expired { valid_until: String },
    #[error("signed trust list keys: {0}")]
    Keys(#[from] KeyError),
}

impl SignedTrustError {
    /// A stable code for tools and the page.
    pub fn code(&self) -> &'static str {
        match self {
            SignedTrustError::TooLarge { .. } => "too_large",
            SignedTrustError::Cose(CoseError::BadSignature) | SignedTrustError::WrongKey => {
                "bad_signature"
            }
            SignedTrustError::Cose(_) | SignedTrustError::Malformed(_) => "malformed",
            SignedTrustError::WrongIssuer { .. } => "wrong_issuer",
            SignedTrustError::NotYetValid { .. } => "not_yet_valid",
            SignedTrustError::Expired { .. } => "expired",
            SignedTrustError::Keys(_) => "malformed",
        }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(rename = "type")]
    kind: String,
    issuer: String,
    issued_at: String,
    valid_until: String,
    keys: Vec<serde_json::Value>,
}

/// A trust list whose signature, issuer and freshness were checked.
#[derive(Debug, Clone)]
pub struct SignedTrust {
    pub trust: TrustList,
    pub issuer: String,
    pub issued_at: UnixSeconds,
    pub valid_until: UnixSeconds,
}

/// Signs `trust` for the log `origin` with the log key, issued `now`.
pub fn sign(log_key: &SigningKey, origin: &str, trust: &TrustList, now: UnixSeconds) -> Vec<u8> {
    let listed: serde_json::Value = serde_json::from_str(&trust.to_json()).unwrap_or_default();
    let keys = match listed.get("keys") {
        Some(serde_json::Value::Array(keys)) => keys.clone(),
        _ => Vec::new(),
    };
    let document = Document {
        kind: DOCUMENT_TYPE.into(),
        issuer: origin.to_string(),
        issued_at: rfc3339(now),
        valid_until: rfc3339(now.saturating_add(TRUST_LIST_VALIDITY_SECONDS)),
        keys,
    };
    // A struct of strings and JSON values always serialises.
    let payload = serde_json::to_vec(&document).unwrap_or_default();
    let kid = KeyId::of(&log_key.verifying_key());
    cose::sign(log_key, kid.as_bytes(), &payload)
}

/// Checks a signed trust list against the log's public key and origin at `now`, allowing
/// `skew_seconds` of clock disagreement on the issue time (never on the expiry).
pub fn verify(
    bytes: &[u8],
    log_key: &VerifyingKey,
    origin: &str,
    now: UnixSeconds,
    skew_seconds: i64,
) -> Result<SignedTrust, SignedTrustError> {
    if bytes.len() > MAX_SIGNED_TRUST_LIST_BYTES {
        return Err(SignedTrustError::TooLarge { found: bytes.len() });
    }
    let sign1 = cose::decode_with_limit(bytes, MAX_SIGNED_TRUST_LIST_BYTES)?;
    let alg = sign1.algorithm()?;
    if alg != ALG_EDDSA && alg != ALG_ED25519 {
        return Err(CoseError::WrongAlgorithm(alg).into());
    }
    if sign1.kid() != Some(KeyId::of(log_key).as_bytes().as_slice()) {
        return Err(SignedTrustError::WrongKey);
    }
    sign1.verify(log_key)?;
    let document: Document = serde_json::from_slice(&sign1.payload)
        .map_err(|e| SignedTrustError::Malformed(e.to_string()))?;
    if document.kind != DOCUMENT_TYPE {
        return Err(SignedTrustError::Malformed(format!(
            "type must be {DOCUMENT_TYPE:?}"
        )));
    }
    if document.issuer != origin {
        return Err(SignedTrustError::WrongIssuer {
            found: document.issuer,
            expected: origin.to_string(),
        });
    }
    let time = |text: &str, field: &str| {
        parse_rfc3339(text)
            .ok_or_else(|| SignedTrustError::Malformed(format!("{field} is not RFC 3339")))
    };
    let issued_at = time(&document.issued_at, "issued_at")?;
    let valid_until = time(&document.valid_until, "valid_until")?;
    if issued_at > now.saturating_add(skew_seconds.max(0)) {
        return Err(SignedTrustError::NotYetValid {
            issued_at: document.issued_at,
        });
    }
    if now > valid_until {
        return Err(SignedTrustError::Expired {
            valid_until: document.valid_until,
        });
    }
    let keys = serde_json::to_vec(&serde_json::json!({ "keys": document.keys }))
        .map_err(|e| SignedTrustError::Malformed(e.to_string()))?;
    Ok(SignedTrust {
        trust: TrustList::parse(&keys)?,
        issuer: document.issuer,
        issued_at,
        valid_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{CredentialSigner, KeyId, TrustList};

    const ORIGIN: &str = "licreg.test/ledger";
    const NOW: UnixSeconds = 1_800_000_000;

    fn log_key() -> SigningKey {
        SigningKey::from_bytes(&[3; 32])
    }

    fn trust() -> TrustList {
        let key = SigningKey::from_bytes(&[4; 32]);
        TrustList::with_active(&CredentialSigner {
            kid: KeyId::of(&key.verifying_key()),
            key,
        })
    }

    #[test]
    fn a_signed_list_verifies_with_its_keys_until_it_expires() {
        let bytes = sign(&log_key(), ORIGIN, &trust(), NOW);
        let public = log_key().verifying_key();
        let checked = verify(&bytes, &public, ORIGIN, NOW + 60, 300).unwrap();
        assert_eq!(checked.trust, trust());
        assert_eq!(checked.issued_at, NOW);
        assert_eq!(checked.valid_until, NOW + TRUST_LIST_VALIDITY_SECONDS);
        let last = NOW + TRUST_LIST_VALIDITY_SECONDS;
        assert!(verify(&bytes, &public, ORIGIN, last, 0).is_ok());
        let error = verify(&bytes, &public, ORIGIN, last + 1, 300).unwrap_err();
        assert_eq!(error.code(), "expired");
        let error = verify(&bytes, &public, ORIGIN, NOW - 301, 300).unwrap_err();
        assert_eq!(error.code(), "not_yet_valid");
    }

    #[test]
    fn another_key_another_origin_or_an_edit_is_refused() {
        let bytes = sign(&log_key(), ORIGIN, &trust(), NOW);
        let other = SigningKey::from_bytes(&[5; 32]).verifying_key();
        let public = log_key().verifying_key();
        assert_eq!(
            verify(&bytes, &other, ORIGIN, NOW, 0).unwrap_err().code(),
            "bad_signature"
        );
        assert_eq!(
            verify(&bytes, &public, "other.test/ledger", NOW, 0)
                .unwrap_err()
                .code(),
            "wrong_issuer"
        );
        // Flip one byte inside the payload (the JSON), keeping the structure intact.
        let mut edited = bytes.clone();
        let at = edited.len() - 80;
        edited[at] ^= 0x01;
        assert!(verify(&edited, &public, ORIGIN, NOW, 0).is_err());
        let huge = vec![0u8; MAX_SIGNED_TRUST_LIST_BYTES + 1];
        assert_eq!(
            verify(&huge, &public, ORIGIN, NOW, 0).unwrap_err().code(),
            "too_large"
        );
    }

    #[test]
    fn a_credential_signature_is_not_a_trust_list() {
        // A credential key's Sign1 over a well-formed document does not pass for the log's.
        let credential_key = SigningKey::from_bytes(&[4; 32]);
        let bytes = sign(&credential_key, ORIGIN, &trust(), NOW);
        let public = log_key().verifying_key();
        assert_eq!(
            verify(&bytes, &public, ORIGIN, NOW, 0).unwrap_err().code(),
            "bad_signature"
        );
    }
}

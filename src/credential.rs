//! Licence credentials: a CWT claims set (RFC 8392) signed as a COSE_Sign1 (RFC 9052).
//!
//! The credential carries only what a passenger needs to match the car and the driver: kind,
//! licence number (its short serial form, as `cti`), masked holder name, plate, make, colour and
//! validity. The full record stays in the registry. Private claims sit in one map under the
//! private-use claim key [`CLAIM_LICREG`], with one-byte keys so the credential fits a small QR
//! code; `schemas/credential.cddl` describes it.

use std::collections::BTreeMap;

use crate::cbor::Value;

use crate::clock::UnixSeconds;
use crate::cose::{self, CoseError, StrictMap};
use crate::ids::{LicenceKind, ShortSerial};
use crate::keys::{CredentialSigner, KeyError, KeyId, TrustList};
use crate::qr::{self, QrError};

/// Largest credential accepted, in bytes (a QR credential is about 170).
pub const MAX_CREDENTIAL_BYTES: usize = 1024;
/// Longest text claim, in bytes.
pub const MAX_CLAIM_TEXT_BYTES: usize = 96;
/// Most claims a claims set may carry.
pub const MAX_CLAIMS: usize = 16;
/// Tolerated disagreement between the signer's clock and the verifier's, in seconds.
pub const DEFAULT_CLOCK_SKEW_SECONDS: i64 = 300;
/// The private-use CWT claim key (RFC 8392 §9.1: below -65536) holding the licence fields.
pub const CLAIM_LICREG: i64 = -65_537;

const CLAIM_ISS: i64 = 1;
const CLAIM_EXP: i64 = 4;
const CLAIM_NBF: i64 = 5;
const CLAIM_IAT: i64 = 6;
const CLAIM_CTI: i64 = 7;
/// `cnf` (RFC 8747 §3.1): the key of the device the credential is bound to.
const CLAIM_CNF: i64 = 8;
/// `cnf` member holding a COSE_Key (RFC 8747 §3.2).
const CNF_COSE_KEY: i64 = 1;
/// COSE_Key labels and values for an Ed25519 public key (RFC 9053 §7.2, RFC 9052 §7.1).
const COSE_KEY_KTY: i64 = 1;
const COSE_KEY_CRV: i64 = -1;
const COSE_KEY_X: i64 = -2;
const KTY_OKP: i64 = 1;
const CRV_ED25519: i64 = 6;
/// Length of an Ed25519 public key, in bytes.
pub const DEVICE_KEY_BYTES: usize = 32;
const FIELD_KIND: i64 = 1;
const FIELD_HOLDER: i64 = 2;
const FIELD_PLATE: i64 = 3;
const FIELD_MAKE: i64 = 4;
const FIELD_COLOUR: i64 = 5;
const FIELD_STATUS_INDEX: i64 = 6;

/// Why a credential did not verify. Each maps to a verdict a person can read.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error("credential is {found} bytes, over the {limit}-byte limit")]
    TooLarge { found: usize, limit: usize },
    #[error("cannot read the code: {0}")]
    Qr(#[from] QrError),
    #[error("not a valid signed credential: {0}")]
    Cose(#[from] CoseError),
    #[error("signing key not trusted: {0}")]
    Key(#[from] KeyError),
    #[error("claim {claim} is invalid: {reason}")]
    Claim { claim: &'static str, reason: String },
    #[error("not valid before {0}")]
    NotYetValid(String),
    #[error("expired at {0}")]
    Expired(String),
}

impl CredentialError {
    /// A stable machine-readable code for the failure.
    pub fn code(&self) -> &'static str {
        match self {
            CredentialError::TooLarge { .. } => "too_large",
            CredentialError::Qr(_) => "unreadable",
            CredentialError::Cose(CoseError::BadSignature) => "bad_signature",
            CredentialError::Cose(_) => "malformed",
            CredentialError::Key(KeyError::Revoked(_)) => "key_revoked",
            CredentialError::Key(_) => "unknown_key",
            CredentialError::Claim { .. } => "malformed",
            CredentialError::NotYetValid(_) => "not_yet_valid",
            CredentialError::Expired(_) => "expired",
        }
    }
}

/// What a credential says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// `iss`: the issuing registry, by area code.
    pub issuer: String,
    pub issued_at: UnixSeconds,
    pub not_before: UnixSeconds,
    pub expires: UnixSeconds,
    /// `cti`: the licence number in its short serial form.
    pub serial: ShortSerial,
    pub kind: LicenceKind,
    pub holder_masked: Option<String>,
    pub plate: Option<String>,
    pub make: Option<String>,
    pub colour: Option<String>,
    /// Position of this credential in its kind's status list, when the registry keeps one.
    pub status_index: Option<u64>,
    /// `cnf`: the holder's device key, when the credential is bound to a phone.
    pub device_key: Option<DeviceKey>,
}

/// An Ed25519 public key of a holder's device, as carried in `cnf`. Parsed, so a value of this
/// type is always a valid curve point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceKey(ed25519_dalek::VerifyingKey);

impl DeviceKey {
    /// Parses a raw 32-byte Ed25519 public key (what WebCrypto's `exportKey("raw")` gives).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CredentialError> {
        let raw: [u8; DEVICE_KEY_BYTES] = bytes.try_into().map_err(|_| {
            bad(
                "cnf",
                format!("device key must be {DEVICE_KEY_BYTES} bytes"),
            )
        })?;
        ed25519_dalek::VerifyingKey::from_bytes(&raw)
            .map(DeviceKey)
            .map_err(|_| bad("cnf", "device key is not an Ed25519 point"))
    }

    pub fn as_bytes(&self) -> &[u8; DEVICE_KEY_BYTES] {
        self.0.as_bytes()
    }

    pub fn verifying_key(&self) -> &ed25519_dalek::VerifyingKey {
        &self.0
    }

    /// A short public name for the key: the first [`crate::keys::KID_BYTES`] of its SHA-256,
    /// base64url. The live status carries it, so a page can tell the current binding from a
    /// revoked one without the registry publishing whole keys.
    pub fn thumbprint(&self) -> String {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(self.as_bytes());
        base64_url(&digest[..crate::keys::KID_BYTES])
    }

    fn to_cnf(self) -> Value {
        let mut key = BTreeMap::new();
        key.insert(int(COSE_KEY_KTY), int(KTY_OKP));
        key.insert(int(COSE_KEY_CRV), int(CRV_ED25519));
        key.insert(int(COSE_KEY_X), Value::Bytes(self.as_bytes().to_vec()));
        let mut cnf = BTreeMap::new();
        cnf.insert(int(CNF_COSE_KEY), Value::Map(key));
        Value::Map(cnf)
    }

    /// Reads `cnf` strictly: exactly one COSE_Key, an OKP Ed25519 key with nothing else.
    fn from_cnf(value: &Value) -> Result<Self, CredentialError> {
        let Value::Map(cnf) = value else {
            return Err(bad("cnf", "must be a map"));
        };
        let cnf = StrictMap(cnf.clone().into_iter().collect());
        let key = match (cnf.0.len(), cnf.get_int(CNF_COSE_KEY)) {
            (1, Some(Value::Map(key))) => StrictMap(key.clone().into_iter().collect()),
            _ => return Err(bad("cnf", "must hold exactly one COSE_Key")),
        };
        if key.0.len() != 3
            || key.get_int(COSE_KEY_KTY) != Some(&int(KTY_OKP))
            || key.get_int(COSE_KEY_CRV) != Some(&int(CRV_ED25519))
        {
            return Err(bad(
                "cnf",
                "COSE_Key must be an OKP Ed25519 key (kty 1, crv 6, x)",
            ));
        }
        match key.get_int(COSE_KEY_X) {
            Some(Value::Bytes(x)) => DeviceKey::from_bytes(x),
            _ => Err(bad("cnf", "COSE_Key x must be a byte string")),
        }
    }
}

fn int(v: i64) -> Value {
    Value::Integer(i128::from(v))
}

impl Claims {
    /// The CBOR claims set (the COSE payload).
    pub fn encode(&self) -> Vec<u8> {
        let mut fields = BTreeMap::new();
        fields.insert(int(FIELD_KIND), int(i64::from(self.kind.code())));
        let optional = [
            (FIELD_HOLDER, &self.holder_masked),
            (FIELD_PLATE, &self.plate),
            (FIELD_MAKE, &self.make),
            (FIELD_COLOUR, &self.colour),
        ];
        for (key, value) in optional {
            if let Some(text) = value {
                fields.insert(int(key), Value::Text(text.clone()));
            }
        }
        if let Some(index) = self.status_index {
            fields.insert(int(FIELD_STATUS_INDEX), Value::Integer(i128::from(index)));
        }
        let mut claims = BTreeMap::new();
        claims.insert(int(CLAIM_ISS), Value::Text(self.issuer.clone()));
        claims.insert(int(CLAIM_EXP), int(self.expires));
        claims.insert(int(CLAIM_NBF), int(self.not_before));
        claims.insert(int(CLAIM_IAT), int(self.issued_at));
        claims.insert(int(CLAIM_CTI), Value::Bytes(self.serial.to_bytes()));
        claims.insert(int(CLAIM_LICREG), Value::Map(fields));
        if let Some(device) = self.device_key {
            claims.insert(int(CLAIM_CNF), device.to_cnf());
        }
        // Serialising integers, text and bytes cannot fail.
        crate::cbor::to_vec(&Value::Map(claims)).unwrap_or_default()
    }

    /// Parses a claims set, refusing missing, mistyped or oversize claims.
    pub fn decode(payload: &[u8]) -> Result<Self, CredentialError> {
        let claims: StrictMap = crate::cbor::from_slice(payload).map_err(|e| bad("claims", e))?;
        if claims.0.len() > MAX_CLAIMS {
            return Err(bad("claims", "too many claims"));
        }
        let fields = match claims.get_int(CLAIM_LICREG) {
            Some(Value::Map(map)) => StrictMap(map.clone().into_iter().collect()),
            _ => return Err(bad("licreg", "missing licence fields")),
        };
        let kind_code = required_int(&fields, FIELD_KIND, "kind")?;
        let kind = u8::try_from(kind_code)
            .ok()
            .and_then(LicenceKind::from_code)
            .ok_or_else(|| bad("kind", "unknown licence kind"))?;
        let serial = match claims.get_int(CLAIM_CTI) {
            Some(Value::Bytes(b)) => ShortSerial::from_bytes(b).map_err(|e| bad("cti", e))?,
            _ => return Err(bad("cti", "missing or not a byte string")),
        };
        Ok(Claims {
            issuer: required_text(&claims, CLAIM_ISS, "iss")?,
            issued_at: required_int(&claims, CLAIM_IAT, "iat")?,
            not_before: required_int(&claims, CLAIM_NBF, "nbf")?,
            expires: required_int(&claims, CLAIM_EXP, "exp")?,
            serial,
            kind,
            holder_masked: optional_text(&fields, FIELD_HOLDER, "holder")?,
            plate: optional_text(&fields, FIELD_PLATE, "plate")?,
            make: optional_text(&fields, FIELD_MAKE, "make")?,
            colour: optional_text(&fields, FIELD_COLOUR, "colour")?,
            status_index: match fields.get_int(FIELD_STATUS_INDEX) {
                None => None,
                Some(Value::Integer(v)) => {
                    Some(u64::try_from(*v).map_err(|_| bad("status_index", "out of range"))?)
                }
                Some(_) => return Err(bad("status_index", "must be an unsigned integer")),
            },
            device_key: claims
                .get_int(CLAIM_CNF)
                .map(DeviceKey::from_cnf)
                .transpose()?,
        })
    }
}

fn bad(claim: &'static str, reason: impl std::fmt::Display) -> CredentialError {
    CredentialError::Claim {
        claim,
        reason: reason.to_string(),
    }
}

fn required_int(map: &StrictMap, key: i64, name: &'static str) -> Result<i64, CredentialError> {
    match map.get_int(key) {
        Some(Value::Integer(v)) => i64::try_from(*v).map_err(|_| bad(name, "out of range")),
        Some(_) => Err(bad(name, "must be an integer")),
        None => Err(bad(name, "missing")),
    }
}

fn required_text(map: &StrictMap, key: i64, name: &'static str) -> Result<String, CredentialError> {
    optional_text(map, key, name)?.ok_or_else(|| bad(name, "missing"))
}

fn optional_text(
    map: &StrictMap,
    key: i64,
    name: &'static str,
) -> Result<Option<String>, CredentialError> {
    match map.get_int(key) {
        None => Ok(None),
        Some(Value::Text(t)) if t.len() <= MAX_CLAIM_TEXT_BYTES => Ok(Some(t.clone())),
        Some(Value::Text(_)) => Err(bad(name, "too long")),
        Some(_) => Err(bad(name, "must be text")),
    }
}

/// Signs claims with the active credential key.
pub fn issue(signer: &CredentialSigner, claims: &Claims) -> Vec<u8> {
    cose::sign(&signer.key, signer.kid.as_bytes(), &claims.encode())
}

/// A credential whose signature, key and validity have been checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub kid: KeyId,
    pub alg: i64,
    pub claims: Claims,
}

/// Verifies credential bytes against a trust list at time `now`.
pub fn verify(
    bytes: &[u8],
    trust: &TrustList,
    now: UnixSeconds,
    skew_seconds: i64,
) -> Result<Verified, CredentialError> {
    if bytes.len() > MAX_CREDENTIAL_BYTES {
        return Err(CredentialError::TooLarge {
            found: bytes.len(),
            limit: MAX_CREDENTIAL_BYTES,
        });
    }
    let sign1 = cose::decode(bytes)?;
    let alg = sign1.algorithm()?;
    let kid_bytes = sign1.kid().ok_or(CoseError::MissingKid)?;
    let kid =
        KeyId::from_bytes(kid_bytes).ok_or_else(|| KeyError::UnknownKid(base64_url(kid_bytes)))?;
    // Authenticate before trusting anything in the payload; the window check needs `iat`, so
    // the key is first looked up regardless of window and then checked against it.
    let candidate = trust
        .keys()
        .iter()
        .find(|k| k.kid == kid)
        .ok_or_else(|| KeyError::UnknownKid(kid.to_string()))?;
    sign1.verify(&candidate.key)?;
    let claims = Claims::decode(&sign1.payload)?;
    trust.resolve(kid.as_bytes(), claims.issued_at)?;
    if now.saturating_add(skew_seconds) < claims.not_before {
        return Err(CredentialError::NotYetValid(crate::clock::rfc3339(
            claims.not_before,
        )));
    }
    if now.saturating_sub(skew_seconds) > claims.expires {
        return Err(CredentialError::Expired(crate::clock::rfc3339(
            claims.expires,
        )));
    }
    Ok(Verified { kid, alg, claims })
}

/// Verifies whatever a scanner handed over: a URL, a payload, or base64url.
pub fn verify_text(
    text: &str,
    trust: &TrustList,
    now: UnixSeconds,
    skew_seconds: i64,
) -> Result<Verified, CredentialError> {
    let bytes = qr::decode_input(text)?;
    verify(&bytes, trust, now, skew_seconds)
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{CreditCode, LicenceNumber};
    use crate::keys::{KeyStatus, TrustedKey};
    use ed25519_dalek::SigningKey;
    use proptest::prelude::*;

    pub(crate) fn signer() -> CredentialSigner {
        let key = SigningKey::from_bytes(&[11; 32]);
        CredentialSigner {
            kid: KeyId::of(&key.verifying_key()),
            key,
        }
    }

    fn trust(status: KeyStatus) -> TrustList {
        let s = signer();
        TrustList::from_keys(vec![TrustedKey {
            kid: s.kid,
            key: s.key.verifying_key(),
            status,
            not_before: 0,
            not_after: None,
        }])
    }

    pub(crate) fn vehicle_claims() -> Claims {
        let issuer = CreditCode::with_check("11350200MB0000000").unwrap();
        let number = LicenceNumber::new(LicenceKind::Vehicle, &issuer, 123_456, 1).unwrap();
        Claims {
            issuer: "350200".into(),
            issued_at: 1_700_000_000,
            not_before: 1_700_000_000,
            expires: 1_900_000_000,
            serial: number.short_serial(),
            kind: LicenceKind::Vehicle,
            holder_masked: None,
            plate: Some("闽DD12345".into()),
            make: Some("比亚迪".into()),
            colour: Some("白色".into()),
            status_index: Some(123_456),
            device_key: None,
        }
    }

    #[test]
    fn issued_credential_verifies_and_fits_qr_version_10_at_m() {
        let bytes = issue(&signer(), &vehicle_claims());
        let verified = verify(&bytes, &trust(KeyStatus::Active), 1_800_000_000, 0).unwrap();
        assert_eq!(verified.claims, vehicle_claims());
        let url = qr::verification_url("https://licreg.gov.example", &bytes);
        let code = qr::encode_url(&url).unwrap();
        assert!(
            code.version().value() <= 10,
            "version {}",
            code.version().value()
        );
    }

    #[test]
    fn validity_window_is_enforced_with_skew() {
        let bytes = issue(&signer(), &vehicle_claims());
        let trust = trust(KeyStatus::Active);
        assert!(matches!(
            verify(&bytes, &trust, 1_699_999_000, 300),
            Err(CredentialError::NotYetValid(_))
        ));
        assert!(verify(&bytes, &trust, 1_699_999_800, 300).is_ok());
        assert!(matches!(
            verify(&bytes, &trust, 1_900_000_301, 300),
            Err(CredentialError::Expired(_))
        ));
    }

    #[test]
    fn revoked_and_unknown_keys_fail() {
        let bytes = issue(&signer(), &vehicle_claims());
        let err = verify(&bytes, &trust(KeyStatus::Revoked), 1_800_000_000, 0).unwrap_err();
        assert_eq!(err.code(), "key_revoked");
        let err = verify(&bytes, &TrustList::default(), 1_800_000_000, 0).unwrap_err();
        assert_eq!(err.code(), "unknown_key");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn claims_round_trip(iat in 0i64..4_000_000_000, len in 0u64..5_000, name in "\\PC{0,8}") {
            let mut claims = vehicle_claims();
            claims.issued_at = iat;
            claims.expires = iat + len as i64;
            claims.holder_masked = Some(name);
            prop_assert_eq!(Claims::decode(&claims.encode()).unwrap(), claims);
        }
    }

    #[test]
    fn every_single_bit_change_fails_verification() {
        let bytes = issue(&signer(), &vehicle_claims());
        let trust = trust(KeyStatus::Active);
        for bit in 0..bytes.len() * 8 {
            let mut changed = bytes.clone();
            changed[bit / 8] ^= 1 << (bit % 8);
            assert!(
                verify(&changed, &trust, 1_800_000_000, 0).is_err(),
                "flipping bit {bit} still verified"
            );
        }
    }
}

//! Device-bound presentations: the dynamic QR code a driver's wallet shows.
//!
//! A static credential proves that a licence is genuine, and so does a screenshot of it. A
//! holder-bound credential carries the key of the driver's phone in `cnf` (RFC 8747), and the
//! wallet shows it together with the phone's signature over the credential's hash and the current
//! 30-second time step. A passenger's page checks both signatures and how old the step is: a
//! screenshot is soon stale, and a copy of the credential alone cannot make new steps.
//!
//! The payload is an RFC 8742 CBOR sequence, so that a static code (one item, the COSE_Sign1) and a
//! dynamic one share a decoder and cost only five bytes of framing between them:
//!
//! ```text
//! presentation = credential, step_low, device_signature
//! credential       = COSE_Sign1 (tag 18) with cnf              ; as for a static code
//! step_low         = uint .le 65535                            ; time step mod 2^16
//! device_signature = bstr .size 64                             ; Ed25519 by the cnf key
//! ```
//!
//! The device signs [`signed_message`]: a context string, SHA-256 of the credential bytes and the
//! whole time step as a big-endian u64. Only the step's low 16 bits travel (the QR budget for
//! version 12-M is tight); the verifier takes the step nearest its own clock with those bits, which
//! is exact for any code less than 11 days old. docs/qr-payload.md describes the encoding.

use crate::cbor::Value;
use sha2::{Digest, Sha256};

use crate::clock::UnixSeconds;
use crate::cose::{self, CoseError};
use crate::credential::{self, CredentialError, Verified};
use crate::keys::TrustList;
use crate::qr;

/// Length of one time step, in seconds: the wallet draws a new code this often.
pub const TIME_STEP_SECONDS: i64 = 30;
/// Oldest a presentation may be, from the start of its time step, before it is stale.
pub const MAX_PRESENTATION_AGE_SECONDS: i64 = 90;
/// How far ahead of the verifier's clock a device's clock may run.
pub const PRESENTATION_CLOCK_AHEAD_SECONDS: i64 = 30;
/// Length of an Ed25519 signature, in bytes.
pub const DEVICE_SIGNATURE_BYTES: usize = 64;
/// Domain separation for the device's signature: it signs nothing else with this prefix.
pub const PRESENTATION_CONTEXT: &[u8] = b"licreg-presentation-v1";
/// Largest payload a scanner may hand over, in bytes.
pub const MAX_PRESENTATION_BYTES: usize =
    credential::MAX_CREDENTIAL_BYTES + 3 + 2 + DEVICE_SIGNATURE_BYTES;

const STEP_MODULUS: i64 = 1 << 16;
/// Items in a dynamic presentation's CBOR sequence.
const PRESENTATION_ITEMS: usize = 3;

/// Why a presentation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PresentationError {
    #[error("payload is {found} bytes, over the {limit}-byte limit")]
    TooLarge { found: usize, limit: usize },
    #[error("cannot read the code: {0}")]
    Qr(#[from] qr::QrError),
    #[error("not a presentation: {0}")]
    Malformed(&'static str),
    #[error(transparent)]
    Credential(#[from] CredentialError),
    #[error("the credential is not bound to a device")]
    NotBound,
    #[error("the device signature does not verify")]
    DeviceSignature,
    #[error("the code is {age_seconds} s old, over {limit_seconds} s: ask the driver to refresh")]
    Stale {
        age_seconds: i64,
        limit_seconds: i64,
    },
    #[error("the code is from {ahead_seconds} s in the future")]
    FromTheFuture { ahead_seconds: i64 },
}

impl PresentationError {
    /// A stable machine-readable code, in the same family as [`CredentialError::code`].
    pub fn code(&self) -> &'static str {
        match self {
            PresentationError::TooLarge { .. } => "too_large",
            PresentationError::Qr(_) => "unreadable",
            PresentationError::Malformed(_) => "malformed",
            PresentationError::Credential(e) => e.code(),
            PresentationError::NotBound => "not_bound",
            PresentationError::DeviceSignature => "bad_device_signature",
            PresentationError::Stale { .. } => "stale",
            PresentationError::FromTheFuture { .. } => "not_yet_valid",
        }
    }
}

/// What a scanned payload holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scanned {
    /// A credential alone: the printed card's code, or a wallet's before binding.
    Static(Vec<u8>),
    /// A wallet's dynamic code.
    Dynamic(Presentation),
}

/// A credential with its device's signature over one time step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presentation {
    pub credential: Vec<u8>,
    /// The time step modulo 2^16.
    pub step_low: u16,
    pub device_signature: [u8; DEVICE_SIGNATURE_BYTES],
}

/// The time step that `at` falls in.
pub fn time_step(at: UnixSeconds) -> i64 {
    at.div_euclid(TIME_STEP_SECONDS)
}

/// The message the device signs for `step`.
pub fn signed_message(credential: &[u8], step: i64) -> Vec<u8> {
    let mut message = Vec::with_capacity(PRESENTATION_CONTEXT.len() + 32 + 8);
    message.extend_from_slice(PRESENTATION_CONTEXT);
    message.extend_from_slice(&Sha256::digest(credential));
    message.extend_from_slice(&step.to_be_bytes());
    message
}

/// The whole step with `step_low` as its low bits nearest to `now`'s step.
pub fn nearest_step(step_low: u16, now: UnixSeconds) -> i64 {
    let current = time_step(now);
    let behind = (current - i64::from(step_low)).rem_euclid(STEP_MODULUS);
    if behind < STEP_MODULUS / 2 {
        current - behind
    } else {
        current - behind + STEP_MODULUS
    }
}

impl Presentation {
    /// Signs a presentation for the step `at` falls in (the wallet does this in the browser; this
    /// is the same computation, for tests and tools).
    pub fn sign(credential: &[u8], device: &ed25519_dalek::SigningKey, at: UnixSeconds) -> Self {
        use ed25519_dalek::Signer;
        let step = time_step(at);
        Presentation {
            credential: credential.to_vec(),
            step_low: low_bits(step),
            device_signature: device.sign(&signed_message(credential, step)).to_bytes(),
        }
    }

    /// The CBOR sequence: the credential's bytes, then the step and the signature.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.credential.clone();
        // An unsigned integer and a byte string always serialise.
        let step = crate::cbor::to_vec(&self.step_low).unwrap_or_default();
        let signature =
            crate::cbor::to_vec(&Value::Bytes(self.device_signature.to_vec())).unwrap_or_default();
        out.extend_from_slice(&step);
        out.extend_from_slice(&signature);
        out
    }
}

fn low_bits(step: i64) -> u16 {
    // rem_euclid keeps it in 0..2^16, so the conversion cannot fail.
    u16::try_from(step.rem_euclid(STEP_MODULUS)).unwrap_or_default()
}

/// Splits a payload into a static credential or a presentation.
pub fn decode(bytes: &[u8]) -> Result<Scanned, PresentationError> {
    if bytes.len() > MAX_PRESENTATION_BYTES {
        return Err(PresentationError::TooLarge {
            found: bytes.len(),
            limit: MAX_PRESENTATION_BYTES,
        });
    }
    let items = crate::cbor::read_sequence(bytes, PRESENTATION_ITEMS)
        .map_err(|_| PresentationError::Malformed("not a CBOR sequence"))?;
    let (credential_end, step_low, device_signature) = match items.as_slice() {
        [(_, end)] if *end == bytes.len() => return Ok(Scanned::Static(bytes.to_vec())),
        [(_, end), (Value::Integer(step), _), (Value::Bytes(signature), _)] => (
            *end,
            u16::try_from(*step).map_err(|_| PresentationError::Malformed("step"))?,
            <[u8; DEVICE_SIGNATURE_BYTES]>::try_from(signature.as_slice())
                .map_err(|_| PresentationError::Malformed("device signature"))?,
        ),
        _ => {
            return Err(PresentationError::Malformed(
                "expected credential, step, signature",
            ))
        }
    };
    let presentation = Presentation {
        credential: bytes[..credential_end].to_vec(),
        step_low,
        device_signature,
    };
    // One encoding per presentation: a step or length written in a longer CBOR form is refused.
    if presentation.encode() != bytes {
        return Err(PresentationError::Malformed("not in its shortest form"));
    }
    Ok(Scanned::Dynamic(presentation))
}

/// A presentation whose registry signature, device signature and freshness were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPresentation {
    pub verified: Verified,
    /// Start of the signed time step.
    pub signed_at: UnixSeconds,
    /// Seconds from the start of the step to `now` (negative if the device's clock runs ahead).
    pub age_seconds: i64,
}

/// Verifies a dynamic presentation at `now`. The credential is checked first, as for a static
/// code, then the device's signature with the `cnf` key, then the step's age.
pub fn verify(
    presentation: &Presentation,
    trust: &TrustList,
    now: UnixSeconds,
    skew_seconds: i64,
) -> Result<VerifiedPresentation, PresentationError> {
    let verified = credential::verify(&presentation.credential, trust, now, skew_seconds)?;
    let device = verified
        .claims
        .device_key
        .ok_or(PresentationError::NotBound)?;
    let step = nearest_step(presentation.step_low, now);
    cose::verify_ed25519(
        device.as_bytes(),
        &signed_message(&presentation.credential, step),
        &presentation.device_signature,
    )
    .map_err(|_: CoseError| PresentationError::DeviceSignature)?;
    let signed_at = step.saturating_mul(TIME_STEP_SECONDS);
    let age_seconds = now.saturating_sub(signed_at);
    if age_seconds > MAX_PRESENTATION_AGE_SECONDS {
        return Err(PresentationError::Stale {
            age_seconds,
            limit_seconds: MAX_PRESENTATION_AGE_SECONDS,
        });
    }
    if -age_seconds > PRESENTATION_CLOCK_AHEAD_SECONDS {
        return Err(PresentationError::FromTheFuture {
            ahead_seconds: -age_seconds,
        });
    }
    Ok(VerifiedPresentation {
        verified,
        signed_at,
        age_seconds,
    })
}

/// Reads scanner text (URL, digits or base64url) into a static credential or a presentation.
pub fn decode_text(text: &str) -> Result<Scanned, PresentationError> {
    decode(&qr::decode_input(text)?)
}

#[cfg(test)]
mod tests;

use ed25519_dalek::SigningKey;
use proptest::prelude::*;

use super::*;
use crate::credential::{Claims, DeviceKey};
use crate::ids::{CreditCode, LicenceKind, LicenceNumber};
use crate::keys::{CredentialSigner, KeyId};

const NOW: UnixSeconds = 1_800_000_000;

fn signer() -> CredentialSigner {
    let key = SigningKey::from_bytes(&[21; 32]);
    CredentialSigner {
        kid: KeyId::of(&key.verifying_key()),
        key,
    }
}

fn device() -> SigningKey {
    SigningKey::from_bytes(&[42; 32])
}

fn bound_credential(device: &SigningKey) -> Vec<u8> {
    let issuer = CreditCode::with_check("11350200MB0000000").unwrap();
    let number = LicenceNumber::new(LicenceKind::Driver, &issuer, 77, 1).unwrap();
    let claims = Claims {
        issuer: "350200".into(),
        issued_at: NOW - 1_000,
        not_before: NOW - 1_000,
        expires: NOW + 1_000_000,
        serial: number.short_serial(),
        kind: LicenceKind::Driver,
        holder_masked: Some("张*".into()),
        plate: None,
        make: None,
        colour: None,
        status_index: Some(77),
        device_key: Some(DeviceKey::from_bytes(device.verifying_key().as_bytes()).unwrap()),
    };
    crate::credential::issue(&signer(), &claims)
}

fn trust() -> TrustList {
    TrustList::with_active(&signer())
}

#[test]
fn a_fresh_presentation_verifies_and_round_trips() {
    let credential = bound_credential(&device());
    let presentation = Presentation::sign(&credential, &device(), NOW);
    let bytes = presentation.encode();
    assert_eq!(bytes.len(), credential.len() + 3 + 2 + 64);
    let Scanned::Dynamic(decoded) = decode(&bytes).unwrap() else {
        panic!("a presentation decoded as a static credential");
    };
    assert_eq!(decoded, presentation);
    let verified = verify(&decoded, &trust(), NOW + 5, 0).unwrap();
    assert_eq!(verified.signed_at, time_step(NOW) * TIME_STEP_SECONDS);
    assert_eq!(
        verified.verified.claims.device_key.map(|k| *k.as_bytes()),
        Some(*device().verifying_key().as_bytes())
    );
    let Scanned::Static(alone) = decode(&credential).unwrap() else {
        panic!("a credential decoded as a presentation");
    };
    assert_eq!(alone, credential);
}

#[test]
fn a_replayed_screenshot_is_stale_once_the_age_limit_passes() {
    let credential = bound_credential(&device());
    let presentation = Presentation::sign(&credential, &device(), NOW);
    let step_start = time_step(NOW) * TIME_STEP_SECONDS;
    assert!(verify(&presentation, &trust(), step_start + 90, 0).is_ok());
    let err = verify(&presentation, &trust(), step_start + 91, 0).unwrap_err();
    assert_eq!(err.code(), "stale");
    let err = verify(&presentation, &trust(), step_start + 86_400, 0).unwrap_err();
    assert_eq!(err.code(), "stale");
}

#[test]
fn a_code_from_a_clock_far_ahead_is_refused() {
    let credential = bound_credential(&device());
    let presentation = Presentation::sign(&credential, &device(), NOW + 120);
    let err = verify(&presentation, &trust(), NOW, 0).unwrap_err();
    assert_eq!(err.code(), "not_yet_valid");
    let slightly_ahead = Presentation::sign(&credential, &device(), NOW + 20);
    assert!(verify(&slightly_ahead, &trust(), NOW - (NOW % 30), 0).is_ok());
}

#[test]
fn another_device_key_or_another_step_is_refused() {
    let credential = bound_credential(&device());
    let thief = SigningKey::from_bytes(&[43; 32]);
    let forged = Presentation::sign(&credential, &thief, NOW);
    assert_eq!(
        verify(&forged, &trust(), NOW, 0).unwrap_err().code(),
        "bad_device_signature"
    );
    let mut moved = Presentation::sign(&credential, &device(), NOW);
    moved.step_low = moved.step_low.wrapping_add(1);
    assert_eq!(
        verify(&moved, &trust(), NOW + 30, 0).unwrap_err().code(),
        "bad_device_signature"
    );
}

#[test]
fn a_dynamic_code_needs_a_bound_credential() {
    let issuer = CreditCode::with_check("11350200MB0000000").unwrap();
    let number = LicenceNumber::new(LicenceKind::Driver, &issuer, 78, 1).unwrap();
    let mut claims = Claims::decode(
        &crate::cose::decode(&bound_credential(&device()))
            .unwrap()
            .payload,
    )
    .unwrap();
    claims.device_key = None;
    claims.serial = number.short_serial();
    let unbound = crate::credential::issue(&signer(), &claims);
    let presentation = Presentation::sign(&unbound, &device(), NOW);
    assert_eq!(
        verify(&presentation, &trust(), NOW, 0).unwrap_err().code(),
        "not_bound"
    );
}

#[test]
fn every_single_bit_change_is_refused() {
    let credential = bound_credential(&device());
    let bytes = Presentation::sign(&credential, &device(), NOW).encode();
    for bit in 0..bytes.len() * 8 {
        let mut changed = bytes.clone();
        changed[bit / 8] ^= 1 << (bit % 8);
        let accepted = match decode(&changed) {
            Ok(Scanned::Dynamic(p)) => verify(&p, &trust(), NOW, 0).is_ok(),
            Ok(Scanned::Static(c)) => {
                crate::credential::verify(&c, &trust(), NOW, 0).is_ok_and(|v| {
                    // A static credential is only ever accepted as unbound; never as this one.
                    v.claims.device_key.is_none()
                })
            }
            Err(_) => false,
        };
        assert!(!accepted, "flipping bit {bit} still verified");
    }
}

#[test]
fn longer_forms_and_trailing_bytes_are_refused() {
    let credential = bound_credential(&device());
    let presentation = Presentation::sign(&credential, &device(), NOW);
    let mut trailing = presentation.encode();
    trailing.push(0);
    assert!(decode(&trailing).is_err());
    let mut long_step = credential.clone();
    long_step.push(0x1a); // the step as a 4-byte integer
    long_step.extend_from_slice(&u32::from(presentation.step_low).to_be_bytes());
    long_step.extend_from_slice(&crate::cbor::to_vec(&Value::Bytes(vec![0; 64])).unwrap());
    assert!(decode(&long_step).is_err());
    assert!(decode(&[0xff; MAX_PRESENTATION_BYTES + 1]).is_err());
}

proptest! {
    #[test]
    fn the_nearest_step_is_exact_within_half_the_modulus(now in 0i64..4_000_000_000, back in -32_767i64..32_767) {
        let step = time_step(now) - back;
        prop_assert_eq!(nearest_step(low_bits(step), now), step);
    }

    #[test]
    fn decoding_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = decode(&bytes);
    }
}

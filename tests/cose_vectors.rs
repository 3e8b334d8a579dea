//! COSE_Sign1 against the cose-wg examples and Ed25519 against every Wycheproof vector.

mod common;

use licreg::cose::{self, CoseError};
use serde_json::Value;

fn load(path: &str) -> Value {
    let file = common::vectors_dir().join(path);
    serde_json::from_str(&std::fs::read_to_string(&file).expect("vector file")).expect("json")
}

#[test]
fn eddsa_sig_01_verifies() {
    let vector = load("cose/eddsa-examples/eddsa-sig-01.json");
    let bytes = common::hex(vector["output"]["cbor"].as_str().unwrap());
    let sign1 = cose::decode(&bytes).unwrap();
    assert_eq!(sign1.kid(), Some(&b"11"[..]));
    assert_eq!(sign1.algorithm(), Ok(cose::ALG_EDDSA));
    let tbs = common::hex(vector["intermediates"]["ToBeSign_hex"].as_str().unwrap());
    assert_eq!(sign1.to_be_signed(), tbs);
    let x = common::hex(vector["input"]["sign0"]["key"]["x_hex"].as_str().unwrap());
    let key = ed25519_dalek::VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
    sign1.verify(&key).unwrap();
    // Any changed payload byte breaks it.
    let mut changed = sign1.clone();
    changed.payload[0] ^= 1;
    assert_eq!(changed.verify(&key), Err(CoseError::BadSignature));
}

#[test]
fn eddsa_sig_02_ed448_is_not_accepted_as_ed25519() {
    let vector = load("cose/eddsa-examples/eddsa-sig-02.json");
    let bytes = common::hex(vector["output"]["cbor"].as_str().unwrap());
    // Same alg (EdDSA) but a 114-byte Ed448 signature: refused while decoding.
    assert_eq!(
        cose::decode(&bytes),
        Err(CoseError::Structure("Ed25519 signature must be 64 bytes"))
    );
    let x = common::hex(vector["input"]["sign0"]["key"]["x_hex"].as_str().unwrap());
    assert_eq!(x.len(), 57, "Ed448 public key");
    assert!(cose::verify_ed25519(&x, b"This is the content.", &[0; 64]).is_err());
}

#[test]
fn sign1_structural_cases() {
    type Check = fn(&Result<cose::Sign1, CoseError>) -> bool;
    let cases: [(&str, Check); 5] = [
        ("sign-fail-01.json", |r| {
            matches!(r, Err(CoseError::WrongTag(Some(998))))
        }),
        ("sign-fail-04.json", |r| {
            matches!(r, Err(CoseError::Header(_)))
        }),
        ("sign-fail-03.json", |r| {
            matches!(
                r.as_ref().map(|s| s.algorithm()),
                Ok(Err(CoseError::WrongAlgorithm(-999)))
            )
        }),
        // ES256 is well-formed COSE but not an algorithm a licence may use.
        ("sign-pass-02.json", |r| {
            matches!(
                r.as_ref().map(|s| s.algorithm()),
                Ok(Err(CoseError::WrongAlgorithm(-7)))
            )
        }),
        // RFC 9052 lets applications omit the tag; licreg credentials require it.
        ("sign-pass-03.json", |r| {
            matches!(r, Err(CoseError::WrongTag(None)))
        }),
    ];
    for (name, expected) in cases {
        let vector = load(&format!("cose/sign1-tests/{name}"));
        let bytes = common::hex(vector["output"]["cbor"].as_str().unwrap());
        let result = cose::decode(&bytes);
        assert!(expected(&result), "{name}: {result:?}");
    }
}

#[test]
fn every_wycheproof_ed25519_vector_gives_its_expected_result() {
    let suite = load("ed25519/ed25519_test.json");
    let mut ran = 0;
    for group in suite["testGroups"].as_array().unwrap() {
        let pk = common::hex(group["publicKey"]["pk"].as_str().unwrap());
        for case in group["tests"].as_array().unwrap() {
            let msg = common::hex(case["msg"].as_str().unwrap());
            let sig = common::hex(case["sig"].as_str().unwrap());
            let expected_valid = match case["result"].as_str().unwrap() {
                "valid" => true,
                "invalid" => false,
                other => panic!("unexpected result {other}"),
            };
            let got = cose::verify_ed25519(&pk, &msg, &sig).is_ok();
            assert_eq!(
                got, expected_valid,
                "tcId {} ({}) flags {:?}",
                case["tcId"], case["comment"], case["flags"]
            );
            ran += 1;
        }
    }
    assert_eq!(ran, suite["numberOfTests"].as_u64().unwrap());
}

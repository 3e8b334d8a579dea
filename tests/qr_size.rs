//! The size goal: a driver or vehicle credential fits QR version 10 at level M.

use std::sync::Arc;

use ed25519_dalek::SigningKey;
use licreg::clock::FixedClock;
use licreg::ids::LicenceKind;
use licreg::keys::{CredentialSigner, KeyId, LogKey};
use licreg::model::LicenceRecord;

/// A realistic government host name, longer than most.
const BASE_URL: &str = "https://wyc.jtysj.xm.gov.cn";

#[test]
fn driver_and_vehicle_credentials_fit_version_10_m() {
    let dir = tempfile::tempdir().unwrap();
    let log_key = LogKey {
        origin: "qr.example/log".into(),
        key: SigningKey::from_bytes(&[1; 32]),
    };
    let ledger =
        licreg::registry::open_ledger(dir.path(), Some(log_key), Arc::new(FixedClock::at(0)))
            .unwrap();
    let key = SigningKey::from_bytes(&[2; 32]);
    let signer = CredentialSigner {
        kid: KeyId::of(&key.verifying_key()),
        key,
    };
    for (serial, kind) in [
        LicenceKind::Driver,
        LicenceKind::Vehicle,
        LicenceKind::Platform,
    ]
    .into_iter()
    .enumerate()
    {
        let path = format!(
            "{}/schemas/examples/{kind}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let record = LicenceRecord::parse_json(kind, &std::fs::read(path).unwrap()).unwrap();
        let issued = licreg::issuance::issue(
            &ledger,
            serial as u64 + 1,
            &signer,
            &record,
            "test",
            BASE_URL,
            1_800_000_000,
        )
        .unwrap();
        let code = licreg::qr::encode_url(&issued.url).unwrap();
        let version = code.version().value();
        println!(
            "{kind}: credential {} bytes, URL {} chars, QR version {version}, ECC {:?}",
            issued.credential.len(),
            issued.url.len(),
            code.error_correction_level()
        );
        if kind != LicenceKind::Platform {
            assert!(version <= 10, "{kind} needs version {version}");
        }
    }
}

/// The wallet's dynamic code (holder-bound credential, time step, phone signature) fits
/// version 12 at level M for every driver record in schemas/examples, with the same base URL.
#[test]
fn dynamic_driver_codes_fit_version_12_m() {
    use ed25519_dalek::SigningKey;
    use licreg::credential::{Claims, DeviceKey};
    let key = SigningKey::from_bytes(&[2; 32]);
    let signer = CredentialSigner {
        kid: KeyId::of(&key.verifying_key()),
        key,
    };
    let phone = SigningKey::from_bytes(&[3; 32]);
    let examples = std::fs::read_dir(format!("{}/schemas/examples", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with("driver") && name.ends_with(".json")
        })
        .collect::<Vec<_>>();
    assert!(examples.len() >= 3, "{examples:?}");
    // And longer names than the examples carry: four characters, and a long Uyghur name.
    let mut records: Vec<(String, LicenceRecord)> = examples
        .iter()
        .map(|path| {
            let bytes = std::fs::read(path).unwrap();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (
                name,
                LicenceRecord::parse_json(LicenceKind::Driver, &bytes).unwrap(),
            )
        })
        .collect();
    for long_name in ["欧阳娜娜", "买买提·艾力"] {
        let mut json: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&examples[0]).unwrap()).unwrap();
        json["holder_name"] = long_name.into();
        let record = LicenceRecord::parse(LicenceKind::Driver, &json).unwrap();
        records.push((format!("holder {long_name}"), record));
    }
    for (serial, (name, record)) in records.iter().enumerate() {
        // The largest serial and status index a national registry reaches, so no number is shorter
        // than it will be.
        let issuer = licreg::ids::CreditCode::with_check("11350200MB0000000").unwrap();
        let number = licreg::ids::LicenceNumber::new(
            LicenceKind::Driver,
            &issuer,
            9_999_999_990 + serial as u64,
            255,
        )
        .unwrap();
        let mut claims: Claims = licreg::issuance::claims_for(record, &number, 1_800_000_000);
        // As the registry binds it: no status-list index (see registry::commands::wallet).
        claims.status_index = None;
        claims.device_key = Some(DeviceKey::from_bytes(phone.verifying_key().as_bytes()).unwrap());
        let credential = licreg::credential::issue(&signer, &claims);
        let payload =
            licreg::presentation::Presentation::sign(&credential, &phone, 1_800_000_000).encode();
        let url = licreg::qr::dynamic_url(BASE_URL, &payload);
        let code = licreg::qr::encode_url(&url).unwrap();
        let version = code.version().value();
        println!(
            "{name}: holder-bound credential {} bytes, dynamic payload {} bytes, URL {} chars, QR version {version}",
            credential.len(),
            payload.len(),
            url.len()
        );
        assert!(version <= 12, "{name} needs version {version}");
    }
}

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

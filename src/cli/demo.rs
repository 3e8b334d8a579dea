//! `licreg demo`: a complete example a newcomer can look at and verify.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use licreg::clock::Clock;
use licreg::ids::LicenceKind;
use licreg::model::LicenceRecord;

use super::issue::{issue_one, open_ledger, write_outputs};
use super::DEFAULT_ORIGIN;

/// The signed trust list the demo writes beside `trust-list.json`.
pub const SIGNED_TRUST_LIST_FILE: &str = "trust-list.signed.cose";

/// The schema examples, built in so the demo runs from any directory.
const EXAMPLES: [(LicenceKind, &str); 3] = [
    (
        LicenceKind::Driver,
        include_str!("../../schemas/examples/driver.json"),
    ),
    (
        LicenceKind::Vehicle,
        include_str!("../../schemas/examples/vehicle.json"),
    ),
    (
        LicenceKind::Platform,
        include_str!("../../schemas/examples/platform.json"),
    ),
];

pub fn run(out: &Path, base_url: &str, clock: Arc<dyn Clock>) -> anyhow::Result<ExitCode> {
    if !out.join(licreg::keys::TRUST_LIST_FILE).exists() {
        licreg::keys::keygen(out, DEFAULT_ORIGIN, clock.now_unix())
            .with_context(|| format!("generating keys in {}", out.display()))?;
    }
    let data = out.join("data");
    let ledger = open_ledger(out, &data, Arc::clone(&clock))?;
    println!("keys and trust list: {}", out.display());
    println!("ledger: {}", data.display());
    for (kind, json) in EXAMPLES {
        let record = LicenceRecord::parse_json(kind, json.as_bytes())
            .with_context(|| format!("built-in {} example", kind.as_str()))?;
        let issued = issue_one(&ledger, out, &record, base_url, clock.as_ref())?;
        let dir = out.join(kind.as_str());
        write_outputs(&dir, &issued)?;
        println!();
        println!("{} licence {}", kind.as_str(), issued.number);
        println!("  verification URL: {}", issued.url);
        println!("  QR code: {}", dir.join("qr.png").display());
        println!(
            "  check it: licreg verify --keys {} {}",
            out.display(),
            dir.join("credential.cbor").display()
        );
    }
    ledger.flush()?;
    // What a verifier away from the registry keeps: the trust list signed by the log key.
    let log_key = licreg::keys::load_log_key(out)?;
    let trust = licreg::keys::load_trust_list(out)?;
    let signed =
        licreg::signed_trust::sign(&log_key.key, &log_key.origin, &trust, clock.now_unix());
    let signed_path = out.join(SIGNED_TRUST_LIST_FILE);
    licreg::keys::write_public_file(&signed_path, &signed)?;
    println!();
    println!(
        "signed trust list (valid 24 h): {}\n  check with it: licreg verify --trust-list {} --log-key {} URL",
        signed_path.display(),
        signed_path.display(),
        out.join(licreg::keys::LOG_VKEY_FILE).display()
    );
    println!();
    println!(
        "audit the ledger: licreg log --data {} audit",
        data.display()
    );
    Ok(ExitCode::SUCCESS)
}

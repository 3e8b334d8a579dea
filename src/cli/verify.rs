//! `licreg verify`: check a credential offline against the trust list and say why.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use licreg::clock::{parse_rfc3339, rfc3339, Clock};
use licreg::credential::{self, Verified, MAX_CREDENTIAL_BYTES};
use licreg::qr::MAX_QR_TEXT_CHARS;

use super::EXIT_INVALID;

/// Reads INPUT: a file (binary COSE or text holding a URL or payload) or the text itself.
fn read_input(input: &str) -> anyhow::Result<Vec<u8>> {
    let path = Path::new(input);
    if !path.is_file() {
        return licreg::qr::decode_input(input).context("reading the credential text");
    }
    let size = std::fs::metadata(path)?.len();
    let limit = MAX_CREDENTIAL_BYTES.max(MAX_QR_TEXT_CHARS) as u64;
    if size > limit {
        bail!("{input} is {size} bytes, over the {limit}-byte limit");
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {input}"))?;
    // A tagged COSE_Sign1 starts with 0xD2; the text forms start with ASCII.
    if bytes.first() == Some(&0xD2) {
        return Ok(bytes);
    }
    let text = std::str::from_utf8(&bytes)
        .with_context(|| format!("{input} is neither a credential nor text"))?;
    licreg::qr::decode_input(text).context("reading the credential text")
}

pub fn run(
    keys: &Path,
    at: Option<&str>,
    skew_seconds: i64,
    input: &str,
    clock: &dyn Clock,
) -> anyhow::Result<ExitCode> {
    let trust = licreg::keys::load_trust_list(keys)
        .with_context(|| format!("loading the trust list from {}", keys.display()))?;
    let now = match at {
        Some(text) => {
            parse_rfc3339(text).with_context(|| format!("--at {text:?} is not RFC 3339"))?
        }
        None => clock.now_unix(),
    };
    let bytes = read_input(input)?;
    match credential::verify(&bytes, &trust, now, skew_seconds) {
        Ok(verified) => {
            print_licence(&verified);
            println!("verdict: VALID");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            println!("verdict: INVALID ({})", error.code());
            eprintln!("licreg: {error}");
            Ok(ExitCode::from(EXIT_INVALID))
        }
    }
}

fn print_licence(verified: &Verified) {
    let claims = &verified.claims;
    println!("kind: {}", claims.kind.as_str());
    println!("licence: {}", claims.serial);
    println!("issuer: {}", claims.issuer);
    let optional = [
        ("holder", &claims.holder_masked),
        ("plate", &claims.plate),
        ("make", &claims.make),
        ("colour", &claims.colour),
    ];
    for (label, value) in optional {
        if let Some(value) = value {
            println!("{label}: {value}");
        }
    }
    println!("valid from: {}", rfc3339(claims.not_before));
    println!("valid until: {}", rfc3339(claims.expires));
    println!("signed by key: {}", verified.kid);
}

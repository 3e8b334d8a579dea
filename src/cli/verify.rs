//! `licreg verify`: check a credential offline against the trust list and say why.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context};
use licreg::clock::{parse_rfc3339, rfc3339, Clock};
use licreg::credential::{self, Verified, MAX_CREDENTIAL_BYTES};
use licreg::presentation::Scanned;
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

/// Where `licreg verify` gets the keys it trusts.
pub enum TrustSource<'a> {
    /// The registry's own keys dir (`trust-list.json`, `log.origin`), trusted as it is.
    KeysDir(&'a Path),
    /// A trust list the registry published signed (`/v1/keys/signed`), checked against the
    /// log's verifier key: signature, issuer and expiry.
    Signed { list: &'a Path, log_key: &'a Path },
}

impl TrustSource<'_> {
    /// The trusted keys and the registry's origin, as of `now`.
    fn load(
        &self,
        now: i64,
        skew_seconds: i64,
    ) -> anyhow::Result<(licreg::keys::TrustList, Option<String>)> {
        match self {
            TrustSource::KeysDir(dir) => {
                let trust = licreg::keys::load_trust_list(dir)
                    .with_context(|| format!("loading the trust list from {}", dir.display()))?;
                Ok((trust, licreg::keys::load_log_origin(dir)))
            }
            TrustSource::Signed { list, log_key } => {
                use licreg::signed_trust::{self, MAX_SIGNED_TRUST_LIST_BYTES};
                let vkey = licreg::keys::load_log_vkey(log_key)?;
                let size = std::fs::metadata(list)
                    .with_context(|| format!("reading {}", list.display()))?
                    .len();
                if size > MAX_SIGNED_TRUST_LIST_BYTES as u64 {
                    bail!(
                        "{} is {size} bytes, over the signed trust list limit",
                        list.display()
                    );
                }
                let bytes =
                    std::fs::read(list).with_context(|| format!("reading {}", list.display()))?;
                let checked =
                    signed_trust::verify(&bytes, vkey.public_key(), vkey.name(), now, skew_seconds)
                        .with_context(|| format!("checking the trust list {}", list.display()))?;
                Ok((checked.trust, Some(checked.issuer)))
            }
        }
    }
}

pub struct VerifyArgs<'a> {
    pub trust: TrustSource<'a>,
    pub at: Option<&'a str>,
    pub skew_seconds: i64,
    pub input: &'a str,
    pub status_list: Option<&'a Path>,
    pub clock: &'a dyn Clock,
}

pub fn run(args: &VerifyArgs) -> anyhow::Result<ExitCode> {
    let now = match args.at {
        Some(text) => {
            parse_rfc3339(text).with_context(|| format!("--at {text:?} is not RFC 3339"))?
        }
        None => args.clock.now_unix(),
    };
    let (trust, origin) = args.trust.load(now, args.skew_seconds)?;
    let bytes = read_input(args.input)?;
    let scanned = match licreg::presentation::decode(&bytes) {
        Ok(scanned) => scanned,
        Err(error) => return Ok(invalid(error.code(), &error)),
    };
    let verified = match scanned {
        Scanned::Static(credential) => {
            match credential::verify(&credential, &trust, now, args.skew_seconds) {
                Ok(verified) => verified,
                Err(error) => return Ok(invalid(error.code(), &error)),
            }
        }
        Scanned::Dynamic(presentation) => {
            match licreg::presentation::verify(&presentation, &trust, now, args.skew_seconds) {
                Ok(checked) => {
                    print_licence(&checked.verified);
                    println!(
                        "device: bound; the phone signed this code at {} ({} s before the check)",
                        rfc3339(checked.signed_at),
                        checked.age_seconds
                    );
                    println!(
                        "binding: not checked offline (the registry's live status names the bound phone)"
                    );
                    if let Some(path) = args.status_list {
                        return check_status(
                            path,
                            &checked.verified,
                            &trust,
                            origin.as_deref(),
                            now,
                        );
                    }
                    println!("verdict: VALID");
                    return Ok(ExitCode::SUCCESS);
                }
                Err(error) => return Ok(invalid(error.code(), &error)),
            }
        }
    };
    print_licence(&verified);
    if verified.claims.kind == licreg::ids::LicenceKind::Driver {
        println!("device: not bound (a static code proves the licence, not who shows it)");
    }
    if let Some(path) = args.status_list {
        return check_status(path, &verified, &trust, origin.as_deref(), now);
    }
    println!("verdict: VALID");
    Ok(ExitCode::SUCCESS)
}

fn invalid(code: &str, error: &dyn std::fmt::Display) -> ExitCode {
    println!("verdict: INVALID ({code})");
    eprintln!("licreg: {error}");
    ExitCode::from(EXIT_INVALID)
}

/// The offline status check against a signed status list.
fn check_status(
    path: &Path,
    verified: &Verified,
    trust: &licreg::keys::TrustList,
    origin: Option<&str>,
    now: i64,
) -> anyhow::Result<ExitCode> {
    use licreg::status_list::{self, ListStatus};
    let size = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if size > status_list::MAX_SIGNED_BYTES as u64 {
        bail!("{} is over the status list size limit", path.display());
    }
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let list = status_list::verify(&bytes, trust, now).context("checking the status list")?;
    // A list of another kind numbers other credentials: index 7 there says nothing about
    // index 7 here.
    if list.kind() != Some(verified.claims.kind) {
        bail!(
            "the status list {} is not the {} list this credential is indexed in",
            list.url,
            verified.claims.kind.as_str()
        );
    }
    if let Some(origin) = origin {
        if list.issuer != origin {
            bail!(
                "the status list was published by {:?}, not by this registry ({origin:?})",
                list.issuer
            );
        }
    }
    let index = verified
        .claims
        .status_index
        .context("this credential carries no status-list index")?;
    let status = list.list.get(index)?;
    println!(
        "status: {status:?} (list valid until {})",
        rfc3339(list.valid_until)
    );
    if status == ListStatus::Valid {
        println!("verdict: VALID");
        Ok(ExitCode::SUCCESS)
    } else {
        println!(
            "verdict: INVALID ({})",
            format!("{status:?}").to_lowercase()
        );
        Ok(ExitCode::from(EXIT_INVALID))
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

pub struct ReceiptArgs<'a> {
    pub receipt: &'a Path,
    pub log_key: &'a Path,
    pub witness_keys: &'a [std::path::PathBuf],
    pub keys: Option<&'a Path>,
    pub at: Option<&'a str>,
    pub skew_seconds: i64,
    pub clock: &'a dyn Clock,
}

/// `licreg verify --receipt FILE --log-key VKEY [--witness-key VKEY ...] [--keys DIR]`: checks
/// offline that the credential in the receipt was logged under a checkpoint the log signed and
/// every named witness cosigned; with `--keys`, also verifies the credential itself.
pub fn receipt(args: &ReceiptArgs) -> anyhow::Result<ExitCode> {
    let size = std::fs::metadata(args.receipt)
        .with_context(|| format!("reading {}", args.receipt.display()))?
        .len();
    if size > licreg::log::proof::MAX_PROOF_BYTES as u64 {
        bail!("{} is over the receipt size limit", args.receipt.display());
    }
    let text = std::fs::read_to_string(args.receipt)
        .with_context(|| format!("reading {}", args.receipt.display()))?;
    let proof = licreg::log::proof::TlogProof::parse(&text).context("parsing the receipt")?;
    let log_key = licreg::keys::load_log_vkey(args.log_key)?;
    let witnesses = args
        .witness_keys
        .iter()
        .map(|path| licreg::keys::load_log_vkey(path))
        .collect::<Result<Vec<_>, _>>()?;
    let verified =
        match proof.verify_with_extra(&log_key, log_key.name(), &witnesses, witnesses.len()) {
            Ok(verified) => verified,
            Err(error) => {
                println!("receipt: INVALID");
                eprintln!("licreg: {error}");
                return Ok(ExitCode::from(EXIT_INVALID));
            }
        };
    println!(
        "receipt: entry {} is in the log {} at size {}, cosigned by {} witness(es)",
        verified.index,
        verified.checkpoint.origin,
        verified.checkpoint.size,
        verified.cosignatures.len()
    );
    let entry = licreg::ledger::Entry::decode(proof.extra.as_deref().unwrap_or_default())?;
    let event = licreg::registry::Event::decode(entry.event, &entry.body)?;
    let body = event
        .issued()
        .context("the logged entry does not issue a licence")?;
    println!(
        "logged: {} licence {} by {}",
        body.kind, body.number, entry.actor
    );
    if let Some(keys) = args.keys {
        let trust = licreg::keys::load_trust_list(keys)?;
        let now = match args.at {
            Some(text) => parse_rfc3339(text).with_context(|| format!("--at {text:?}"))?,
            None => args.clock.now_unix(),
        };
        if let Err(error) = credential::verify(&body.credential, &trust, now, args.skew_seconds) {
            println!("verdict: INVALID ({})", error.code());
            eprintln!("licreg: {error}");
            return Ok(ExitCode::from(EXIT_INVALID));
        }
    }
    println!("verdict: VALID");
    Ok(ExitCode::SUCCESS)
}

//! `licreg issue`: one licence from a JSON record, written out as the five holder files.

use std::fs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use licreg::clock::Clock;
use licreg::ids::LicenceKind;
use licreg::issuance::{self, Issued};
use licreg::ledger::Ledger;
use licreg::model::{LicenceRecord, MAX_RECORD_BYTES};
use licreg::qr;

pub struct IssueArgs<'a> {
    pub keys: &'a Path,
    pub data: &'a Path,
    pub kind: LicenceKind,
    pub input: &'a Path,
    pub out: &'a Path,
    pub base_url: &'a str,
    pub clock: Arc<dyn Clock>,
}

pub fn run(args: &IssueArgs) -> anyhow::Result<ExitCode> {
    let record = read_record(args.kind, args.input)?;
    let ledger = open_ledger(args.keys, args.data, Arc::clone(&args.clock))?;
    let issued = issue_one(
        &ledger,
        args.keys,
        &record,
        args.base_url,
        args.clock.as_ref(),
    )?;
    write_outputs(args.out, &issued)?;
    println!("{}", issued.number);
    Ok(ExitCode::SUCCESS)
}

pub fn read_record(kind: LicenceKind, input: &Path) -> anyhow::Result<LicenceRecord> {
    let size = fs::metadata(input)
        .with_context(|| format!("reading {}", input.display()))?
        .len();
    if size > MAX_RECORD_BYTES as u64 {
        bail!(
            "{} is {size} bytes, over the {MAX_RECORD_BYTES}-byte limit",
            input.display()
        );
    }
    let text = fs::read(input).with_context(|| format!("reading {}", input.display()))?;
    LicenceRecord::parse_json(kind, &text).with_context(|| {
        format!(
            "{} is not a valid {} record",
            input.display(),
            kind.as_str()
        )
    })
}

pub fn open_ledger(keys: &Path, data: &Path, clock: Arc<dyn Clock>) -> anyhow::Result<Ledger> {
    let log_key = licreg::keys::load_log_key(keys)
        .with_context(|| format!("loading the log key from {}", keys.display()))?;
    licreg::registry::open_ledger(data, Some(log_key), clock)
        .with_context(|| format!("opening the ledger in {}", data.display()))
}

pub fn issue_one(
    ledger: &Ledger,
    keys: &Path,
    record: &LicenceRecord,
    base_url: &str,
    clock: &dyn Clock,
) -> anyhow::Result<Issued> {
    let signer = licreg::keys::load_credential_signer(keys)
        .with_context(|| format!("loading the credential key from {}", keys.display()))?;
    let view = licreg::registry::View::new(ledger).context("reading the registry view")?;
    let serial = licreg::registry::Allocators::load(&view)
        .context("reading the registry view")?
        .next_serial()
        .context("licence serials are exhausted")?;
    match issuance::issue(
        ledger,
        serial,
        &signer,
        record,
        "cli",
        base_url,
        clock.now_unix(),
    ) {
        Err(issuance::IssueError::Ledger(e)) if licreg::registry::Refusal::of(&e).is_some() => {
            anyhow::bail!("the registry refused the licence: {e}")
        }
        other => other.context("issuing the licence"),
    }
}

/// Writes credential.cbor, url.txt, qr.svg, qr.png and receipt.tlog-proof.
pub fn write_outputs(out: &Path, issued: &Issued) -> anyhow::Result<()> {
    // Credentials carry the holder's name and id: a private dir and private files.
    licreg::private_fs::create_private_dir(out)
        .with_context(|| format!("creating {}", out.display()))?;
    let code = qr::encode_url(&issued.url).context("drawing the QR code")?;
    let files: [(&str, Vec<u8>); 5] = [
        ("credential.cbor", issued.credential.clone()),
        ("url.txt", format!("{}\n", issued.url).into_bytes()),
        ("qr.svg", qr::to_svg(&code).into_bytes()),
        ("qr.png", qr::to_png(&code, 8).context("drawing the PNG")?),
        ("receipt.tlog-proof", issued.receipt.encode().into_bytes()),
    ];
    for (name, bytes) in files {
        let path = out.join(name);
        licreg::private_fs::write_private_file(&path, &bytes)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

pub struct CardArgs<'a> {
    pub data: &'a Path,
    pub out: &'a Path,
    pub base_url: &'a str,
    pub policy: Option<&'a Path>,
    pub number: &'a str,
    pub clock: Arc<dyn Clock>,
}

/// `licreg card`: the A6 in-car card of one licence, as SVG.
pub fn card(args: &CardArgs) -> anyhow::Result<ExitCode> {
    let pdf = match args.out.extension().and_then(|e| e.to_str()) {
        Some("svg") => false,
        Some("pdf") => true,
        _ => anyhow::bail!(
            "--out {}: the card is written as SVG (FILE.svg) or PDF (FILE.pdf)",
            args.out.display()
        ),
    };
    if !args.data.exists() {
        anyhow::bail!("no ledger at {}", args.data.display());
    }
    let policy_text = match args.policy {
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        None => licreg::service::boot::NATIONAL_POLICY.to_string(),
    };
    let policy = licreg::rules::Policy::parse(&policy_text)
        .map_err(|e| anyhow::anyhow!("the policy does not load: {e:?}"))?;
    let ledger = licreg::registry::open_ledger(args.data, None, Arc::clone(&args.clock))
        .with_context(|| format!("opening the ledger in {}", args.data.display()))?;
    let view = licreg::registry::View::new(&ledger)?;
    let licence = view
        .licence(args.number)?
        .with_context(|| format!("no licence {} in this registry", args.number))?;
    let issued = view.issued(&licence)?;
    let svg =
        licreg::card::card_for_credential(&issued.credential, args.base_url, policy.authorities())?;
    if pdf {
        let bytes = licreg::card_pdf::to_pdf(&svg)?;
        licreg::keys::write_public_file(args.out, &bytes)?;
    } else {
        licreg::keys::write_public_file(args.out, svg.as_bytes())?;
    }
    println!(
        "card for {} written to {}",
        licence.number,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

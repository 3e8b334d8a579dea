//! Command-line interface. Scripts depend on these exact command forms; see README.md.

mod demo;
mod import;
mod issue;
mod log_cmd;
mod migrate;
mod serve;
mod verify;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use licreg::clock::{Clock, SystemClock};
use licreg::ids::LicenceKind;

/// Exit status for a failure that is not a verdict (bad input, I/O).
pub const EXIT_ERROR: u8 = 2;
/// Exit status when verification or audit finds the thing invalid.
pub const EXIT_INVALID: u8 = 1;
/// Default origin line of a new log.
pub const DEFAULT_ORIGIN: &str = "licreg.example/ledger";
/// Default public base URL written into QR codes.
pub const DEFAULT_BASE_URL: &str = "http://127.0.0.1:8080";

#[derive(Debug, Parser)]
#[command(
    name = "licreg",
    version,
    about = "Electronic ride-hailing licence registry"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a credential key (retiring the active one) and, once, the log key.
    Keygen {
        #[arg(long)]
        keys: PathBuf,
        /// Origin line of the log (used only when the log key is created).
        #[arg(long, default_value = DEFAULT_ORIGIN)]
        origin: String,
    },
    /// Revoke a credential key: everything it signed stops verifying.
    RevokeKey {
        #[arg(long)]
        keys: PathBuf,
        /// The key id (base64url) as listed in trust-list.json; may start with '-'.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Issue a licence from a JSON record and write its credential, QR codes and receipt.
    Issue {
        #[arg(long)]
        keys: PathBuf,
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_parser = parse_kind)]
        kind: LicenceKind,
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Public base URL of the verification page, written into the QR code.
        #[arg(long, default_value = DEFAULT_BASE_URL)]
        base_url: String,
    },
    /// Verify a credential given as a URL, a payload or a credential file.
    Verify {
        /// Directory holding trust-list.json (the registry's own keys dir).
        #[arg(long, required_unless_present_any = ["receipt", "trust_list"], conflicts_with = "trust_list")]
        keys: Option<PathBuf>,
        /// A signed trust list (from /v1/keys/signed), checked with --log-key: refused when
        /// not signed by that log or past its expiry.
        #[arg(long, requires = "log_key")]
        trust_list: Option<PathBuf>,
        /// Verify as of this RFC 3339 time instead of now.
        #[arg(long)]
        at: Option<String>,
        /// Tolerated clock disagreement in seconds.
        #[arg(long, default_value_t = licreg::credential::DEFAULT_CLOCK_SKEW_SECONDS)]
        skew_seconds: i64,
        /// A signed status list (from /v1/status-lists/KIND) to check status offline.
        #[arg(long)]
        status_list: Option<PathBuf>,
        /// A tlog-proof receipt to check offline (the credential is the one it logs).
        #[arg(long, requires = "log_key")]
        receipt: Option<PathBuf>,
        /// The log's verifier key (log.vkey).
        #[arg(long)]
        log_key: Option<PathBuf>,
        /// A witness's cosignature verifier key; every one given must have cosigned.
        #[arg(long)]
        witness_key: Vec<PathBuf>,
        /// URL, payload or credential file (not needed with --receipt).
        #[arg(required_unless_present = "receipt")]
        input: Option<String>,
    },
    /// Read the ledger: its checkpoint, a full audit, or a receipt.
    Log {
        #[arg(long)]
        data: PathBuf,
        #[command(subcommand)]
        action: LogAction,
    },
    /// Run the registry service.
    Serve {
        /// TOML configuration file (LICREG_* environment variables override it).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Start agency simulators, write demo tokens and issue demo licences.
        #[arg(long)]
        demo: bool,
        /// Data directory (ledger, keys, tokens).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Listen address, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<String>,
        /// Where the ledger lives: `sled` (in DATA/ledger, the default) or
        /// `postgres://USER@HOST:PORT/DB` (LICREG_STORAGE, or `storage` in the file).
        #[arg(long)]
        storage: Option<String>,
    },
    /// Run an agency simulator answering from a JSON or CSV records file.
    AgencySim {
        #[arg(long)]
        records: PathBuf,
        #[arg(long)]
        listen: String,
        /// Agency name, for CSV files.
        #[arg(long)]
        agency: Option<String>,
    },
    /// Run a C2SP tlog-witness that cosigns consistent checkpoints of the given logs.
    Witness {
        #[arg(long)]
        listen: String,
        /// A log's verifier key (log.vkey); repeat for several logs.
        #[arg(long, required = true)]
        log_key: Vec<PathBuf>,
        /// Directory for the witness key and state.
        #[arg(long)]
        data: PathBuf,
        /// The witness's key name.
        #[arg(long, default_value = "witness.licreg.example")]
        name: String,
    },
    /// Follow a registry's log through tlog-tiles, verifying every checkpoint and its consistency.
    /// Entry bundles need an agency token, read from the LICREG_TOKEN environment variable.
    Mirror {
        /// The registry's base URL.
        #[arg(long)]
        from: String,
        /// Directory for the verified copy (served as tlog-tiles by any static host).
        #[arg(long)]
        data: PathBuf,
        /// The log's verifier key; needed the first time, then pinned in DATA/log.vkey.
        #[arg(long)]
        log_key: Option<PathBuf>,
        /// Sync once and exit instead of following.
        #[arg(long)]
        once: bool,
        /// Pause between syncs when following, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        interval_ms: u64,
    },
    /// Print the A6 in-car card (车内公示卡) of a licence as SVG, from a stopped registry's ledger.
    Card {
        /// The ledger directory (the service's DATA/ledger).
        #[arg(long)]
        data: PathBuf,
        /// Where the SVG goes.
        #[arg(long)]
        out: PathBuf,
        /// The public base URL the card's QR code points to.
        #[arg(long, default_value = DEFAULT_BASE_URL)]
        base_url: String,
        /// The city policy naming the issuing authorities (default: the built-in national one).
        #[arg(long)]
        policy: Option<PathBuf>,
        /// Full licence number or short serial.
        number: String,
    },
    /// Publish the log as static C2SP tlog-tiles (tiles once, immutable; then the checkpoint)
    /// to a directory or an S3-compatible bucket; the service must be stopped (a running
    /// service publishes by itself with `[publish]` in its config).
    Publish {
        /// The ledger directory (the service's DATA/ledger).
        #[arg(long)]
        data: PathBuf,
        /// Where tiles and the checkpoint go: DIR, file:///DIR or s3://BUCKET[/PREFIX].
        #[arg(long)]
        to: String,
        /// Where entry bundles go (they hold personal data: a private target); none if absent.
        #[arg(long)]
        bundles_to: Option<String>,
    },
    /// Migrate existing licences from a JSON Lines file (one record per line, with its
    /// `legacy_number`); the service must be stopped. Exit 0, or 3 if some lines were rejected.
    Import {
        /// The service's data dir (ledger in DIR/ledger, keys in DIR/keys, created if missing).
        #[arg(long)]
        data: PathBuf,
        #[arg(long, value_parser = parse_kind)]
        kind: LicenceKind,
        /// Public base URL of the verification page, for the QR URLs in FILE.issued.jsonl.
        #[arg(long, default_value = DEFAULT_BASE_URL)]
        base_url: String,
        /// Origin line of the log, if the import creates it.
        #[arg(long, default_value = DEFAULT_ORIGIN)]
        origin: String,
        /// The ledger's storage when it is not sled in DIR/ledger: `postgres://USER@HOST:PORT/DB`.
        #[arg(long)]
        storage: Option<String>,
        /// sled's page cache in MiB. An import writes index rows all over the ledger's trees, and
        /// runs while the service is stopped, so it gets more than the service's default.
        #[arg(long, default_value_t = import::IMPORT_SLED_CACHE_MB)]
        sled_cache_mb: u64,
        /// JSON Lines file, or - for standard input.
        file: PathBuf,
    },
    /// Move a stopped registry's ledger from sled to PostgreSQL, and check the copy.
    Migrate {
        /// The sled ledger: `sled:DIR` (the service's DATA/ledger).
        #[arg(long)]
        from: String,
        /// An empty PostgreSQL database: `postgres://USER@HOST:PORT/DB`.
        #[arg(long)]
        to: String,
    },
    /// Build a working example: keys, a ledger and one licence of each kind.
    Demo {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value = DEFAULT_BASE_URL)]
        base_url: String,
    },
}

#[derive(Debug, Subcommand)]
enum LogAction {
    /// Print the latest signed checkpoint.
    Checkpoint,
    /// Walk the whole log and check every link, hash, checkpoint and index.
    Audit,
    /// Print a tlog-proof receipt for a licence number or a sequence number.
    Prove { target: String },
}

fn parse_kind(text: &str) -> Result<LicenceKind, String> {
    text.parse::<LicenceKind>()
        .map_err(|_| format!("{text:?} is not driver, vehicle or platform"))
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    match cli.command {
        Command::Keygen { keys, origin } => {
            let report = licreg::keys::keygen(&keys, &origin, clock.now_unix())
                .with_context(|| format!("generating keys in {}", keys.display()))?;
            println!("credential key {} is active", report.new_kid);
            if let Some(old) = report.retired_kid {
                println!("credential key {old} is retired");
            }
            if report.log_key_created {
                println!(
                    "log key created; verifier key in {}",
                    keys.join("log.vkey").display()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::RevokeKey { keys, kid } => {
            let kid = licreg::keys::KeyId::from_b64url(&kid)
                .with_context(|| format!("{kid:?} is not a key id"))?;
            licreg::keys::revoke(&keys, &kid, clock.now_unix())?;
            println!("credential key {kid} is revoked");
            Ok(ExitCode::SUCCESS)
        }
        Command::Issue {
            keys,
            data,
            kind,
            input,
            out,
            base_url,
        } => issue::run(&issue::IssueArgs {
            keys: &keys,
            data: &data,
            kind,
            input: &input,
            out: &out,
            base_url: &base_url,
            clock,
        }),
        Command::Verify {
            keys,
            trust_list,
            at,
            skew_seconds,
            status_list,
            receipt,
            log_key,
            witness_key,
            input,
        } => match (receipt, log_key, keys, trust_list, input) {
            (Some(receipt), Some(log_key), keys, None, _) => {
                verify::receipt(&verify::ReceiptArgs {
                    receipt: &receipt,
                    log_key: &log_key,
                    witness_keys: &witness_key,
                    keys: keys.as_deref(),
                    at: at.as_deref(),
                    skew_seconds,
                    clock: clock.as_ref(),
                })
            }
            (None, None, Some(keys), None, Some(input)) => verify::run(&verify::VerifyArgs {
                trust: verify::TrustSource::KeysDir(&keys),
                at: at.as_deref(),
                skew_seconds,
                input: &input,
                status_list: status_list.as_deref(),
                clock: clock.as_ref(),
            }),
            (None, Some(log_key), None, Some(list), Some(input)) => {
                verify::run(&verify::VerifyArgs {
                    trust: verify::TrustSource::Signed {
                        list: &list,
                        log_key: &log_key,
                    },
                    at: at.as_deref(),
                    skew_seconds,
                    input: &input,
                    status_list: status_list.as_deref(),
                    clock: clock.as_ref(),
                })
            }
            _ => anyhow::bail!(
                "give --keys DIR and INPUT, --trust-list FILE --log-key VKEY and INPUT, \
                 or --receipt with --log-key"
            ),
        },
        Command::Log { data, action } => log_cmd::run(&data, action, clock),
        Command::Demo { out, base_url } => demo::run(&out, &base_url, clock),
        Command::Import {
            data,
            kind,
            base_url,
            origin,
            storage,
            sled_cache_mb,
            file,
        } => import::run(&import::ImportArgs {
            data,
            storage,
            sled_cache_mb,
            kind,
            file,
            base_url,
            origin,
            clock,
        }),
        Command::Migrate { from, to } => migrate::run(&from, &to, clock),
        Command::Serve {
            config,
            demo,
            data,
            listen,
            storage,
        } => serve::run(serve::ServeArgs {
            config,
            demo,
            data,
            listen,
            storage,
        }),
        Command::Witness {
            listen,
            log_key,
            data,
            name,
        } => serve::witness(serve::WitnessArgs {
            listen,
            log_keys: log_key,
            data,
            name,
        }),
        Command::Mirror {
            from,
            data,
            log_key,
            once,
            interval_ms,
        } => serve::mirror(&from, &data, log_key.as_deref(), once, interval_ms),
        Command::Card {
            data,
            out,
            base_url,
            policy,
            number,
        } => issue::card(&issue::CardArgs {
            data: &data,
            out: &out,
            base_url: &base_url,
            policy: policy.as_deref(),
            number: &number,
            clock,
        }),
        Command::Publish {
            data,
            to,
            bundles_to,
        } => serve::publish(&data, &to, bundles_to.as_deref(), clock),
        Command::AgencySim {
            records,
            listen,
            agency,
        } => serve::agency_sim(&records, &listen, agency.as_deref()),
    }
}

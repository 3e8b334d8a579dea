//! `licreg serve` and `licreg agency-sim`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use licreg::agency::sim::{self, Records};
use licreg::clock::{Clock, OffsetClock, SystemClock};
use licreg::service::config::{Config, Flags};
use licreg::service::{self, boot, AppState};

pub struct ServeArgs {
    pub config: Option<PathBuf>,
    pub demo: bool,
    pub data: Option<PathBuf>,
    pub listen: Option<String>,
    pub storage: Option<String>,
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Resolves after SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests and flushing the ledger");
}

fn resolve_config(args: &ServeArgs) -> anyhow::Result<Config> {
    let env: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("LICREG_"))
        .collect();
    let flags = Flags {
        data_dir: args.data.clone(),
        listen: args.listen.clone(),
        storage: args.storage.clone(),
    };
    Ok(Config::load(args.config.as_deref(), &env, &flags)?)
}

pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let config = resolve_config(&args)?;
    runtime()?.block_on(serve(config, args.demo))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(config: Config, demo: bool) -> anyhow::Result<()> {
    let mut clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if config.clock_offset_seconds != 0 {
        tracing::warn!(
            offset_seconds = config.clock_offset_seconds,
            "the clock is shifted by configuration: for rehearsals and tests only"
        );
        clock = Arc::new(OffsetClock {
            inner: clock,
            offset_seconds: config.clock_offset_seconds,
        });
    }
    let listen = config.listen;
    let base = config.public_base_url.clone();
    let data_dir = config.data_dir.clone();
    let witnesses = config.witnesses.clone();
    let publish = config.publish.clone();
    let (state, info) = boot::build(config, clock, demo).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let addr = listener.local_addr()?;
    let seeded = if demo {
        service::demo::seed(&state).await?
    } else {
        Vec::new()
    };
    let resumed = service::applications::resume_checks(&state).await?;
    if resumed > 0 {
        tracing::info!(
            resumed,
            "restarted the agency checks of applications in flight"
        );
    }
    let sweeper = tokio::spawn(service::licences::expiry_sweeper(state.clone()));
    // On storage other nodes also write (PostgreSQL), hear of their appends.
    let follower = tokio::spawn(service::follow::follow(state.clone()));
    let reloader = tokio::spawn(boot::key_reloader(state.clone()));
    let publisher = match &publish {
        Some(target) => Some(tokio::spawn(publish_forever(
            state.clone(),
            licreg::publish::Publisher::open(
                &target.tiles,
                target.bundles.as_deref(),
                state.ledger.verifier_key().clone(),
            )?,
        ))),
        None => None,
    };
    let targets: Vec<service::witnessing::WitnessTarget> = witnesses
        .iter()
        .map(|url| service::witnessing::WitnessTarget {
            url: url.clone(),
            size: 0,
        })
        .collect();
    let witnessing = (!targets.is_empty()).then(|| {
        tokio::spawn(service::witnessing::run(
            state.clone(),
            targets,
            state.cosigned.clone(),
        ))
    });
    print_banner(&base, addr, &data_dir, info.tokens_file.as_deref(), &seeded);
    let app = service::app(state.clone());
    service::server::serve(
        listener,
        app,
        &state.limits,
        state.shutdown.clone(),
        shutdown_signal(),
    )
    .await
    .context("serving")?;
    sweeper.abort();
    follower.abort();
    reloader.abort();
    if let Some(task) = publisher {
        task.abort();
    }
    if let Some(task) = witnessing {
        task.abort();
    }
    finish(&state)
}

/// Publishes new tiles and the checkpoint whenever the log grew; a failure is logged and
/// retried at the next tick (the target only ever receives whole tiles, then a checkpoint).
async fn publish_forever(state: AppState, publisher: licreg::publish::Publisher) {
    let mut published_size = None;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(
        licreg::publish::PUBLISH_INTERVAL_MS,
    ));
    loop {
        tick.tick().await;
        let size = state.ledger.size();
        if size == 0 || published_size == Some(size) {
            continue;
        }
        match publisher.publish(&state.ledger).await {
            Ok(done) => published_size = Some(done.size),
            Err(error) => tracing::warn!(%error, "publishing the log's tiles failed; retrying"),
        }
    }
}

fn finish(state: &AppState) -> anyhow::Result<()> {
    state.ledger.flush().context("flushing the ledger")?;
    tracing::info!(entries = state.ledger.size(), "ledger flushed; bye");
    Ok(())
}

fn print_banner(
    base: &str,
    addr: SocketAddr,
    data: &Path,
    tokens: Option<&Path>,
    seeded: &[String],
) {
    println!("licreg registry listening on http://{addr}");
    println!("  open:      {base}/");
    println!("  API:       {base}/v1/openapi.json");
    println!("  keys:      {base}/v1/keys");
    println!("  officers:  {base}/officer (sign in with the officer token)");
    println!("  data dir:  {}", data.display());
    if let Some(tokens) = tokens {
        println!(
            "  tokens:    {} (keep private; the officer token signs in to /officer)",
            tokens.display()
        );
    }
    for line in seeded {
        println!("  {line}");
    }
}

pub struct WitnessArgs {
    pub listen: String,
    pub log_keys: Vec<PathBuf>,
    pub data: PathBuf,
    pub name: String,
}

/// `licreg witness`: cosigns checkpoints of the logs whose keys it is given.
pub fn witness(args: WitnessArgs) -> anyhow::Result<ExitCode> {
    init_tracing();
    let logs = args
        .log_keys
        .iter()
        .map(|path| licreg::keys::load_log_vkey(path))
        .collect::<Result<Vec<_>, _>>()?;
    let witness = licreg::witness::server::Witness::open(&args.data, &args.name, logs)?;
    let listen: SocketAddr = args
        .listen
        .parse()
        .with_context(|| format!("--listen {:?}", args.listen))?;
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        println!(
            "witness {} on http://{}",
            witness.verifier_key(),
            listener.local_addr()?
        );
        println!(
            "  verifier key: {}",
            args.data
                .join(licreg::witness::server::WITNESS_VKEY_FILE)
                .display()
        );
        axum::serve(listener, licreg::witness::server::router(witness))
            .with_graceful_shutdown(shutdown_signal())
            .await
            .context("serving")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `licreg mirror`: sync once or follow; exits non-zero on the first verification failure.
/// The environment variable holding the agency token a mirror presents.
pub const MIRROR_TOKEN_VAR: &str = "LICREG_TOKEN";

pub fn mirror(
    from: &str,
    data: &Path,
    log_key: Option<&Path>,
    once: bool,
    interval_ms: u64,
) -> anyhow::Result<ExitCode> {
    init_tracing();
    let given = log_key.map(licreg::keys::load_log_vkey).transpose()?;
    // Entry bundles carry personal data and are served to agency tokens only; the token comes
    // from the environment so it never shows in the process list.
    let mut headers = reqwest::header::HeaderMap::new();
    if let Ok(token) = std::env::var(MIRROR_TOKEN_VAR) {
        let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .context("LICREG_TOKEN is not a valid header value")?;
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .default_headers(headers)
        .build()
        .context("HTTP client")?;
    runtime()?.block_on(async move {
        let (key, first_use) =
            licreg::mirror::resolve_key(&http, from, data, given.as_ref()).await?;
        if first_use {
            eprintln!(
                "licreg: trusting the log key {from} publishes on first use and pinning it in {}; \
                 compare it with the registry's published log.vkey",
                data.display()
            );
        }
        loop {
            let synced = licreg::mirror::sync(&http, from, data, &key).await?;
            if synced.size != synced.previous_size || once {
                println!(
                    "mirrored {} at size {} (was {}): checkpoint, entries and consistency verified",
                    key.name(),
                    synced.size,
                    synced.previous_size
                );
            }
            if once {
                return Ok::<_, anyhow::Error>(());
            }
            tokio::select! {
                () = tokio::time::sleep(std::time::Duration::from_millis(interval_ms)) => {}
                () = shutdown_signal() => return Ok(()),
            }
        }
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `licreg publish`: one publication of a stopped registry's log.
pub fn publish(
    data: &Path,
    to: &str,
    bundles_to: Option<&str>,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<ExitCode> {
    let ledger = super::log_cmd::open_read_only(data, clock)?;
    let publisher =
        licreg::publish::Publisher::open(to, bundles_to, ledger.verifier_key().clone())?;
    let done = runtime()?.block_on(publisher.publish(&ledger))?;
    println!(
        "published {} at size {} (was {}): {} objects{}",
        ledger.origin(),
        done.size,
        done.previous_size,
        done.objects,
        if bundles_to.is_some() {
            ", entry bundles included"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

pub fn agency_sim(records: &Path, listen: &str, agency: Option<&str>) -> anyhow::Result<ExitCode> {
    init_tracing();
    let size = std::fs::metadata(records)
        .with_context(|| format!("reading {}", records.display()))?
        .len();
    if size > sim::MAX_RECORDS_BYTES as u64 {
        anyhow::bail!(
            "{} is over the {}-byte limit",
            records.display(),
            sim::MAX_RECORDS_BYTES
        );
    }
    let text = std::fs::read_to_string(records)
        .with_context(|| format!("reading {}", records.display()))?;
    let records = Records::parse(&text, agency).map_err(|e| anyhow::anyhow!("{e}"))?;
    let listen: SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?}"))?;
    runtime()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen}"))?;
        println!(
            "agency simulator {} ({} records) on http://{}",
            records.agency,
            records.records.len(),
            listener.local_addr()?
        );
        sim::serve(listener, records, shutdown_signal())
            .await
            .context("serving")
    })?;
    Ok(ExitCode::SUCCESS)
}

//! Bringing a registry up: keys on first start, the ledger, the policy, clients and tokens, and
//! for `--demo` the agency simulators and demo licences.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::auth::{generate_token, Clients, Role, TokenHash};
use super::config::Config;
use super::{AppState, StateParts};
use crate::agency::sim::{self, Records};
use crate::agency::AgencyClient;
use crate::clock::Clock;
use crate::keys;
use crate::rules::Policy;

/// The national policy, built in so the registry runs without any files.
pub const NATIONAL_POLICY: &str = include_str!("../../policies/national.toml");
/// The demo agencies' records, built in.
pub const DEMO_AGENCIES: [(&str, &str); 6] = [
    (
        "public_security",
        include_str!("../../schemas/examples/agencies/public_security.json"),
    ),
    (
        "traffic_police",
        include_str!("../../schemas/examples/agencies/traffic_police.json"),
    ),
    (
        "exam_centre",
        include_str!("../../schemas/examples/agencies/exam_centre.json"),
    ),
    (
        "vehicle_registration",
        include_str!("../../schemas/examples/agencies/vehicle_registration.json"),
    ),
    (
        "market_regulator",
        include_str!("../../schemas/examples/agencies/market_regulator.json"),
    ),
    (
        "provincial_transport",
        include_str!("../../schemas/examples/agencies/provincial_transport.json"),
    ),
];
/// The platform the demo's vehicle is bound to.
pub const DEMO_PLATFORM: &str = "91350200MA2Y00001N";
/// File of first-start client tokens (0600) when none are configured.
pub const CLIENT_TOKENS_FILE: &str = "client-tokens.json";
/// File of demo tokens (0600).
pub const DEMO_TOKENS_FILE: &str = "demo-tokens.json";

#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("keys: {0}")]
    Keys(#[from] keys::KeyError),
    #[error("ledger: {0}")]
    Ledger(#[from] crate::ledger::LedgerError),
    #[error("policy {path}: {reason}")]
    Policy { path: String, reason: String },
    #[error("clients: {0}")]
    Clients(String),
    #[error("agency simulator: {0}")]
    Simulator(String),
}

/// What start-up produced besides the state.
#[derive(Debug, Default)]
pub struct BootInfo {
    /// Where plaintext tokens were written for the operator, if they were.
    pub tokens_file: Option<PathBuf>,
    pub keys_created: bool,
}

fn load_policy(path: Option<&Path>) -> Result<Policy, BootError> {
    let (name, text) = match path {
        Some(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|e| BootError::Policy {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?,
        ),
        None => (
            "built-in national policy".to_string(),
            NATIONAL_POLICY.to_string(),
        ),
    };
    Policy::parse(&text).map_err(|e| BootError::Policy {
        path: name,
        reason: e.to_string(),
    })
}

/// Writes plaintext tokens for the operator, readable by the owner only.
fn write_tokens(path: &Path, tokens: &BTreeMap<String, String>) -> Result<(), BootError> {
    use std::io::Write;
    let text =
        serde_json::to_string_pretty(tokens).map_err(|e| BootError::Clients(e.to_string()))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| BootError::Clients(format!("{}: {e}", path.display())))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| BootError::Clients(format!("{}: {e}", path.display())))
}

fn read_tokens(path: &Path) -> Result<BTreeMap<String, String>, BootError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| BootError::Clients(format!("{}: {e}", path.display())))?;
    serde_json::from_str(&text).map_err(|e| BootError::Clients(format!("{}: {e}", path.display())))
}

/// Clients from the configuration; or, when none are configured, tokens kept in `tokens_path`
/// (created on first start) for `roles`.
fn clients(
    config: &Config,
    tokens_path: &Path,
    roles: &[String],
) -> Result<(Clients, Option<PathBuf>), BootError> {
    let mut clients = Clients::default();
    for client in &config.clients {
        let role = Role::parse(&client.role)
            .ok_or_else(|| BootError::Clients(format!("unknown role {:?}", client.role)))?;
        let hash = TokenHash::from_hex(&client.token_sha256).ok_or_else(|| {
            BootError::Clients(format!(
                "token_sha256 of {} is not 64 hex digits",
                client.role
            ))
        })?;
        clients.add(role, hash);
    }
    if !config.clients.is_empty() {
        return Ok((clients, None));
    }
    let mut tokens = if tokens_path.exists() {
        read_tokens(tokens_path)?
    } else {
        BTreeMap::new()
    };
    let before = tokens.len();
    for role in roles {
        tokens.entry(role.clone()).or_insert_with(generate_token);
    }
    if tokens.len() != before || !tokens_path.exists() {
        write_tokens(tokens_path, &tokens)?;
    }
    for (role, token) in &tokens {
        let role = Role::parse(role)
            .ok_or_else(|| BootError::Clients(format!("unknown role {role:?}")))?;
        clients.add(role, TokenHash::of(token));
    }
    Ok((clients, Some(tokens_path.to_path_buf())))
}

/// Starts the six demo agencies on loopback ports and returns their base URLs.
/// Holders' portraits, under the data dir (on PostgreSQL, every node must see the same dir).
pub const PORTRAITS_DIR: &str = "portraits";

pub async fn start_demo_agencies() -> Result<BTreeMap<String, String>, BootError> {
    let mut urls = BTreeMap::new();
    for (name, text) in DEMO_AGENCIES {
        let records = Records::parse(text, None).map_err(BootError::Simulator)?;
        let addr = sim::spawn_local(records)
            .await
            .map_err(|e| BootError::Simulator(e.to_string()))?;
        urls.insert(name.to_string(), format!("http://{addr}"));
    }
    Ok(urls)
}

/// Builds the state from a configuration. In demo mode the agencies are simulated and every
/// role gets a token in `<data>/demo-tokens.json`.
pub async fn build(
    mut config: Config,
    clock: Arc<dyn Clock>,
    demo: bool,
) -> Result<(AppState, BootInfo), BootError> {
    let mut info = BootInfo::default();
    crate::private_fs::create_private_dir(&config.data_dir)
        .map_err(|e| BootError::Clients(e.to_string()))?;
    if !config.keys_dir.join(keys::TRUST_LIST_FILE).exists() {
        keys::keygen(&config.keys_dir, &config.origin, clock.now_unix())?;
        info.keys_created = true;
    }
    let log_key = keys::load_log_key(&config.keys_dir)?;
    let ledger =
        crate::registry::open_registry(&config.storage, Some(log_key), Arc::clone(&clock))?;
    let policy = load_policy(config.policy_file.as_deref())?;
    let mut roles = vec!["portal".to_string(), "officer".to_string()];
    let tokens_file = if demo {
        config.agencies = start_demo_agencies().await?;
        roles.push(format!("platform:{DEMO_PLATFORM}"));
        roles.extend(
            DEMO_AGENCIES
                .iter()
                .map(|(name, _)| format!("agency:{name}")),
        );
        config.data_dir.join(DEMO_TOKENS_FILE)
    } else {
        config.data_dir.join(CLIENT_TOKENS_FILE)
    };
    let (clients, written) = clients(&config, &tokens_file, &roles)?;
    info.tokens_file = written;
    let rate = config.public_requests_per_second;
    let state = AppState::new(StateParts {
        ledger,
        clients,
        signer: keys::load_credential_signer(&config.keys_dir)?,
        trust: keys::load_trust_list(&config.keys_dir)?,
        policy,
        agencies: config.agencies.clone(),
        agency_client: AgencyClient::new(
            Duration::from_millis(config.agency_timeout_ms),
            config.agency_retries,
        ),
        clock,
        public_base_url: config.public_base_url.clone(),
        public_requests_per_second: Some(rate),
        limits: config.limits.clone(),
        keys_dir: Some(config.keys_dir.clone()),
        portraits_dir: Some(config.data_dir.join(PORTRAITS_DIR)),
    })?;
    if rate == 0.0 {
        tracing::warn!("public rate limit is off by configuration");
    }
    Ok((state, info))
}

/// Reloads the credential keys whenever the keys dir's trust list changes (checked every
/// [`crate::live_keys::RELOAD_INTERVAL_MS`]) or on SIGHUP, so `licreg revoke-key` and
/// `licreg keygen` take effect in the running service within seconds. Forever.
pub async fn key_reloader(state: AppState) {
    let interval = std::time::Duration::from_millis(crate::live_keys::RELOAD_INTERVAL_MS);
    let mut tick = tokio::time::interval(interval);
    #[cfg(unix)]
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    loop {
        #[cfg(unix)]
        {
            let hup = async {
                match hangup.as_mut() {
                    Some(signal) => {
                        signal.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = tick.tick() => {},
                () = hup => tracing::info!("SIGHUP: reloading the keys"),
            }
        }
        #[cfg(not(unix))]
        tick.tick().await;
        match state.keys.reload() {
            Ok(false) => {}
            Ok(true) => {
                // Status lists were signed with the old key: sign them again on next request.
                *state.status_cache.lock().unwrap_or_else(|p| p.into_inner()) = Default::default();
                let active = state.keys.signer().map(|s| s.kid.to_string());
                tracing::info!(?active, "credential keys reloaded");
            }
            Err(e) => {
                tracing::warn!(error = %e, "keys dir did not reload; keeping the keys in use")
            }
        }
    }
}

//! Service configuration: a TOML file, then `LICREG_*` environment overrides, then defaults.
//!
//! With nothing configured the registry uses sled in `./data`, keys in `./data/keys`, the
//! embedded national policy, and listens on 127.0.0.1:8080.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./data";
pub const DEFAULT_ORIGIN: &str = "licreg.example/ledger";
pub const DEFAULT_AGENCY_TIMEOUT_MS: u64 = 2_000;
pub const DEFAULT_AGENCY_RETRIES: u32 = 2;

/// Why the configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("configuration is invalid: {0}")]
    Invalid(String),
}

/// One client and the hash of its token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// `portal`, `officer`, `officer:<id>` (the ledger then names the officer), `platform:<id>`
    /// or `agency:<name>`.
    pub role: String,
    /// SHA-256 of the bearer token, hex. The token itself is never stored.
    pub token_sha256: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    public_base_url: Option<String>,
    data_dir: Option<PathBuf>,
    keys_dir: Option<PathBuf>,
    policy_file: Option<PathBuf>,
    origin: Option<String>,
    agency_timeout_ms: Option<u64>,
    agency_retries: Option<u32>,
    clock_offset_seconds: Option<i64>,
    public_requests_per_second: Option<f64>,
    #[serde(default)]
    agencies: BTreeMap<String, String>,
    #[serde(default)]
    clients: Vec<ClientConfig>,
    #[serde(default)]
    witnesses: Vec<String>,
    #[serde(default)]
    limits: super::limits::Limits,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub public_base_url: String,
    pub data_dir: PathBuf,
    pub keys_dir: PathBuf,
    pub policy_file: Option<PathBuf>,
    pub origin: String,
    pub agency_timeout_ms: u64,
    pub agency_retries: u32,
    /// Sustained public requests per second per client address; 0 turns the limit off (for a
    /// deployment behind a proxy that limits, or for load tests).
    pub public_requests_per_second: f64,
    /// Shifts the registry's clock: for rehearsals and tests only; logged at start-up.
    pub clock_offset_seconds: i64,
    /// Agency name → base URL.
    pub agencies: BTreeMap<String, String>,
    pub clients: Vec<ClientConfig>,
    /// Base URLs of witnesses to send checkpoints to.
    pub witnesses: Vec<String>,
    /// Connection, timeout, stream and proxy limits (`[limits]`).
    pub limits: super::limits::Limits,
}

impl Config {
    /// Loads `file` (if given), applies `env` overrides (`LICREG_LISTEN`, `LICREG_PUBLIC_BASE_URL`,
    /// `LICREG_DATA_DIR`, `LICREG_KEYS_DIR`, `LICREG_POLICY_FILE`, `LICREG_AGENCY_<NAME>`), then
    /// defaults.
    pub fn load(file: Option<&Path>, env: &BTreeMap<String, String>) -> Result<Self, ConfigError> {
        let parsed = match file {
            Some(path) => parse_file(path)?,
            None => FileConfig::default(),
        };
        let var = |name: &str| env.get(name).cloned();
        let listen_text = var("LICREG_LISTEN")
            .or(parsed.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| ConfigError::Invalid(format!("listen address {listen_text:?}")))?;
        let data_dir = var("LICREG_DATA_DIR")
            .map(PathBuf::from)
            .or(parsed.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let keys_dir = var("LICREG_KEYS_DIR")
            .map(PathBuf::from)
            .or(parsed.keys_dir)
            .unwrap_or_else(|| data_dir.join("keys"));
        let mut agencies = parsed.agencies;
        for (name, value) in env {
            if let Some(agency) = name.strip_prefix("LICREG_AGENCY_") {
                agencies.insert(agency.to_ascii_lowercase(), value.clone());
            }
        }
        let problems = parsed.limits.problems();
        if !problems.is_empty() {
            return Err(ConfigError::Invalid(problems.join("; ")));
        }
        let public_base_url = var("LICREG_PUBLIC_BASE_URL")
            .or(parsed.public_base_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        Ok(Config {
            listen,
            public_base_url,
            data_dir,
            keys_dir,
            policy_file: var("LICREG_POLICY_FILE")
                .map(PathBuf::from)
                .or(parsed.policy_file),
            origin: parsed.origin.unwrap_or_else(|| DEFAULT_ORIGIN.to_string()),
            agency_timeout_ms: parsed
                .agency_timeout_ms
                .unwrap_or(DEFAULT_AGENCY_TIMEOUT_MS),
            agency_retries: parsed.agency_retries.unwrap_or(DEFAULT_AGENCY_RETRIES),
            clock_offset_seconds: parsed.clock_offset_seconds.unwrap_or(0),
            public_requests_per_second: parsed
                .public_requests_per_second
                .unwrap_or(super::ratelimit::PER_SECOND)
                .max(0.0),
            agencies,
            clients: parsed.clients,
            witnesses: parsed.witnesses,
            limits: parsed.limits,
        })
    }
}

fn parse_file(path: &Path) -> Result<FileConfig, ConfigError> {
    let read_err = |reason: String| ConfigError::Read {
        path: path.display().to_string(),
        reason,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| read_err(e.to_string()))?
        .len();
    if size > MAX_CONFIG_BYTES as u64 {
        return Err(read_err(format!("over the {MAX_CONFIG_BYTES}-byte limit")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| read_err(e.to_string()))?;
    toml::from_str(&text).map_err(|e| ConfigError::Invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's example configuration loads as written (so the documentation cannot rot).
    #[test]
    fn the_readme_example_loads() {
        let readme = include_str!("../../README.md");
        let example = readme
            .split("```toml\n")
            .nth(1)
            .and_then(|rest| rest.split("```").next())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("licreg.toml");
        std::fs::write(&file, example).unwrap();
        let config = Config::load(Some(&file), &BTreeMap::new()).unwrap();
        assert_eq!(config.witnesses, ["http://witness.agency.example:9300"]);
        assert_eq!(config.agencies.len(), 2);
        assert_eq!(config.limits, crate::service::limits::Limits::default());
        assert_eq!(config.clients.len(), 1);
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let empty = BTreeMap::new();
        let config = Config::load(None, &empty).unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.keys_dir, PathBuf::from("./data/keys"));
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("licreg.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[agencies]\ntraffic_police = \"http://127.0.0.1:9101\"\n",
        )
        .unwrap();
        let env = BTreeMap::from([
            ("LICREG_LISTEN".to_string(), "127.0.0.1:9001".to_string()),
            (
                "LICREG_AGENCY_EXAM_CENTRE".to_string(),
                "http://127.0.0.1:9102".to_string(),
            ),
        ]);
        let config = Config::load(Some(&file), &env).unwrap();
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.agencies.len(), 2);
        assert_eq!(config.agencies["exam_centre"], "http://127.0.0.1:9102");
        std::fs::write(&file, "lissen = 1\n").unwrap();
        assert!(matches!(
            Config::load(Some(&file), &empty),
            Err(ConfigError::Invalid(_))
        ));
    }
}

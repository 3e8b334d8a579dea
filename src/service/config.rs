//! Service configuration: a TOML file, then `LICREG_*` environment overrides, then defaults.
//!
//! With nothing configured the registry uses sled in `./data/ledger`, keys in `./data/keys`, the
//! embedded national policy, and listens on 127.0.0.1:8080.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::ledger::Storage;

/// Largest configuration file read.
pub const MAX_CONFIG_BYTES: usize = 256 * 1024;
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_DATA_DIR: &str = "./data";
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
    storage: Option<String>,
    sled_cache_mb: Option<u64>,
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
    publish: Option<PublishConfig>,
}

/// `[publish]`: where the running service publishes its log as static tlog-tiles.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// Tiles and checkpoint: `file:///DIR`, a directory, or `s3://BUCKET[/PREFIX]`.
    pub tiles: String,
    /// Entry bundles, which hold personal data: a private target, or absent for none.
    pub bundles: Option<String>,
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
    /// Where the ledger lives: sled in `data_dir/ledger` (the default, or `storage = "sled"`), or
    /// a PostgreSQL database (`storage = "postgres://USER@HOST:PORT/DB"`).
    pub storage: Storage,
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
    /// Static tiles publication (`[publish]`), if any.
    pub publish: Option<PublishConfig>,
}

/// What the command line says (`licreg serve --data DIR --listen ADDR`): it wins over the
/// environment, which wins over the file, which wins over the defaults.
#[derive(Debug, Clone, Default)]
pub struct Flags {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    /// `--storage sled|postgres://…`.
    pub storage: Option<String>,
}

/// The first of flag, environment, file that is set.
fn first<T>(flag: Option<T>, env: Option<T>, file: Option<T>) -> Option<T> {
    flag.or(env).or(file)
}

/// The checkpoint origin a log served at `base_url` gets by default: its URL prefix without the
/// scheme (C2SP tlog-tiles recommends the prefix), e.g. `registry.example.gov.cn/licreg`.
pub fn origin_for(base_url: &str) -> String {
    let without_scheme = base_url
        .strip_prefix("https://")
        .or_else(|| base_url.strip_prefix("http://"))
        .unwrap_or(base_url);
    without_scheme.trim_end_matches('/').to_string()
}

impl Config {
    /// Resolves every setting from, in order: `flags`, the environment (`LICREG_LISTEN`,
    /// `LICREG_PUBLIC_BASE_URL`, `LICREG_DATA_DIR`, `LICREG_KEYS_DIR`, `LICREG_POLICY_FILE`,
    /// `LICREG_ORIGIN`, `LICREG_STORAGE`, `LICREG_SLED_CACHE_MB`, `LICREG_AGENCY_<NAME>`), the
    /// TOML `file`, the defaults. Settings derived
    /// from others (the keys dir from the data dir, the public URL from the listen address, the
    /// origin from the public URL) are derived from the resolved value, and only when not set
    /// themselves: `--data DIR` never replaces a configured keys dir.
    pub fn load(
        file: Option<&Path>,
        env: &BTreeMap<String, String>,
        flags: &Flags,
    ) -> Result<Self, ConfigError> {
        let parsed = match file {
            Some(path) => parse_file(path)?,
            None => FileConfig::default(),
        };
        let var = |name: &str| env.get(name).cloned();
        let listen_text = first(flags.listen.clone(), var("LICREG_LISTEN"), parsed.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
        let listen: SocketAddr = listen_text
            .parse()
            .map_err(|_| ConfigError::Invalid(format!("listen address {listen_text:?}")))?;
        let data_dir = first(
            flags.data_dir.clone(),
            var("LICREG_DATA_DIR").map(PathBuf::from),
            parsed.data_dir,
        )
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let keys_dir = first(
            None,
            var("LICREG_KEYS_DIR").map(PathBuf::from),
            parsed.keys_dir,
        )
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
        let public_base_url = first(None, var("LICREG_PUBLIC_BASE_URL"), parsed.public_base_url)
            .unwrap_or_else(|| format!("http://{listen}"));
        let origin = first(None, var("LICREG_ORIGIN"), parsed.origin)
            .unwrap_or_else(|| origin_for(&public_base_url));
        if origin.is_empty() || origin.contains('+') || origin.contains(char::is_whitespace) {
            return Err(ConfigError::Invalid(format!(
                "origin {origin:?}: a log origin is non-empty, without '+' or spaces"
            )));
        }
        let storage = resolve_storage(
            first(flags.storage.clone(), var("LICREG_STORAGE"), parsed.storage),
            &data_dir,
        )?;
        let sled_cache_mb = match var("LICREG_SLED_CACHE_MB") {
            Some(text) => Some(text.trim().parse::<u64>().map_err(|_| {
                ConfigError::Invalid(format!(
                    "LICREG_SLED_CACHE_MB {:?}: a whole number of MiB",
                    text.chars().take(20).collect::<String>()
                ))
            })?),
            None => parsed.sled_cache_mb,
        };
        let storage = match sled_cache_mb {
            Some(mb) => storage
                .with_sled_cache_mb(mb)
                .map_err(|e| ConfigError::Invalid(e.to_string()))?,
            None => storage,
        };
        Ok(Config {
            listen,
            public_base_url,
            storage,
            data_dir,
            keys_dir,
            policy_file: first(
                None,
                var("LICREG_POLICY_FILE").map(PathBuf::from),
                parsed.policy_file,
            ),
            origin,
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
            publish: parsed.publish,
        })
    }
}

/// `sled` or nothing: the embedded ledger in `data_dir/ledger`; otherwise a PostgreSQL URL.
fn resolve_storage(setting: Option<String>, data_dir: &Path) -> Result<Storage, ConfigError> {
    match setting.as_deref() {
        None | Some("sled") => Ok(Storage::sled(data_dir.join("ledger"))),
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Storage::parse(url).map_err(|e| ConfigError::Invalid(format!("storage: {e}")))
        }
        Some(other) => Err(ConfigError::Invalid(format!(
            "storage {:?}: \"sled\" or a postgres:// URL",
            other.chars().take(40).collect::<String>()
        ))),
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
        let config = Config::load(Some(&file), &BTreeMap::new(), &Flags::default()).unwrap();
        assert_eq!(config.witnesses, ["http://witness.agency.example:9300"]);
        assert_eq!(config.agencies.len(), 2);
        assert_eq!(config.limits, crate::service::limits::Limits::default());
        assert_eq!(config.clients.len(), 1);
        let publish = config.publish.unwrap();
        assert_eq!(publish.tiles, "s3://licreg-log/ledger");
        assert_eq!(
            publish.bundles.as_deref(),
            Some("s3://licreg-private/ledger")
        );
        assert_eq!(config.origin, "wyc.example.gov.cn");
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let empty = BTreeMap::new();
        let config = Config::load(None, &empty, &Flags::default()).unwrap();
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
        let config = Config::load(Some(&file), &env, &Flags::default()).unwrap();
        assert_eq!(config.listen.port(), 9001);
        assert_eq!(config.agencies.len(), 2);
        assert_eq!(config.agencies["exam_centre"], "http://127.0.0.1:9102");
        std::fs::write(&file, "lissen = 1\n").unwrap();
        assert!(matches!(
            Config::load(Some(&file), &empty, &Flags::default()),
            Err(ConfigError::Invalid(_))
        ));
    }

    /// Each setting, set at every level that can set it: the highest level wins, and derived
    /// settings follow the resolved value unless set themselves.
    #[test]
    fn flag_then_environment_then_file_then_default() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("licreg.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\ndata_dir = \"/file/data\"\nkeys_dir = \"/file/keys\"\n\
             public_base_url = \"https://file.example/licreg/\"\n",
        )
        .unwrap();
        let env_all = BTreeMap::from([
            ("LICREG_LISTEN".to_string(), "127.0.0.1:9001".to_string()),
            ("LICREG_DATA_DIR".to_string(), "/env/data".to_string()),
            ("LICREG_KEYS_DIR".to_string(), "/env/keys".to_string()),
            ("LICREG_ORIGIN".to_string(), "env.example/log".to_string()),
        ]);
        let flags = Flags {
            data_dir: Some(PathBuf::from("/flag/data")),
            listen: Some("127.0.0.1:9002".into()),
            storage: None,
        };
        let none = Flags::default();
        let empty = BTreeMap::new();
        // (file, env, flags) -> (listen port, data dir, keys dir, origin)
        type Expected<'a> = (u16, &'a str, &'a str, &'a str);
        type Row<'a> = (
            Option<&'a Path>,
            &'a BTreeMap<String, String>,
            &'a Flags,
            Expected<'a>,
        );
        let rows: [Row; 5] = [
            (
                None,
                &empty,
                &none,
                (8080, "./data", "./data/keys", "127.0.0.1:8080"),
            ),
            (
                None,
                &empty,
                &flags,
                (9002, "/flag/data", "/flag/data/keys", "127.0.0.1:9002"),
            ),
            (
                Some(&file),
                &empty,
                &none,
                (9000, "/file/data", "/file/keys", "file.example/licreg"),
            ),
            (
                Some(&file),
                &env_all,
                &none,
                (9001, "/env/data", "/env/keys", "env.example/log"),
            ),
            // --data replaces the data dir, never a configured keys dir.
            (
                Some(&file),
                &empty,
                &flags,
                (9002, "/flag/data", "/file/keys", "file.example/licreg"),
            ),
        ];
        for (file, env, flags, (port, data, keys, origin)) in rows {
            let config = Config::load(file, env, flags).unwrap();
            let row = format!("{file:?} {env:?} {flags:?}");
            assert_eq!(config.listen.port(), port, "{row}");
            assert_eq!(config.data_dir, PathBuf::from(data), "{row}");
            assert_eq!(config.keys_dir, PathBuf::from(keys), "{row}");
            assert_eq!(config.origin, origin, "{row}");
        }
        let bad = BTreeMap::from([("LICREG_ORIGIN".to_string(), "a b".to_string())]);
        assert!(matches!(
            Config::load(None, &bad, &none),
            Err(ConfigError::Invalid(_))
        ));
    }

    /// The storage setting at every level: flag, then `LICREG_STORAGE`, then the file, then sled
    /// in the resolved data dir; anything but "sled" or a PostgreSQL URL is refused.
    #[test]
    fn storage_follows_the_same_precedence() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("licreg.toml");
        std::fs::write(
            &file,
            "data_dir = \"/file/data\"\nstorage = \"postgres://file@db1/licreg\"\n",
        )
        .unwrap();
        let env = BTreeMap::from([(
            "LICREG_STORAGE".to_string(),
            "postgres://env@db2/licreg".to_string(),
        )]);
        let empty = BTreeMap::new();
        let flag = |storage: &str| Flags {
            storage: Some(storage.into()),
            ..Flags::default()
        };
        let describe = |file: Option<&Path>, env: &BTreeMap<String, String>, flags: &Flags| {
            Config::load(file, env, flags).unwrap().storage.describe()
        };
        type Row<'a> = (
            Option<&'a Path>,
            &'a BTreeMap<String, String>,
            Flags,
            &'a str,
        );
        let rows: [Row; 6] = [
            (None, &empty, Flags::default(), "./data/ledger"),
            (
                Some(&file),
                &empty,
                Flags::default(),
                "postgres://file@db1/licreg",
            ),
            (
                Some(&file),
                &env,
                Flags::default(),
                "postgres://env@db2/licreg",
            ),
            (
                Some(&file),
                &env,
                flag("postgres://flag@db3/licreg"),
                "postgres://flag@db3/licreg",
            ),
            // "sled" on the command line wins over a configured database.
            (Some(&file), &env, flag("sled"), "/file/data/ledger"),
            (
                None,
                &empty,
                flag("postgres://u:secret@db4/licreg"),
                "postgres://u:***@db4/licreg",
            ),
        ];
        for (file, env, flags, expected) in rows {
            assert_eq!(
                describe(file, env, &flags),
                expected,
                "{file:?} {env:?} {flags:?}"
            );
        }
        for bad in ["mysql://x", "postgres://u@h:port/db", ""] {
            assert!(
                matches!(
                    Config::load(None, &empty, &flag(bad)),
                    Err(ConfigError::Invalid(_))
                ),
                "{bad:?}"
            );
        }
    }

    /// sled's cache: `LICREG_SLED_CACHE_MB`, then `sled_cache_mb` in the file, then the default;
    /// a value out of range or not a number is refused with the setting's name.
    #[test]
    fn sled_cache_follows_env_then_file_then_default() {
        use crate::ledger::{SledStore, DEFAULT_SLED_CACHE_MB};
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("licreg.toml");
        std::fs::write(&file, "data_dir = \"/d\"\nsled_cache_mb = 256\n").unwrap();
        let env = |value: &str| BTreeMap::from([("LICREG_SLED_CACHE_MB".into(), value.into())]);
        let empty = BTreeMap::new();
        let cache = |file: Option<&Path>, env: &BTreeMap<String, String>| match Config::load(
            file,
            env,
            &Flags::default(),
        )
        .map(|c| c.storage)
        {
            Ok(Storage::Sled(SledStore { cache_mb, .. })) => Ok(cache_mb),
            Ok(other) => panic!("sled expected, got {other:?}"),
            Err(e) => Err(e.to_string()),
        };
        assert_eq!(cache(None, &empty), Ok(DEFAULT_SLED_CACHE_MB));
        assert_eq!(cache(Some(&file), &empty), Ok(256));
        assert_eq!(cache(Some(&file), &env("512")), Ok(512));
        for bad in ["0", "15", "2000000", "lots", "-1"] {
            let refused = cache(Some(&file), &env(bad)).unwrap_err();
            assert!(
                refused.contains("sled_cache_mb") || refused.contains("LICREG_SLED_CACHE_MB"),
                "{bad}: {refused}"
            );
        }
    }
}

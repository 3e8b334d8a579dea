//! Signing keys and the trust list that verifiers load.
//!
//! Credential keys are Ed25519 in PKCS#8 PEM files created 0600; their key id is the first eight
//! bytes of the RFC 7638 JWK thumbprint, so any verifier can recompute it from the public key.
//! The trust list carries each key's status and window so that rotation keeps old licences
//! verifiable while a revoked key stops verifying at once. The log has a key of its own, published
//! as a C2SP verifier key (`log.vkey`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use rand_core::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::clock::{parse_rfc3339, rfc3339, UnixSeconds};

/// Length of a key id in bytes (kept short because it rides in every QR code).
pub const KID_BYTES: usize = 8;
/// Largest trust list a verifier will parse.
pub const MAX_TRUST_LIST_BYTES: usize = 256 * 1024;
/// Most keys one trust list may hold.
pub const MAX_TRUST_LIST_KEYS: usize = 256;
/// Largest PEM file read as a private key.
pub const MAX_PEM_BYTES: usize = 4096;

pub const TRUST_LIST_FILE: &str = "trust-list.json";
pub const LOG_KEY_FILE: &str = "log.key.pem";
pub const LOG_VKEY_FILE: &str = "log.vkey";
const LOG_ORIGIN_FILE: &str = "log.origin";

/// A key identifier: the first [`KID_BYTES`] of the key's RFC 7638 thumbprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; KID_BYTES]);

impl KeyId {
    /// Derives the kid of an Ed25519 public key.
    pub fn of(key: &VerifyingKey) -> Self {
        let x = URL_SAFE_NO_PAD.encode(key.as_bytes());
        // RFC 7638: members in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x}"}}"#);
        let digest = Sha256::digest(canonical.as_bytes());
        let mut kid = [0u8; KID_BYTES];
        kid.copy_from_slice(&digest[..KID_BYTES]);
        KeyId(kid)
    }

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(KeyId)
    }

    pub fn as_bytes(&self) -> &[u8; KID_BYTES] {
        &self.0
    }

    pub fn to_b64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    pub fn from_b64url(text: &str) -> Option<Self> {
        URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|b| Self::from_bytes(&b))
    }
}

impl std::fmt::Display for KeyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_b64url())
    }
}

/// Why a key could not be used or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key id {0} is not in the trust list")]
    UnknownKid(String),
    #[error("key {0} has been revoked")]
    Revoked(String),
    #[error("key {kid} was not valid at {at} (window {not_before} to {not_after})")]
    OutsideWindow {
        kid: String,
        at: String,
        not_before: String,
        not_after: String,
    },
    #[error("trust list is malformed: {0}")]
    Malformed(String),
    #[error("no active credential key in {0}; run `licreg keygen --keys DIR`")]
    NoActiveKey(PathBuf),
    #[error("cannot read or write {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("private key file {0} is not a valid Ed25519 PKCS#8 PEM")]
    BadPem(PathBuf),
}

/// Where a key stands in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Signs new credentials, and verifies.
    Active,
    /// Signs nothing new; verifies what it signed within its window.
    Retired,
    /// Verifies nothing.
    Revoked,
}

/// One key of the trust list, in the JWK-like wire form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustListEntryWire {
    kid: String,
    kty: String,
    crv: String,
    x: String,
    status: KeyStatus,
    not_before: String,
    not_after: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustListWire {
    keys: Vec<TrustListEntryWire>,
}

/// A trusted credential key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    pub kid: KeyId,
    pub key: VerifyingKey,
    pub status: KeyStatus,
    pub not_before: UnixSeconds,
    pub not_after: Option<UnixSeconds>,
}

/// The set of credential keys a verifier trusts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustList {
    keys: Vec<TrustedKey>,
}

impl TrustList {
    /// Parses and checks a trust list: every kid must match its key.
    pub fn parse(json: &[u8]) -> Result<Self, KeyError> {
        if json.len() > MAX_TRUST_LIST_BYTES {
            return Err(KeyError::Malformed(format!(
                "{} bytes, over the {MAX_TRUST_LIST_BYTES}-byte limit",
                json.len()
            )));
        }
        let wire: TrustListWire =
            serde_json::from_slice(json).map_err(|e| KeyError::Malformed(e.to_string()))?;
        if wire.keys.len() > MAX_TRUST_LIST_KEYS {
            return Err(KeyError::Malformed(format!(
                "more than {MAX_TRUST_LIST_KEYS} keys"
            )));
        }
        let keys = wire
            .keys
            .iter()
            .map(entry_from_wire)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(TrustList { keys })
    }

    pub fn from_keys(keys: Vec<TrustedKey>) -> Self {
        TrustList { keys }
    }

    /// A list holding just `signer`'s key, active since the epoch (for tests and tools).
    pub fn with_active(signer: &CredentialSigner) -> Self {
        TrustList::from_keys(vec![TrustedKey {
            kid: signer.kid,
            key: signer.key.verifying_key(),
            status: KeyStatus::Active,
            not_before: 0,
            not_after: None,
        }])
    }

    pub fn keys(&self) -> &[TrustedKey] {
        &self.keys
    }

    /// Serialises in the published wire form.
    pub fn to_json(&self) -> String {
        let wire = TrustListWire {
            keys: self.keys.iter().map(entry_to_wire).collect(),
        };
        serde_json::to_string_pretty(&wire).unwrap_or_default()
    }

    /// The key under `kid`, if it may verify something signed at `signed_at`.
    pub fn resolve(&self, kid: &[u8], signed_at: UnixSeconds) -> Result<&TrustedKey, KeyError> {
        let shown = URL_SAFE_NO_PAD.encode(kid);
        let entry = self
            .keys
            .iter()
            .find(|k| k.kid.as_bytes().as_slice() == kid)
            .ok_or_else(|| KeyError::UnknownKid(shown.clone()))?;
        if entry.status == KeyStatus::Revoked {
            return Err(KeyError::Revoked(shown));
        }
        let before_start = signed_at < entry.not_before;
        let after_end = entry.not_after.is_some_and(|end| signed_at > end);
        if before_start || after_end {
            return Err(KeyError::OutsideWindow {
                kid: shown,
                at: rfc3339(signed_at),
                not_before: rfc3339(entry.not_before),
                not_after: entry.not_after.map(rfc3339).unwrap_or_else(|| "-".into()),
            });
        }
        Ok(entry)
    }

    /// The key that signs new credentials.
    pub fn active(&self) -> Option<&TrustedKey> {
        self.keys.iter().find(|k| k.status == KeyStatus::Active)
    }

    fn set_status(&mut self, kid: &KeyId, status: KeyStatus, at: UnixSeconds) -> bool {
        let Some(entry) = self.keys.iter_mut().find(|k| &k.kid == kid) else {
            return false;
        };
        entry.status = status;
        if status != KeyStatus::Active && entry.not_after.is_none_or(|end| end > at) {
            entry.not_after = Some(at);
        }
        true
    }
}

fn entry_from_wire(wire: &TrustListEntryWire) -> Result<TrustedKey, KeyError> {
    if wire.kty != "OKP" || wire.crv != "Ed25519" {
        return Err(KeyError::Malformed(format!(
            "key {} is {}/{}, not OKP/Ed25519",
            wire.kid, wire.kty, wire.crv
        )));
    }
    let x: [u8; 32] = URL_SAFE_NO_PAD
        .decode(&wire.x)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| KeyError::Malformed(format!("key {}: x is not 32 bytes", wire.kid)))?;
    let key = VerifyingKey::from_bytes(&x)
        .map_err(|_| KeyError::Malformed(format!("key {}: x is not a curve point", wire.kid)))?;
    let kid = KeyId::of(&key);
    if KeyId::from_b64url(&wire.kid) != Some(kid) {
        return Err(KeyError::Malformed(format!(
            "kid {} does not match its key (expected {kid})",
            wire.kid
        )));
    }
    let time = |field: &str, text: &str| {
        parse_rfc3339(text).ok_or_else(|| {
            KeyError::Malformed(format!("key {}: {field} is not RFC 3339", wire.kid))
        })
    };
    let not_before = time("not_before", &wire.not_before)?;
    let not_after = match &wire.not_after {
        Some(text) => Some(time("not_after", text)?),
        None => None,
    };
    Ok(TrustedKey {
        kid,
        key,
        status: wire.status,
        not_before,
        not_after,
    })
}

fn entry_to_wire(key: &TrustedKey) -> TrustListEntryWire {
    TrustListEntryWire {
        kid: key.kid.to_b64url(),
        kty: "OKP".into(),
        crv: "Ed25519".into(),
        x: URL_SAFE_NO_PAD.encode(key.key.as_bytes()),
        status: key.status,
        not_before: rfc3339(key.not_before),
        not_after: key.not_after.map(rfc3339),
    }
}

/// The active credential key with its id. Its Debug output never shows the secret.
pub struct CredentialSigner {
    pub kid: KeyId,
    pub key: SigningKey,
}

impl std::fmt::Debug for CredentialSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CredentialSigner {{ kid: {} }}", self.kid)
    }
}

/// The log's signing key and origin line.
pub struct LogKey {
    pub origin: String,
    pub key: SigningKey,
}

impl std::fmt::Debug for LogKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LogKey {{ origin: {} }}", self.origin)
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn credential_key_path(dir: &Path, kid: &KeyId) -> PathBuf {
    dir.join(format!("credential-{kid}.key.pem"))
}

/// Creates a private key file readable by its owner only; refuses to overwrite.
fn write_private_pem(path: &Path, key: &SigningKey) -> Result<(), KeyError> {
    let pem = key
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .map_err(|_| KeyError::BadPem(path.to_path_buf()))?;
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io_err(path))?;
    file.write_all(pem.as_bytes()).map_err(io_err(path))?;
    file.sync_all().map_err(io_err(path))
}

fn read_private_pem(path: &Path) -> Result<SigningKey, KeyError> {
    let meta = fs::metadata(path).map_err(io_err(path))?;
    if meta.len() > MAX_PEM_BYTES as u64 {
        return Err(KeyError::BadPem(path.to_path_buf()));
    }
    let text = zeroize::Zeroizing::new(fs::read_to_string(path).map_err(io_err(path))?);
    SigningKey::from_pkcs8_pem(&text).map_err(|_| KeyError::BadPem(path.to_path_buf()))
}

pub use crate::private_fs::{create_private_dir, create_private_file};

/// Replaces a public file atomically (write, sync, rename).
pub fn write_public_file(path: &Path, contents: &[u8]) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let mut file = fs::File::create(&tmp).map_err(io_err(&tmp))?;
    // Readable by all, writable by the owner only, whatever the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(fs::Permissions::from_mode(0o644))
            .map_err(io_err(&tmp))?;
    }
    file.write_all(contents).map_err(io_err(&tmp))?;
    file.sync_all().map_err(io_err(&tmp))?;
    fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(parent) = path.parent() {
        if let Ok(dir) = fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(())
}

/// Loads the trust list from a keys directory.
pub fn load_trust_list(dir: &Path) -> Result<TrustList, KeyError> {
    let path = dir.join(TRUST_LIST_FILE);
    let meta = fs::metadata(&path).map_err(io_err(&path))?;
    if meta.len() > MAX_TRUST_LIST_BYTES as u64 {
        return Err(KeyError::Malformed("trust list over the size limit".into()));
    }
    TrustList::parse(&fs::read(&path).map_err(io_err(&path))?)
}

/// What `keygen` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeygenReport {
    pub new_kid: KeyId,
    pub retired_kid: Option<KeyId>,
    pub log_key_created: bool,
}

/// Generates a credential key (retiring the active one, if any) and, once, the log key.
pub fn keygen(dir: &Path, origin: &str, now: UnixSeconds) -> Result<KeygenReport, KeyError> {
    create_private_dir(dir).map_err(io_err(dir))?;
    let mut trust = match load_trust_list(dir) {
        Ok(list) => list,
        Err(KeyError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            TrustList::default()
        }
        Err(other) => return Err(other),
    };
    let retired_kid = trust.active().map(|k| k.kid);
    let key = SigningKey::generate(&mut OsRng);
    let kid = KeyId::of(&key.verifying_key());
    write_private_pem(&credential_key_path(dir, &kid), &key)?;
    if let Some(old) = retired_kid {
        trust.set_status(&old, KeyStatus::Retired, now);
    }
    trust.keys.push(TrustedKey {
        kid,
        key: key.verifying_key(),
        status: KeyStatus::Active,
        not_before: now,
        not_after: None,
    });
    write_public_file(&dir.join(TRUST_LIST_FILE), trust.to_json().as_bytes())?;
    let log_key_created = ensure_log_key(dir, origin)?;
    Ok(KeygenReport {
        new_kid: kid,
        retired_kid,
        log_key_created,
    })
}

fn ensure_log_key(dir: &Path, origin: &str) -> Result<bool, KeyError> {
    let path = dir.join(LOG_KEY_FILE);
    if path.exists() {
        return Ok(false);
    }
    let key = SigningKey::generate(&mut OsRng);
    write_private_pem(&path, &key)?;
    write_public_file(&dir.join(LOG_ORIGIN_FILE), format!("{origin}\n").as_bytes())?;
    let vkey = crate::log::note::VerifierKey::ed25519(origin, key.verifying_key())
        .map_err(|e| KeyError::Malformed(e.to_string()))?;
    write_public_file(&dir.join(LOG_VKEY_FILE), format!("{vkey}\n").as_bytes())?;
    Ok(true)
}

/// Marks a credential key revoked in the trust list.
pub fn revoke(dir: &Path, kid: &KeyId, now: UnixSeconds) -> Result<(), KeyError> {
    let mut trust = load_trust_list(dir)?;
    if !trust.set_status(kid, KeyStatus::Revoked, now) {
        return Err(KeyError::UnknownKid(kid.to_string()));
    }
    write_public_file(&dir.join(TRUST_LIST_FILE), trust.to_json().as_bytes())
}

/// Loads the active credential signing key.
pub fn load_credential_signer(dir: &Path) -> Result<CredentialSigner, KeyError> {
    let trust = load_trust_list(dir)?;
    let active = trust
        .active()
        .ok_or_else(|| KeyError::NoActiveKey(dir.to_path_buf()))?;
    let key = read_private_pem(&credential_key_path(dir, &active.kid))?;
    if key.verifying_key() != active.key {
        return Err(KeyError::Malformed(
            "active key file does not match the trust list".into(),
        ));
    }
    Ok(CredentialSigner {
        kid: active.kid,
        key,
    })
}

/// Loads the log signing key and its origin line.
pub fn load_log_key(dir: &Path) -> Result<LogKey, KeyError> {
    let key = read_private_pem(&dir.join(LOG_KEY_FILE))?;
    let origin_path = dir.join(LOG_ORIGIN_FILE);
    let origin = fs::read_to_string(&origin_path)
        .map_err(io_err(&origin_path))?
        .trim()
        .to_string();
    Ok(LogKey { origin, key })
}

/// The log's origin line, if the keys dir has one (a verifier's copy may hold only the trust
/// list).
pub fn load_log_origin(dir: &Path) -> Option<String> {
    let text = fs::read_to_string(dir.join(LOG_ORIGIN_FILE)).ok()?;
    Some(text.trim().to_string()).filter(|o| !o.is_empty())
}

/// Reads the log's published verifier key.
pub fn load_log_vkey(path: &Path) -> Result<crate::log::note::VerifierKey, KeyError> {
    let text = fs::read_to_string(path).map_err(io_err(path))?;
    text.trim()
        .parse()
        .map_err(|e: crate::log::note::NoteError| KeyError::Malformed(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kid_is_the_rfc7638_thumbprint_prefix() {
        // RFC 8037 appendix A.3: thumbprint of the RFC 8032 test-1 public key.
        let x = hex_bytes("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        let key = VerifyingKey::from_bytes(&x.try_into().unwrap()).unwrap();
        let full = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k";
        let full = URL_SAFE_NO_PAD.decode(full).unwrap();
        assert_eq!(KeyId::of(&key).as_bytes(), &full[..KID_BYTES]);
    }

    fn hex_bytes(hex: &str) -> Vec<u8> {
        (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn keygen_creates_private_files_0600_and_rotates() {
        let dir = tempfile::tempdir().unwrap();
        let first = keygen(dir.path(), "test.example/log", 1_000).unwrap();
        assert!(first.log_key_created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for name in [
                LOG_KEY_FILE.to_string(),
                format!("credential-{}.key.pem", first.new_kid),
            ] {
                let mode = fs::metadata(dir.path().join(name))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600);
            }
        }
        let second = keygen(dir.path(), "test.example/log", 2_000).unwrap();
        assert_eq!(second.retired_kid, Some(first.new_kid));
        assert!(!second.log_key_created);
        let trust = load_trust_list(dir.path()).unwrap();
        assert_eq!(trust.active().unwrap().kid, second.new_kid);
        let old = first.new_kid.as_bytes();
        assert!(
            trust.resolve(old, 1_500).is_ok(),
            "retired key verifies its window"
        );
        assert!(matches!(
            trust.resolve(old, 2_500),
            Err(KeyError::OutsideWindow { .. })
        ));
        revoke(dir.path(), &first.new_kid, 3_000).unwrap();
        let trust = load_trust_list(dir.path()).unwrap();
        assert!(matches!(
            trust.resolve(old, 1_500),
            Err(KeyError::Revoked(_))
        ));
        assert_eq!(
            load_credential_signer(dir.path()).unwrap().kid,
            second.new_kid
        );
        assert_eq!(load_log_key(dir.path()).unwrap().origin, "test.example/log");
    }

    #[test]
    fn trust_list_refuses_a_kid_that_does_not_match_its_key() {
        let key = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let json = format!(
            r#"{{"keys":[{{"kid":"AAAAAAAAAAA","kty":"OKP","crv":"Ed25519","x":"{}","status":"active","not_before":"2024-01-01T00:00:00Z","not_after":null}}]}}"#,
            URL_SAFE_NO_PAD.encode(key.as_bytes())
        );
        assert!(matches!(
            TrustList::parse(json.as_bytes()),
            Err(KeyError::Malformed(_))
        ));
    }

    #[test]
    fn trust_list_round_trips() {
        let key = SigningKey::from_bytes(&[1; 32]).verifying_key();
        let list = TrustList::from_keys(vec![TrustedKey {
            kid: KeyId::of(&key),
            key,
            status: KeyStatus::Active,
            not_before: 0,
            not_after: None,
        }]);
        assert_eq!(TrustList::parse(list.to_json().as_bytes()).unwrap(), list);
    }
}

//! The credential keys of a running service, replaced while it runs.
//!
//! `licreg revoke-key` and `licreg keygen` edit the keys dir; a service that read its keys once
//! would go on signing with a revoked key and calling its credentials valid. Here the signer
//! and trust list sit behind one swappable snapshot: [`LiveKeys::reload`] re-reads the dir when
//! the trust list changed (the service polls it every [`RELOAD_INTERVAL_MS`] and on SIGHUP), and
//! [`LiveKeys::signer`] hands out the active key only while the current trust list still calls
//! it active, so a revoked key stops signing at the next reload even if no new key exists.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

use crate::keys::{self, CredentialSigner, KeyError, KeyStatus, TrustList};

/// How often a running service looks at its keys dir.
pub const RELOAD_INTERVAL_MS: u64 = 2_000;

/// One consistent view of the keys.
#[derive(Debug, Clone)]
pub struct KeySet {
    pub signer: Option<Arc<CredentialSigner>>,
    pub trust: Arc<TrustList>,
}

/// No key may sign now: the active key was revoked and none replaced it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("no active credential key: the active key was retired or revoked; run `licreg keygen`")]
pub struct NoSigningKey;

/// The service's keys, reloadable from its keys dir.
#[derive(Debug)]
pub struct LiveKeys {
    dir: Option<PathBuf>,
    current: RwLock<Arc<KeySet>>,
    /// The trust list's modification time at the last load.
    loaded: Mutex<Option<SystemTime>>,
}

impl LiveKeys {
    /// Keys that never change (tests, benches).
    pub fn fixed(signer: CredentialSigner, trust: TrustList) -> Self {
        LiveKeys {
            dir: None,
            current: RwLock::new(Arc::new(KeySet {
                signer: Some(Arc::new(signer)),
                trust: Arc::new(trust),
            })),
            loaded: Mutex::new(None),
        }
    }

    /// The keys in `dir`, reloadable.
    pub fn load(dir: PathBuf) -> Result<Self, KeyError> {
        let keys = LiveKeys {
            current: RwLock::new(Arc::new(read(&dir)?)),
            loaded: Mutex::new(modified(&dir)),
            dir: Some(dir),
        };
        Ok(keys)
    }

    fn snapshot(&self) -> Arc<KeySet> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The key to sign with now.
    pub fn signer(&self) -> Result<Arc<CredentialSigner>, NoSigningKey> {
        self.snapshot().signer.clone().ok_or(NoSigningKey)
    }

    /// The trust list as of the last reload.
    pub fn trust(&self) -> Arc<TrustList> {
        Arc::clone(&self.snapshot().trust)
    }

    /// Re-reads the keys dir if its trust list changed since the last load; true if the keys
    /// were replaced. A dir that does not read (a half-written edit) keeps the old keys and
    /// reports the error, except that a key the new list revokes is never kept signing.
    pub fn reload(&self) -> Result<bool, KeyError> {
        let Some(dir) = &self.dir else {
            return Ok(false);
        };
        let stamp = modified(dir);
        let mut loaded = self.loaded.lock().unwrap_or_else(|p| p.into_inner());
        if stamp == *loaded {
            return Ok(false);
        }
        let fresh = read(dir)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(fresh);
        *loaded = stamp;
        Ok(true)
    }
}

fn modified(dir: &std::path::Path) -> Option<SystemTime> {
    std::fs::metadata(dir.join(keys::TRUST_LIST_FILE))
        .and_then(|m| m.modified())
        .ok()
}

/// The trust list and, if it names an active key whose private key is present, the signer.
fn read(dir: &std::path::Path) -> Result<KeySet, KeyError> {
    let trust = keys::load_trust_list(dir)?;
    let signer = match trust.active() {
        Some(active) if active.status == KeyStatus::Active => {
            Some(Arc::new(keys::load_credential_signer(dir)?))
        }
        _ => None,
    };
    Ok(KeySet {
        signer,
        trust: Arc::new(trust),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_revoked_key_stops_signing_at_the_next_reload_and_a_new_one_takes_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        keys::keygen(&path, "test.example/log", 1_700_000_000).unwrap();
        let live = LiveKeys::load(path.clone()).unwrap();
        let first = live.signer().unwrap();
        assert!(!live.reload().unwrap(), "nothing changed");
        // Filesystems with coarse timestamps: make the change visible.
        std::thread::sleep(std::time::Duration::from_millis(20));
        keys::revoke(&path, &first.kid, 1_700_000_100).unwrap();
        let list = path.join(keys::TRUST_LIST_FILE);
        let later = SystemTime::now() + std::time::Duration::from_secs(5);
        std::fs::File::options()
            .write(true)
            .open(&list)
            .unwrap()
            .set_modified(later)
            .unwrap();
        assert!(live.reload().unwrap());
        assert!(live.signer().is_err());
        assert!(live
            .trust()
            .resolve(first.kid.as_bytes(), 1_700_000_000)
            .is_err());
        keys::keygen(&path, "test.example/log", 1_700_000_200).unwrap();
        let latest = SystemTime::now() + std::time::Duration::from_secs(10);
        std::fs::File::options()
            .write(true)
            .open(&list)
            .unwrap()
            .set_modified(latest)
            .unwrap();
        assert!(live.reload().unwrap());
        assert_ne!(live.signer().unwrap().kid, first.kid);
    }
}

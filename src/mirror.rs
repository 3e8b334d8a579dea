//! `licreg mirror`: follow a registry's log through its tlog-tiles endpoints and keep a verified
//! copy that any static host can serve.
//!
//! Each sync fetches `/checkpoint`, checks the log's signature, downloads the entry bundles it
//! lacks, hashes every entry, and recomputes the tree root over all entries it holds. The root
//! must equal the checkpoint's, and the previously verified checkpoint must be a prefix of the new
//! tree, proved with an RFC 6962 consistency proof between the two roots. A log that rolls back,
//! forks or serves entries that do not hash to its root is reported and nothing is written.
//! Full bundles are stored under `tile/entries/` in the tlog-tiles layout.

use std::path::{Path, PathBuf};

use crate::keys::write_public_file;
use crate::log::checkpoint::Checkpoint;
use crate::log::merkle::{self, Hash, MemoryStore};
use crate::log::note::VerifierKey;
use crate::log::tiles::{index_path, split_bundle, TILE_WIDTH};

/// Largest checkpoint or bundle downloaded, in bytes.
pub const MAX_DOWNLOAD_BYTES: usize = 256 * 256 * 1024;
const CHECKPOINT_FILE: &str = "checkpoint";
const PINNED_KEY_FILE: &str = "log.vkey";

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error("no log key: pass --log-key the first time; it is then pinned in {0}")]
    NoKey(PathBuf),
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the checkpoint does not verify: {0}")]
    Checkpoint(String),
    #[error("the log went back from size {old} to {new}")]
    Rollback { old: u64, new: u64 },
    #[error("the log's entries do not hash to its signed root at size {0}")]
    RootMismatch(u64),
    #[error("the new checkpoint is not consistent with the one verified before: {0}")]
    Inconsistent(String),
    #[error("bundle {0} is malformed")]
    Bundle(u64),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

/// What one sync did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synced {
    pub previous_size: u64,
    pub size: u64,
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> MirrorError + '_ {
    move |e| MirrorError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

async fn fetch(http: &reqwest::Client, url: &str) -> Result<Vec<u8>, MirrorError> {
    let fail = |reason: String| MirrorError::Fetch {
        url: url.to_string(),
        reason,
    };
    let response = http
        .get(url)
        .send()
        .await
        .map_err(|e| fail(e.to_string()))?;
    if !response.status().is_success() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    let bytes = response.bytes().await.map_err(|e| fail(e.to_string()))?;
    if bytes.len() > MAX_DOWNLOAD_BYTES {
        return Err(fail("over the size limit".into()));
    }
    Ok(bytes.to_vec())
}

/// The pinned log key, pinning `given` on first use; a different key later is refused.
pub fn pin_key(dir: &Path, given: Option<&VerifierKey>) -> Result<VerifierKey, MirrorError> {
    let path = dir.join(PINNED_KEY_FILE);
    // Entry bundles hold personal data: the mirror is private.
    crate::private_fs::create_private_dir(dir).map_err(io_err(dir))?;
    if path.exists() {
        let pinned = crate::keys::load_log_vkey(&path)
            .map_err(|e| MirrorError::Checkpoint(e.to_string()))?;
        if given.is_some_and(|g| g != &pinned) {
            return Err(MirrorError::Checkpoint(
                "a different log key is pinned for this mirror".into(),
            ));
        }
        return Ok(pinned);
    }
    let key = given.ok_or_else(|| MirrorError::NoKey(path.clone()))?;
    write_public_file(&path, format!("{key}\n").as_bytes())
        .map_err(|e| MirrorError::Checkpoint(e.to_string()))?;
    Ok(key.clone())
}

/// Leaf hashes of every full bundle already mirrored.
fn local_leaves(dir: &Path) -> Result<Vec<Hash>, MirrorError> {
    let mut leaves = Vec::new();
    for n in 0.. {
        let path = dir.join("tile/entries").join(index_path(n));
        if !path.exists() {
            break;
        }
        let bytes = std::fs::read(&path).map_err(io_err(&path))?;
        let entries = split_bundle(&bytes).ok_or(MirrorError::Bundle(n))?;
        leaves.extend(entries.into_iter().map(merkle::leaf_hash));
    }
    Ok(leaves)
}

fn local_checkpoint(dir: &Path, key: &VerifierKey) -> Result<Option<Checkpoint>, MirrorError> {
    let path = dir.join(CHECKPOINT_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&path).map_err(io_err(&path))?;
    Checkpoint::open_signed(&text, key, key.name())
        .map(|(c, _)| Some(c))
        .map_err(|e| MirrorError::Checkpoint(e.to_string()))
}

/// The key to follow `base` with: the pinned one, the one given, or (first use only, with a
/// warning from the caller) the one the registry publishes at `/v1/log-key`.
pub async fn resolve_key(
    http: &reqwest::Client,
    base: &str,
    dir: &Path,
    given: Option<&VerifierKey>,
) -> Result<(VerifierKey, bool), MirrorError> {
    let pinned = dir.join(PINNED_KEY_FILE).exists();
    if pinned || given.is_some() {
        return pin_key(dir, given).map(|k| (k, false));
    }
    let url = format!("{}/v1/log-key", base.trim_end_matches('/'));
    let text = String::from_utf8(fetch(http, &url).await?)
        .map_err(|_| MirrorError::Checkpoint("log key is not UTF-8".into()))?;
    let key: VerifierKey = text
        .trim()
        .parse()
        .map_err(|e: crate::log::note::NoteError| MirrorError::Checkpoint(e.to_string()))?;
    pin_key(dir, Some(&key)).map(|k| (k, true))
}

/// One sync from `base` into `dir`.
pub async fn sync(
    http: &reqwest::Client,
    base: &str,
    dir: &Path,
    key: &VerifierKey,
) -> Result<Synced, MirrorError> {
    let base = base.trim_end_matches('/');
    let previous = local_checkpoint(dir, key)?;
    let note = fetch(http, &format!("{base}/checkpoint")).await?;
    let note = String::from_utf8(note).map_err(|_| MirrorError::Checkpoint("not UTF-8".into()))?;
    let (checkpoint, _) = Checkpoint::open_signed(&note, key, key.name())
        .map_err(|e| MirrorError::Checkpoint(e.to_string()))?;
    let old_size = previous.as_ref().map_or(0, |c| c.size);
    if checkpoint.size < old_size {
        return Err(MirrorError::Rollback {
            old: old_size,
            new: checkpoint.size,
        });
    }
    let mut leaves = local_leaves(dir)?;
    let mut new_full: Vec<(u64, Vec<u8>)> = Vec::new();
    let have_full = leaves.len() as u64 / TILE_WIDTH;
    let full = checkpoint.size / TILE_WIDTH;
    let partial = checkpoint.size % TILE_WIDTH;
    leaves.truncate((have_full * TILE_WIDTH) as usize);
    for n in have_full..=full {
        let width = if n < full { None } else { Some(partial) };
        if width == Some(0) {
            break;
        }
        let suffix = width.map_or(String::new(), |w| format!(".p/{w}"));
        let url = format!("{base}/tile/entries/{}{suffix}", index_path(n));
        let bytes = fetch(http, &url).await?;
        let entries = split_bundle(&bytes).ok_or(MirrorError::Bundle(n))?;
        if entries.len() as u64 != width.unwrap_or(TILE_WIDTH) {
            return Err(MirrorError::Bundle(n));
        }
        leaves.extend(entries.into_iter().map(merkle::leaf_hash));
        if width.is_none() {
            new_full.push((n, bytes));
        }
    }
    verify_tree(&leaves, &checkpoint, previous.as_ref())?;
    for (n, bytes) in new_full {
        let path = dir.join("tile/entries").join(index_path(n));
        if let Some(parent) = path.parent() {
            crate::private_fs::create_private_dir(parent).map_err(io_err(parent))?;
        }
        crate::private_fs::write_private_file(&path, &bytes).map_err(io_err(&path))?;
    }
    let path = dir.join(CHECKPOINT_FILE);
    write_public_file(&path, note.as_bytes())
        .map_err(|e| MirrorError::Checkpoint(e.to_string()))?;
    Ok(Synced {
        previous_size: old_size,
        size: checkpoint.size,
    })
}

/// The root over `leaves` must be the checkpoint's, and the earlier checkpoint a prefix of it.
fn verify_tree(
    leaves: &[Hash],
    checkpoint: &Checkpoint,
    previous: Option<&Checkpoint>,
) -> Result<(), MirrorError> {
    let store = MemoryStore::from_leaves(leaves.iter().copied())
        .map_err(|e| MirrorError::Inconsistent(e.to_string()))?;
    let root = if leaves.is_empty() {
        merkle::empty_root()
    } else {
        merkle::root(&store, leaves.len() as u64)
            .map_err(|e| MirrorError::Inconsistent(format!("{e:?}")))?
    };
    if leaves.len() as u64 != checkpoint.size || root != checkpoint.root {
        return Err(MirrorError::RootMismatch(checkpoint.size));
    }
    let Some(previous) = previous.filter(|p| p.size > 0 && p.size < checkpoint.size) else {
        return match previous {
            Some(p) if p.size == checkpoint.size && p.root != checkpoint.root => Err(
                MirrorError::Inconsistent("same size, different root".into()),
            ),
            _ => Ok(()),
        };
    };
    let proof = merkle::consistency_proof(&store, previous.size, checkpoint.size)
        .map_err(|e| MirrorError::Inconsistent(format!("{e:?}")))?;
    merkle::verify_consistency(
        previous.size,
        checkpoint.size,
        &proof,
        &previous.root,
        &checkpoint.root,
    )
    .map_err(|e| MirrorError::Inconsistent(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forked_history_is_refused() {
        let leaves: Vec<Hash> = (0..10u64)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        let store = MemoryStore::from_leaves(leaves.iter().copied()).unwrap();
        let now = Checkpoint::new("m.example/log", 10, store.root()).unwrap();
        let honest_before =
            Checkpoint::new("m.example/log", 4, merkle::root(&store, 4).unwrap()).unwrap();
        verify_tree(&leaves, &now, Some(&honest_before)).unwrap();
        let forked_before = Checkpoint::new("m.example/log", 4, [7; 32]).unwrap();
        assert!(matches!(
            verify_tree(&leaves, &now, Some(&forked_before)),
            Err(MirrorError::Inconsistent(_))
        ));
        let lying = Checkpoint::new("m.example/log", 10, [9; 32]).unwrap();
        assert!(matches!(
            verify_tree(&leaves, &lying, None),
            Err(MirrorError::RootMismatch(10))
        ));
    }
}

//! Publishing the log as static files: C2SP tlog-tiles on a directory or an S3-compatible bucket.
//!
//! Readers of the log (platforms, agencies, mirrors, monitors) should not all hit the registry
//! process. A tile's path names its content for good (a partial tile's path carries its width),
//! so tiles can be written once and cached forever by any static server or CDN; only the
//! checkpoint changes. The publisher writes, for the registry's current checkpoint, every tile
//! (and, if configured, every entry bundle) that the target's last published checkpoint did not
//! cover, create-only with `Cache-Control: public, max-age=31536000, immutable`, and then the
//! checkpoint with `no-cache`. Tiles go first, so a reader never sees a checkpoint whose tiles
//! are missing. Entry bundles hold personal data: they go only to the separately configured
//! (private) target, or nowhere.
//!
//! Which tiles a size adds is pure ([`new_tiles`]); the rest is I/O through `object_store`.

use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{
    Attribute, Attributes, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
};

use crate::ledger::{Ledger, LedgerError};
use crate::log::checkpoint::Checkpoint;
use crate::log::note::VerifierKey;
use crate::log::tiles::{index_path, MAX_TILE_LEVEL, TILE_HEIGHT, TILE_WIDTH};

/// What immutable objects (tiles, bundles) are served with.
pub const TILE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// What the checkpoint is served with: always revalidated.
pub const CHECKPOINT_CACHE_CONTROL: &str = "no-cache";
/// Largest checkpoint read back from a target.
pub const MAX_CHECKPOINT_BYTES: usize = 16 * 1024;
/// How often the service publishes new tiles, when a target is configured.
pub const PUBLISH_INTERVAL_MS: u64 = 1_000;

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("publish target {0:?}: use file:///DIR, a directory path, or s3://BUCKET[/PREFIX]")]
    BadTarget(String),
    #[error("object store: {0}")]
    Store(#[from] object_store::Error),
    #[error("ledger: {0}")]
    Ledger(#[from] LedgerError),
    #[error("the target holds a checkpoint that does not verify with this log's key: {0}")]
    ForeignCheckpoint(String),
    #[error("the target is at size {target}, ahead of this log ({ours})")]
    TargetAhead { target: u64, ours: u64 },
    #[error("{0} already exists on the target with other content")]
    Conflict(String),
    #[error("the log has no checkpoint yet")]
    NoCheckpoint,
}

/// One tile or entry bundle: `level` `None` for an entry bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TileRef {
    pub level: Option<u8>,
    pub index: u64,
    /// `None` for a full tile.
    pub width: Option<u16>,
}

impl TileRef {
    /// The object path under the target's prefix, as tlog-tiles names it.
    pub fn path(&self) -> String {
        let level = match self.level {
            Some(level) => level.to_string(),
            None => "entries".to_string(),
        };
        let width = self.width.map(|w| format!(".p/{w}")).unwrap_or_default();
        format!("tile/{level}/{}{width}", index_path(self.index))
    }
}

/// The tiles a tree of `new_size` has that a tree of `old_size` had not (full tiles that
/// completed, and the partial tiles at the new right edge), lowest level first; with
/// `bundles`, the entry bundles likewise.
pub fn new_tiles(old_size: u64, new_size: u64, bundles: bool) -> Vec<TileRef> {
    let mut out = Vec::new();
    if new_size <= old_size {
        return out;
    }
    let mut push_level = |level: Option<u8>, old_count: u64, new_count: u64| {
        let (old_full, new_full) = (old_count / TILE_WIDTH, new_count / TILE_WIDTH);
        for index in old_full..new_full {
            out.push(TileRef {
                level,
                index,
                width: None,
            });
        }
        let partial = new_count % TILE_WIDTH;
        if partial != 0 && new_count != old_count {
            out.push(TileRef {
                level,
                index: new_full,
                width: Some(partial as u16),
            });
        }
    };
    for level in 0..=MAX_TILE_LEVEL {
        let shift = u32::from(level) * TILE_HEIGHT;
        let new_count = new_size.checked_shr(shift).unwrap_or(0);
        if new_count == 0 {
            break;
        }
        push_level(
            Some(level),
            old_size.checked_shr(shift).unwrap_or(0),
            new_count,
        );
    }
    if bundles {
        push_level(None, old_size, new_size);
    }
    out
}

/// Opens a target: `file:///DIR` or a path (a directory, created if missing), or
/// `s3://BUCKET[/PREFIX]` with credentials and endpoint from the usual `AWS_*` environment.
/// The flag says whether the store keeps per-object `Cache-Control` (a directory does not: the
/// static server in front of it sets the headers, see docs/operations.md).
pub fn open_target(target: &str) -> Result<(Arc<dyn ObjectStore>, bool), PublishError> {
    if let Some(rest) = target.strip_prefix("s3://") {
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(PublishError::BadTarget(target.to_string()));
        }
        let store = object_store::aws::AmazonS3Builder::from_env()
            .with_bucket_name(bucket)
            .build()?;
        let store: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
            Arc::new(store)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                store,
                prefix.trim_matches('/'),
            ))
        };
        return Ok((store, true));
    }
    let dir = target.strip_prefix("file://").unwrap_or(target);
    if dir.is_empty() || target.contains("://") && !target.starts_with("file://") {
        return Err(PublishError::BadTarget(target.to_string()));
    }
    std::fs::create_dir_all(dir).map_err(|e| PublishError::BadTarget(format!("{target}: {e}")))?;
    let store = object_store::local::LocalFileSystem::new_with_prefix(dir)?;
    Ok((Arc::new(store), false))
}

/// Where a log is published.
pub struct Publisher {
    tiles: Arc<dyn ObjectStore>,
    tiles_keep_headers: bool,
    bundles: Option<(Arc<dyn ObjectStore>, bool)>,
    key: VerifierKey,
}

/// What one publication did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Published {
    pub previous_size: u64,
    pub size: u64,
    pub objects: usize,
}

impl Publisher {
    /// Tiles and checkpoint to `tiles`; entry bundles to `bundles` if given (a private target).
    pub fn open(
        tiles: &str,
        bundles: Option<&str>,
        key: VerifierKey,
    ) -> Result<Self, PublishError> {
        if bundles == Some(tiles) {
            return Err(PublishError::BadTarget(format!(
                "{tiles}: entry bundles hold personal data and go to a target of their own"
            )));
        }
        let (tiles, tiles_keep_headers) = open_target(tiles)?;
        let bundles = bundles.map(open_target).transpose()?;
        Ok(Publisher {
            tiles,
            tiles_keep_headers,
            bundles,
            key,
        })
    }

    /// The size of the checkpoint already on `store` (0 if none), checked with the log key.
    async fn published_size(&self, store: &dyn ObjectStore) -> Result<u64, PublishError> {
        let note = match store.get(&ObjectPath::from("checkpoint")).await {
            Ok(got) => got.bytes().await?,
            Err(object_store::Error::NotFound { .. }) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        if note.len() > MAX_CHECKPOINT_BYTES {
            return Err(PublishError::ForeignCheckpoint("too large".into()));
        }
        let text = std::str::from_utf8(&note)
            .map_err(|_| PublishError::ForeignCheckpoint("not UTF-8".into()))?;
        let (checkpoint, _) = Checkpoint::open_signed(text, &self.key, self.key.name())
            .map_err(|e| PublishError::ForeignCheckpoint(e.to_string()))?;
        Ok(checkpoint.size)
    }

    /// Publishes what the ledger's current checkpoint adds: the Merkle tiles to the tiles
    /// target and the entry bundles to the bundles target, each followed by the checkpoint
    /// (which holds no personal data), so each target is a complete tlog-tiles source for
    /// what it holds. Answers for the tiles target.
    pub async fn publish(&self, ledger: &Ledger) -> Result<Published, PublishError> {
        let note = ledger.checkpoint().ok_or(PublishError::NoCheckpoint)?;
        let (checkpoint, _) = Checkpoint::open_signed(&note, &self.key, self.key.name())
            .map_err(|e| PublishError::ForeignCheckpoint(e.to_string()))?;
        let tiles = self
            .publish_to(
                ledger,
                &note,
                checkpoint.size,
                &self.tiles,
                self.tiles_keep_headers,
                false,
            )
            .await?;
        if let Some((store, keep_headers)) = &self.bundles {
            self.publish_to(ledger, &note, checkpoint.size, store, *keep_headers, true)
                .await?;
        }
        Ok(tiles)
    }

    /// One target: Merkle tiles, or (`bundles`) entry bundles, then the checkpoint.
    async fn publish_to(
        &self,
        ledger: &Ledger,
        note: &str,
        size: u64,
        store: &Arc<dyn ObjectStore>,
        keep_headers: bool,
        bundles: bool,
    ) -> Result<Published, PublishError> {
        let previous_size = self.published_size(store.as_ref()).await?;
        if previous_size > size {
            return Err(PublishError::TargetAhead {
                target: previous_size,
                ours: size,
            });
        }
        let mut objects = 0;
        let wanted = new_tiles(previous_size, size, bundles)
            .into_iter()
            .filter(|tile| tile.level.is_none() == bundles);
        for tile in wanted {
            let bytes = match tile.level {
                Some(level) => ledger.tile(level, tile.index, tile.width)?,
                None => ledger.entry_bundle(tile.index, tile.width)?,
            };
            let bytes = bytes.ok_or(LedgerError::NoSuchEntry(tile.index))?;
            put_immutable(store.as_ref(), keep_headers, &tile.path(), bytes).await?;
            objects += 1;
        }
        if previous_size != size {
            let options = PutOptions {
                mode: PutMode::Overwrite,
                attributes: cache_control(keep_headers, CHECKPOINT_CACHE_CONTROL),
                ..Default::default()
            };
            let payload = PutPayload::from(note.as_bytes().to_vec());
            store
                .put_opts(&ObjectPath::from("checkpoint"), payload, options)
                .await?;
            objects += 1;
        }
        Ok(Published {
            previous_size,
            size,
            objects,
        })
    }
}

fn cache_control(keep_headers: bool, value: &'static str) -> Attributes {
    let mut attributes = Attributes::new();
    if keep_headers {
        attributes.insert(Attribute::CacheControl, value.into());
    }
    attributes
}

/// Writes an object once. One that is already there (an earlier run stopped before its
/// checkpoint) must hold the same bytes: a tile's content is fixed by its path.
async fn put_immutable(
    store: &dyn ObjectStore,
    keep_headers: bool,
    path: &str,
    bytes: Vec<u8>,
) -> Result<(), PublishError> {
    let location = ObjectPath::from(path);
    let options = PutOptions {
        mode: PutMode::Create,
        attributes: cache_control(keep_headers, TILE_CACHE_CONTROL),
        ..Default::default()
    };
    match store
        .put_opts(&location, PutPayload::from(bytes.clone()), options)
        .await
    {
        Ok(_) => Ok(()),
        Err(object_store::Error::AlreadyExists { .. }) => {
            let existing = store.get(&location).await?.bytes().await?;
            if existing.as_ref() == bytes.as_slice() {
                Ok(())
            } else {
                Err(PublishError::Conflict(path.to_string()))
            }
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(tiles: &[TileRef]) -> Vec<String> {
        tiles.iter().map(TileRef::path).collect()
    }

    #[test]
    fn a_growing_tree_adds_full_tiles_once_and_partial_tiles_at_its_edge() {
        assert!(new_tiles(5, 5, true).is_empty());
        assert_eq!(
            paths(&new_tiles(0, 3, true)),
            ["tile/0/000.p/3", "tile/entries/000.p/3"]
        );
        assert_eq!(
            paths(&new_tiles(3, 256, false)),
            ["tile/0/000", "tile/1/000.p/1"]
        );
        assert_eq!(
            paths(&new_tiles(256, 300, false)),
            ["tile/0/001.p/44"],
            "level 1 did not change"
        );
        assert_eq!(
            paths(&new_tiles(300, 70_000, false)).len(),
            (273 - 1) + 1 + 1 + 1 + 1,
            "272 more full level-0 tiles, the level-0 edge, a full level-1 tile and its edge, \
             and the first level-2 hash"
        );
        assert_eq!(new_tiles(0, 1_000_000, false)[0].path(), "tile/0/000");
        let big = new_tiles(0, 256 * 256 * 256 + 1, false);
        assert!(big.iter().any(|t| t.path() == "tile/2/000"));
        assert!(big.iter().any(|t| t.path() == "tile/3/000.p/1"));
    }

    /// Every tile a size needs is published by some step on the way there, whatever the steps.
    #[test]
    fn publishing_in_steps_gives_the_same_full_tiles_as_at_once() {
        let sizes = [0u64, 1, 255, 256, 257, 1_000, 65_536, 65_537, 70_000];
        for window in sizes.windows(2) {
            let stepwise: Vec<TileRef> = sizes
                .iter()
                .zip(sizes.iter().skip(1))
                .take_while(|(_, to)| **to <= window[1])
                .flat_map(|(from, to)| new_tiles(*from, *to, true))
                .filter(|t| t.width.is_none())
                .collect();
            let at_once: Vec<TileRef> = new_tiles(0, window[1], true)
                .into_iter()
                .filter(|t| t.width.is_none())
                .collect();
            let mut a = paths(&stepwise);
            let mut b = paths(&at_once);
            a.sort();
            b.sort();
            assert_eq!(a, b, "up to {}", window[1]);
        }
    }

    #[test]
    fn targets_are_directories_or_s3_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pub");
        assert!(!open_target(path.to_str().unwrap()).unwrap().1);
        let url = format!("file://{}", path.display());
        assert!(open_target(&url).is_ok());
        assert!(matches!(
            open_target("ftp://x/y"),
            Err(PublishError::BadTarget(_))
        ));
        assert!(matches!(
            open_target("s3://"),
            Err(PublishError::BadTarget(_))
        ));
    }
}

//! A bounded cache of single-row reads, for both backends.
//!
//! A status lookup or an inclusion proof reads a handful of rows by key. Over a database
//! connection each read is a round trip; on sled each walks four or five pages of a tree of ten
//! million rows, about a fifth of a status lookup's CPU (sled's ledger writer reads around it,
//! so a bulk import does not fill it: `Backend::get_for_writer`). The cache keeps rows
//! read by key (and keys found absent), and on a database the complete results of short prefix
//! scans (a holder's licences and credit records, read twice per application), up to
//! [`ROW_CACHE_BYTES`], and stays right this way (a change to a key under a cached prefix drops
//! that scan):
//! - this process's own commits update the cached rows they wrote, and a failed commit empties it;
//! - a read that missed stores its answer only if no commit happened while it was in flight (a
//!   generation count), so a slow read never puts back a value a commit replaced;
//! - rows other processes change are noticed by the log size: whenever the stored size is not
//!   the one this process last wrote or saw ([`RowCache::observe`], at every group commit and
//!   every follow round), the keys the other writers changed in between are forgotten (their
//!   commits list them, [`ChangedKeys`]), or, when that list is not to be had, the whole cache.
//!   Readers may so see another node's change up to one follow interval late; the writer never
//!   does, because it observes the size under the group lock before it reads anything.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Most bytes of keys and values the cache holds; past it, it starts again empty.
pub const ROW_CACHE_BYTES: usize = 64 * 1024 * 1024;
/// What one cached row costs besides its bytes (map slot, vectors).
const ROW_OVERHEAD_BYTES: usize = 64;

/// Most rows a cached prefix scan may hold; a longer result is read from storage each time.
pub const MAX_CACHED_SCAN_ROWS: usize = 256;

/// Cached rows of one table: a key's value, or `None` for a key known to be absent.
type TableRows = HashMap<Vec<u8>, Option<Vec<u8>>>;

/// One key and its value, as a scan yields them.
pub type ScanRow = (Vec<u8>, Vec<u8>);

/// A cached scan's rows (ascending) and what they cost against [`ROW_CACHE_BYTES`].
type CachedScan = (Arc<[ScanRow]>, usize);

#[derive(Default)]
struct Inner {
    /// Per table, so that a lookup by `&[u8]` needs no owned key.
    tables: HashMap<i16, TableRows>,
    /// Complete results of prefix scans (a holder's licences, a subject's credit records): per
    /// table, by prefix.
    scans: HashMap<i16, HashMap<Vec<u8>, CachedScan>>,
    /// Per table, how many cached scans have a prefix of each length: a changed key can only
    /// fall under a cached prefix of one of these lengths.
    scan_lengths: HashMap<i16, BTreeMap<usize, usize>>,
    bytes: usize,
    generation: u64,
    seen_size: Option<u64>,
}

impl Inner {
    fn empty(&mut self) {
        self.clear();
        self.generation += 1;
    }

    fn clear(&mut self) {
        self.tables.clear();
        self.scans.clear();
        self.scan_lengths.clear();
        self.bytes = 0;
    }

    fn store_scan(&mut self, table: i16, prefix: Vec<u8>, rows: Vec<ScanRow>) {
        let cost = prefix.len()
            + ROW_OVERHEAD_BYTES
            + rows
                .iter()
                .map(|(k, v)| k.len() + v.len() + ROW_OVERHEAD_BYTES)
                .sum::<usize>();
        if self.bytes + cost > ROW_CACHE_BYTES {
            self.clear();
        }
        let len = prefix.len();
        let old = self
            .scans
            .entry(table)
            .or_default()
            .insert(prefix, (rows.into(), cost));
        match old {
            Some((_, old_cost)) => self.bytes = self.bytes.saturating_sub(old_cost),
            None => {
                *self
                    .scan_lengths
                    .entry(table)
                    .or_default()
                    .entry(len)
                    .or_default() += 1
            }
        }
        self.bytes += cost;
    }

    /// Drops every cached scan whose prefix `key` falls under: its result may have changed.
    fn drop_scans_over(&mut self, table: i16, key: &[u8]) {
        let Some(lengths) = self.scan_lengths.get_mut(&table) else {
            return;
        };
        let Some(scans) = self.scans.get_mut(&table) else {
            return;
        };
        let under: Vec<usize> = lengths.range(..=key.len()).map(|(l, _)| *l).collect();
        for len in under {
            if let Some((_, cost)) = scans.remove(&key[..len]) {
                self.bytes = self.bytes.saturating_sub(cost);
                if let Some(count) = lengths.get_mut(&len) {
                    *count -= 1;
                    if *count == 0 {
                        lengths.remove(&len);
                    }
                }
            }
        }
    }

    fn store(&mut self, table: i16, key: Vec<u8>, value: Option<Vec<u8>>) {
        let cost = key.len() + value.as_ref().map_or(0, Vec::len) + ROW_OVERHEAD_BYTES;
        if self.bytes + cost > ROW_CACHE_BYTES {
            self.clear();
        }
        if let Some(old) = self.tables.entry(table).or_default().insert(key, value) {
            self.bytes = self
                .bytes
                .saturating_sub(old.map_or(0, |v| v.len()) + ROW_OVERHEAD_BYTES);
        }
        self.bytes += cost;
    }

    fn forget(&mut self, table: i16, key: &[u8]) {
        self.drop_scans_over(table, key);
        let removed = self
            .tables
            .get_mut(&table)
            .and_then(|rows| rows.remove(key));
        if let Some(old) = removed {
            let cost = key.len() + old.map_or(0, |v| v.len()) + ROW_OVERHEAD_BYTES;
            self.bytes = self.bytes.saturating_sub(cost);
        }
    }

    fn holds(&self, table: i16, key: &[u8]) -> bool {
        self.tables
            .get(&table)
            .is_some_and(|rows| rows.contains_key(key))
    }
}

/// Every key other writers changed while the log grew from `from` to `to` entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangedKeys {
    pub from: u64,
    pub to: u64,
    pub keys: Vec<(i16, Vec<u8>)>,
}

/// See the module documentation.
#[derive(Default)]
pub struct RowCache(Mutex<Inner>);

impl RowCache {
    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The cached answer for a key: `Some(None)` is a key known to be absent.
    pub fn get(&self, table: i16, key: &[u8]) -> Option<Option<Vec<u8>>> {
        self.inner().tables.get(&table)?.get(key).cloned()
    }

    /// The complete, ascending result of a prefix scan, if cached.
    pub fn scan(&self, table: i16, prefix: &[u8]) -> Option<Arc<[ScanRow]>> {
        let inner = self.inner();
        let (rows, _) = inner.scans.get(&table)?.get(prefix)?;
        Some(Arc::clone(rows))
    }

    /// Stores the complete, ascending result of a prefix scan (up to
    /// [`MAX_CACHED_SCAN_ROWS`]), unless a commit or a reset happened since it started.
    pub fn fill_scan(&self, generation: u64, table: i16, prefix: Vec<u8>, rows: Vec<ScanRow>) {
        let mut inner = self.inner();
        if inner.generation == generation && rows.len() <= MAX_CACHED_SCAN_ROWS {
            inner.store_scan(table, prefix, rows);
        }
    }

    /// The generation to pass to [`RowCache::fill`] for a read about to start.
    pub fn generation(&self) -> u64 {
        self.inner().generation
    }

    /// Stores what a read found, unless a commit or a reset happened since it started.
    pub fn fill(&self, generation: u64, table: i16, key: Vec<u8>, value: Option<Vec<u8>>) {
        let mut inner = self.inner();
        if inner.generation == generation {
            inner.store(table, key, value);
        }
    }

    /// Records this process's committed changes, which moved the log to `size` (if it moved).
    /// Only rows already cached are updated: a bulk import writes millions of rows nobody has
    /// read, and caching them would only push out the ones readers use.
    pub fn committed<'a>(
        &self,
        changes: impl IntoIterator<Item = (i16, &'a [u8], Option<&'a [u8]>)>,
        size: Option<u64>,
    ) {
        let mut inner = self.inner();
        inner.generation += 1;
        if inner.bytes > 0 {
            for (table, key, value) in changes {
                inner.drop_scans_over(table, key);
                if inner.holds(table, key) {
                    inner.store(table, key.to_vec(), value.map(<[u8]>::to_vec));
                }
            }
        }
        if size.is_some() {
            inner.seen_size = size;
        }
    }

    /// Forgets everything (a failed commit, a cleared table).
    pub fn reset(&self) {
        self.inner().empty();
    }

    /// The log size this process last wrote or saw.
    pub fn seen_size(&self) -> Option<u64> {
        self.inner().seen_size
    }

    /// The stored log size is `size`: if that is not the size this process last wrote or saw,
    /// another process appended. `changed`, read from the log, names the keys it changed: those
    /// are forgotten if it spans exactly the entries between, and otherwise every row.
    pub fn observe(&self, size: u64, changed: Option<ChangedKeys>) {
        let mut inner = self.inner();
        if inner.seen_size == Some(size) {
            return;
        }
        match changed {
            Some(changed) if Some(changed.from) == inner.seen_size && changed.to == size => {
                // A read in flight may have found a value these changes replace.
                inner.generation += 1;
                for (table, key) in &changed.keys {
                    inner.forget(*table, key);
                }
            }
            _ => inner.empty(),
        }
        inner.seen_size = Some(size);
    }

    /// [`RowCache::observe`] with no list of changed keys.
    pub fn observe_size(&self, size: u64) {
        self.observe(size, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commits_update_rows_and_a_read_in_flight_cannot_undo_them() {
        let cache = RowCache::default();
        cache.observe_size(0);
        cache.fill(cache.generation(), 1, b"k".to_vec(), Some(b"old".to_vec()));
        let before = cache.generation();
        cache.committed(
            [
                (1, &b"k"[..], Some(&b"new"[..])),
                (1, &b"unread"[..], Some(&b"x"[..])),
            ],
            Some(1),
        );
        assert_eq!(
            cache.get(1, b"unread"),
            None,
            "rows nobody read are not cached"
        );
        // A read that started before the commit found the old value: it is not stored.
        cache.fill(before, 1, b"k".to_vec(), Some(b"old".to_vec()));
        assert_eq!(cache.get(1, b"k"), Some(Some(b"new".to_vec())));
        cache.fill(cache.generation(), 2, b"gone".to_vec(), None);
        assert_eq!(
            cache.get(2, b"gone"),
            Some(None),
            "absent keys are cached too"
        );
    }

    #[test]
    fn another_writer_empties_it_and_size_is_bounded() {
        let cache = RowCache::default();
        cache.fill(cache.generation(), 1, b"k".to_vec(), Some(b"v".to_vec()));
        cache.committed([(1, &b"k"[..], Some(&b"v"[..]))], Some(5));
        cache.observe_size(5);
        assert!(
            cache.get(1, b"k").is_some(),
            "our own size: nothing is stale"
        );
        cache.observe_size(7);
        assert!(cache.get(1, b"k").is_none(), "another process appended");
        let big = vec![0u8; 1024 * 1024];
        for i in 0..100u32 {
            cache.fill(
                cache.generation(),
                3,
                i.to_be_bytes().to_vec(),
                Some(big.clone()),
            );
            assert!(cache.inner().bytes <= ROW_CACHE_BYTES);
        }
    }

    #[test]
    fn keys_another_writer_changed_are_forgotten_and_only_those() {
        let cache = RowCache::default();
        cache.observe_size(10);
        for key in [&b"a"[..], b"b", b"c"] {
            cache.fill(cache.generation(), 1, key.to_vec(), Some(b"v".to_vec()));
        }
        let in_flight = cache.generation();
        cache.observe(
            12,
            Some(ChangedKeys {
                from: 10,
                to: 12,
                keys: vec![(1, b"b".to_vec()), (2, b"a".to_vec())],
            }),
        );
        assert!(cache.get(1, b"a").is_some(), "unchanged rows stay");
        assert!(cache.get(1, b"c").is_some(), "unchanged rows stay");
        assert_eq!(cache.get(1, b"b"), None, "the changed row is forgotten");
        cache.fill(in_flight, 1, b"b".to_vec(), Some(b"stale".to_vec()));
        assert_eq!(
            cache.get(1, b"b"),
            None,
            "a read from before cannot put it back"
        );
        assert_eq!(cache.seen_size(), Some(12));

        // A list that does not start where this process stood (a gap) empties everything.
        cache.observe(
            20,
            Some(ChangedKeys {
                from: 13,
                to: 20,
                keys: vec![],
            }),
        );
        assert!(cache.get(1, b"a").is_none() && cache.get(1, b"c").is_none());
        assert_eq!(cache.seen_size(), Some(20));
        // So does one that stops short of the size observed.
        cache.fill(cache.generation(), 1, b"a".to_vec(), Some(b"v".to_vec()));
        cache.observe(
            25,
            Some(ChangedKeys {
                from: 20,
                to: 24,
                keys: vec![],
            }),
        );
        assert!(cache.get(1, b"a").is_none());
    }

    #[test]
    fn a_cached_scan_is_dropped_by_any_change_under_its_prefix_and_only_by_those() {
        let cache = RowCache::default();
        cache.observe_size(1);
        let rows = vec![(b"holder\0L1".to_vec(), Vec::new())];
        cache.fill_scan(cache.generation(), 5, b"holder\0".to_vec(), rows.clone());
        cache.fill_scan(cache.generation(), 5, b"other\0".to_vec(), Vec::new());
        assert_eq!(cache.scan(5, b"holder\0").as_deref(), Some(&rows[..]));
        assert_eq!(cache.scan(6, b"holder\0"), None, "per table");

        // This process commits a key under one prefix: that scan goes, the other stays.
        cache.committed([(5, &b"holder\0L2"[..], Some(&b""[..]))], Some(2));
        assert_eq!(cache.scan(5, b"holder\0"), None);
        assert!(cache.scan(5, b"other\0").is_some());

        // Another node's listed change under a prefix drops it too.
        cache.observe(
            3,
            Some(ChangedKeys {
                from: 2,
                to: 3,
                keys: vec![(5, b"other\0L9".to_vec())],
            }),
        );
        assert_eq!(cache.scan(5, b"other\0"), None);

        // A scan that was in flight when a commit happened is not stored.
        let before = cache.generation();
        cache.committed([(7, &b"x"[..], None)], Some(4));
        cache.fill_scan(before, 5, b"late\0".to_vec(), Vec::new());
        assert_eq!(cache.scan(5, b"late\0"), None);
        // Nor is one longer than the limit.
        let long = vec![(b"k".to_vec(), Vec::new()); MAX_CACHED_SCAN_ROWS + 1];
        cache.fill_scan(cache.generation(), 5, b"k".to_vec(), long);
        assert_eq!(cache.scan(5, b"k"), None);
    }
}

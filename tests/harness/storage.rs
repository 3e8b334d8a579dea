//! Which storage a test's ledger uses: sled in its temporary directory, or, when
//! `LICREG_TEST_POSTGRES` names a database, a PostgreSQL schema of its own. `.ci/run` runs the
//! storage tests a second time with it set, so both backends pass the same tests.
#![allow(dead_code)]

use std::path::Path;

use licreg::ledger::Storage;

/// The environment variable naming a PostgreSQL database (`postgres://USER:PASS@HOST/DB`).
pub const TEST_POSTGRES_ENV: &str = "LICREG_TEST_POSTGRES";

/// Where a test's ledger lives, as `licreg` takes it: `dir`, or a `postgres://` URL whose
/// `search_path` names a fresh schema (created by the first open), so tests running in parallel
/// never share a ledger.
pub fn test_location(dir: &Path) -> String {
    match std::env::var(TEST_POSTGRES_ENV) {
        Ok(base) if !base.is_empty() => {
            use rand_core::RngCore;
            let schema = format!("t{:016x}", rand_core::OsRng.next_u64());
            let separator = if base.contains('?') { '&' } else { '?' };
            format!("{base}{separator}options=-csearch_path%3D{schema}")
        }
        _ => dir.display().to_string(),
    }
}

/// Like [`test_location`], but the same for the same `dir` every time, so a test that restarts a
/// server on one data dir reopens the same ledger: the schema is named after a hash of `dir`.
pub fn stable_location(dir: &Path) -> String {
    match std::env::var(TEST_POSTGRES_ENV) {
        Ok(base) if !base.is_empty() => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(dir.display().to_string().as_bytes());
            let schema: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
            let separator = if base.contains('?') { '&' } else { '?' };
            format!("{base}{separator}options=-csearch_path%3Ds{schema}")
        }
        _ => dir.display().to_string(),
    }
}

/// [`test_location`] as a [`Storage`].
pub fn test_storage(dir: &Path) -> Storage {
    Storage::parse(&test_location(dir)).unwrap()
}

/// True when the tests run on PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var(TEST_POSTGRES_ENV).is_ok_and(|v| !v.is_empty())
}

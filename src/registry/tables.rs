//! The persisted view's tables (written in the ledger's transaction, read through `ledger::Tables`) and their keys.
//!
//! Keys are built here only, so the writer's `apply` and the readers agree on every layout.

use crate::ids::LicenceKind;

/// Format version of the view; a stored view of another version is rebuilt from the ledger.
///
/// 2: alerts keyed by agency and alert id; refused alerts; public reason categories.
/// 3: wallet activation codes and device bindings.
pub const VIEW_VERSION: u64 = 3;

macro_rules! tables {
    ($($name:ident = $index:literal => $tree:literal),+ $(,)?) => {
        $(pub const $name: usize = $index;)+
        /// Tree names, by table index.
        pub const NAMES: &[&str] = &[$($tree),+];
    };
}

tables! {
    // number → LicenceView
    LICENCES = 0 => "v_licences",
    // short serial → number
    SERIALS = 1 => "v_serials",
    // holder id \0 number → ()
    HOLDERS = 2 => "v_holders",
    // plate \0 number → ()
    PLATES = 3 => "v_plates",
    // uniqueness key → number holding it while valid or suspended
    UNIQUE = 4 => "v_unique",
    // kind code, status index (u64 BE) → status code, number
    STATUS_BITS = 5 => "v_status_bits",
    // number \0 at_ms (u64 BE) seq (u64 BE) → HistoryRow
    HISTORY = 6 => "v_history",
    // application id → ApplicationView
    APPLICATIONS = 7 => "v_applications",
    // application id → () while open
    OPEN = 8 => "v_open",
    // seq (u64 BE) → application id, when an application finished
    FINISHED = 9 => "v_finished",
    // agency \0 alert id → AlertView
    ALERTS = 10 => "v_alerts",
    // seq (u64 BE) → agency \0 alert id
    ALERT_LOG = 11 => "v_alert_log",
    // seq (u64 BE) → ReportView
    REPORTS = 12 => "v_reports",
    // subject id \0 seq (u64 BE) → CreditRecordBody
    CREDIT = 13 => "v_credit",
    // kind \0 YYYY-MM-DD → Counts
    TALLY = 14 => "v_tally",
    // kind \0 seconds (u64 BE) → count (u64 BE)
    PROCESSING = 15 => "v_processing",
    // named counters (u64 BE): serials, application numbers, status indexes, licence counts
    META = 16 => "v_meta",
    // kind code, legacy number → number
    LEGACY = 17 => "v_legacy",
    // licence number → application id of the renewal in progress
    RENEWING = 18 => "v_renewing",
    // issue seq (u64 BE) → number, in issue order
    ISSUED = 19 => "v_issued",
    // expires (u64 BE, seconds) \0 number → (), for valid and suspended licences
    EXPIRING = 20 => "v_expiring",
    // seq (u64 BE) → AlertRefusalView
    ALERT_REFUSALS = 21 => "v_alert_refusals",
    // activation code SHA-256 → ActivationRow
    WALLET_CODES = 22 => "v_wallet_codes",
    // licence number → BindingRow, while a phone is bound
    BINDINGS = 23 => "v_bindings",
}

pub fn kind_code(kind: LicenceKind) -> u8 {
    match kind {
        LicenceKind::Driver => 0,
        LicenceKind::Vehicle => 1,
        LicenceKind::Platform => 2,
    }
}

/// `a \0 b`.
pub fn pair(a: &str, b: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + b.len() + 1);
    key.extend_from_slice(a.as_bytes());
    key.push(0);
    key.extend_from_slice(b.as_bytes());
    key
}

/// `a \0` followed by big-endian numbers, so keys sort by them.
pub fn with_numbers(a: &str, numbers: &[u64]) -> Vec<u8> {
    let mut key = Vec::with_capacity(a.len() + 1 + 8 * numbers.len());
    key.extend_from_slice(a.as_bytes());
    key.push(0);
    for n in numbers {
        key.extend_from_slice(&n.to_be_bytes());
    }
    key
}

/// `a \0`: the prefix of every `pair(a, _)` and `with_numbers(a, _)`.
pub fn prefix(a: &str) -> Vec<u8> {
    pair(a, "")
}

pub fn status_bit_key(kind: LicenceKind, index: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(9);
    key.push(kind_code(kind));
    key.extend_from_slice(&index.to_be_bytes());
    key
}

pub fn legacy_key(kind: LicenceKind, legacy: &str) -> Vec<u8> {
    let mut key = vec![kind_code(kind)];
    key.extend_from_slice(legacy.as_bytes());
    key
}

pub fn expiring_key(expires: i64, number: &str) -> Vec<u8> {
    let mut key = u64::try_from(expires).unwrap_or(0).to_be_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(number.as_bytes());
    key
}

/// Names of the counters in [`META`].
pub mod meta {
    use super::LicenceKind;

    pub const MAX_SERIAL: &str = "max_serial";
    pub const MAX_APPLICATION: &str = "max_application";
    /// Portraits served to passengers after a fresh wallet code (each fetch is an access entry).
    pub const PORTRAIT_FETCHES: &str = "portrait_fetches";

    pub fn next_status_index(kind: LicenceKind) -> String {
        format!("next_status_index/{}", kind.as_str())
    }

    pub fn count(kind: &str, status: super::super::LicenceStatus) -> String {
        format!("count/{kind}/{}", status.as_str())
    }
}

pub fn u64_value(bytes: &[u8]) -> u64 {
    bytes.try_into().map(u64::from_be_bytes).unwrap_or_default()
}

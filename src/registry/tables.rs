//! The persisted view's tables (written in the ledger's transaction, read through `ledger::Tables`) and their keys.
//!
//! Keys are built here only, so the writer's `apply` and the readers agree on every layout.

use crate::ids::{LicenceKind, LicenceNumber, ShortSerial};

/// Format version of the view; a stored view of another version is rebuilt from the ledger.
///
/// 2: alerts keyed by agency and alert id; refused alerts; public reason categories.
/// 3: wallet activation codes and device bindings.
/// 4: licences keyed by their 8-byte [`licence_key`] everywhere (was the 72-character number in
///    ten tables); no serial → number table, since a short serial names the same key; no
///    issue-order table (nothing read it).
pub const VIEW_VERSION: u64 = 4;

macro_rules! tables {
    ($($name:ident = $index:literal => $tree:literal),+ $(,)?) => {
        $(pub const $name: usize = $index;)+
        /// Tree names, by table index.
        pub const NAMES: &[&str] = &[$($tree),+];
    };
}

tables! {
    // licence key → LicenceView
    LICENCES = 0 => "v_licences",
    // holder id \0 licence key → ()
    HOLDERS = 1 => "v_holders",
    // plate \0 licence key → ()
    PLATES = 2 => "v_plates",
    // uniqueness key → licence key of the licence holding it while valid or suspended
    UNIQUE = 3 => "v_unique",
    // kind code, status index (u64 BE) → status code, licence key
    STATUS_BITS = 4 => "v_status_bits",
    // licence key, at_ms (u64 BE), seq (u64 BE) → HistoryRow
    HISTORY = 5 => "v_history",
    // application id → ApplicationView
    APPLICATIONS = 6 => "v_applications",
    // application id → () while open
    OPEN = 7 => "v_open",
    // seq (u64 BE) → application id, when an application finished
    FINISHED = 8 => "v_finished",
    // agency \0 alert id → AlertView
    ALERTS = 9 => "v_alerts",
    // seq (u64 BE) → agency \0 alert id
    ALERT_LOG = 10 => "v_alert_log",
    // seq (u64 BE) → ReportView
    REPORTS = 11 => "v_reports",
    // subject id \0 seq (u64 BE) → CreditRecordBody
    CREDIT = 12 => "v_credit",
    // kind \0 YYYY-MM-DD → Counts
    TALLY = 13 => "v_tally",
    // kind \0 seconds (u64 BE) → count (u64 BE)
    PROCESSING = 14 => "v_processing",
    // named counters (u64 BE): serials, application numbers, status indexes, licence counts
    META = 15 => "v_meta",
    // kind code, legacy number → licence key
    LEGACY = 16 => "v_legacy",
    // licence key → application id of the renewal in progress
    RENEWING = 17 => "v_renewing",
    // expires (u64 BE, seconds), licence key → (), for valid and suspended licences
    EXPIRING = 18 => "v_expiring",
    // seq (u64 BE) → AlertRefusalView
    ALERT_REFUSALS = 19 => "v_alert_refusals",
    // activation code SHA-256 → ActivationRow
    WALLET_CODES = 20 => "v_wallet_codes",
    // licence key → BindingRow, while a phone is bound
    BINDINGS = 21 => "v_bindings",
}

/// Bytes in a [`LicenceKey`].
pub const LICENCE_KEY_BYTES: usize = 8;

/// How the view names a licence in its keys and values: the serial and version, big-endian
/// (`serial << 8 | version`), so one licence's versions sort together.
///
/// Serials are allocated once per registry for every kind and issuer (`meta::MAX_SERIAL`), so
/// serial and version name exactly one number; the full GB/T 36904 number (72 characters) and
/// the short serial (15) are both parsed to this key, and the licence row, which keeps both
/// texts, confirms which was asked for. Ten tables used to repeat the full number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LicenceKey([u8; LICENCE_KEY_BYTES]);

impl LicenceKey {
    pub fn new(serial: u64, version: u8) -> Self {
        LicenceKey(((serial << 8) | u64::from(version)).to_be_bytes())
    }

    pub fn of_number(number: &LicenceNumber) -> Self {
        LicenceKey::new(number.serial(), number.version())
    }

    /// The key of a full licence number or a short serial; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        if let Ok(number) = LicenceNumber::parse(text) {
            return Some(LicenceKey::of_number(&number));
        }
        ShortSerial::parse(text)
            .ok()
            .map(|s| LicenceKey::new(s.serial(), s.version()))
    }

    /// The key `text` names if it is laid out as a full number or a short serial, read from
    /// the serial and version positions of a full number ([`LicenceNumber::locate`]): for a
    /// lookup that compares the row it finds with `text` in full, as [`super::View::licence`]
    /// does. Anything that reads a table by this key without such a comparison uses
    /// [`LicenceKey::parse`].
    pub fn locate(text: &str) -> Option<Self> {
        LicenceNumber::locate(text)
            .or_else(|| ShortSerial::locate(text))
            .map(|(serial, version)| LicenceKey::new(serial, version))
    }

    /// A key read back from a table.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(LicenceKey)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn to_vec(self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl std::fmt::Display for LicenceKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let packed = u64::from_be_bytes(self.0);
        write!(f, "serial {} version {}", packed >> 8, packed & 0xff)
    }
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

/// `a \0` followed by a licence key.
pub fn with_licence(a: &str, licence: LicenceKey) -> Vec<u8> {
    let mut key = prefix(a);
    key.extend_from_slice(licence.as_bytes());
    key
}

/// A licence key followed by big-endian numbers, so one licence's rows sort by them.
pub fn licence_with_numbers(licence: LicenceKey, numbers: &[u64]) -> Vec<u8> {
    let mut key = Vec::with_capacity(LICENCE_KEY_BYTES + 8 * numbers.len());
    key.extend_from_slice(licence.as_bytes());
    for n in numbers {
        key.extend_from_slice(&n.to_be_bytes());
    }
    key
}

pub fn expiring_key(expires: i64, licence: LicenceKey) -> Vec<u8> {
    let mut key = u64::try_from(expires).unwrap_or(0).to_be_bytes().to_vec();
    key.extend_from_slice(licence.as_bytes());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CreditCode;

    fn number(issuer: &str, serial: u64, version: u8) -> LicenceNumber {
        let issuer = CreditCode::with_check(issuer).unwrap();
        LicenceNumber::new(LicenceKind::Driver, &issuer, serial, version).unwrap()
    }

    #[test]
    fn a_full_number_and_its_short_serial_name_one_key() {
        let full = number("11350200MB0000000", 77, 4);
        let key = LicenceKey::of_number(&full);
        assert_eq!(LicenceKey::parse(full.as_str()), Some(key));
        assert_eq!(LicenceKey::parse(full.short_serial().as_str()), Some(key));
        assert_eq!(key.as_bytes().len(), LICENCE_KEY_BYTES);
        assert_eq!(LicenceKey::from_slice(key.as_bytes()), Some(key));
        assert_eq!(key.to_string(), "serial 77 version 4");
        assert_eq!(LicenceKey::parse("not a licence"), None);
        assert_eq!(LicenceKey::locate(full.as_str()), Some(key));
        assert_eq!(LicenceKey::locate(full.short_serial().as_str()), Some(key));
        assert_eq!(LicenceKey::locate("not a licence"), None);
        assert_eq!(LicenceKey::from_slice(&[1, 2, 3]), None);
    }

    #[test]
    fn keys_sort_by_serial_then_version() {
        let keys = [
            LicenceKey::new(1, 1),
            LicenceKey::new(1, 2),
            LicenceKey::new(1, 255),
            LicenceKey::new(2, 1),
            LicenceKey::new(LicenceNumber::MAX_SERIAL, 1),
        ];
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        assert!(keys.windows(2).all(|w| w[0].as_bytes() < w[1].as_bytes()));
    }

    #[test]
    fn history_keys_of_one_licence_share_its_prefix() {
        let key = LicenceKey::new(9, 1);
        let row = licence_with_numbers(key, &[1_000, 7]);
        assert!(row.starts_with(&licence_with_numbers(key, &[])));
        assert_eq!(row.len(), LICENCE_KEY_BYTES + 16);
        assert!(!licence_with_numbers(LicenceKey::new(9, 2), &[0, 0]).starts_with(key.as_bytes()));
    }
}

//! Reading the persisted view: licences, applications, alerts, reports, credit records,
//! statistics and the status-history index, straight from the tables the ledger writer keeps in
//! step with the log, through the storage seam (`ledger::Tables`).
//!
//! Nothing here holds state proportional to the registry: every query reads the rows it needs
//! (point lookups and bounded prefix scans), and the store's own page cache is the only cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::bodies::{CreditRecordBody, IssueBody};
use super::event::Event;
use super::licence::LicenceStatus;
use super::rows::{
    AlertRefusalView, AlertView, ApplicationView, HistoryRow, LicenceView, ReportStatus, ReportView,
};
use super::tables::{self as t, LicenceKey};
use super::tally::{Counts, Tally};
use crate::ids::LicenceKind;
use crate::ledger::{Ledger, Order, Scan, Seq, Tables};

/// Why the view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("view storage: {0}")]
    Storage(String),
    #[error("view row in {table} does not decode: {reason}")]
    Corrupt { table: &'static str, reason: String },
}

impl From<crate::ledger::LedgerError> for ViewError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        ViewError::Storage(e.to_string())
    }
}

type Result<T> = std::result::Result<T, ViewError>;

/// A handle on the persisted view; cheap to clone.
#[derive(Clone)]
pub struct View {
    ledger: Ledger,
    tables: Arc<dyn Tables>,
}

fn decode<T: serde::de::DeserializeOwned>(table: usize, bytes: &[u8]) -> Result<T> {
    crate::cbor::from_slice(bytes).map_err(|e| ViewError::Corrupt {
        table: t::NAMES[table],
        reason: e.to_string(),
    })
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

impl View {
    /// The view of a ledger opened with [`super::RegistryProjection`].
    pub fn new(ledger: &Ledger) -> Result<Self> {
        Ok(View {
            ledger: ledger.clone(),
            tables: ledger.view_tables(),
        })
    }

    fn get(&self, table: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.tables.get(table, key)?)
    }

    /// Visits the selected rows in order until `visit` returns `Ok(false)` or an error.
    fn scan(
        &self,
        table: usize,
        scan: Scan<'_>,
        order: Order,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<bool>,
    ) -> Result<()> {
        let mut failed = None;
        self.tables.scan(
            table,
            scan,
            order,
            &mut |key, value| match visit(key, value) {
                Ok(more) => more,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            },
        )?;
        failed.map_or(Ok(()), Err)
    }

    /// The values of the first `limit` selected rows.
    fn values(
        &self,
        table: usize,
        scan: Scan<'_>,
        order: Order,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.scan(table, scan, order, |_, value| {
            out.push(value.to_vec());
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn row<T: serde::de::DeserializeOwned>(&self, table: usize, key: &[u8]) -> Result<Option<T>> {
        match self.get(table, key)? {
            Some(bytes) => decode(table, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// SHA-256 over every table's keys and values, in order: equal digests mean equal views
    /// (how tests show that a rebuild from the log reaches exactly the live state).
    pub fn digest(&self) -> Result<[u8; 32]> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for (table, name) in t::NAMES.iter().enumerate() {
            hasher.update(name.as_bytes());
            self.scan(table, Scan::All, Order::Ascending, |key, value| {
                hasher.update((key.len() as u64).to_be_bytes());
                hasher.update(key);
                hasher.update((value.len() as u64).to_be_bytes());
                hasher.update(value);
                Ok(true)
            })?;
        }
        Ok(hasher.finalize().into())
    }

    /// A named counter of the view.
    pub fn counter(&self, name: &str) -> Result<u64> {
        Ok(self
            .get(t::META, name.as_bytes())?
            .map_or(0, |v| t::u64_value(&v)))
    }

    /// A licence by full number or short serial: one read, since both name its key.
    pub fn licence(&self, number: &str) -> Result<Option<LicenceView>> {
        let Some(key) = LicenceKey::locate(number) else {
            return Ok(None);
        };
        let found: Option<LicenceView> = self.row(t::LICENCES, key.as_bytes())?;
        // The key holds serial and version only: the row says whether the issuer (in a full
        // number) or the kind (in a short serial) asked for is this licence's, and, the row's
        // texts being valid, that `number` is valid (it was located, not parsed).
        Ok(found.filter(|l| l.number == number || l.short_serial == number))
    }

    /// The licence a table points to by key; a dangling key is corruption.
    fn licence_at(&self, table: usize, key: &[u8]) -> Result<LicenceView> {
        let corrupt = |reason: String| ViewError::Corrupt {
            table: t::NAMES[table],
            reason,
        };
        let key = LicenceKey::from_slice(key)
            .ok_or_else(|| corrupt("a licence key is not 8 bytes".into()))?;
        self.row(t::LICENCES, key.as_bytes())?
            .ok_or_else(|| corrupt(format!("no licence row for {key}")))
    }

    /// The key of a licence row, from its short serial: 15 characters to check, where the full
    /// number has 72 (status lookups and compliance checks call this on every request).
    fn key_of_row(licence: &LicenceView) -> Result<LicenceKey> {
        LicenceKey::locate(&licence.short_serial).ok_or_else(|| ViewError::Corrupt {
            table: t::NAMES[t::LICENCES],
            reason: format!("{} has no valid short serial", licence.number),
        })
    }

    /// The device a licence (a row [`View::licence`] found) is bound to, if any.
    pub fn binding(&self, licence: &LicenceView) -> Result<Option<super::wallet::BindingRow>> {
        self.row(t::BINDINGS, Self::key_of_row(licence)?.as_bytes())
    }

    /// Whether `device` is the phone licence `number` (full or short) is bound to now: what a
    /// dynamic code needs besides its signatures, wherever it is checked.
    pub fn bound_to(&self, number: &str, device: &crate::credential::DeviceKey) -> Result<bool> {
        let Some(licence) = self.licence(number)? else {
            return Ok(false);
        };
        Ok(self
            .binding(&licence)?
            .is_some_and(|b| b.thumbprint == device.thumbprint()))
    }

    /// An activation code's row, by the code's SHA-256.
    pub fn activation(&self, code_sha256: &[u8]) -> Result<Option<super::wallet::ActivationRow>> {
        self.row(t::WALLET_CODES, code_sha256)
    }

    fn licences_under(&self, table: usize, key: &str) -> Result<Vec<LicenceView>> {
        let prefix = t::prefix(key);
        let mut out = Vec::new();
        self.scan(table, Scan::Prefix(&prefix), Order::Ascending, |k, _| {
            let licence = k.get(prefix.len()..).unwrap_or_default();
            out.push(self.licence_at(table, licence)?);
            Ok(true)
        })?;
        Ok(out)
    }

    /// Every licence a holder (citizen id, owner id or credit code) has held, oldest first.
    pub fn licences_of_holder(&self, holder: &str) -> Result<Vec<LicenceView>> {
        let mut found = self.licences_under(t::HOLDERS, holder)?;
        found.sort_by_key(|l| l.issue_seq);
        Ok(found)
    }

    /// Every vehicle licence a plate has had, oldest first.
    pub fn licences_of_plate(&self, plate: &str) -> Result<Vec<LicenceView>> {
        let mut found = self.licences_under(t::PLATES, plate)?;
        found.sort_by_key(|l| l.issue_seq);
        Ok(found)
    }

    /// The licence holding a uniqueness key (`plate:…`, `vin:…`, `driver:issuer:id`).
    pub fn holder_of_key(&self, key: &str) -> Result<Option<LicenceView>> {
        match self.get(t::UNIQUE, key.as_bytes())? {
            Some(licence) => self.licence_at(t::UNIQUE, &licence).map(Some),
            None => Ok(None),
        }
    }

    /// The issue entry's body: the record and credential as logged.
    pub fn issued(&self, licence: &LicenceView) -> Result<IssueBody> {
        let entry = self.ledger.entry(Seq(licence.issue_seq))?;
        match Event::decode(entry.event, &entry.body) {
            Ok(event) => event.issued().cloned().ok_or_else(|| ViewError::Corrupt {
                table: "entries",
                reason: format!(
                    "entry {} does not issue {}",
                    licence.issue_seq, licence.number
                ),
            }),
            Err(e) => Err(ViewError::Corrupt {
                table: "entries",
                reason: e.to_string(),
            }),
        }
    }

    /// The licence's state at `at_ms`, from the status-history index: O(log n). Takes the row
    /// [`View::licence`] found, so the text asked for has been matched to this licence.
    pub fn state_at(&self, licence: &LicenceView, at_ms: u64) -> Result<Option<HistoryRow>> {
        let key = Self::key_of_row(licence)?;
        let start = t::licence_with_numbers(key, &[]);
        let end = t::licence_with_numbers(key, &[at_ms, u64::MAX]);
        let range = Scan::Range {
            from: std::ops::Bound::Included(&start),
            to: std::ops::Bound::Included(&end),
        };
        match self
            .values(t::HISTORY, range, Order::Descending, 1)?
            .first()
        {
            Some(value) => decode(t::HISTORY, value).map(Some),
            None => Ok(None),
        }
    }

    /// (status-list index, status) of every credential of `kind` with a position.
    pub fn status_positions(&self, kind: LicenceKind) -> Result<Vec<(u64, LicenceStatus)>> {
        let prefix = [t::kind_code(kind)];
        let mut out = Vec::new();
        self.scan(
            t::STATUS_BITS,
            Scan::Prefix(&prefix),
            Order::Ascending,
            |key, value| {
                let index = t::u64_value(key.get(1..).unwrap_or_default());
                let status = value
                    .first()
                    .and_then(|c| LicenceStatus::from_code(*c))
                    .ok_or(ViewError::Corrupt {
                        table: "v_status_bits",
                        reason: "bad status code".into(),
                    })?;
                out.push((index, status));
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// Numbers of valid or suspended licences whose validity ended before `now`, at most `limit`.
    pub fn expired_by(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        let end = u64::try_from(now).unwrap_or(0).to_be_bytes();
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        let before = Scan::Range {
            from: std::ops::Bound::Unbounded,
            to: std::ops::Bound::Excluded(&end),
        };
        self.scan(t::EXPIRING, before, Order::Ascending, |key, _| {
            let licence = key.get(8..).unwrap_or_default();
            out.push(self.licence_at(t::EXPIRING, licence)?.number);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Licences per kind per stored status (expiry counts once the sweep has logged it).
    pub fn licence_counts(&self) -> Result<BTreeMap<String, BTreeMap<String, u64>>> {
        let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        for kind in [
            LicenceKind::Driver,
            LicenceKind::Vehicle,
            LicenceKind::Platform,
        ] {
            for status in LicenceStatus::ALL {
                let n = self.counter(&t::meta::count(kind.as_str(), status))?;
                if n > 0 {
                    out.entry(kind.as_str().to_string())
                        .or_default()
                        .insert(status.as_str().to_string(), n);
                }
            }
        }
        Ok(out)
    }

    /// The licence a legacy number was imported as.
    pub fn imported_as(&self, kind: LicenceKind, legacy: &str) -> Result<Option<String>> {
        match self.get(t::LEGACY, &t::legacy_key(kind, legacy))? {
            Some(key) => Ok(Some(self.licence_at(t::LEGACY, &key)?.number)),
            None => Ok(None),
        }
    }

    /// The application renewing `number`, while one is in progress.
    pub fn renewing(&self, number: &str) -> Result<Option<String>> {
        let Some(key) = LicenceKey::parse(number) else {
            return Ok(None);
        };
        Ok(self.get(t::RENEWING, key.as_bytes())?.map(|v| text(&v)))
    }

    pub fn application(&self, id: &str) -> Result<Option<ApplicationView>> {
        self.row(t::APPLICATIONS, id.as_bytes())
    }

    /// The record an application was submitted with, from its entry.
    pub fn application_record(&self, app: &ApplicationView) -> Result<serde_json::Value> {
        let entry = self.ledger.entry(Seq(app.application_seq))?;
        match Event::decode(entry.event, &entry.body) {
            Ok(Event::Application(body)) => Ok(body.record),
            _ => Err(ViewError::Corrupt {
                table: "entries",
                reason: format!(
                    "entry {} is not application {}",
                    app.application_seq, app.id
                ),
            }),
        }
    }

    /// Applications still being handled, oldest first.
    pub fn open_applications(&self) -> Result<Vec<ApplicationView>> {
        let mut out: Vec<ApplicationView> = Vec::new();
        self.scan(t::OPEN, Scan::All, Order::Ascending, |id, _| {
            if let Some(app) = self.row(t::APPLICATIONS, id)? {
                out.push(app);
            }
            Ok(true)
        })?;
        out.sort_by_key(|a| a.created_ms);
        Ok(out)
    }

    /// The most recently finished applications, newest first.
    pub fn recently_finished(&self, limit: usize) -> Result<Vec<ApplicationView>> {
        let mut out = Vec::new();
        for id in self.values(t::FINISHED, Scan::All, Order::Descending, limit)? {
            if let Some(app) = self.row(t::APPLICATIONS, &id)? {
                out.push(app);
            }
        }
        Ok(out)
    }

    /// The alert `agency` sent under `id` (alert ids are the agency's own, so scoped by it).
    pub fn alert(&self, agency: &str, id: &str) -> Result<Option<AlertView>> {
        self.row(t::ALERTS, &t::pair(agency, id))
    }

    /// The latest alerts, newest first; only those with `action` when it is given.
    pub fn latest_alerts(
        &self,
        action: Option<crate::rules::AlertAction>,
        limit: usize,
    ) -> Result<Vec<AlertView>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.scan(t::ALERT_LOG, Scan::All, Order::Descending, |_, key| {
            if let Some(alert) = self.row::<AlertView>(t::ALERTS, key)? {
                if action.is_none_or(|wanted| alert.body.action == wanted) {
                    out.push(alert);
                }
            }
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// The latest alerts refused for their agency's mandate, newest first.
    pub fn latest_alert_refusals(&self, limit: usize) -> Result<Vec<AlertRefusalView>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.scan(t::ALERT_REFUSALS, Scan::All, Order::Descending, |_, row| {
            out.push(decode(t::ALERT_REFUSALS, row)?);
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    pub fn report(&self, id: u64) -> Result<Option<ReportView>> {
        self.row(t::REPORTS, &id.to_be_bytes())
    }

    /// Reports, newest first, with `status` when it is given.
    pub fn reports(&self, status: Option<ReportStatus>, limit: usize) -> Result<Vec<ReportView>> {
        let mut out = Vec::new();
        if limit == 0 {
            return Ok(out);
        }
        self.scan(t::REPORTS, Scan::All, Order::Descending, |_, value| {
            let report: ReportView = decode(t::REPORTS, value)?;
            if status.is_none_or(|s| s == report.status) {
                out.push(report);
            }
            Ok(out.len() < limit)
        })?;
        Ok(out)
    }

    /// Credit records against a citizen id or credit code, oldest first.
    pub fn credit_records(&self, subject: &str) -> Result<Vec<CreditRecordBody>> {
        let prefix = t::prefix(subject);
        let mut out = Vec::new();
        self.scan(
            t::CREDIT,
            Scan::Prefix(&prefix),
            Order::Ascending,
            |_, value| {
                out.push(decode(t::CREDIT, value)?);
                Ok(true)
            },
        )?;
        Ok(out)
    }

    /// Every credit record, newest first. Records are few (confirmed reports), so this walks them.
    pub fn all_credit_records(&self) -> Result<Vec<CreditRecordBody>> {
        let mut all: Vec<(u64, CreditRecordBody)> = Vec::new();
        self.scan(t::CREDIT, Scan::All, Order::Ascending, |key, value| {
            let seq = t::u64_value(key.get(key.len().saturating_sub(8)..).unwrap_or_default());
            all.push((seq, decode(t::CREDIT, value)?));
            Ok(true)
        })?;
        all.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        Ok(all.into_iter().map(|(_, r)| r).collect())
    }

    /// The funnel and processing-time tally.
    pub fn tally(&self) -> Result<Tally> {
        let mut tally = Tally::default();
        self.scan(t::TALLY, Scan::All, Order::Ascending, |key, value| {
            let (kind, day) = split_pair(key);
            let counts: Counts = decode(t::TALLY, value)?;
            tally.daily.insert((kind, day), counts);
            Ok(true)
        })?;
        self.scan(t::PROCESSING, Scan::All, Order::Ascending, |key, value| {
            let (kind, seconds) =
                key.split_at(key.iter().position(|b| *b == 0).unwrap_or(key.len()));
            let seconds = t::u64_value(seconds.get(1..).unwrap_or_default());
            tally
                .processing_seconds
                .entry(text(kind))
                .or_default()
                .insert(seconds, t::u64_value(value));
            Ok(true)
        })?;
        Ok(tally)
    }
}

fn split_pair(key: &[u8]) -> (String, String) {
    let at = key.iter().position(|b| *b == 0).unwrap_or(key.len());
    (
        text(&key[..at]),
        text(key.get(at + 1..).unwrap_or_default()),
    )
}

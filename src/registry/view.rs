//! Reading the persisted view: licences, applications, alerts, reports, credit records,
//! statistics and the status-history index, straight from the sled trees the ledger writer
//! keeps in step with the log.
//!
//! Nothing here holds state proportional to the registry: every query reads the rows it needs
//! (point lookups and bounded prefix scans), and sled's page cache is the only cache.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::bodies::{CreditRecordBody, IssueBody};
use super::event::Event;
use super::licence::LicenceStatus;
use super::rows::{AlertView, ApplicationView, HistoryRow, LicenceView, ReportStatus, ReportView};
use super::tables as t;
use super::tally::{Counts, Tally};
use crate::ids::LicenceKind;
use crate::ledger::{Ledger, Seq};

/// Why the view could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("view storage: {0}")]
    Storage(String),
    #[error("view row in {table} does not decode: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("the ledger has no view table {0}")]
    Missing(&'static str),
}

impl From<sled::Error> for ViewError {
    fn from(e: sled::Error) -> Self {
        ViewError::Storage(e.to_string())
    }
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
    trees: Arc<[sled::Tree]>,
}

fn decode<T: serde::de::DeserializeOwned>(table: usize, bytes: &[u8]) -> Result<T> {
    serde_cbor::from_slice(bytes).map_err(|e| ViewError::Corrupt {
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
        let trees = (0..t::NAMES.len())
            .map(|i| ledger.view_table(i).ok_or(ViewError::Missing(t::NAMES[i])))
            .collect::<Result<Vec<_>>>()?;
        Ok(View {
            ledger: ledger.clone(),
            trees: trees.into(),
        })
    }

    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn row<T: serde::de::DeserializeOwned>(&self, table: usize, key: &[u8]) -> Result<Option<T>> {
        match self.trees[table].get(key)? {
            Some(bytes) => decode(table, &bytes).map(Some),
            None => Ok(None),
        }
    }

    /// SHA-256 over every table's keys and values, in order: equal digests mean equal views
    /// (how tests show that a rebuild from the log reaches exactly the live state).
    pub fn digest(&self) -> Result<[u8; 32]> {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for (name, tree) in t::NAMES.iter().zip(self.trees.iter()) {
            hasher.update(name.as_bytes());
            for item in tree.iter() {
                let (key, value) = item?;
                hasher.update((key.len() as u64).to_be_bytes());
                hasher.update(&key);
                hasher.update((value.len() as u64).to_be_bytes());
                hasher.update(&value);
            }
        }
        Ok(hasher.finalize().into())
    }

    /// A named counter of the view.
    pub fn counter(&self, name: &str) -> Result<u64> {
        Ok(self.trees[t::META]
            .get(name.as_bytes())?
            .map_or(0, |v| t::u64_value(&v)))
    }

    /// A licence by full number or short serial.
    pub fn licence(&self, number: &str) -> Result<Option<LicenceView>> {
        if let Some(found) = self.row(t::LICENCES, number.as_bytes())? {
            return Ok(Some(found));
        }
        match self.trees[t::SERIALS].get(number.as_bytes())? {
            Some(full) => self.row(t::LICENCES, &full),
            None => Ok(None),
        }
    }

    fn licences_under(&self, table: usize, key: &str) -> Result<Vec<LicenceView>> {
        let prefix = t::prefix(key);
        let mut out = Vec::new();
        for item in self.trees[table].scan_prefix(&prefix).keys() {
            let k = item?;
            let number = k.get(prefix.len()..).unwrap_or_default();
            if let Some(licence) = self.row(t::LICENCES, number)? {
                out.push(licence);
            }
        }
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
        match self.trees[t::UNIQUE].get(key.as_bytes())? {
            Some(number) => self.row(t::LICENCES, &number),
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

    /// The licence's state at `at_ms`, from the status-history index: O(log n).
    pub fn state_at(&self, number: &str, at_ms: u64) -> Result<Option<HistoryRow>> {
        let start = t::prefix(number);
        let end = t::with_numbers(number, &[at_ms, u64::MAX]);
        match self.trees[t::HISTORY].range(start..=end).next_back() {
            Some(item) => {
                let (_, value) = item?;
                decode(t::HISTORY, &value).map(Some)
            }
            None => Ok(None),
        }
    }

    /// (status-list index, status) of every credential of `kind` with a position.
    pub fn status_positions(&self, kind: LicenceKind) -> Result<Vec<(u64, LicenceStatus)>> {
        let prefix = [t::kind_code(kind)];
        let mut out = Vec::new();
        for item in self.trees[t::STATUS_BITS].scan_prefix(prefix) {
            let (key, value) = item?;
            let index = t::u64_value(key.get(1..).unwrap_or_default());
            let status = value
                .first()
                .and_then(|c| LicenceStatus::from_code(*c))
                .ok_or(ViewError::Corrupt {
                    table: "v_status_bits",
                    reason: "bad status code".into(),
                })?;
            out.push((index, status));
        }
        Ok(out)
    }

    /// The first `limit` licences in issue order.
    pub fn first_licences(&self, limit: usize) -> Result<Vec<LicenceView>> {
        let mut out = Vec::new();
        for item in self.trees[t::ISSUED].iter().values().take(limit) {
            if let Some(licence) = self.row(t::LICENCES, &item?)? {
                out.push(licence);
            }
        }
        Ok(out)
    }

    /// Numbers of valid or suspended licences whose validity ended before `now`, at most `limit`.
    pub fn expired_by(&self, now: i64, limit: usize) -> Result<Vec<String>> {
        let end = u64::try_from(now).unwrap_or(0).to_be_bytes();
        let mut out = Vec::new();
        for item in self.trees[t::EXPIRING]
            .range(..end.to_vec())
            .keys()
            .take(limit)
        {
            let key = item?;
            out.push(text(key.get(9..).unwrap_or_default()));
        }
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
        Ok(self.trees[t::LEGACY]
            .get(t::legacy_key(kind, legacy))?
            .map(|v| text(&v)))
    }

    /// The application renewing `number`, while one is in progress.
    pub fn renewing(&self, number: &str) -> Result<Option<String>> {
        Ok(self.trees[t::RENEWING]
            .get(number.as_bytes())?
            .map(|v| text(&v)))
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
        for item in self.trees[t::OPEN].iter().keys() {
            if let Some(app) = self.row(t::APPLICATIONS, &item?)? {
                out.push(app);
            }
        }
        out.sort_by_key(|a| a.created_ms);
        Ok(out)
    }

    /// The most recently finished applications, newest first.
    pub fn recently_finished(&self, limit: usize) -> Result<Vec<ApplicationView>> {
        let mut out = Vec::new();
        for item in self.trees[t::FINISHED].iter().values().rev().take(limit) {
            if let Some(app) = self.row(t::APPLICATIONS, &item?)? {
                out.push(app);
            }
        }
        Ok(out)
    }

    pub fn alert(&self, id: &str) -> Result<Option<AlertView>> {
        self.row(t::ALERTS, id.as_bytes())
    }

    /// The latest alerts, newest first; only those with `action` when it is given.
    pub fn latest_alerts(
        &self,
        action: Option<crate::rules::AlertAction>,
        limit: usize,
    ) -> Result<Vec<AlertView>> {
        let mut out = Vec::new();
        for item in self.trees[t::ALERT_LOG].iter().values().rev() {
            if out.len() >= limit {
                break;
            }
            let Some(alert) = self.alert(&text(&item?))? else {
                continue;
            };
            if action.is_none_or(|wanted| alert.body.action == wanted) {
                out.push(alert);
            }
        }
        Ok(out)
    }

    pub fn report(&self, id: u64) -> Result<Option<ReportView>> {
        self.row(t::REPORTS, &id.to_be_bytes())
    }

    /// Reports, newest first, with `status` when it is given.
    pub fn reports(&self, status: Option<ReportStatus>, limit: usize) -> Result<Vec<ReportView>> {
        let mut out = Vec::new();
        for item in self.trees[t::REPORTS].iter().values().rev() {
            if out.len() >= limit {
                break;
            }
            let report: ReportView = decode(t::REPORTS, &item?)?;
            if status.is_none_or(|s| s == report.status) {
                out.push(report);
            }
        }
        Ok(out)
    }

    /// Credit records against a citizen id or credit code, oldest first.
    pub fn credit_records(&self, subject: &str) -> Result<Vec<CreditRecordBody>> {
        self.trees[t::CREDIT]
            .scan_prefix(t::prefix(subject))
            .values()
            .map(|v| decode(t::CREDIT, &v?))
            .collect()
    }

    /// Every credit record, newest first. Records are few (confirmed reports), so this walks them.
    pub fn all_credit_records(&self) -> Result<Vec<CreditRecordBody>> {
        let mut all: Vec<(u64, CreditRecordBody)> = Vec::new();
        for item in self.trees[t::CREDIT].iter() {
            let (key, value) = item?;
            let seq = t::u64_value(key.get(key.len().saturating_sub(8)..).unwrap_or_default());
            all.push((seq, decode(t::CREDIT, &value)?));
        }
        all.sort_by_key(|(seq, _)| std::cmp::Reverse(*seq));
        Ok(all.into_iter().map(|(_, r)| r).collect())
    }

    /// The funnel and processing-time tally.
    pub fn tally(&self) -> Result<Tally> {
        let mut tally = Tally::default();
        for item in self.trees[t::TALLY].iter() {
            let (key, value) = item?;
            let (kind, day) = split_pair(&key);
            let counts: Counts = decode(t::TALLY, &value)?;
            tally.daily.insert((kind, day), counts);
        }
        for item in self.trees[t::PROCESSING].iter() {
            let (key, value) = item?;
            let at = key.iter().position(|b| *b == 0).unwrap_or(key.len());
            let kind = text(&key[..at]);
            let seconds = t::u64_value(key.get(at + 1..).unwrap_or_default());
            tally
                .processing_seconds
                .entry(kind)
                .or_default()
                .insert(seconds, t::u64_value(&value));
        }
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

//! Applying one logged event to the persisted view, or refusing it.
//!
//! This runs in the ledger writer before an entry is numbered, against the state as of the
//! entry before it, and again on a rebuild. Every precondition that must hold in log order is
//! checked here: the licence state machine, one number per issuance, one valid licence per
//! plate, VIN, driver and platform per issuer, one renewal at a time, one review per report,
//! one alert per id, one import per legacy number. A refusal leaves the log and the view as
//! they were.

use super::bodies::{ApplicationBody, IssueBody, ReviewResult, StatusBody};
use super::event::Event;
use super::licence::{self, LicenceEvent, LicenceStatus};
use super::refusal::Refusal;
use super::rows::{
    self, AlertRefusalView, AlertView, AnswerView, ApplicationStatus, ApplicationView, HistoryRow,
    LicenceView, ReportStatus, ReportView, Step,
};
use super::tables::{self as t, meta, LicenceKey};
use super::tally::{self, Counts, Stage};
use crate::credential::Claims;
use crate::ids::{LicenceKind, LicenceNumber};
use crate::ledger::{ApplyError, Entry, Projection, ViewTx};

/// The registry's view of the ledger.
pub struct RegistryProjection;

impl Projection for RegistryProjection {
    fn tables(&self) -> &'static [&'static str] {
        t::NAMES
    }

    fn version(&self) -> u64 {
        t::VIEW_VERSION
    }

    fn apply(&self, tx: &mut ViewTx<'_>, entry: &Entry) -> Result<(), ApplyError> {
        let event = Event::decode(entry.event, &entry.body).map_err(Refusal::Malformed)?;
        apply_event(tx, entry, &event)
    }
}

impl From<Refusal> for ApplyError {
    fn from(r: Refusal) -> Self {
        ApplyError::Refused(Box::new(r))
    }
}

type Applied = Result<(), ApplyError>;

fn get<T: serde::de::DeserializeOwned>(
    tx: &ViewTx<'_>,
    table: usize,
    key: &[u8],
) -> Result<Option<T>, ApplyError> {
    match tx.get(table, key)? {
        Some(bytes) => rows::decode(t::NAMES[table], &bytes).map(Some),
        None => Ok(None),
    }
}

fn put<T: serde::Serialize>(tx: &mut ViewTx<'_>, table: usize, key: Vec<u8>, row: &T) {
    tx.put(table, key, rows::encode(row));
}

fn counter(tx: &ViewTx<'_>, name: &str) -> Result<u64, ApplyError> {
    Ok(tx
        .get(t::META, name.as_bytes())?
        .map_or(0, |v| t::u64_value(&v)))
}

fn add_counter(tx: &mut ViewTx<'_>, name: &str, delta: i64) -> Applied {
    let value = counter(tx, name)?.saturating_add_signed(delta);
    tx.put(
        t::META,
        name.as_bytes().to_vec(),
        value.to_be_bytes().to_vec(),
    );
    Ok(())
}

fn raise_counter(tx: &mut ViewTx<'_>, name: &str, at_least: u64) -> Applied {
    if counter(tx, name)? < at_least {
        tx.put(
            t::META,
            name.as_bytes().to_vec(),
            at_least.to_be_bytes().to_vec(),
        );
    }
    Ok(())
}

fn apply_event(tx: &mut ViewTx<'_>, entry: &Entry, event: &Event) -> Applied {
    match event {
        Event::Application(body) => application(tx, entry, body),
        Event::AgencyAnswer(body) => {
            let mut app = waiting_application(tx, &body.application_id)?;
            app.steps.push(step(
                entry,
                Some(format!("{}: {}", body.agency, body.outcome)),
            ));
            app.updated_ms = entry.timestamp_ms;
            app.answers.insert(
                body.agency.clone(),
                AnswerView::logged(body, entry.timestamp_ms),
            );
            save_application(tx, entry, &app, ApplicationStatus::Checking)
        }
        Event::Decision(body) => {
            let mut app = waiting_application(tx, &body.application_id)?;
            let before = app.status;
            app.steps.push(step(
                entry,
                Some(format!("{} ({})", body.outcome, body.policy)),
            ));
            app.updated_ms = entry.timestamp_ms;
            app.reasons = body.reasons.clone();
            let stage = match body.outcome.as_str() {
                "approved" => Some(Stage::Approved),
                "refused" => Some(Stage::Refused),
                _ => None,
            };
            if let Some(stage) = stage {
                count(tx, &app.kind, entry.timestamp_ms, stage)?;
                processed(tx, &app.kind, app.created_ms, entry.timestamp_ms)?;
            }
            app.status = match body.outcome.as_str() {
                "refused" => ApplicationStatus::Refused,
                "incomplete" => ApplicationStatus::Incomplete,
                _ => app.status,
            };
            // A renewal holds its licence only while it waits for agencies: once refused or
            // left incomplete for an officer, another renewal may be filed.
            if app.status != ApplicationStatus::Checking {
                end_renewal(tx, &app)?;
            }
            save_application(tx, entry, &app, before)
        }
        Event::Issue(body) | Event::Renewal(body) | Event::Reissue(body) => {
            issue(tx, entry, body, event)
        }
        Event::Import(body) => {
            if body.file_sha256.len() != 32 {
                return Err(Refusal::Invalid("file_sha256 is not 32 bytes".into()).into());
            }
            let kind = parse_kind(&body.issue.kind)?;
            let key = t::legacy_key(kind, &body.legacy_number);
            if let Some(held) = tx.get(t::LEGACY, &key)? {
                let number = match LicenceKey::from_slice(&held) {
                    Some(held) => licence_at(tx, held)?.number,
                    None => return Err(corrupt_key(t::LEGACY)),
                };
                return Err(Refusal::AlreadyImported {
                    legacy_number: body.legacy_number.clone(),
                    number,
                }
                .into());
            }
            tx.put(t::LEGACY, key, key_of(&body.issue.number)?.to_vec());
            issue(tx, entry, &body.issue, event)
        }
        Event::Access(body) => {
            licence_row(tx, &body.number)?;
            if body.reason == super::wallet::PORTRAIT_ACCESS {
                add_counter(tx, meta::PORTRAIT_FETCHES, 1)?;
            }
            Ok(())
        }
        Event::Alert(body) => {
            let key = t::pair(&body.agency, &body.alert_id);
            if tx.get(t::ALERTS, &key)?.is_some() {
                return Err(Refusal::AlertExists(body.alert_id.clone()).into());
            }
            let view = AlertView {
                seq: entry.seq.0,
                at_ms: entry.timestamp_ms,
                body: body.clone(),
            };
            put(tx, t::ALERTS, key.clone(), &view);
            tx.put(t::ALERT_LOG, entry.seq.0.to_be_bytes().to_vec(), key);
            Ok(())
        }
        Event::AlertRefused(body) => {
            let view = AlertRefusalView {
                seq: entry.seq.0,
                at_ms: entry.timestamp_ms,
                body: body.clone(),
            };
            put(
                tx,
                t::ALERT_REFUSALS,
                entry.seq.0.to_be_bytes().to_vec(),
                &view,
            );
            Ok(())
        }
        Event::Report(body) => {
            let report = ReportView {
                id: entry.seq.0,
                at_ms: entry.timestamp_ms,
                plate: body.plate.clone(),
                reason: body.reason.clone(),
                contact: body.contact.clone(),
                status: ReportStatus::Open,
                reviewed_by: None,
                reviewed_ms: None,
                note: None,
                behaviour: None,
            };
            put(tx, t::REPORTS, entry.seq.0.to_be_bytes().to_vec(), &report);
            Ok(())
        }
        Event::ReportReview(body) => {
            let key = body.report_id.to_be_bytes().to_vec();
            let mut report: ReportView =
                get(tx, t::REPORTS, &key)?.ok_or(Refusal::NoSuchReport(body.report_id))?;
            if report.status != ReportStatus::Open {
                return Err(Refusal::ReportReviewed(body.report_id).into());
            }
            report.status = if body.outcome == ReviewResult::Confirmed {
                ReportStatus::Confirmed
            } else {
                ReportStatus::Dismissed
            };
            report.reviewed_by = Some(entry.actor.clone());
            report.reviewed_ms = Some(entry.timestamp_ms);
            report.note = Some(body.note.clone());
            report.behaviour = body.behaviour.clone();
            put(tx, t::REPORTS, key, &report);
            Ok(())
        }
        Event::CreditRecord(body) => {
            let key = t::with_numbers(&body.subject_id, &[entry.seq.0]);
            put(tx, t::CREDIT, key, body);
            Ok(())
        }
        Event::KeyChange(_) => Ok(()),
        Event::WalletActivation(body) => super::wallet::activation(tx, entry, body),
        Event::WalletBinding(body) => super::wallet::binding(tx, entry, body),
        Event::WalletUnbinding(body) => super::wallet::unbinding(tx, body),
        Event::Suspension(body)
        | Event::Reinstatement(body)
        | Event::Revocation(body)
        | Event::Cancellation(body)
        | Event::Expiry(body)
        | Event::Rebind(body) => {
            let change = event
                .status_change()
                .map(|(_, change)| change)
                .ok_or_else(|| ApplyError::Storage("status event without a change".into()))?;
            status_change(tx, entry, body, change)
        }
    }
}

fn step(entry: &Entry, detail: Option<String>) -> Step {
    Step {
        event: entry.event.as_str().to_string(),
        at_ms: entry.timestamp_ms,
        actor: entry.actor.clone(),
        seq: entry.seq.0,
        detail,
    }
}

fn parse_kind(kind: &str) -> Result<LicenceKind, Refusal> {
    kind.parse()
        .map_err(|_| Refusal::Invalid(format!("unknown licence kind {kind:?}")))
}

fn count(tx: &mut ViewTx<'_>, kind: &str, at_ms: u64, stage: Stage) -> Applied {
    let key = t::pair(kind, &tally::day_of(at_ms));
    let mut counts: Counts = get(tx, t::TALLY, &key)?.unwrap_or_default();
    counts.bump(stage);
    put(tx, t::TALLY, key, &counts);
    Ok(())
}

fn processed(tx: &mut ViewTx<'_>, kind: &str, submitted_ms: u64, decided_ms: u64) -> Applied {
    let seconds = decided_ms.saturating_sub(submitted_ms) / 1000;
    let key = t::with_numbers(kind, &[seconds]);
    let n = tx.get(t::PROCESSING, &key)?.map_or(0, |v| t::u64_value(&v));
    tx.put(t::PROCESSING, key, (n + 1).to_be_bytes().to_vec());
    Ok(())
}

fn application(tx: &mut ViewTx<'_>, entry: &Entry, body: &ApplicationBody) -> Applied {
    let id = &body.application_id;
    if tx.get(t::APPLICATIONS, id.as_bytes())?.is_some() {
        return Err(Refusal::ApplicationExists(id.clone()).into());
    }
    if let Some(number) = super::ids::application_number(id) {
        raise_counter(tx, meta::MAX_APPLICATION, number)?;
    }
    if let (true, Some(old)) = (body.accepted, &body.renewal_of) {
        let renewed = key_of(old)?;
        if let Some(other) = tx.get(t::RENEWING, renewed.as_bytes())? {
            return Err(Refusal::RenewalInProgress {
                number: old.clone(),
                application: String::from_utf8_lossy(&other).into_owned(),
            }
            .into());
        }
        tx.put(t::RENEWING, renewed.to_vec(), id.as_bytes().to_vec());
    }
    count(tx, body.kind.as_str(), entry.timestamp_ms, Stage::Received)?;
    if body.accepted {
        count(tx, body.kind.as_str(), entry.timestamp_ms, Stage::Accepted)?;
    }
    let detail = if body.accepted {
        "accepted"
    } else {
        "not accepted"
    };
    let app = ApplicationView {
        id: id.clone(),
        kind: body.kind.as_str().to_string(),
        status: if body.accepted {
            ApplicationStatus::Checking
        } else {
            ApplicationStatus::NotAccepted
        },
        created_ms: entry.timestamp_ms,
        updated_ms: entry.timestamp_ms,
        steps: vec![step(entry, Some(detail.to_string()))],
        problems: body.problems.clone(),
        answers: Default::default(),
        reasons: Vec::new(),
        licence_number: None,
        renewal_of: body.renewal_of.clone(),
        application_seq: entry.seq.0,
    };
    // A new application was not open before.
    save_application(tx, entry, &app, ApplicationStatus::NotAccepted)
}

/// An application still waiting for answers or a decision.
fn waiting_application(tx: &ViewTx<'_>, id: &str) -> Result<ApplicationView, ApplyError> {
    let app: ApplicationView = get(tx, t::APPLICATIONS, id.as_bytes())?
        .ok_or_else(|| Refusal::NoSuchApplication(id.to_string()))?;
    app.ensure_waiting()?;
    Ok(app)
}

/// Stores an application and files it as open or finished.
fn save_application(
    tx: &mut ViewTx<'_>,
    entry: &Entry,
    app: &ApplicationView,
    before: ApplicationStatus,
) -> Applied {
    put(tx, t::APPLICATIONS, app.id.as_bytes().to_vec(), app);
    if app.status.is_open() {
        tx.put(t::OPEN, app.id.as_bytes().to_vec(), Vec::new());
    } else if before.is_open() || app.status == ApplicationStatus::NotAccepted {
        tx.delete(t::OPEN, app.id.as_bytes().to_vec());
        let key = entry.seq.0.to_be_bytes().to_vec();
        tx.put(t::FINISHED, key, app.id.as_bytes().to_vec());
    }
    Ok(())
}

fn end_renewal(tx: &mut ViewTx<'_>, app: &ApplicationView) -> Applied {
    if let Some(old) = &app.renewal_of {
        let renewed = key_of(old)?;
        if tx.get(t::RENEWING, renewed.as_bytes())?.as_deref() == Some(app.id.as_bytes()) {
            tx.delete(t::RENEWING, renewed.to_vec());
        }
    }
    Ok(())
}

/// The view's key for a licence number as logged; a number that does not parse is refused.
pub(crate) fn key_of(number: &str) -> Result<LicenceKey, ApplyError> {
    number
        .parse::<LicenceNumber>()
        .map(|n| LicenceKey::of_number(&n))
        .map_err(|e| Refusal::Invalid(format!("licence number {number}: {e}")).into())
}

fn corrupt_key(table: usize) -> ApplyError {
    ApplyError::Storage(format!(
        "a licence key in {} is not 8 bytes",
        t::NAMES[table]
    ))
}

/// The licence logged under `number`: refused unless that exact number was issued.
pub(crate) fn licence_row(tx: &ViewTx<'_>, number: &str) -> Result<LicenceView, ApplyError> {
    let missing = || Refusal::NoSuchLicence(number.to_string());
    let Ok(key) = key_of(number) else {
        return Err(missing().into());
    };
    match get::<LicenceView>(tx, t::LICENCES, key.as_bytes())? {
        Some(found) if found.number == number => Ok(found),
        _ => Err(missing().into()),
    }
}

/// The licence a table points to by key; a dangling key is a storage fault.
fn licence_at(tx: &ViewTx<'_>, key: LicenceKey) -> Result<LicenceView, ApplyError> {
    get(tx, t::LICENCES, key.as_bytes())?
        .ok_or_else(|| ApplyError::Storage(format!("no licence row for {key}")))
}

/// Writes a licence row with its status bit, history row, expiry index and counters.
fn save_licence(
    tx: &mut ViewTx<'_>,
    entry: &Entry,
    licence: &LicenceView,
    before: Option<LicenceStatus>,
) -> Applied {
    let key = key_of(&licence.number)?;
    put(tx, t::LICENCES, key.to_vec(), licence);
    let kind = parse_kind(&licence.kind)?;
    if let Some(index) = licence.status_index {
        let mut value = vec![licence.status.code()];
        value.extend_from_slice(key.as_bytes());
        tx.put(t::STATUS_BITS, t::status_bit_key(kind, index), value);
    }
    let history = HistoryRow {
        status: licence.status,
        platform: licence.platform.clone(),
        reason: licence.reason.clone(),
        category: licence.category.clone(),
    };
    let history_key = t::licence_with_numbers(key, &[entry.timestamp_ms, entry.seq.0]);
    put(tx, t::HISTORY, history_key, &history);
    let expiring = t::expiring_key(licence.expires, key);
    if licence.status.holds() {
        tx.put(t::EXPIRING, expiring, Vec::new());
    } else {
        tx.delete(t::EXPIRING, expiring);
        for unique in &licence.unique_keys {
            if tx.get(t::UNIQUE, unique.as_bytes())?.as_deref() == Some(key.as_bytes()) {
                tx.delete(t::UNIQUE, unique.as_bytes().to_vec());
            }
        }
    }
    if before != Some(licence.status) {
        if let Some(before) = before {
            add_counter(tx, &meta::count(&licence.kind, before), -1)?;
        }
        add_counter(tx, &meta::count(&licence.kind, licence.status), 1)?;
    }
    Ok(())
}

fn status_change(
    tx: &mut ViewTx<'_>,
    entry: &Entry,
    body: &StatusBody,
    change: LicenceEvent,
) -> Applied {
    let mut licence = licence_row(tx, &body.number)?;
    let at = i64::try_from(entry.timestamp_ms / 1000).unwrap_or(i64::MAX);
    let from = if change == LicenceEvent::Expire {
        if at <= licence.expires {
            return Err(Refusal::NotYetExpired(body.number.clone()).into());
        }
        licence.status
    } else {
        licence::effective(licence.status, licence.expires, at)
    };
    let to = licence::next(from, change).map_err(|refused| Refusal::Transition {
        number: body.number.clone(),
        refused,
    })?;
    let before = licence.status;
    licence.status = to;
    licence.since_ms = entry.timestamp_ms;
    licence.reason = Some(body.reason.clone());
    licence.category = body.category.clone();
    if change == LicenceEvent::Rebind {
        licence.platform = body.platform.clone();
    }
    save_licence(tx, entry, &licence, Some(before))
}

/// The uniqueness keys of a licence: one valid vehicle certificate per plate and per VIN, one
/// valid driver certificate per citizen id and one platform permit per credit code, per issuer.
fn unique_keys(kind: LicenceKind, issuer: &str, record: &serde_json::Value) -> Vec<String> {
    let text = |key: &str| record.get(key).and_then(|v| v.as_str());
    match kind {
        LicenceKind::Vehicle => [("plate", text("plate")), ("vin", text("vin"))]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| format!("{name}:{v}")))
            .collect(),
        LicenceKind::Driver => text("citizen_id")
            .map(|id| vec![format!("driver:{issuer}:{id}")])
            .unwrap_or_default(),
        LicenceKind::Platform => text("credit_code")
            .map(|code| vec![format!("platform:{issuer}:{code}")])
            .unwrap_or_default(),
    }
}

/// The holder a record names: citizen id, vehicle owner id or platform credit code.
pub fn holder_of(record: &serde_json::Value) -> String {
    let text = |key: &str| record.get(key).and_then(|v| v.as_str()).map(str::to_string);
    text("citizen_id")
        .or_else(|| {
            record
                .get("owner")
                .and_then(|o| o.get("id"))
                .and_then(|v| v.as_str())
                .map(str::to_string)
        })
        .or_else(|| text("credit_code"))
        .unwrap_or_default()
}

/// Supersedes the licence a renewal or reissue replaces; returns the keys it held.
fn supersede(
    tx: &mut ViewTx<'_>,
    entry: &Entry,
    old_number: &str,
    new: &LicenceNumber,
    change: LicenceEvent,
) -> Result<Vec<String>, ApplyError> {
    let mut old = licence_row(tx, old_number)?;
    let old_parsed: LicenceNumber = old_number
        .parse()
        .map_err(|_| Refusal::Invalid(format!("stored number {old_number} does not parse")))?;
    if u16::from(old_parsed.version()) >= super::MAX_LICENCE_VERSION {
        return Err(Refusal::VersionLimit {
            number: old_number.to_string(),
            max: super::MAX_LICENCE_VERSION,
        }
        .into());
    }
    let same_licence = old_parsed.serial() == new.serial()
        && old_parsed.issuer() == new.issuer()
        && old_parsed.kind() == new.kind();
    if !same_licence || new.version() != old_parsed.version().saturating_add(1) {
        return Err(
            Refusal::Invalid(format!("{} does not follow {old_number}", new.as_str())).into(),
        );
    }
    let at = i64::try_from(entry.timestamp_ms / 1000).unwrap_or(i64::MAX);
    let from = licence::effective(old.status, old.expires, at);
    let to = licence::next(from, change).map_err(|refused| Refusal::Transition {
        number: old_number.to_string(),
        refused,
    })?;
    let before = old.status;
    old.status = to;
    old.since_ms = entry.timestamp_ms;
    old.reason = Some(format!("superseded by {}", new.as_str()));
    old.category = None;
    let keys = std::mem::take(&mut old.unique_keys);
    for key in &keys {
        tx.delete(t::UNIQUE, key.as_bytes().to_vec());
    }
    tx.delete(t::RENEWING, key_of(old_number)?.to_vec());
    save_licence(tx, entry, &old, Some(before))?;
    Ok(keys)
}

/// Claims one uniqueness key for `number`, unless a licence that still holds it has it.
fn claim(tx: &mut ViewTx<'_>, key: &str, licence: LicenceKey, at: i64) -> Applied {
    if let Some(holder) = tx.get(t::UNIQUE, key.as_bytes())? {
        let holder = LicenceKey::from_slice(&holder).ok_or_else(|| corrupt_key(t::UNIQUE))?;
        let other = licence_at(tx, holder)?;
        if licence::effective(other.status, other.expires, at).holds() {
            return Err(Refusal::Taken {
                key: key.to_string(),
                number: other.number,
            }
            .into());
        }
    }
    tx.put(t::UNIQUE, key.as_bytes().to_vec(), licence.to_vec());
    Ok(())
}

fn issue(tx: &mut ViewTx<'_>, entry: &Entry, body: &IssueBody, event: &Event) -> Applied {
    let number: LicenceNumber = body
        .number
        .parse()
        .map_err(|e| Refusal::Invalid(format!("licence number: {e}")))?;
    // Serial and version name one number in this registry: any licence under the same key,
    // whatever its issuer, means the number is taken.
    let key = LicenceKey::of_number(&number);
    if tx.get(t::LICENCES, key.as_bytes())?.is_some() {
        return Err(Refusal::NumberIssued(body.number.clone()).into());
    }
    let claims = crate::cose::decode(&body.credential)
        .ok()
        .and_then(|sign1| Claims::decode(&sign1.payload).ok())
        .ok_or_else(|| Refusal::Invalid("the credential does not decode".into()))?;
    let kind = number.kind();
    let at = i64::try_from(entry.timestamp_ms / 1000).unwrap_or(i64::MAX);
    if let Some(old) = &body.supersedes {
        let change = match event {
            Event::Reissue(_) => LicenceEvent::SupersedeByReissue,
            _ => LicenceEvent::SupersedeByRenewal,
        };
        supersede(tx, entry, old, &number, change)?;
    }
    let keys = unique_keys(kind, number.issuer().as_str(), &body.record);
    for unique in &keys {
        claim(tx, unique, key, at)?;
    }
    if let Some(index) = body.status_index {
        if tx
            .get(t::STATUS_BITS, &t::status_bit_key(kind, index))?
            .is_some()
        {
            return Err(Refusal::StatusIndexTaken(index).into());
        }
        raise_counter(tx, &meta::next_status_index(kind), index.saturating_add(1))?;
    }
    raise_counter(tx, meta::MAX_SERIAL, number.serial())?;
    let record = &body.record;
    let holder_id = holder_of(record);
    let plate = record
        .get("plate")
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let licence = LicenceView {
        number: body.number.clone(),
        short_serial: claims.serial.to_string(),
        kind: kind.as_str().to_string(),
        status: LicenceStatus::Valid,
        since_ms: entry.timestamp_ms,
        reason: None,
        holder_id: holder_id.clone(),
        plate: plate.clone(),
        platform: record
            .get("platform_credit_code")
            .and_then(|v| v.as_str())
            .map(str::to_string),
        not_before: claims.not_before,
        expires: claims.expires,
        issue_seq: entry.seq.0,
        application_id: body.application_id.clone(),
        status_index: body.status_index,
        unique_keys: keys,
        category: None,
    };
    if let Some(id) = &body.application_id {
        let mut app = waiting_application(tx, id)?;
        count(tx, &app.kind, entry.timestamp_ms, Stage::Issued)?;
        app.steps.push(step(entry, Some(body.number.clone())));
        app.status = ApplicationStatus::Issued;
        app.licence_number = Some(body.number.clone());
        app.updated_ms = entry.timestamp_ms;
        end_renewal(tx, &app)?;
        save_application(tx, entry, &app, ApplicationStatus::Checking)?;
    }
    tx.put(t::HOLDERS, t::with_licence(&holder_id, key), Vec::new());
    if let Some(plate) = &plate {
        tx.put(t::PLATES, t::with_licence(plate, key), Vec::new());
    }
    save_licence(tx, entry, &licence, None)
}

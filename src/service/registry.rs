//! The registry's current view: applications and licences, folded from the ledger.
//!
//! Nothing here is stored on its own. At start-up the whole ledger is replayed through
//! [`View::apply`]; afterwards each event is applied right after its append is acknowledged.
//! So the view can never disagree with the log for long, and a restart loses nothing.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::events::{
    licence_change, AgencyAnswerBody, ApplicationBody, DecisionBody, LicenceChange, Problem,
    ReasonBody, StatusBody,
};
use super::reports::{CreditRecordBody, ReportStatus, ReportView, ReviewBody};
use super::stats::{Stage, Tally};
use crate::clock::UnixSeconds;
use crate::credential::Claims;
use crate::issuance::IssueBody;
use crate::ledger::{Entry, EventType, Ledger, LedgerError, Seq};

/// What verifiers see of a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LicenceStatus {
    Valid,
    Suspended,
    Revoked,
    Expired,
    Superseded,
}

impl LicenceStatus {
    /// The name verifiers see, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenceStatus::Valid => "valid",
            LicenceStatus::Suspended => "suspended",
            LicenceStatus::Revoked => "revoked",
            LicenceStatus::Expired => "expired",
            LicenceStatus::Superseded => "superseded",
        }
    }
}

/// One licence as the registry knows it now.
#[derive(Debug, Clone, Serialize)]
pub struct LicenceView {
    pub number: String,
    pub short_serial: String,
    pub kind: String,
    pub status: LicenceStatus,
    pub since_ms: u64,
    pub reason: Option<String>,
    pub holder_id: String,
    pub plate: Option<String>,
    pub platform: Option<String>,
    pub not_before: UnixSeconds,
    pub expires: UnixSeconds,
    #[serde(skip)]
    pub credential: Vec<u8>,
    #[serde(skip)]
    pub record: serde_json::Value,
    pub issue_seq: u64,
    pub application_id: Option<String>,
    /// Position in the kind's status list, for credentials the service issued.
    pub status_index: Option<u64>,
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    NotAccepted,
    Checking,
    Incomplete,
    Refused,
    Issued,
}

/// One step of an application, with its time and actor.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub event: &'static str,
    pub at_ms: u64,
    pub actor: String,
    pub seq: u64,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AnswerView {
    pub outcome: String,
    pub at_ms: u64,
    pub via: String,
    #[serde(skip)]
    pub facts: serde_json::Value,
}

/// One application as the registry knows it now.
#[derive(Debug, Clone, Serialize)]
pub struct ApplicationView {
    pub id: String,
    pub kind: String,
    pub status: ApplicationStatus,
    pub created_ms: u64,
    pub updated_ms: u64,
    pub steps: Vec<Step>,
    pub problems: Vec<Problem>,
    pub answers: BTreeMap<String, AnswerView>,
    pub reasons: Vec<ReasonBody>,
    pub licence_number: Option<String>,
    pub renewal_of: Option<String>,
    #[serde(skip)]
    pub record: serde_json::Value,
}

/// All applications and licences.
#[derive(Debug, Default)]
pub struct View {
    pub applications: HashMap<String, ApplicationView>,
    pub licences: HashMap<String, LicenceView>,
    /// Short serial → full number.
    pub short_serials: HashMap<String, String>,
    /// Holder id → licence numbers.
    pub by_holder: HashMap<String, Vec<String>>,
    /// Plate → licence numbers.
    pub by_plate: HashMap<String, Vec<String>>,
    /// Agency alerts seen, by alert id, so a repeated alert has no further effect.
    pub alerts: HashMap<String, super::alerts::AlertBody>,
    /// Alert ids by the sequence number and time of their entry, for the officers' list.
    pub alert_log: BTreeMap<u64, (u64, String)>,
    /// Passenger reports by the sequence number of their entry.
    pub reports: BTreeMap<u64, ReportView>,
    /// Confirmed credit records by citizen id or credit code.
    pub credit_records: HashMap<String, Vec<CreditRecordBody>>,
    /// The funnel and processing times, tallied as events are applied.
    pub tally: Tally,
    /// Applications still being handled (checking or incomplete), so the officers' queue and
    /// the overdue count never walk finished ones.
    pub open_applications: std::collections::BTreeSet<String>,
    /// The most recently finished applications, newest last, at most [`RECENT_FINISHED`].
    pub recently_finished: std::collections::VecDeque<String>,
}

/// How many finished applications the view remembers for the queue page.
pub const RECENT_FINISHED: usize = 50;

impl View {
    /// Rebuilds the view from the whole ledger.
    pub fn replay(ledger: &Ledger) -> Result<Self, LedgerError> {
        let mut view = View::default();
        for seq in 0..ledger.size() {
            let entry = ledger.entry(Seq(seq))?;
            view.apply(&entry);
        }
        Ok(view)
    }

    /// Finds a licence by full number or short serial.
    pub fn licence(&self, number: &str) -> Option<&LicenceView> {
        self.licences.get(number).or_else(|| {
            self.short_serials
                .get(number)
                .and_then(|full| self.licences.get(full))
        })
    }

    /// Applies one logged event. Bodies that do not decode are skipped: the audit reports them.
    pub fn apply(&mut self, entry: &Entry) {
        let at_ms = entry.timestamp_ms;
        match entry.event {
            EventType::Application => {
                if let Ok(body) = serde_cbor::from_slice::<ApplicationBody>(&entry.body) {
                    self.apply_application(entry, body);
                }
            }
            EventType::AgencyAnswer => {
                if let Ok(body) = serde_cbor::from_slice::<AgencyAnswerBody>(&entry.body) {
                    self.apply_answer(entry, body);
                }
            }
            EventType::Decision => {
                if let Ok(body) = serde_cbor::from_slice::<DecisionBody>(&entry.body) {
                    self.apply_decision(entry, body);
                }
            }
            EventType::Alert => {
                if let Ok(body) = serde_cbor::from_slice::<super::alerts::AlertBody>(&entry.body) {
                    self.alert_log
                        .insert(entry.seq.0, (at_ms, body.alert_id.clone()));
                    self.alerts.insert(body.alert_id.clone(), body);
                }
            }
            EventType::Report => {
                if let Ok(body) = serde_cbor::from_slice::<super::page::Report>(&entry.body) {
                    self.reports.insert(
                        entry.seq.0,
                        ReportView {
                            id: entry.seq.0,
                            at_ms,
                            plate: body.plate,
                            reason: body.reason,
                            contact: body.contact,
                            status: ReportStatus::Open,
                            reviewed_by: None,
                            reviewed_ms: None,
                            note: None,
                            behaviour: None,
                        },
                    );
                }
            }
            EventType::ReportReview => {
                if let Ok(body) = serde_cbor::from_slice::<ReviewBody>(&entry.body) {
                    self.apply_review(entry, body);
                }
            }
            EventType::CreditRecord => {
                if let Ok(body) = serde_cbor::from_slice::<CreditRecordBody>(&entry.body) {
                    self.credit_records
                        .entry(body.subject_id.clone())
                        .or_default()
                        .push(body);
                }
            }
            _ => match licence_change(entry) {
                Some(LicenceChange::Issued(body)) => self.apply_issue(entry, body),
                Some(LicenceChange::Status { status, body }) => {
                    self.apply_status(status, at_ms, body)
                }
                Some(LicenceChange::Rebound(body)) => {
                    if let Some(licence) = self.licences.get_mut(&body.number) {
                        licence.platform = body.platform;
                        licence.reason = Some(body.reason);
                    }
                }
                None => {}
            },
        }
    }

    fn apply_review(&mut self, entry: &Entry, body: ReviewBody) {
        let Some(report) = self.reports.get_mut(&body.report_id) else {
            return;
        };
        report.status = if body.outcome == "confirmed" {
            ReportStatus::Confirmed
        } else {
            ReportStatus::Dismissed
        };
        report.reviewed_by = Some(entry.actor.clone());
        report.reviewed_ms = Some(entry.timestamp_ms);
        report.note = Some(body.note);
        report.behaviour = body.behaviour;
    }

    /// Files application `id` as open or finished after its status changed.
    fn track(&mut self, id: &str) {
        let Some(app) = self.applications.get(id) else {
            return;
        };
        let open = matches!(
            app.status,
            ApplicationStatus::Checking | ApplicationStatus::Incomplete
        );
        if open {
            self.open_applications.insert(id.to_string());
        } else if self.open_applications.remove(id) || app.status == ApplicationStatus::NotAccepted
        {
            self.recently_finished.push_back(id.to_string());
            while self.recently_finished.len() > RECENT_FINISHED {
                self.recently_finished.pop_front();
            }
        }
    }

    fn step(entry: &Entry, detail: Option<String>) -> Step {
        Step {
            event: entry.event.as_str(),
            at_ms: entry.timestamp_ms,
            actor: entry.actor.clone(),
            seq: entry.seq.0,
            detail,
        }
    }

    fn apply_application(&mut self, entry: &Entry, body: ApplicationBody) {
        let status = if body.accepted {
            ApplicationStatus::Checking
        } else {
            ApplicationStatus::NotAccepted
        };
        let detail = Some(
            if body.accepted {
                "accepted"
            } else {
                "not accepted"
            }
            .to_string(),
        );
        self.tally
            .count(&body.kind, entry.timestamp_ms, Stage::Received);
        if body.accepted {
            self.tally
                .count(&body.kind, entry.timestamp_ms, Stage::Accepted);
        }
        let id = body.application_id.clone();
        self.applications.insert(
            body.application_id.clone(),
            ApplicationView {
                id: body.application_id,
                kind: body.kind,
                status,
                created_ms: entry.timestamp_ms,
                updated_ms: entry.timestamp_ms,
                steps: vec![Self::step(entry, detail)],
                problems: body.problems,
                answers: BTreeMap::new(),
                reasons: Vec::new(),
                licence_number: None,
                renewal_of: body.renewal_of,
                record: body.record,
            },
        );
        self.track(&id);
    }

    fn apply_answer(&mut self, entry: &Entry, body: AgencyAnswerBody) {
        let Some(app) = self.applications.get_mut(&body.application_id) else {
            return;
        };
        let detail = Some(format!("{}: {}", body.agency, body.outcome));
        app.steps.push(Self::step(entry, detail));
        app.updated_ms = entry.timestamp_ms;
        app.answers.insert(
            body.agency,
            AnswerView {
                outcome: body.outcome,
                at_ms: entry.timestamp_ms,
                via: body.via,
                facts: body.facts,
            },
        );
    }

    fn apply_decision(&mut self, entry: &Entry, body: DecisionBody) {
        let Some(app) = self.applications.get_mut(&body.application_id) else {
            return;
        };
        app.steps.push(Self::step(
            entry,
            Some(format!("{} ({})", body.outcome, body.policy)),
        ));
        app.updated_ms = entry.timestamp_ms;
        app.reasons = body.reasons;
        let stage = match body.outcome.as_str() {
            "approved" => Some(Stage::Approved),
            "refused" => Some(Stage::Refused),
            _ => None,
        };
        if let Some(stage) = stage {
            self.tally.count(&app.kind, entry.timestamp_ms, stage);
            self.tally
                .processed(&app.kind, app.created_ms, entry.timestamp_ms);
        }
        app.status = match body.outcome.as_str() {
            "refused" => ApplicationStatus::Refused,
            "incomplete" => ApplicationStatus::Incomplete,
            _ => app.status,
        };
        self.track(&body.application_id);
    }

    fn apply_issue(&mut self, entry: &Entry, body: IssueBody) {
        let claims = crate::cose::decode(&body.credential)
            .ok()
            .and_then(|sign1| Claims::decode(&sign1.payload).ok());
        let Some(claims) = claims else {
            return;
        };
        if let Some(old) = body
            .supersedes
            .as_ref()
            .and_then(|n| self.licences.get_mut(n))
        {
            old.status = LicenceStatus::Superseded;
            old.since_ms = entry.timestamp_ms;
            old.reason = Some(format!("superseded by {}", body.number));
        }
        let record = &body.record;
        let text = |key: &str| record.get(key).and_then(|v| v.as_str()).map(str::to_string);
        let holder_id = text("citizen_id")
            .or_else(|| {
                record
                    .get("owner")
                    .and_then(|o| o.get("id"))
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            })
            .or_else(|| text("credit_code"))
            .unwrap_or_default();
        let plate = text("plate");
        let licence = LicenceView {
            number: body.number.clone(),
            short_serial: claims.serial.to_string(),
            kind: body.kind.clone(),
            status: LicenceStatus::Valid,
            since_ms: entry.timestamp_ms,
            reason: None,
            holder_id: holder_id.clone(),
            plate: plate.clone(),
            platform: text("platform_credit_code"),
            not_before: claims.not_before,
            expires: claims.expires,
            credential: body.credential.into_vec(),
            record: body.record.clone(),
            issue_seq: entry.seq.0,
            application_id: body.application_id.clone(),
            status_index: body.status_index,
        };
        if let Some(app) = body
            .application_id
            .as_ref()
            .and_then(|id| self.applications.get_mut(id))
        {
            self.tally
                .count(&app.kind, entry.timestamp_ms, Stage::Issued);
            app.steps.push(Self::step(entry, Some(body.number.clone())));
            app.status = ApplicationStatus::Issued;
            app.licence_number = Some(body.number.clone());
            app.updated_ms = entry.timestamp_ms;
        }
        if let Some(id) = &body.application_id {
            self.track(id);
        }
        self.short_serials
            .insert(claims.serial.to_string(), body.number.clone());
        push_unique(self.by_holder.entry(holder_id).or_default(), &body.number);
        if let Some(plate) = plate {
            push_unique(self.by_plate.entry(plate).or_default(), &body.number);
        }
        self.licences.insert(body.number, licence);
    }

    fn apply_status(&mut self, status: LicenceStatus, at_ms: u64, body: StatusBody) {
        let Some(licence) = self.licences.get_mut(&body.number) else {
            return;
        };
        licence.status = status;
        licence.since_ms = at_ms;
        licence.reason = Some(body.reason);
    }
}

fn push_unique(list: &mut Vec<String>, number: &str) {
    if !list.iter().any(|n| n == number) {
        list.push(number.to_string());
    }
}

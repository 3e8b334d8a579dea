//! What the persisted view stores per licence, application, report and alert, and the codec for
//! its rows (CBOR with integer field keys, so a row costs its data and little else).

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::bodies::{AlertBody, AlertRefusalBody, Problem, ReasonBody};
use super::licence::LicenceStatus;
use crate::clock::UnixSeconds;
use crate::ledger::ApplyError;

/// Encodes a row compactly (struct fields by index).
pub fn encode<T: Serialize>(row: &T) -> Vec<u8> {
    // Plain data (numbers, strings, lists, maps) always serialises.
    crate::cbor::to_vec_packed(row).unwrap_or_default()
}

/// Decodes a row; a row that does not decode is a storage fault, not a refusal.
pub fn decode<T: DeserializeOwned>(table: &str, bytes: &[u8]) -> Result<T, ApplyError> {
    crate::cbor::from_slice(bytes)
        .map_err(|e| ApplyError::Storage(format!("view row in {table} does not decode: {e}")))
}

/// One licence as the registry knows it now. The record and credential stay in the issue
/// entry (`issue_seq`); the view keeps only what lookups, rules and lists need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    pub issue_seq: u64,
    pub application_id: Option<String>,
    /// Position in the kind's status list, for credentials the service issued.
    pub status_index: Option<u64>,
    /// The uniqueness keys this licence holds while valid or suspended.
    #[serde(default)]
    pub unique_keys: Vec<String>,
    /// The public reason category of the last status change, when it carries one.
    #[serde(default)]
    pub category: Option<String>,
}

impl LicenceView {
    /// The status at `at` (Unix seconds): a valid or suspended licence past its end is expired
    /// even before the sweep logs it.
    pub fn status_at(&self, at: crate::clock::UnixSeconds) -> LicenceStatus {
        super::licence::effective(self.status, self.expires, at)
    }
}

impl ApplicationView {
    /// Refuses unless the application still waits for answers or a decision.
    pub fn ensure_waiting(&self) -> Result<(), super::Refusal> {
        if self.status == ApplicationStatus::Checking {
            return Ok(());
        }
        Err(super::Refusal::ApplicationNotWaiting {
            id: self.id.clone(),
            status: self.status,
        })
    }
}

/// Where an application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationStatus {
    NotAccepted,
    Checking,
    Incomplete,
    Refused,
    Issued,
}

impl ApplicationStatus {
    /// Still being handled: in the officers' queue.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            ApplicationStatus::Checking | ApplicationStatus::Incomplete
        )
    }
}

/// One step of an application, with its time and actor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    pub event: String,
    pub at_ms: u64,
    pub actor: String,
    pub seq: u64,
    pub detail: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnswerView {
    pub outcome: String,
    pub at_ms: u64,
    pub via: String,
    #[serde(skip_serializing_if = "serde_json::Value::is_null", default)]
    pub facts: serde_json::Value,
}

impl AnswerView {
    /// The answer as the application's view holds it once its entry is applied at `at_ms`.
    pub fn logged(body: &super::bodies::AgencyAnswerBody, at_ms: u64) -> Self {
        Self {
            outcome: body.outcome.to_string(),
            at_ms,
            via: body.via.to_string(),
            facts: body.facts.clone(),
        }
    }

    /// Whether the agency answered: with facts, or that it holds no record.
    pub fn is_answer(&self) -> bool {
        self.outcome == "answered" || self.outcome == "no_record"
    }
}

/// One application as the registry knows it now; its record stays in the application entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The application entry, which holds the submitted record.
    pub application_seq: u64,
}

/// Where a report stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportStatus {
    Open,
    Confirmed,
    Dismissed,
}

/// One passenger report as the registry knows it now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportView {
    /// The sequence number of the report's ledger entry.
    pub id: u64,
    pub at_ms: u64,
    pub plate: String,
    pub reason: String,
    pub contact: Option<String>,
    pub status: ReportStatus,
    pub reviewed_by: Option<String>,
    pub reviewed_ms: Option<u64>,
    pub note: Option<String>,
    pub behaviour: Option<String>,
}

/// An alert as officers see it: when it came and what it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertView {
    pub seq: u64,
    pub at_ms: u64,
    #[serde(flatten)]
    pub body: AlertBody,
}

/// An alert refused for its agency's mandate, as officers see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertRefusalView {
    pub seq: u64,
    pub at_ms: u64,
    #[serde(flatten)]
    pub body: AlertRefusalBody,
}

/// A licence's state at one moment, as the status-history index keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryRow {
    pub status: LicenceStatus,
    pub platform: Option<String>,
    pub reason: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
}

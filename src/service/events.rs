//! The bodies the service logs for each event, as CBOR.
//!
//! The ledger is the registry's source of truth: the in-memory view in `registry.rs` is rebuilt by
//! replaying these bodies, so each one carries everything needed to re-apply it.

use serde::{Deserialize, Serialize};

use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
use crate::model::FieldError;

/// `application`: an application received, accepted or not, with every formal problem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplicationBody {
    pub application_id: String,
    pub kind: String,
    pub record: serde_json::Value,
    pub accepted: bool,
    pub problems: Vec<Problem>,
    #[serde(default)]
    pub renewal_of: Option<String>,
}

/// A field problem as logged (owned strings, so it can be read back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub field: String,
    pub rule: String,
    pub message: String,
}

impl From<&FieldError> for Problem {
    fn from(e: &FieldError) -> Self {
        Problem {
            field: e.field.clone(),
            rule: e.rule.to_string(),
            message: e.message.clone(),
        }
    }
}

/// `agency_answer`: what an agency said, kept as evidence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgencyAnswerBody {
    pub application_id: String,
    pub agency: String,
    /// `answered`, `failed` or `missing`.
    pub outcome: String,
    pub facts: serde_json::Value,
    /// `call` when licreg asked, `push` when the agency answered later.
    pub via: String,
    pub detail: Option<String>,
}

/// `decision`: the rules engine's outcome with every reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionBody {
    pub application_id: String,
    /// `approved`, `refused` or `incomplete`.
    pub outcome: String,
    pub reasons: Vec<ReasonBody>,
    pub policy: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReasonBody {
    pub rule: String,
    pub agency: Option<String>,
    pub message: String,
}

/// `suspension`, `reinstatement`, `revocation`, `cancellation`, `expiry`, `rebind`: a status
/// change of one licence.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StatusBody {
    pub number: String,
    pub reason: String,
    #[serde(default)]
    pub platform: Option<String>,
}

/// Builds a ledger entry with a CBOR body.
pub fn entry<T: Serialize>(
    event: EventType,
    actor: &str,
    subjects: Vec<Subject>,
    body: &T,
) -> Result<NewEntry, String> {
    Ok(NewEntry {
        event,
        actor: actor.to_string(),
        subjects,
        body: serde_cbor::to_vec(body).map_err(|e| e.to_string())?,
    })
}

pub fn application_subject(id: &str) -> Subject {
    Subject::new(SubjectKind::Application, id)
}

pub fn licence_subject(number: &str) -> Subject {
    Subject::new(SubjectKind::Licence, number)
}

/// What a logged event does to a licence, decoded once for every reader of the log (the
/// registry view, the status feed and the compliance check).
#[derive(Debug, Clone)]
pub enum LicenceChange {
    /// A credential was issued (issue, renewal, reissue), possibly superseding another.
    Issued(crate::issuance::IssueBody),
    /// The licence's status changed.
    Status {
        status: super::registry::LicenceStatus,
        body: StatusBody,
    },
    /// A vehicle moved to another platform.
    Rebound(StatusBody),
}

/// The licence change an entry records, if it records one and its body decodes.
pub fn licence_change(entry: &crate::ledger::Entry) -> Option<LicenceChange> {
    use super::registry::LicenceStatus;
    let status = match entry.event {
        EventType::Issue | EventType::Renewal | EventType::Reissue => {
            return serde_cbor::from_slice(&entry.body)
                .ok()
                .map(LicenceChange::Issued);
        }
        EventType::Rebind => {
            return serde_cbor::from_slice(&entry.body)
                .ok()
                .map(LicenceChange::Rebound);
        }
        EventType::Suspension => LicenceStatus::Suspended,
        EventType::Reinstatement => LicenceStatus::Valid,
        EventType::Revocation | EventType::Cancellation => LicenceStatus::Revoked,
        EventType::Expiry => LicenceStatus::Expired,
        _ => return None,
    };
    let body = serde_cbor::from_slice(&entry.body).ok()?;
    Some(LicenceChange::Status { status, body })
}

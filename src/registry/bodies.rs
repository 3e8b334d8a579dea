//! The typed body of every event the ledger holds, as CBOR.
//!
//! The ledger is the registry's source of truth: the persisted view is derived from these bodies
//! (in the same transaction as the entry, and again on a rebuild), so each one carries everything
//! needed to apply it. [`super::event::Event`] pairs each body with its event type.

use serde::{Deserialize, Serialize};

pub use crate::issuance::IssueBody;
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

/// Builds a ledger entry whose body is `body` in the one CBOR encoding every body has.
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
        body: super::event::encode_body(body)?,
    })
}

pub fn application_subject(id: &str) -> Subject {
    Subject::new(SubjectKind::Application, id)
}

pub fn licence_subject(number: &str) -> Subject {
    Subject::new(SubjectKind::Licence, number)
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSubject {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub citizen_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<String>,
}

/// What the ledger keeps of an alert.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertBody {
    pub alert_id: String,
    pub agency: String,
    pub alert_type: String,
    pub subject: AlertSubject,
    pub detail: Option<String>,
    /// suspend, revoke or notice.
    pub action: String,
    pub affected: Vec<String>,
}

/// `report_review`: an officer's decision on a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewBody {
    pub report_id: u64,
    /// `confirmed` or `dismissed`.
    pub outcome: String,
    pub note: String,
    #[serde(default)]
    pub behaviour: Option<String>,
}

/// `credit_record`: a confirmed dishonest behaviour against a holder or platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreditRecordBody {
    pub report_id: Option<u64>,
    /// `holder` or `platform`.
    pub against: String,
    /// Citizen id or unified social credit code.
    pub subject_id: String,
    pub behaviour: String,
    pub behaviour_zh: String,
    pub behaviour_en: String,
    /// `YYYY-MM-DD`, China Standard Time.
    pub confirmed_on: String,
    /// Last day the record bars new licences; absent when it bars none.
    pub barred_until: Option<String>,
    pub plate: Option<String>,
    pub licence: Option<String>,
    pub policy: String,
}

/// `report`: a passenger's report about a vehicle.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Report {
    pub plate: String,
    pub reason: String,
    #[serde(default)]
    pub contact: Option<String>,
}

/// `import`: a licence migrated from a city's older system, issued anew. The entry is the
/// licence's issuance too: `issue` is exactly what an `issue` entry carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportBody {
    /// The old certificate's number, unique per kind.
    pub legacy_number: String,
    /// SHA-256 of the file it came from, hex.
    pub file_sha256: String,
    pub issue: IssueBody,
}

//! The typed body of every event the ledger holds, as CBOR.
//!
//! The ledger is the registry's source of truth: the persisted view is derived from these bodies
//! (in the same transaction as the entry, and again on a rebuild), so each one carries everything
//! needed to apply it. [`super::event::Event`] pairs each body with its event type.

use serde::{Deserialize, Serialize};

pub use crate::ids::LicenceKind;
pub use crate::issuance::IssueBody;
use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
use crate::model::FieldError;
pub use crate::rules::credit::CreditSubject;
pub use crate::rules::AlertAction;

macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        crate::text_enum::serde_as_text!($name, [$($name::$variant),+]);

        impl $name {
            /// The name the JSON APIs and the officer pages show.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum! {
    /// What an agency said: it answered with facts, it holds no record of the subject, or the
    /// call failed.
    AnswerOutcome { Answered => "answered", Failed => "failed", NoRecord => "no_record" }
}

wire_enum! {
    /// How an answer came: licreg asked (`call`), or the agency answered later (`push`).
    AnswerVia { Call => "call", Push => "push" }
}

wire_enum! {
    /// The rules engine's outcome.
    DecisionOutcome { Approved => "approved", Refused => "refused", Incomplete => "incomplete" }
}

wire_enum! {
    /// An officer's finding on a report.
    ReviewResult { Confirmed => "confirmed", Dismissed => "dismissed" }
}

/// `wallet_activation`: a one-time code with which the holder binds a driver licence to a phone.
/// Only the code's SHA-256 is logged: entry bundles go to agencies, and the code is a secret
/// until it is used or expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivationBody {
    pub number: String,
    pub code_sha256: serde_bytes::ByteBuf,
    /// Unix seconds after which the code no longer binds.
    pub expires: i64,
}

/// `wallet_binding`: a phone's Ed25519 key bound to a licence with an activation code, and the
/// holder-bound credential (the licence with `cnf`) signed for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingBody {
    pub number: String,
    pub code_sha256: serde_bytes::ByteBuf,
    pub device_key: serde_bytes::ByteBuf,
    pub credential: serde_bytes::ByteBuf,
}

/// `wallet_unbinding`: a binding revoked (a lost or replaced phone); the device's codes stop
/// verifying against the live status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnbindingBody {
    pub number: String,
    pub reason: String,
}

/// `application`: an application received, accepted or not, with every formal problem.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApplicationBody {
    pub application_id: String,
    pub kind: LicenceKind,
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
    pub outcome: AnswerOutcome,
    pub facts: serde_json::Value,
    pub via: AnswerVia,
    pub detail: Option<String>,
}

/// `decision`: the rules engine's outcome with every reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DecisionBody {
    pub application_id: String,
    pub outcome: DecisionOutcome,
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
    /// Free text for officers and the agency concerned; never shown to the public.
    pub reason: String,
    #[serde(default)]
    pub platform: Option<String>,
    /// The public reason category (a key of the policy's `[reasons]`); `None` for changes the
    /// public needs no reason for (reinstatement, rebinding, access).
    #[serde(default)]
    pub category: Option<String>,
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

pub use crate::issuance::licence_subject;

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
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
    pub action: AlertAction,
    pub affected: Vec<String>,
}

impl AlertBody {
    /// Whether `other` reports the same thing: a repeat of one alert id must, or it conflicts.
    pub fn same_report(&self, other: &AlertBody) -> bool {
        self.alert_type == other.alert_type
            && self.subject == other.subject
            && self.detail == other.detail
    }
}

/// `alert_refused`: an alert outside its agency's mandate, kept so officers see every attempt.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlertRefusalBody {
    pub alert_id: String,
    pub agency: String,
    pub alert_type: String,
    pub subject: AlertSubject,
    pub detail: Option<String>,
    pub rule: crate::rules::MandateRule,
    pub message: String,
}

/// `report_review`: an officer's decision on a report.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewBody {
    pub report_id: u64,
    pub outcome: ReviewResult,
    pub note: String,
    #[serde(default)]
    pub behaviour: Option<String>,
}

/// `credit_record`: a confirmed dishonest behaviour against a holder or platform.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreditRecordBody {
    pub report_id: Option<u64>,
    pub against: CreditSubject,
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
    /// SHA-256 of the file it came from (32 bytes).
    pub file_sha256: serde_bytes::ByteBuf,
    pub issue: IssueBody,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_are_logged_as_their_text_and_read_back() {
        let body = DecisionBody {
            application_id: "A1".into(),
            outcome: DecisionOutcome::Approved,
            reasons: Vec::new(),
            policy: "p".into(),
        };
        let bytes = crate::ledger::encode_body(&body).unwrap();
        assert!(bytes.windows(8).any(|w| w == b"approved"), "{bytes:x?}");
        let back: DecisionBody = crate::cbor::from_slice(&bytes).unwrap();
        assert_eq!(back.outcome, DecisionOutcome::Approved);
        assert_eq!(
            serde_json::to_value(AlertAction::Notice).unwrap(),
            serde_json::json!("notice")
        );
        let kind: LicenceKind = serde_json::from_str("\"vehicle\"").unwrap();
        assert_eq!(kind, LicenceKind::Vehicle);
        assert!(serde_json::from_str::<AnswerVia>("\"post\"").is_err());
    }
}

//! One `Event` type for everything the ledger holds, with one decoder.
//!
//! An entry's event type says which body it carries; [`Event::decode`] is the only place a
//! body's bytes become a typed body, so the writer, replay, the feed and the compliance index all
//! read an entry the same way. A body that does not decode is refused before it is logged.

use serde::de::DeserializeOwned;

use super::bodies::{
    ActivationBody, AgencyAnswerBody, AlertBody, AlertRefusalBody, ApplicationBody, BindingBody,
    CreditRecordBody, DecisionBody, ImportBody, IssueBody, Report, ReviewBody, StatusBody,
    UnbindingBody,
};
use super::licence::{LicenceEvent, LicenceStatus};
use crate::ledger::{EventType, NewEntry, Subject};

/// Largest body a `key_change` entry may carry, in bytes.
pub const MAX_KEY_CHANGE_BYTES: usize = 4096;

/// Every event the ledger holds, with its typed body.
#[derive(Debug, Clone)]
pub enum Event {
    Application(ApplicationBody),
    AgencyAnswer(AgencyAnswerBody),
    Decision(DecisionBody),
    Issue(IssueBody),
    Renewal(IssueBody),
    Reissue(IssueBody),
    Import(ImportBody),
    Suspension(StatusBody),
    Reinstatement(StatusBody),
    Revocation(StatusBody),
    Cancellation(StatusBody),
    Expiry(StatusBody),
    Rebind(StatusBody),
    Access(StatusBody),
    Alert(AlertBody),
    AlertRefused(AlertRefusalBody),
    Report(Report),
    ReportReview(ReviewBody),
    CreditRecord(CreditRecordBody),
    WalletActivation(ActivationBody),
    WalletBinding(BindingBody),
    WalletUnbinding(UnbindingBody),
    /// A key rotation, kept as logged (its shape belongs to the key module).
    KeyChange(crate::cbor::Value),
}

/// Why an entry's body is not the event its type says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{event} body does not decode: {reason}")]
pub struct EventError {
    pub event: EventType,
    pub reason: String,
}

fn body<T: DeserializeOwned>(event: EventType, bytes: &[u8]) -> Result<T, EventError> {
    crate::cbor::from_slice(bytes).map_err(|e| EventError {
        event,
        reason: e.to_string(),
    })
}

impl Event {
    /// Decodes an entry's body by its event type.
    pub fn decode(event: EventType, bytes: &[u8]) -> Result<Event, EventError> {
        use EventType as T;
        Ok(match event {
            T::Application => Event::Application(body(event, bytes)?),
            T::AgencyAnswer => Event::AgencyAnswer(body(event, bytes)?),
            T::Decision => Event::Decision(body(event, bytes)?),
            T::Issue => Event::Issue(body(event, bytes)?),
            T::Renewal => Event::Renewal(body(event, bytes)?),
            T::Reissue => Event::Reissue(body(event, bytes)?),
            T::Import => Event::Import(body(event, bytes)?),
            T::Suspension => Event::Suspension(body(event, bytes)?),
            T::Reinstatement => Event::Reinstatement(body(event, bytes)?),
            T::Revocation => Event::Revocation(body(event, bytes)?),
            T::Cancellation => Event::Cancellation(body(event, bytes)?),
            T::Expiry => Event::Expiry(body(event, bytes)?),
            T::Rebind => Event::Rebind(body(event, bytes)?),
            T::Access => Event::Access(body(event, bytes)?),
            T::Alert => Event::Alert(body(event, bytes)?),
            T::AlertRefused => Event::AlertRefused(body(event, bytes)?),
            T::Report => Event::Report(body(event, bytes)?),
            T::ReportReview => Event::ReportReview(body(event, bytes)?),
            T::CreditRecord => Event::CreditRecord(body(event, bytes)?),
            T::WalletActivation => Event::WalletActivation(body(event, bytes)?),
            T::WalletBinding => Event::WalletBinding(body(event, bytes)?),
            T::WalletUnbinding => Event::WalletUnbinding(body(event, bytes)?),
            T::KeyChange => {
                if bytes.len() > MAX_KEY_CHANGE_BYTES {
                    return Err(EventError {
                        event,
                        reason: format!("over {MAX_KEY_CHANGE_BYTES} bytes"),
                    });
                }
                Event::KeyChange(body(event, bytes)?)
            }
        })
    }

    /// The event type this body is logged under.
    pub fn event_type(&self) -> EventType {
        use EventType as T;
        match self {
            Event::Application(_) => T::Application,
            Event::AgencyAnswer(_) => T::AgencyAnswer,
            Event::Decision(_) => T::Decision,
            Event::Issue(_) => T::Issue,
            Event::Renewal(_) => T::Renewal,
            Event::Reissue(_) => T::Reissue,
            Event::Import(_) => T::Import,
            Event::Suspension(_) => T::Suspension,
            Event::Reinstatement(_) => T::Reinstatement,
            Event::Revocation(_) => T::Revocation,
            Event::Cancellation(_) => T::Cancellation,
            Event::Expiry(_) => T::Expiry,
            Event::Rebind(_) => T::Rebind,
            Event::Access(_) => T::Access,
            Event::Alert(_) => T::Alert,
            Event::AlertRefused(_) => T::AlertRefused,
            Event::Report(_) => T::Report,
            Event::ReportReview(_) => T::ReportReview,
            Event::CreditRecord(_) => T::CreditRecord,
            Event::WalletActivation(_) => T::WalletActivation,
            Event::WalletBinding(_) => T::WalletBinding,
            Event::WalletUnbinding(_) => T::WalletUnbinding,
            Event::KeyChange(_) => T::KeyChange,
        }
    }

    /// The entry that logs this event.
    pub fn entry(&self, actor: &str, subjects: Vec<Subject>) -> Result<NewEntry, EventError> {
        let encode = |value: &dyn erased::Encode| value.cbor();
        let bytes = match self {
            Event::Application(b) => encode(b),
            Event::AgencyAnswer(b) => encode(b),
            Event::Decision(b) => encode(b),
            Event::Issue(b) | Event::Renewal(b) | Event::Reissue(b) => encode(b),
            Event::Import(b) => encode(b),
            Event::Suspension(b)
            | Event::Reinstatement(b)
            | Event::Revocation(b)
            | Event::Cancellation(b)
            | Event::Expiry(b)
            | Event::Rebind(b)
            | Event::Access(b) => encode(b),
            Event::Alert(b) => encode(b),
            Event::AlertRefused(b) => encode(b),
            Event::Report(b) => encode(b),
            Event::ReportReview(b) => encode(b),
            Event::CreditRecord(b) => encode(b),
            Event::WalletActivation(b) => encode(b),
            Event::WalletBinding(b) => encode(b),
            Event::WalletUnbinding(b) => encode(b),
            Event::KeyChange(b) => encode(b),
        }
        .map_err(|reason| EventError {
            event: self.event_type(),
            reason,
        })?;
        Ok(NewEntry {
            event: self.event_type(),
            actor: actor.to_string(),
            subjects,
            body: bytes,
        })
    }

    /// The credential this event issues, if it issues one.
    pub fn issued(&self) -> Option<&IssueBody> {
        match self {
            Event::Issue(b) | Event::Renewal(b) | Event::Reissue(b) => Some(b),
            Event::Import(b) => Some(&b.issue),
            _ => None,
        }
    }

    /// The licence and state-machine event of a status change, if this is one.
    pub fn status_change(&self) -> Option<(&StatusBody, LicenceEvent)> {
        let event = match self {
            Event::Suspension(_) => LicenceEvent::Suspend,
            Event::Reinstatement(_) => LicenceEvent::Reinstate,
            Event::Revocation(_) => LicenceEvent::Revoke,
            Event::Cancellation(_) => LicenceEvent::Cancel,
            Event::Expiry(_) => LicenceEvent::Expire,
            Event::Rebind(_) => LicenceEvent::Rebind,
            _ => return None,
        };
        match self {
            Event::Suspension(b)
            | Event::Reinstatement(b)
            | Event::Revocation(b)
            | Event::Cancellation(b)
            | Event::Expiry(b)
            | Event::Rebind(b) => Some((b, event)),
            _ => None,
        }
    }
}

mod erased {
    /// CBOR encoding behind one object-safe call, so `Event::entry` has one encoder.
    pub trait Encode {
        fn cbor(&self) -> Result<Vec<u8>, String>;
    }
    impl<T: serde::Serialize> Encode for T {
        fn cbor(&self) -> Result<Vec<u8>, String> {
            super::encode_body(self)
        }
    }
}

/// What a logged event does to a licence, for readers of the log (the status feed).
#[derive(Debug, Clone)]
pub enum LicenceChange {
    /// A credential was issued (issue, renewal, reissue, import), possibly superseding another.
    Issued(IssueBody),
    /// The licence's status changed.
    Status {
        status: LicenceStatus,
        body: StatusBody,
    },
    /// A vehicle moved to another platform.
    Rebound(StatusBody),
}

/// The licence change an entry records, if it records one and its body decodes.
pub fn licence_change(entry: &crate::ledger::Entry) -> Option<LicenceChange> {
    let event = Event::decode(entry.event, &entry.body).ok()?;
    if let Some(issued) = event.issued() {
        return Some(LicenceChange::Issued(issued.clone()));
    }
    let (body, change) = event.status_change()?;
    let status = match change {
        LicenceEvent::Rebind => return Some(LicenceChange::Rebound(body.clone())),
        LicenceEvent::Suspend => LicenceStatus::Suspended,
        LicenceEvent::Reinstate => LicenceStatus::Valid,
        LicenceEvent::Revoke | LicenceEvent::Cancel => LicenceStatus::Revoked,
        LicenceEvent::Expire => LicenceStatus::Expired,
        LicenceEvent::SupersedeByReissue | LicenceEvent::SupersedeByRenewal => {
            LicenceStatus::Superseded
        }
    };
    Some(LicenceChange::Status {
        status,
        body: body.clone(),
    })
}

pub use crate::ledger::encode_body;

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_body_of_another_event_is_refused_with_its_type() {
        let body = encode_body(&StatusBody {
            number: "L1".into(),
            reason: "r".into(),
            platform: None,
            category: None,
        })
        .unwrap();
        assert!(Event::decode(EventType::Suspension, &body).is_ok());
        let err = Event::decode(EventType::Issue, &body).unwrap_err();
        assert_eq!(err.event, EventType::Issue);
    }

    proptest! {
        // The same property as fuzz/fuzz_targets/event_body.rs, run in every test run.
        #[test]
        fn any_decoded_body_encodes_back(pick in any::<u8>(), body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let event_type = EventType::ALL[usize::from(pick) % EventType::ALL.len()];
            if let Ok(event) = Event::decode(event_type, &body) {
                prop_assert_eq!(event.event_type(), event_type);
                let entry = event.entry("test", Vec::new()).unwrap();
                prop_assert!(Event::decode(entry.event, &entry.body).is_ok());
            }
        }
    }
}

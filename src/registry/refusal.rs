//! Why the registry refuses a command: typed, so the HTTP layer maps each to a status and the
//! CLI to a message, and no layer guesses from text.

use super::event::EventError;
use super::licence::TransitionRefused;
use super::rows::ApplicationStatus;

/// A command that contradicts the registry's state, checked in log order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{0}")]
    Malformed(EventError),
    #[error("{0}")]
    Invalid(String),
    #[error("no licence {0}")]
    NoSuchLicence(String),
    #[error("no application {0}")]
    NoSuchApplication(String),
    #[error("licence {number}: {refused}")]
    Transition {
        number: String,
        refused: TransitionRefused,
    },
    #[error("licence number {0} has already been issued")]
    NumberIssued(String),
    #[error("{key} is already held by valid licence {number}")]
    Taken { key: String, number: String },
    #[error("status list index {0} is already in use")]
    StatusIndexTaken(u64),
    #[error("licence {number} has reached the last version ({max}); it cannot be reissued or renewed again")]
    VersionLimit { number: String, max: u16 },
    #[error("a renewal of {number} is already in progress (application {application})")]
    RenewalInProgress { number: String, application: String },
    #[error("application {0} already exists")]
    ApplicationExists(String),
    #[error("application {id} is no longer waiting for answers (it is {status:?})")]
    ApplicationNotWaiting {
        id: String,
        status: ApplicationStatus,
    },
    #[error("alert {0} has already been received")]
    AlertExists(String),
    #[error("alert {0} was already received with other content; use a new alert id")]
    AlertConflict(String),
    #[error("no report {0}")]
    NoSuchReport(u64),
    #[error("report {0} was already reviewed")]
    ReportReviewed(u64),
    #[error("legacy licence {legacy_number} was already imported as {number}")]
    AlreadyImported {
        legacy_number: String,
        number: String,
    },
    #[error("licence {0} has not reached the end of its validity")]
    NotYetExpired(String),
    #[error("licence {0} is not a vehicle licence: only vehicle licences are bound to a platform")]
    NotBindable(String),
    #[error("{0}")]
    RenewalNotOpen(String),
    #[error("{0}")]
    NotAttributable(String),
    #[error("the licences of {0} kept changing while the alert was applied; send it again")]
    Contended(String),
    #[error("the activation code is not known")]
    ActivationUnknown,
    #[error("the activation code was already used; ask for a new one")]
    ActivationUsed,
    #[error("the activation code expired; ask for a new one")]
    ActivationExpired,
    #[error("licence {number}: {why}")]
    NoWallet { number: String, why: String },
    #[error("licence {0} is not bound to a device")]
    NotBound(String),
}

impl Refusal {
    /// A stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Malformed(_) | Refusal::Invalid(_) => "invalid",
            Refusal::NoSuchLicence(_)
            | Refusal::NoSuchApplication(_)
            | Refusal::NoSuchReport(_) => "not_found",
            Refusal::Transition { .. } => "transition",
            Refusal::NumberIssued(_) | Refusal::StatusIndexTaken(_) => "number_taken",
            Refusal::Taken { .. } => "already_licensed",
            Refusal::VersionLimit { .. } => "version_limit",
            Refusal::RenewalInProgress { .. } => "renewal_in_progress",
            Refusal::ApplicationExists(_) => "duplicate",
            Refusal::ApplicationNotWaiting { .. } => "not_waiting",
            Refusal::AlertExists(_) => "duplicate",
            Refusal::AlertConflict(_) => "alert_conflict",
            Refusal::ReportReviewed(_) => "already_reviewed",
            Refusal::AlreadyImported { .. } => "already_imported",
            Refusal::NotYetExpired(_) => "not_expired",
            Refusal::NotBindable(_) => "not_bindable",
            Refusal::RenewalNotOpen(_) => "renewal_not_open",
            Refusal::Contended(_) => "contended",
            Refusal::NotAttributable(_) => "not_attributable",
            Refusal::ActivationUnknown => "not_found",
            Refusal::ActivationUsed => "activation_used",
            Refusal::ActivationExpired => "activation_expired",
            Refusal::NoWallet { .. } => "no_wallet",
            Refusal::NotBound(_) => "not_bound",
        }
    }

    /// The refusal inside a ledger error, if the ledger refused for the registry.
    pub fn of(error: &crate::ledger::LedgerError) -> Option<&Refusal> {
        match error {
            crate::ledger::LedgerError::Refused(inner) => inner.downcast_ref::<Refusal>(),
            _ => None,
        }
    }
}

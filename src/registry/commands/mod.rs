//! Commands: every change to the registry, with typed results and typed refusals.
//!
//! A command reads the persisted view, prepares the entries that record the change, and appends
//! them. The ledger writer then decides the entries again against the state at their sequence
//! number (`registry::apply`), so the check that counts is made in log order; the view read here
//! only lets a command refuse early and name what it will change. HTTP handlers, officer pages,
//! the demo, background work and the CLI call these commands; none of them calls another's
//! handler, and no command returns an HTTP type.

mod alerts;
mod applications;
mod licences;
mod reports;
mod review;
mod wallet;

use std::sync::Arc;

pub use crate::registry::bodies::{AnswerOutcome, AnswerVia, DecisionOutcome, ReviewResult};
pub use alerts::{AlertCommand, AlertOutcome, MAX_ALERT_ATTEMPTS, MAX_ALERT_TEXT_CHARS};
pub use applications::{AgencyAnswer, Submission, Submitted, MAX_APPLICATION_ID_BYTES};
pub use licences::{
    next_version, renewal_open, Reissued, StatusChanged, StatusCommand, MAX_EXPIRED_PER_SWEEP,
    MAX_REASON_CHARS, RENEWAL_WINDOW_DAYS,
};
pub use reports::{
    PassengerReport, ReviewCommand, ReviewOutcome, Reviewed, MAX_NOTE_CHARS, MAX_REPORT_TEXT_CHARS,
};
pub use review::{
    barred_until, check_facts, iso, parse_iso, required_agencies, today, with_today, Decided,
};
pub use wallet::{Activation, Bound, MAX_REBIND_REASON_CHARS};

use super::{Allocators, Refusal, View};
use crate::clock::Clock;
use crate::ledger::{Appended, Entry, Ledger, NewEntry};
use crate::rules::Policy;

/// Why a command did not change the registry.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The command's own input is wrong; `field` names it.
    #[error("{field}: {message}")]
    Invalid {
        field: &'static str,
        rule: &'static str,
        message: String,
    },
    /// The command contradicts the registry's state (checked again in log order by the writer).
    #[error("{0}")]
    Refused(#[from] Refusal),
    /// The caller's mandate does not cover the command; the attempt was logged.
    #[error("outside the mandate: {}", .0.message)]
    OutsideMandate(crate::rules::MandateRefusal),
    /// The registry cannot do this now (no active signing key); nothing was logged.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Storage failed, or stored data no longer reads; nothing was acknowledged.
    #[error("storage: {0}")]
    Storage(String),
}

impl From<crate::live_keys::NoSigningKey> for CommandError {
    fn from(e: crate::live_keys::NoSigningKey) -> Self {
        CommandError::Unavailable(e.to_string())
    }
}

impl CommandError {
    pub(crate) fn invalid(
        field: &'static str,
        rule: &'static str,
        message: impl Into<String>,
    ) -> Self {
        CommandError::Invalid {
            field,
            rule,
            message: message.into(),
        }
    }

    pub(crate) fn storage(cause: impl std::fmt::Display) -> Self {
        CommandError::Storage(cause.to_string())
    }
}

impl From<super::ViewError> for CommandError {
    fn from(e: super::ViewError) -> Self {
        CommandError::storage(e)
    }
}

/// Checks a free-text field: 1 to `max_chars` characters, none of them control characters.
pub fn check_text(field: &'static str, text: &str, max_chars: usize) -> Result<(), CommandError> {
    let chars = text.chars().count();
    if chars == 0 || chars > max_chars || text.chars().any(char::is_control) {
        return Err(CommandError::invalid(
            field,
            "length",
            format!("{field} must be 1 to {max_chars} characters"),
        ));
    }
    Ok(())
}

/// Told about every append once it is durable, in log order per append (the service's live
/// feed, status-list cache and metrics listen here).
pub type Observer = Arc<dyn Fn(&[Entry]) + Send + Sync>;

/// The registry: its ledger and persisted view, the credential signer, the clock and the policy.
/// Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct Registry {
    ledger: Ledger,
    view: View,
    ids: Arc<Allocators>,
    keys: Arc<crate::live_keys::LiveKeys>,
    clock: Arc<dyn Clock>,
    policy: Arc<Policy>,
    observer: Observer,
}

/// What a [`Registry`] is built from.
pub struct RegistryParts {
    pub ledger: Ledger,
    pub view: View,
    pub ids: Arc<Allocators>,
    /// The credential keys, replaced while the service runs (see `live_keys`).
    pub keys: Arc<crate::live_keys::LiveKeys>,
    pub clock: Arc<dyn Clock>,
    pub policy: Arc<Policy>,
    pub observer: Observer,
}

impl Registry {
    pub fn new(parts: RegistryParts) -> Self {
        Registry {
            ledger: parts.ledger,
            view: parts.view,
            ids: parts.ids,
            keys: parts.keys,
            clock: parts.clock,
            policy: parts.policy,
            observer: parts.observer,
        }
    }

    pub fn view(&self) -> &View {
        &self.view
    }

    /// Takes in entries other registry nodes appended to a shared ledger: the observers hear of
    /// them as of local appends, and the number allocators move past them.
    pub fn followed(&self, entries: &[Entry]) -> Result<(), CommandError> {
        if entries.is_empty() {
            return Ok(());
        }
        (self.observer)(entries);
        self.ids.catch_up(&self.view).map_err(CommandError::storage)
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// Appends entries durably, keeping a refusal typed; observers hear of them once on disk.
    pub async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<Appended>, CommandError> {
        let appended = match self.ledger.append_all_async(entries.clone()).await {
            Ok(appended) => appended,
            Err(e) => {
                return Err(match Refusal::of(&e) {
                    Some(refusal) => CommandError::Refused(refusal.clone()),
                    None => CommandError::storage(e),
                })
            }
        };
        let logged: Vec<Entry> = entries
            .into_iter()
            .zip(&appended)
            .map(|(new, done)| Entry {
                seq: done.seq,
                timestamp_ms: done.timestamp_ms,
                event: new.event,
                actor: new.actor,
                subjects: new.subjects,
                body: new.body,
                prev_hash: [0; 32],
            })
            .collect();
        (self.observer)(&logged);
        Ok(appended)
    }
}

/// Builds an entry from a typed body; a body that does not encode is a storage fault.
pub(crate) fn entry<T: serde::Serialize>(
    event: crate::ledger::EventType,
    actor: &str,
    subjects: Vec<crate::ledger::Subject>,
    body: &T,
) -> Result<NewEntry, CommandError> {
    super::bodies::entry(event, actor, subjects, body).map_err(CommandError::storage)
}

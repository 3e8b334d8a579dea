//! Commands on an existing licence: status changes (suspend, reinstate, revoke, cancel, rebind),
//! reissue, and the expiry sweep. Each is checked here with the pure state machine against the
//! view, and again by the ledger writer in log order.

use super::{entry, CommandError, Registry};
use crate::clock::rfc3339;
use crate::ids::{CreditCode, LicenceKind, LicenceNumber};
use crate::issuance::{self, IssueContext};
use crate::ledger::EventType;
use crate::model::LicenceRecord;
use crate::registry::bodies::{licence_subject, StatusBody};
use crate::registry::licence::{self, LicenceEvent};
use crate::registry::{LicenceStatus, LicenceView, Refusal, MAX_LICENCE_VERSION};

/// Longest reason an officer or holder may give, in characters.
pub const MAX_REASON_CHARS: usize = 500;
/// How long before expiry a licence may be renewed.
pub const RENEWAL_WINDOW_DAYS: i64 = 90;
/// Most licences one sweep expires; the next sweep takes the rest.
pub const MAX_EXPIRED_PER_SWEEP: usize = 10_000;

/// A status change of one licence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusCommand {
    Suspend,
    Reinstate,
    Revoke,
    /// At the holder's request.
    Cancel,
    /// A vehicle moves to another platform.
    Rebind {
        platform: CreditCode,
    },
}

impl StatusCommand {
    fn event(&self) -> (EventType, LicenceEvent) {
        match self {
            StatusCommand::Suspend => (EventType::Suspension, LicenceEvent::Suspend),
            StatusCommand::Reinstate => (EventType::Reinstatement, LicenceEvent::Reinstate),
            StatusCommand::Revoke => (EventType::Revocation, LicenceEvent::Revoke),
            StatusCommand::Cancel => (EventType::Cancellation, LicenceEvent::Cancel),
            StatusCommand::Rebind { .. } => (EventType::Rebind, LicenceEvent::Rebind),
        }
    }

    /// The public reason category: one of the policy's `[reasons]` for a suspension, revocation
    /// or cancellation (defaults `administrative` and `holder_request`); none for a change that
    /// leaves the licence valid.
    fn category(
        &self,
        given: Option<&str>,
        reasons: &crate::rules::Reasons,
    ) -> Result<Option<String>, CommandError> {
        let default = match self {
            StatusCommand::Suspend | StatusCommand::Revoke => Some("administrative"),
            StatusCommand::Cancel => Some("holder_request"),
            StatusCommand::Reinstate | StatusCommand::Rebind { .. } => None,
        };
        let given = given.map(str::trim).filter(|t| !t.is_empty());
        match (given, default) {
            (None, default) => Ok(default.map(str::to_string)),
            (Some(_), None) => Err(CommandError::invalid(
                "category",
                "not_applicable",
                "a reinstated or rebound licence is valid and carries no reason category",
            )),
            (Some(key), Some(_)) if reasons.contains(key) => Ok(Some(key.to_string())),
            (Some(_), Some(_)) => Err(CommandError::invalid(
                "category",
                "enum",
                format!(
                    "category must be one of: {}",
                    reasons.keys().collect::<Vec<_>>().join(", ")
                ),
            )),
        }
    }

    /// The reason to log: a suspension and a revocation must say why; the others have a default.
    fn reason(&self, given: Option<&str>) -> Result<String, CommandError> {
        let default = match self {
            StatusCommand::Suspend | StatusCommand::Revoke => None,
            StatusCommand::Reinstate => Some("reinstated by an officer".to_string()),
            StatusCommand::Cancel => Some("cancelled by the holder".to_string()),
            StatusCommand::Rebind { platform } => Some(format!("bound to platform {platform}")),
        };
        match (given.map(str::trim).filter(|t| !t.is_empty()), default) {
            (Some(text), _) if text.chars().count() > MAX_REASON_CHARS => {
                Err(CommandError::invalid(
                    "reason",
                    "length",
                    format!("reason must be at most {MAX_REASON_CHARS} characters"),
                ))
            }
            (Some(text), _) => Ok(text.to_string()),
            (None, Some(default)) => Ok(default),
            (None, None) => Err(CommandError::invalid(
                "reason",
                "required",
                "a reason is required",
            )),
        }
    }
}

/// A status change as logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChanged {
    pub number: String,
    pub status: LicenceStatus,
    pub reason: Option<String>,
    pub category: Option<String>,
    pub platform: Option<String>,
    pub seq: u64,
}

/// A new credential for a lost or damaged licence.
#[derive(Debug, Clone)]
pub struct Reissued {
    pub number: LicenceNumber,
    pub supersedes: String,
    pub credential: Vec<u8>,
}

/// The version a reissue or renewal of `old` gets, or the refusal at the named limit.
pub fn next_version(old: &LicenceNumber) -> Result<u8, Refusal> {
    u8::try_from(u16::from(old.version()) + 1)
        .ok()
        .filter(|v| u16::from(*v) <= MAX_LICENCE_VERSION)
        .ok_or_else(|| Refusal::VersionLimit {
            number: old.as_str().to_string(),
            max: MAX_LICENCE_VERSION,
        })
}

/// Whether `licence` may be renewed at `now`: valid or expired, and within the window.
pub fn renewal_open(licence: &LicenceView, now: i64) -> Result<(), Refusal> {
    let status = licence.status_at(now);
    if !matches!(status, LicenceStatus::Valid | LicenceStatus::Expired) {
        return Err(Refusal::RenewalNotOpen(format!(
            "licence {} is {}: only a valid or expired licence can be renewed",
            licence.number,
            status.as_str()
        )));
    }
    let opens = licence.expires - RENEWAL_WINDOW_DAYS * 86_400;
    if now < opens {
        return Err(Refusal::RenewalNotOpen(format!(
            "renewal opens {RENEWAL_WINDOW_DAYS} days before expiry, on {}",
            rfc3339(opens)
        )));
    }
    Ok(())
}

impl Registry {
    /// The licence under its full or short number, or the refusal naming it.
    pub(crate) fn existing(&self, number: &str) -> Result<LicenceView, CommandError> {
        self.view
            .licence(number)?
            .ok_or_else(|| Refusal::NoSuchLicence(number.to_string()).into())
    }

    /// Suspends, reinstates, revokes, cancels or rebinds one licence.
    pub async fn change_status(
        &self,
        actor: &str,
        number: &str,
        command: StatusCommand,
        reason: Option<&str>,
        category: Option<&str>,
    ) -> Result<StatusChanged, CommandError> {
        let licence = self.existing(number)?;
        let reason = command.reason(reason)?;
        let category = command.category(category, self.policy.reasons())?;
        if matches!(command, StatusCommand::Rebind { .. })
            && licence.kind != LicenceKind::Vehicle.as_str()
        {
            return Err(Refusal::NotBindable(licence.number).into());
        }
        let (event, change) = command.event();
        let now = self.clock.now_unix();
        licence::next(licence.status_at(now), change).map_err(|refused| Refusal::Transition {
            number: licence.number.clone(),
            refused,
        })?;
        let platform = match command {
            StatusCommand::Rebind { platform } => Some(platform.as_str().to_string()),
            _ => None,
        };
        let body = StatusBody {
            number: licence.number.clone(),
            reason,
            platform,
            category,
        };
        let logged = entry(event, actor, vec![licence_subject(&licence.number)], &body)?;
        let appended = self.append(vec![logged]).await?;
        let after = self.existing(&licence.number)?;
        Ok(StatusChanged {
            status: after.status_at(now),
            reason: after.reason,
            category: after.category,
            platform: after.platform,
            number: after.number,
            seq: appended.first().map_or(0, |a| a.seq.0),
        })
    }

    /// A new credential for a valid licence (lost or damaged); the old one is superseded in the
    /// same entry. Concurrent reissues of one licence: the writer lets exactly one through.
    pub async fn reissue(&self, actor: &str, number: &str) -> Result<Reissued, CommandError> {
        let licence = self.existing(number)?;
        let now = self.clock.now_unix();
        licence::next(licence.status_at(now), LicenceEvent::SupersedeByReissue).map_err(
            |refused| Refusal::Transition {
                number: licence.number.clone(),
                refused,
            },
        )?;
        let record = self.issued_record(&licence)?;
        let old: LicenceNumber = licence.number.parse().map_err(CommandError::storage)?;
        let context = IssueContext {
            supersedes: Some(licence.number.clone()),
            serial: Some(old.serial()),
            version: Some(next_version(&old)?),
            event: Some(EventType::Reissue),
            application_id: None,
            status_index: Some(self.ids.next_status_index(record.kind())),
        };
        let prepared = issuance::prepare(
            old.serial(),
            &*self.keys.signer()?,
            &record,
            actor,
            now,
            &context,
        )
        .map_err(|e| Refusal::Invalid(e.to_string()))?;
        self.append(vec![prepared.entry]).await?;
        Ok(Reissued {
            number: prepared.number,
            supersedes: licence.number,
            credential: prepared.credential,
        })
    }

    /// The typed record a licence was issued with.
    pub(crate) fn issued_record(
        &self,
        licence: &LicenceView,
    ) -> Result<LicenceRecord, CommandError> {
        let kind: LicenceKind = licence.kind.parse().map_err(CommandError::storage)?;
        let record = self.view.issued(licence)?.record;
        LicenceRecord::parse(kind, &record).map_err(CommandError::storage)
    }

    /// Logs that `actor` read a licence's full record (agencies reuse licences without paper;
    /// each reading is evidence).
    pub async fn record_access(
        &self,
        actor: &str,
        number: &str,
        what: &str,
    ) -> Result<(), CommandError> {
        let body = StatusBody {
            number: number.to_string(),
            reason: what.to_string(),
            platform: None,
            category: None,
        };
        let logged = entry(
            EventType::Access,
            actor,
            vec![licence_subject(number)],
            &body,
        )?;
        self.append(vec![logged]).await.map(|_| ())
    }

    /// Logs an `expiry` for every valid or suspended licence past its end (at most
    /// [`MAX_EXPIRED_PER_SWEEP`]); returns how many it expired.
    pub async fn expire_due(&self) -> Result<usize, CommandError> {
        let now = self.clock.now_unix();
        let due = self.view.expired_by(now, MAX_EXPIRED_PER_SWEEP)?;
        let mut expired = 0;
        for number in &due {
            let body = StatusBody {
                number: number.clone(),
                reason: "validity period ended".into(),
                platform: None,
                category: Some(crate::rules::Reasons::EXPIRED.to_string()),
            };
            let logged = entry(
                EventType::Expiry,
                "registry",
                vec![licence_subject(number)],
                &body,
            )?;
            // The writer re-checks in log order: a licence revoked meanwhile is simply skipped.
            match self.append(vec![logged]).await {
                Ok(_) => expired += 1,
                Err(CommandError::Refused(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }
}

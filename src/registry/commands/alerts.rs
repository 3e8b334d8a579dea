//! Applying an agency's alert: the policy's mandate table decides whether the agency may raise
//! it and what it does (suspend, revoke or notice) to the licences of the kind it concerns; the
//! alert and every status change it causes are appended together. Alert ids are the agency's
//! own: `(agency, alert_id)` is applied once, a repeat with other content conflicts, and an
//! alert outside the mandate is refused and logged as a refused attempt officers can see.

use super::{entry, CommandError, Registry};
use crate::ids::{CitizenId, CreditCode, IdError, Plate};
use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
use crate::registry::bodies::{
    licence_subject, AlertBody, AlertRefusalBody, AlertSubject, StatusBody,
};
use crate::registry::{LicenceStatus, Refusal};
use crate::rules::{AlertAction, Mandated, SubjectField};

/// Longest alert id, type or detail, in characters.
pub const MAX_ALERT_TEXT_CHARS: usize = 128;
/// How often an alert is decided again when the writer finds the licences changed meanwhile.
pub const MAX_ALERT_ATTEMPTS: usize = 4;

/// An alert as an agency sends it.
#[derive(Debug, Clone)]
pub struct AlertCommand {
    pub alert_id: String,
    pub alert_type: String,
    pub subject: AlertSubject,
    pub detail: Option<String>,
}

/// What the registry did with an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertOutcome {
    pub alert_id: String,
    /// The id had been applied before; nothing changed now.
    pub duplicate: bool,
    pub action: AlertAction,
    pub affected: Vec<String>,
}

fn check_text(field: &'static str, text: &str) -> Result<(), CommandError> {
    super::check_text(field, text, MAX_ALERT_TEXT_CHARS)
}

/// The index and key the subject is found under, and how it was named, after parsing its
/// identifier.
fn subject_key(
    subject: &AlertSubject,
) -> Result<(SubjectKind, String, SubjectField), CommandError> {
    let bad =
        |field: &'static str, e: IdError| CommandError::invalid(field, e.rule(), e.to_string());
    match (&subject.citizen_id, &subject.plate, &subject.credit_code) {
        (Some(id), None, None) => {
            let id: CitizenId = id.parse().map_err(|e| bad("subject.citizen_id", e))?;
            let key = id.as_str().to_string();
            Ok((SubjectKind::Holder, key, SubjectField::CitizenId))
        }
        (None, Some(plate), None) => {
            let plate: Plate = plate.parse().map_err(|e| bad("subject.plate", e))?;
            let key = plate.as_str().to_string();
            Ok((SubjectKind::Plate, key, SubjectField::Plate))
        }
        (None, None, Some(code)) => {
            let code: CreditCode = code.parse().map_err(|e| bad("subject.credit_code", e))?;
            let key = code.as_str().to_string();
            Ok((SubjectKind::Holder, key, SubjectField::CreditCode))
        }
        _ => Err(CommandError::invalid(
            "subject",
            "subject",
            "name exactly one of citizen_id, plate, credit_code",
        )),
    }
}

impl Registry {
    /// Applies `alert` from `agency`. Decided against the view, then re-checked by the writer in
    /// log order; if a licence changed in between (an officer revoked it as the alert came in),
    /// it is decided again on the new state, up to [`MAX_ALERT_ATTEMPTS`] times.
    pub async fn apply_alert(
        &self,
        actor: &str,
        agency: &str,
        alert: AlertCommand,
    ) -> Result<AlertOutcome, CommandError> {
        check_text("alert_id", &alert.alert_id)?;
        check_text("type", &alert.alert_type)?;
        if let Some(detail) = &alert.detail {
            check_text("detail", detail)?;
        }
        let (kind, key, field) = subject_key(&alert.subject)?;
        let mandated = match self
            .policy
            .alerts()
            .mandate(agency, &alert.alert_type, field)
        {
            Ok(mandated) => mandated,
            Err(refusal) => {
                let body = AlertRefusalBody {
                    alert_id: alert.alert_id,
                    agency: agency.to_string(),
                    alert_type: alert.alert_type,
                    subject: alert.subject,
                    detail: alert.detail,
                    rule: refusal.rule,
                    message: refusal.message.clone(),
                };
                let subjects = vec![Subject::new(kind, &key)];
                let logged = entry(EventType::AlertRefused, actor, subjects, &body)?;
                self.append(vec![logged]).await?;
                return Err(CommandError::OutsideMandate(refusal));
            }
        };
        for _ in 0..MAX_ALERT_ATTEMPTS {
            let body = AlertBody {
                alert_id: alert.alert_id.clone(),
                agency: agency.to_string(),
                alert_type: alert.alert_type.clone(),
                subject: alert.subject.clone(),
                detail: alert.detail.clone(),
                action: mandated.action,
                affected: Vec::new(),
            };
            if let Some(previous) = self.view.alert(agency, &alert.alert_id)? {
                if !previous.body.same_report(&body) {
                    return Err(Refusal::AlertConflict(alert.alert_id).into());
                }
                return Ok(AlertOutcome {
                    alert_id: alert.alert_id,
                    duplicate: true,
                    action: previous.body.action,
                    affected: previous.body.affected,
                });
            }
            let body = AlertBody {
                affected: self.affected_licences(kind, &key, &mandated)?,
                ..body
            };
            let entries = alert_entries(actor, &body, kind, &key, &mandated.category)?;
            match self.append(entries).await {
                Ok(_) => {
                    return Ok(AlertOutcome {
                        alert_id: body.alert_id,
                        duplicate: false,
                        action: body.action,
                        affected: body.affected,
                    })
                }
                Err(CommandError::Refused(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Refusal::Contended(alert.alert_id).into())
    }

    /// The subject's licences of the kind the alert concerns that the action applies to: valid
    /// ones for a suspension, valid or suspended ones for a revocation, none for a notice.
    fn affected_licences(
        &self,
        kind: SubjectKind,
        key: &str,
        mandated: &Mandated,
    ) -> Result<Vec<String>, CommandError> {
        let action = mandated.action;
        let concerns = mandated.concerns.as_str();
        let now = self.clock.now_unix();
        let licences = if kind == SubjectKind::Plate {
            self.view.licences_of_plate(key)?
        } else {
            self.view.licences_of_holder(key)?
        };
        Ok(licences
            .into_iter()
            .filter(|l| l.kind == concerns)
            .filter(|l| {
                matches!(
                    (action, l.status_at(now)),
                    (AlertAction::Suspend, LicenceStatus::Valid)
                        | (
                            AlertAction::Revoke,
                            LicenceStatus::Valid | LicenceStatus::Suspended
                        )
                )
            })
            .map(|l| l.number)
            .collect())
    }
}

/// The alert as evidence, then one status change per affected licence: appended together.
fn alert_entries(
    actor: &str,
    body: &AlertBody,
    kind: SubjectKind,
    key: &str,
    category: &str,
) -> Result<Vec<NewEntry>, CommandError> {
    let mut subjects = vec![Subject::new(kind, key)];
    subjects.extend(body.affected.iter().map(|n| licence_subject(n)));
    let mut entries = vec![entry(EventType::Alert, actor, subjects, body)?];
    let reason = format!(
        "{} alert {} from {}",
        body.alert_type, body.alert_id, body.agency
    );
    let event = if body.action == AlertAction::Revoke {
        EventType::Revocation
    } else {
        EventType::Suspension
    };
    for number in &body.affected {
        let status = StatusBody {
            number: number.clone(),
            reason: reason.clone(),
            platform: None,
            category: Some(category.to_string()),
        };
        entries.push(entry(event, actor, vec![licence_subject(number)], &status)?);
    }
    Ok(entries)
}

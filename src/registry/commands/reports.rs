//! Reviewing a passenger's report: an officer confirms (creating a credit record against the
//! driver or the platform, from the policy's catalogue) or dismisses it, once.

use super::review::iso;
use super::{check_text, entry, CommandError, Registry};
use crate::ids::{CitizenId, CreditCode};
use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
use crate::registry::bodies::{CreditRecordBody, Report, ReviewBody, ReviewResult};
use crate::registry::{LicenceView, Refusal, ReportStatus, ReportView};
use crate::rules::credit::CreditSubject;

/// Longest review note, in characters.
pub const MAX_NOTE_CHARS: usize = 200;

/// Longest report reason or contact, in characters.
pub const MAX_REPORT_TEXT_CHARS: usize = 64;

/// A passenger's report about a vehicle.
#[derive(Debug, Clone)]
pub struct PassengerReport {
    pub plate: crate::ids::Plate,
    pub reason: String,
    pub contact: Option<String>,
}

/// An officer's finding on a report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReviewOutcome {
    /// Confirmed: `behaviour` from the catalogue, and the driver's id when the report is about
    /// the driver and the plate's licence does not name them.
    Confirm {
        behaviour: String,
        citizen_id: Option<String>,
    },
    Dismiss,
}

#[derive(Debug, Clone)]
pub struct ReviewCommand {
    pub report_id: u64,
    pub outcome: ReviewOutcome,
    pub note: String,
}

/// A logged review, with the credit record a confirmation created.
#[derive(Debug, Clone)]
pub struct Reviewed {
    pub report_id: u64,
    pub outcome: ReviewResult,
    pub credit_record: Option<CreditRecordBody>,
}

impl Registry {
    /// Logs a passenger's report for the officers' queue; returns its id (its sequence number).
    pub async fn report(&self, report: PassengerReport) -> Result<u64, CommandError> {
        check_text("reason", &report.reason, MAX_REPORT_TEXT_CHARS)?;
        if let Some(contact) = &report.contact {
            check_text("contact", contact, MAX_REPORT_TEXT_CHARS)?;
        }
        let plate = report.plate.as_str().to_string();
        let body = Report {
            plate: plate.clone(),
            reason: report.reason,
            contact: report.contact,
        };
        let subjects = vec![Subject::new(SubjectKind::Plate, plate)];
        let appended = self
            .append(vec![entry(
                EventType::Report,
                "passenger",
                subjects,
                &body,
            )?])
            .await?;
        appended
            .first()
            .map(|a| a.seq.0)
            .ok_or_else(|| CommandError::storage("the report was not appended"))
    }

    /// Reviews a report once; a second review of the same report is refused in log order.
    pub async fn review_report(
        &self,
        actor: &str,
        command: ReviewCommand,
    ) -> Result<Reviewed, CommandError> {
        let note = command.note.trim().to_string();
        check_text("note", &note, MAX_NOTE_CHARS)?;
        let id = command.report_id;
        let report = self.view.report(id)?.ok_or(Refusal::NoSuchReport(id))?;
        if report.status != ReportStatus::Open {
            return Err(Refusal::ReportReviewed(id).into());
        }
        let (outcome, behaviour, record) = match &command.outcome {
            ReviewOutcome::Confirm {
                behaviour,
                citizen_id,
            } => {
                let record = self.credit_record(&report, behaviour, citizen_id.as_deref())?;
                (
                    ReviewResult::Confirmed,
                    Some(behaviour.clone()),
                    Some(record),
                )
            }
            ReviewOutcome::Dismiss => (ReviewResult::Dismissed, None, None),
        };
        let review = ReviewBody {
            report_id: id,
            outcome,
            note,
            behaviour,
        };
        let plate_subject = Subject::new(SubjectKind::Plate, report.plate.clone());
        let mut entries = vec![entry(
            EventType::ReportReview,
            actor,
            vec![plate_subject],
            &review,
        )?];
        if let Some(record) = &record {
            entries.push(record_entry(actor, record)?);
        }
        self.append(entries).await?;
        Ok(Reviewed {
            report_id: id,
            outcome: review.outcome,
            credit_record: record,
        })
    }

    /// The credit record a confirmation creates: the behaviour from the catalogue, the subject
    /// from the officer's finding or the plate's licence.
    fn credit_record(
        &self,
        report: &ReportView,
        code: &str,
        citizen_id: Option<&str>,
    ) -> Result<CreditRecordBody, CommandError> {
        let credit = self.policy.credit();
        let behaviour = credit.behaviour(code).ok_or_else(|| {
            CommandError::invalid(
                "behaviour",
                "unknown_behaviour",
                format!("{code} is not in the policy's behaviour catalogue"),
            )
        })?;
        let vehicle = self
            .plate_licence(&report.plate)?
            .map(|l| (l.number, l.holder_id, l.platform));
        let subject_id = match (behaviour.against, citizen_id) {
            (CreditSubject::Holder, Some(id)) => id
                .parse::<CitizenId>()
                .map_err(|e| CommandError::invalid("citizen_id", e.rule(), e.to_string()))?
                .as_str()
                .to_string(),
            (CreditSubject::Holder, None) => {
                vehicle.as_ref().map(|v| v.1.clone()).ok_or_else(|| {
                    Refusal::NotAttributable(format!(
                        "no licence is known for plate {}; name the driver's citizen_id",
                        report.plate
                    ))
                })?
            }
            (CreditSubject::Platform, _) => {
                let code = vehicle.as_ref().and_then(|v| v.2.clone()).ok_or_else(|| {
                    Refusal::NotAttributable(format!(
                        "no platform is known for plate {}",
                        report.plate
                    ))
                })?;
                code.parse::<CreditCode>()
                    .map_err(CommandError::storage)?
                    .as_str()
                    .to_string()
            }
        };
        let today = crate::clock::china_time(self.clock.now_unix()).date();
        Ok(CreditRecordBody {
            report_id: Some(report.id),
            against: behaviour.against,
            subject_id,
            behaviour: code.to_string(),
            behaviour_zh: behaviour.zh.clone(),
            behaviour_en: behaviour.en.clone(),
            confirmed_on: iso(today),
            barred_until: credit.barred_until(behaviour, today).map(iso),
            plate: Some(report.plate.clone()),
            licence: vehicle.map(|v| v.0),
            policy: self.policy.label(),
        })
    }

    /// The plate's current vehicle licence: valid or suspended first, else the latest.
    fn plate_licence(&self, plate: &str) -> Result<Option<LicenceView>, CommandError> {
        let licences: Vec<_> = self
            .view
            .licences_of_plate(plate)?
            .into_iter()
            .filter(|l| l.kind == "vehicle")
            .collect();
        let holding = licences
            .iter()
            .filter(|l| l.status.holds())
            .max_by_key(|l| l.issue_seq);
        Ok(holding
            .or_else(|| licences.iter().max_by_key(|l| l.issue_seq))
            .cloned())
    }
}

fn record_entry(actor: &str, record: &CreditRecordBody) -> Result<NewEntry, CommandError> {
    let mut subjects = vec![Subject::new(SubjectKind::Holder, record.subject_id.clone())];
    if let Some(plate) = &record.plate {
        subjects.push(Subject::new(SubjectKind::Plate, plate.clone()));
    }
    entry(EventType::CreditRecord, actor, subjects, record)
}

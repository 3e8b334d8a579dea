//! Applications: submission with formal review, agency answers, the automatic decision, issuance
//! on approval (in the same append as the decision), and renewal, which is a new application.
//!
//! Asking the agencies is I/O and stays at the edge (`service::applications`); it hands the
//! answers to [`Registry::conclude_checks`], which logs them and, when they complete the
//! application, its decision, the issued licence and (for a submitter who waits on a driver
//! licence) the holder's first wallet activation code, all in one append: one durable commit per
//! application after its submission, where there were three.

use serde_json::Value;

use super::review::{registry_reason, required_agencies, stored, today, with_today};
use super::wallet::Activation;
use super::{entry, CommandError, Registry};
use crate::ids::{LicenceKind, LicenceNumber};
use crate::issuance::{self, IssueContext};
use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
use crate::model::{FieldError, LicenceRecord};
use crate::registry::bodies::{
    application_subject, AgencyAnswerBody, AnswerOutcome, AnswerVia, ApplicationBody, DecisionBody,
    DecisionOutcome, Problem,
};
use crate::registry::rows::AnswerView;
use crate::registry::{ApplicationStatus, ApplicationView, Refusal};

/// Longest an application id may be.
pub const MAX_APPLICATION_ID_BYTES: usize = 64;

/// An application as submitted.
#[derive(Debug, Clone)]
pub struct Submission {
    pub kind: LicenceKind,
    pub record: Value,
    pub renewal_of: Option<String>,
}

/// A logged application: accepted (with its parsed record, for the agency checks) or not (with
/// every problem formal review found).
#[derive(Debug)]
pub struct Submitted {
    pub id: String,
    pub review: Result<LicenceRecord, Vec<FieldError>>,
}

/// One agency's answer, kept as evidence.
#[derive(Debug, Clone)]
pub struct AgencyAnswer {
    pub agency: String,
    pub outcome: AnswerOutcome,
    pub facts: Value,
    pub via: AnswerVia,
    pub detail: Option<String>,
}

impl Registry {
    /// Logs an application with the outcome of formal review (every problem at once).
    pub async fn submit(
        &self,
        actor: &str,
        submission: Submission,
    ) -> Result<Submitted, CommandError> {
        // Checked before anything is logged: a refused application keeps its record as
        // evidence, so an oversized one would outgrow its entry.
        let record_bytes = serde_json::to_vec(&submission.record).map_or(usize::MAX, |b| b.len());
        if record_bytes > crate::model::MAX_RECORD_BYTES {
            return Err(CommandError::invalid(
                "record",
                "size",
                format!(
                    "the record is {record_bytes} bytes, over the {}-byte limit",
                    crate::model::MAX_RECORD_BYTES
                ),
            ));
        }
        let review = self.formal_review(
            submission.kind,
            &submission.record,
            submission.renewal_of.as_deref(),
        );
        self.log_application(actor, submission, review).await
    }

    async fn log_application(
        &self,
        actor: &str,
        submission: Submission,
        review: Result<LicenceRecord, Vec<FieldError>>,
    ) -> Result<Submitted, CommandError> {
        let id = self.ids.next_application_id(self.clock.now().date().year());
        let problems = match &review {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(Problem::from).collect(),
        };
        let body = ApplicationBody {
            application_id: id.clone(),
            kind: submission.kind,
            record: submission.record,
            accepted: review.is_ok(),
            problems,
            renewal_of: submission.renewal_of,
        };
        let mut subjects = vec![application_subject(&id)];
        if let Ok(record) = &review {
            subjects.push(Subject::new(SubjectKind::Holder, record.holder_id()));
        }
        self.append(vec![entry(EventType::Application, actor, subjects, &body)?])
            .await?;
        Ok(Submitted { id, review })
    }

    /// Renewal: from 90 days before expiry, a new application for the same record that runs
    /// every check again. A renewal already waiting for agencies blocks a second one.
    pub async fn renew(&self, actor: &str, number: &str) -> Result<Submitted, CommandError> {
        let licence = self.existing(number)?;
        super::renewal_open(&licence, self.clock.now_unix())?;
        let old: LicenceNumber = licence.number.parse().map_err(CommandError::storage)?;
        super::next_version(&old)?;
        let kind: LicenceKind = licence.kind.parse().map_err(CommandError::storage)?;
        let mut record = self.view.issued(&licence)?.record;
        if let Some(obj) = record.as_object_mut() {
            obj.remove("valid_from");
            obj.remove("valid_until");
        }
        let submission = Submission {
            kind,
            record,
            renewal_of: Some(licence.number),
        };
        let review = self.formal_review(kind, &submission.record, submission.renewal_of.as_deref());
        // The licence stopped being renewable since the check above (a concurrent renewal
        // superseded it, an officer revoked it): refuse, as the check above would have, rather
        // than log an application that could never be accepted.
        if let Err(problems) = &review {
            if let Some(problem) = problems.iter().find(|p| p.field == "renewal_of") {
                return Err(Refusal::RenewalNotOpen(problem.message.clone()).into());
            }
        }
        self.log_application(actor, submission, review).await
    }

    /// Logs the answers of the agencies that were asked and, when they complete the application,
    /// decides it in the same append (see [`Registry::decide_if_ready`]). `activation_for` names
    /// a submitter waiting for the outcome: an approved driver licence then gets the holder's
    /// first wallet activation code in that append too, returned here (shown once).
    pub async fn conclude_checks(
        &self,
        id: &str,
        answers: Vec<AgencyAnswer>,
        activation_for: Option<&str>,
    ) -> Result<Option<Activation>, CommandError> {
        let bodies: Vec<AgencyAnswerBody> = answers.iter().map(|a| answer_body(id, a)).collect();
        let entries = bodies
            .iter()
            .map(answer_entry)
            .collect::<Result<Vec<_>, _>>()?;
        let mut app = self
            .view
            .application(id)?
            .ok_or_else(|| Refusal::NoSuchApplication(id.to_string()))?;
        // The application as these answers leave it once applied; the writer applies them
        // before the decision in the same append, and checks again that it is still waiting.
        let at_ms = u64::try_from(self.clock.now_unix_ms()).unwrap_or(0);
        for body in &bodies {
            app.answers
                .insert(body.agency.clone(), AnswerView::logged(body, at_ms));
        }
        self.decide(app, entries, activation_for).await
    }

    /// The typed record an application was submitted with, read from its logged entry.
    pub fn submitted_record(
        &self,
        app: &crate::registry::ApplicationView,
        kind: LicenceKind,
    ) -> Result<LicenceRecord, CommandError> {
        let submitted = self.view.application_record(app)?;
        self.parse_submitted(&submitted, kind)
    }

    /// The typed record from the submitted JSON (dates the policy has not set yet are today's).
    fn parse_submitted(
        &self,
        submitted: &Value,
        kind: LicenceKind,
    ) -> Result<LicenceRecord, CommandError> {
        LicenceRecord::parse(kind, &with_today(submitted, today(self.clock())))
            .map_err(|e| stored("stored record no longer parses", e))
    }

    /// An agency answers later, after its call failed or timed out; decides if that was the
    /// last answer missing.
    pub async fn push_answer(
        &self,
        agency: &str,
        id: &str,
        facts: Value,
    ) -> Result<(), CommandError> {
        let app = self
            .view
            .application(id)?
            .ok_or_else(|| Refusal::NoSuchApplication(id.to_string()))?;
        app.ensure_waiting()?;
        super::review::check_facts(agency, &facts)
            .map_err(|e| CommandError::invalid("facts", "invalid_facts", e))?;
        let answer = AgencyAnswer {
            agency: agency.to_string(),
            outcome: AnswerOutcome::Answered,
            facts,
            via: AnswerVia::Push,
            detail: None,
        };
        self.append(vec![answer_entry(&answer_body(id, &answer))?])
            .await?;
        self.decide_if_ready(id).await
    }

    /// Decides once every required agency has answered; an approval issues the licence in the
    /// same append as the decision. An approval whose issuance the registry refuses in log
    /// order (the plate was licensed meanwhile, the licence being renewed was revoked) is
    /// logged as a refusal with that reason.
    pub async fn decide_if_ready(&self, id: &str) -> Result<(), CommandError> {
        let app = self
            .view
            .application(id)?
            .ok_or_else(|| Refusal::NoSuchApplication(id.to_string()))?;
        self.decide(app, Vec::new(), None).await.map(|_| ())
    }

    /// Appends `logged_first` (answers not yet logged, already counted in `app`) and, if the
    /// application is waiting and every required agency has answered, the decision with them.
    async fn decide(
        &self,
        app: ApplicationView,
        logged_first: Vec<NewEntry>,
        activation_for: Option<&str>,
    ) -> Result<Option<Activation>, CommandError> {
        let kind: LicenceKind = app
            .kind
            .parse()
            .map_err(|e| stored("application kind", e))?;
        let all_answered = required_agencies(&self.policy, kind)
            .iter()
            .all(|a| app.answers.get(a).is_some_and(|answer| answer.is_answer()));
        if app.status != ApplicationStatus::Checking || !all_answered {
            if !logged_first.is_empty() {
                self.append(logged_first).await?;
            }
            return Ok(None);
        }
        let today = today(self.clock());
        // One read of the application's entry serves both the rules and the issue entry.
        let submitted = self.view.application_record(&app)?;
        let record = self.parse_submitted(&submitted, kind)?;
        let decided = self.evaluate(&record, &app, today)?;
        let mut body = DecisionBody {
            application_id: app.id.clone(),
            outcome: decided.outcome,
            reasons: decided.reasons.clone(),
            policy: decided.policy.clone(),
        };
        let mut entries = logged_first.clone();
        entries.push(decision_entry(&body)?);
        let mut issued_driver = None;
        if let Some((from, until)) = decided.validity {
            let prepared = self.issue_entry(&app, &submitted, kind, from, until)?;
            if kind == LicenceKind::Driver {
                issued_driver = Some(prepared.number.to_string());
            }
            entries.push(prepared.entry);
        }
        let appended = match (activation_for, issued_driver) {
            (Some(actor), Some(number)) => self
                .activation_entries(actor, &number, entries)
                .await
                .map(Some),
            _ => self.append(entries).await.map(|_| None),
        };
        let refusal = match appended {
            Ok(activation) => return Ok(activation),
            // Another answer decided it first: nothing left to do.
            Err(CommandError::Refused(Refusal::ApplicationNotWaiting { .. })) => return Ok(None),
            Err(CommandError::Refused(refusal)) if decided.validity.is_some() => refusal,
            Err(e) => return Err(e),
        };
        body.outcome = DecisionOutcome::Refused;
        body.reasons = vec![registry_reason(&refusal)];
        let mut entries = logged_first;
        entries.push(decision_entry(&body)?);
        match self.append(entries).await {
            Err(CommandError::Refused(Refusal::ApplicationNotWaiting { .. })) => Ok(None),
            other => other.map(|_| None),
        }
    }

    fn issue_entry(
        &self,
        app: &ApplicationView,
        submitted: &Value,
        kind: LicenceKind,
        from: time::Date,
        until: time::Date,
    ) -> Result<issuance::Prepared, CommandError> {
        let mut record = submitted.clone();
        if let Some(obj) = record.as_object_mut() {
            obj.insert("valid_from".into(), Value::String(from.to_string()));
            obj.insert("valid_until".into(), Value::String(until.to_string()));
        }
        let record = LicenceRecord::parse(kind, &record)
            .map_err(|e| stored("decided record does not parse", e))?;
        let mut context = IssueContext {
            application_id: Some(app.id.clone()),
            status_index: Some(self.ids.next_status_index(kind)),
            ..IssueContext::default()
        };
        if let Some(old) = &app.renewal_of {
            if let Some(licence) = self.view.licence(old)? {
                let number: LicenceNumber =
                    licence.number.parse().map_err(CommandError::storage)?;
                context.supersedes = Some(licence.number.clone());
                context.serial = Some(number.serial());
                context.version = Some(super::next_version(&number)?);
                context.event = Some(EventType::Renewal);
            }
        }
        let serial = self
            .ids
            .next_serial()
            .ok_or_else(|| CommandError::storage("licence serials exhausted"))?;
        let now = self.clock.now_unix();
        issuance::prepare(
            serial,
            &*self.keys.signer()?,
            &record,
            "rules",
            now,
            &context,
        )
        .map_err(CommandError::storage)
    }
}

fn decision_entry(body: &DecisionBody) -> Result<NewEntry, CommandError> {
    entry(
        EventType::Decision,
        "rules",
        vec![application_subject(&body.application_id)],
        body,
    )
}

fn answer_body(id: &str, answer: &AgencyAnswer) -> AgencyAnswerBody {
    AgencyAnswerBody {
        application_id: id.to_string(),
        agency: answer.agency.clone(),
        outcome: answer.outcome,
        facts: answer.facts.clone(),
        via: answer.via,
        detail: answer.detail.clone(),
    }
}

fn answer_entry(body: &AgencyAnswerBody) -> Result<NewEntry, CommandError> {
    entry(
        EventType::AgencyAnswer,
        &format!("agency:{}", body.agency),
        vec![application_subject(&body.application_id)],
        body,
    )
}

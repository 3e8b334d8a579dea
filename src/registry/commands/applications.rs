//! Applications: submission with formal review, agency answers, the automatic decision, issuance
//! on approval (in the same append as the decision), and renewal, which is a new application.
//!
//! Asking the agencies is I/O and stays at the edge (`service::applications`); it hands the
//! answers to [`Registry::record_answers`] and then calls [`Registry::decide_if_ready`].

use serde_json::Value;

use super::review::{registry_reason, required_agencies, stored, today, with_today};
use super::{entry, CommandError, Registry};
use crate::ids::{LicenceKind, LicenceNumber};
use crate::issuance::{self, IssueContext};
use crate::ledger::{EventType, NewEntry, Subject, SubjectKind};
use crate::model::{FieldError, LicenceRecord};
use crate::registry::bodies::{
    application_subject, AgencyAnswerBody, AnswerOutcome, AnswerVia, ApplicationBody, DecisionBody,
    DecisionOutcome, Problem,
};
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

    /// Logs the answers of agencies that were asked, in one append.
    pub async fn record_answers(
        &self,
        id: &str,
        answers: Vec<AgencyAnswer>,
    ) -> Result<(), CommandError> {
        let entries = answers
            .iter()
            .map(|answer| answer_entry(id, answer))
            .collect::<Result<Vec<_>, _>>()?;
        self.append(entries).await.map(|_| ())
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
        self.append(vec![answer_entry(id, &answer)?]).await?;
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
        if app.status != ApplicationStatus::Checking {
            return Ok(());
        }
        let kind: LicenceKind = app
            .kind
            .parse()
            .map_err(|e| stored("application kind", e))?;
        let all_answered = required_agencies(&self.policy, kind)
            .iter()
            .all(|a| app.answers.get(a).is_some_and(|answer| answer.is_answer()));
        if !all_answered {
            return Ok(());
        }
        let today = today(self.clock());
        // One read of the application's entry serves both the rules and the issue entry.
        let submitted = self.view.application_record(&app)?;
        let record = self.parse_submitted(&submitted, kind)?;
        let decided = self.evaluate(&record, &app, today)?;
        let mut body = DecisionBody {
            application_id: id.to_string(),
            outcome: decided.outcome,
            reasons: decided.reasons.clone(),
            policy: decided.policy.clone(),
        };
        let mut entries = vec![decision_entry(&body)?];
        if let Some((from, until)) = decided.validity {
            entries.push(self.issue_entry(&app, &submitted, kind, from, until)?);
        }
        let refusal = match self.append(entries).await {
            Ok(_) => return Ok(()),
            // Another answer decided it first: nothing left to do.
            Err(CommandError::Refused(Refusal::ApplicationNotWaiting { .. })) => return Ok(()),
            Err(CommandError::Refused(refusal)) if decided.validity.is_some() => refusal,
            Err(e) => return Err(e),
        };
        body.outcome = DecisionOutcome::Refused;
        body.reasons = vec![registry_reason(&refusal)];
        match self.append(vec![decision_entry(&body)?]).await {
            Err(CommandError::Refused(Refusal::ApplicationNotWaiting { .. })) => Ok(()),
            other => other.map(|_| ()),
        }
    }

    fn issue_entry(
        &self,
        app: &ApplicationView,
        submitted: &Value,
        kind: LicenceKind,
        from: time::Date,
        until: time::Date,
    ) -> Result<NewEntry, CommandError> {
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
        let prepared = issuance::prepare(
            serial,
            &*self.keys.signer()?,
            &record,
            "rules",
            now,
            &context,
        )
        .map_err(CommandError::storage)?;
        Ok(prepared.entry)
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

fn answer_entry(id: &str, answer: &AgencyAnswer) -> Result<NewEntry, CommandError> {
    let body = AgencyAnswerBody {
        application_id: id.to_string(),
        agency: answer.agency.clone(),
        outcome: answer.outcome,
        facts: answer.facts.clone(),
        via: answer.via,
        detail: answer.detail.clone(),
    };
    entry(
        EventType::AgencyAnswer,
        &format!("agency:{}", answer.agency),
        vec![application_subject(id)],
        &body,
    )
}

//! Where the registry meets the pure rules engine: formal review of a submitted record (schema,
//! field rules and registry facts, every problem at once), the registry facts the engine reads,
//! and the engine's decision in the form the ledger logs.

use serde_json::Value;
use time::{Date, OffsetDateTime};

use super::{CommandError, Registry};
use crate::clock::Clock;
use crate::ids::LicenceKind;
use crate::model::{FieldError, LicenceRecord};
use crate::registry::bodies::{AnswerOutcome, DecisionOutcome, ReasonBody};
use crate::registry::{ApplicationView, LicenceStatus, LicenceView, Refusal, View};
use crate::rules::{self, AgencyFacts, AgencyName, Answers, Outcome, Policy, RegistryFacts};

/// Today's date in China Standard Time.
pub fn today(clock: &dyn Clock) -> Date {
    crate::clock::china_time(clock.now_unix()).date()
}

/// Agency names the policy requires for `kind`.
pub fn required_agencies(policy: &Policy, kind: LicenceKind) -> Vec<String> {
    policy
        .required_agencies(kind)
        .iter()
        .map(|a| a.as_str().to_string())
        .collect()
}

/// Checks that an agency's facts have the shape the engine reads.
pub fn check_facts(agency: &str, facts: &Value) -> Result<(), String> {
    let name = AgencyName::parse(agency).ok_or_else(|| format!("unknown agency {agency}"))?;
    AgencyFacts::parse(name, facts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The last day a subject's credit records bar new licences, if any does today.
pub fn barred_until(
    view: &View,
    subject_id: &str,
    today: Date,
) -> Result<Option<Date>, CommandError> {
    let records = view.credit_records(subject_id)?;
    Ok(rules::credit::active_until(
        records
            .iter()
            .filter_map(|r| r.barred_until.as_deref().and_then(parse_iso)),
        today,
    ))
}

/// `YYYY-MM-DD`, as the rules engine writes dates in its reasons.
pub fn iso(date: Date) -> String {
    rules::show_date(date)
}

pub fn parse_iso(text: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format).ok()
}

/// The record with today's date for a validity the policy has not set yet, so it parses.
pub fn with_today(record: &Value, today: Date) -> Value {
    let mut record = record.clone();
    if let Some(obj) = record.as_object_mut() {
        for field in ["valid_from", "valid_until"] {
            obj.entry(field)
                .or_insert_with(|| Value::String(today.to_string()));
        }
    }
    record
}

/// The engine's decision in loggable form; `validity` is set only on approval.
pub struct Decided {
    pub outcome: DecisionOutcome,
    pub reasons: Vec<ReasonBody>,
    pub policy: String,
    pub validity: Option<(Date, Date)>,
}

impl Registry {
    /// Schema, field rules and registry checks, all at once.
    pub(crate) fn formal_review(
        &self,
        kind: LicenceKind,
        record: &Value,
        renewal_of: Option<&str>,
    ) -> Result<LicenceRecord, Vec<FieldError>> {
        let today = today(self.clock());
        let record = with_today(record, today);
        let mut problems = crate::schemas::validate(kind, &record);
        let parsed = match LicenceRecord::parse(kind, &record) {
            Ok(parsed) => Some(parsed),
            Err(errors) => {
                for error in errors.0 {
                    if !problems.iter().any(|p| p.field == error.field) {
                        problems.push(error);
                    }
                }
                None
            }
        };
        if let Some(parsed) = &parsed {
            problems.extend(self.formal_registry(parsed, renewal_of, today));
            if let Some(old) = renewal_of {
                problems.extend(self.check_renewal_of(parsed, old));
            }
        }
        match parsed {
            Some(parsed) if problems.is_empty() => Ok(parsed),
            _ => Err(problems),
        }
    }

    /// A renewal must name a licence of the same kind and holder that is open for renewal.
    fn check_renewal_of(&self, record: &LicenceRecord, old: &str) -> Option<FieldError> {
        let problem = |message: String| FieldError {
            field: "renewal_of".into(),
            rule: "renewal",
            message,
        };
        let licence = match self.view.licence(old) {
            Ok(Some(licence)) => licence,
            Ok(None) => return Some(problem(format!("no licence {old}"))),
            Err(e) => return Some(problem(format!("the registry could not read {old}: {e}"))),
        };
        if licence.kind != record.kind().as_str() || licence.holder_id != record.holder_id() {
            return Some(problem(
                "the licence belongs to another holder or kind".into(),
            ));
        }
        super::renewal_open(&licence, self.clock.now_unix())
            .err()
            .map(|refusal| problem(refusal.to_string()))
    }

    /// Registry checks of formal review (already licensed, credit record), as field problems.
    fn formal_registry(
        &self,
        record: &LicenceRecord,
        renewal_of: Option<&str>,
        today: Date,
    ) -> Vec<FieldError> {
        let facts = match self.registry_facts(record, renewal_of) {
            Ok(facts) => facts,
            Err(e) => {
                return vec![FieldError {
                    field: String::new(),
                    rule: "registry",
                    message: format!("the registry could not be read: {e}"),
                }]
            }
        };
        rules::formal_review(&self.policy, &facts, record.kind(), today)
            .into_iter()
            .map(|reason| FieldError {
                field: String::new(),
                rule: "formal_review",
                message: format!("{}: {}", reason.rule, reason.message),
            })
            .collect()
    }

    /// What the registry itself knows about the applicant, for the rules engine.
    fn registry_facts(
        &self,
        record: &LicenceRecord,
        renewal_of: Option<&str>,
    ) -> Result<RegistryFacts, CommandError> {
        let holder = record.holder_id();
        let now = self.clock.now_unix();
        let view = &self.view;
        // A renewal replaces the licence it renews, so that one does not count against it.
        let other = |l: &LicenceView| Some(l.number.as_str()) != renewal_of;
        let holder_licences = view.licences_of_holder(&holder)?;
        let already_licensed = match record {
            // An owner may own many licensed vehicles: one certificate per plate and VIN.
            LicenceRecord::Vehicle(vehicle) => {
                let mut held = false;
                for key in [
                    format!("plate:{}", vehicle.plate.as_str()),
                    format!("vin:{}", vehicle.vin.as_str()),
                ] {
                    held |= view
                        .holder_of_key(&key)?
                        .is_some_and(|l| other(&l) && l.status_at(now).holds());
                }
                held
            }
            _ => {
                renewal_of.is_none()
                    && holder_licences
                        .iter()
                        .any(|l| l.kind == record.kind().as_str() && l.status.holds())
            }
        };
        let mut facts = RegistryFacts {
            holder_has_valid_licence_of_kind: already_licensed,
            credit_record_until: barred_until(view, &holder, today(self.clock()))?,
            ..RegistryFacts::default()
        };
        for licence in &holder_licences {
            if licence.status != LicenceStatus::Revoked {
                continue;
            }
            let seconds = i64::try_from(licence.since_ms / 1000).unwrap_or(0);
            if let Ok(at) = OffsetDateTime::from_unix_timestamp(seconds) {
                facts.revoked_certificates.push(at.date());
            }
        }
        if let LicenceRecord::Vehicle(vehicle) = record {
            facts.vehicle_bound_to_other_platform = view
                .licences_of_plate(vehicle.plate.as_str())?
                .into_iter()
                .filter(|l| other(l) && l.status.holds())
                .find_map(|l| {
                    l.platform
                        .filter(|p| p != vehicle.platform_credit_code.as_str())
                });
        }
        Ok(facts)
    }

    /// Runs the rules engine over the logged answers.
    pub(crate) fn evaluate(
        &self,
        record: &LicenceRecord,
        app: &ApplicationView,
        today: Date,
    ) -> Result<Decided, CommandError> {
        let mut answers = Answers::default();
        for (agency, answer) in &app.answers {
            let Some(name) = AgencyName::parse(agency) else {
                continue;
            };
            if answer.outcome == AnswerOutcome::NoRecord.as_str() {
                answers.no_record(name);
                continue;
            }
            match AgencyFacts::parse(name, &answer.facts) {
                Ok(facts) if answer.outcome == "answered" => answers.insert(facts),
                Ok(_) => answers.fail(name, answer.outcome.clone()),
                Err(e) => answers.fail(name, e.to_string()),
            }
        }
        let facts = self.registry_facts(record, app.renewal_of.as_deref())?;
        let decision = rules::decide(&self.policy, record, &answers, &facts, today);
        let outcome = match decision.outcome {
            Outcome::Approved => DecisionOutcome::Approved,
            Outcome::Refused => DecisionOutcome::Refused,
            Outcome::Incomplete => DecisionOutcome::Incomplete,
        };
        Ok(Decided {
            outcome,
            reasons: decision
                .reasons
                .iter()
                .map(|r| ReasonBody {
                    rule: r.rule.to_string(),
                    agency: r.agency.map(|a| a.as_str().to_string()),
                    message: r.message.clone(),
                })
                .collect(),
            policy: decision.policy.clone(),
            validity: (decision.outcome == Outcome::Approved)
                .then_some((decision.valid_from, decision.valid_until)),
        })
    }
}

/// Why a stored application cannot be decided: its record no longer reads.
pub(crate) fn stored(what: &str, e: impl std::fmt::Display) -> CommandError {
    CommandError::Storage(format!("{what}: {e}"))
}

/// A refusal an approved application meets at issuance, as the reason the decision logs.
pub(crate) fn registry_reason(refusal: &Refusal) -> ReasonBody {
    ReasonBody {
        rule: format!("registry_{}", refusal.code()),
        agency: None,
        message: refusal.to_string(),
    }
}

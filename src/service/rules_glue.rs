//! Where the service meets the pure rules engine: it gathers the answers and registry facts the
//! engine needs and turns its decision into what the ledger logs.

use time::{Date, OffsetDateTime};

use super::applications::{holds_licence, revocations};
use super::error::ApiError;
use super::events::ReasonBody;
use super::licences::effective_status;
use super::registry::ApplicationView;
use super::AppState;
use crate::clock::Clock;
use crate::ids::LicenceKind;
use crate::model::{FieldError, LicenceRecord};
use crate::rules::{self, AgencyFacts, AgencyName, Answers, Outcome, Policy, RegistryFacts, Stage};

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

/// The whole-application time limit, in milliseconds.
pub fn application_deadline_ms(policy: &Policy) -> u64 {
    u64::from(policy.deadlines().limit(Stage::Application)) * 60_000
}

/// Checks that an agency's facts have the shape the engine reads.
pub fn check_facts(agency: &str, facts: &serde_json::Value) -> Result<(), String> {
    let name = AgencyName::parse(agency).ok_or_else(|| format!("unknown agency {agency}"))?;
    AgencyFacts::parse(name, facts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn registry_facts(
    state: &AppState,
    record: &LicenceRecord,
    renewal_of: Option<&str>,
) -> Result<RegistryFacts, ApiError> {
    let holder = record.holder_id();
    let today = today(state.clock.as_ref());
    let view = state.read_view();
    // A renewal replaces the licence it renews, so that one does not count against it.
    let other = |l: &crate::registry::LicenceView| Some(l.number.as_str()) != renewal_of;
    let already_licensed = match record {
        // An owner may own many licensed vehicles: the rule is one certificate per plate and VIN.
        LicenceRecord::Vehicle(vehicle) => {
            let mut held = false;
            for key in [
                format!("plate:{}", vehicle.plate.as_str()),
                format!("vin:{}", vehicle.vin.as_str()),
            ] {
                held |= view.holder_of_key(&key)?.is_some_and(|l| {
                    other(&l) && effective_status(&l, state.clock.now_unix()).holds()
                });
            }
            held
        }
        _ => renewal_of.is_none() && holds_licence(state, &holder, record.kind())?,
    };
    let mut facts = RegistryFacts {
        holder_has_valid_licence_of_kind: already_licensed,
        credit_record_until: super::reports::barred_until(view, &holder, today)?,
        ..RegistryFacts::default()
    };
    for since_ms in revocations(state, &holder)?.values() {
        let seconds = i64::try_from(since_ms / 1000).unwrap_or(0);
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

/// Registry checks of formal review (already licensed, credit record), as field problems.
pub fn formal(
    state: &AppState,
    record: &LicenceRecord,
    renewal_of: Option<&str>,
    today: Date,
) -> Vec<FieldError> {
    let facts = match registry_facts(state, record, renewal_of) {
        Ok(facts) => facts,
        Err(e) => {
            return vec![FieldError {
                field: String::new(),
                rule: "registry",
                message: format!("the registry could not be read: {e}"),
            }]
        }
    };
    rules::formal_review(&state.policy, &facts, record.kind(), today)
        .into_iter()
        .map(|reason| FieldError {
            field: String::new(),
            rule: "formal_review",
            message: format!("{}: {}", reason.rule, reason.message),
        })
        .collect()
}

/// The engine's decision in loggable form; `validity` is set only on approval.
pub struct Decided {
    pub outcome: String,
    pub reasons: Vec<ReasonBody>,
    pub policy: String,
    pub validity: Option<(Date, Date)>,
}

/// Runs the rules engine over the logged answers.
pub fn evaluate(
    state: &AppState,
    record: &LicenceRecord,
    app: &ApplicationView,
    today: Date,
) -> Result<Decided, ApiError> {
    let mut answers = Answers::default();
    for (agency, answer) in &app.answers {
        let Some(name) = AgencyName::parse(agency) else {
            continue;
        };
        match AgencyFacts::parse(name, &answer.facts) {
            Ok(facts) if answer.outcome == "answered" => answers.insert(facts),
            Ok(_) => answers.fail(name, answer.outcome.clone()),
            Err(e) => answers.fail(name, e.to_string()),
        }
    }
    let facts = registry_facts(state, record, app.renewal_of.as_deref())?;
    let decision = rules::decide(&state.policy, record, &answers, &facts, today);
    let outcome = match decision.outcome {
        Outcome::Approved => "approved",
        Outcome::Refused => "refused",
        Outcome::Incomplete => "incomplete",
    };
    Ok(Decided {
        outcome: outcome.to_string(),
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

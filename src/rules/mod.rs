//! The rules engine: decides an application from the record, the agencies' answers, the
//! registry's own facts and a policy.
//!
//! It is pure and deterministic (no I/O, no clock: `today` is an argument) so a decision can be
//! replayed and audited years later from the same inputs, and tested as a table. It evaluates
//! every rule and returns every failing reason, because an applicant refused for one reason and
//! then for another on the next attempt has been treated unfairly.
//!
//! Reasons carry a stable machine code (listed in [`RULE_CODES`]), the agency whose facts decided
//! them when there is one, and one message: Chinese, then English in parentheses. Where a record
//! and an agency state the same fact (seats, licence class, ...), the agency's value decides the
//! rule and any difference is its own reason; while an agency has not answered, the record's
//! value is used so the applicant still hears every problem that can already be seen.

mod alerts;
mod authorities;
pub mod credit;
mod dates;
mod driver;
mod facts;
mod platform;
mod policy;
mod reasons;
mod vehicle;

use serde::Serialize;
use time::Date;

pub use alerts::{
    AlertAction, AlertPolicy, AlertType, MandateRefusal, MandateRule, Mandated, SubjectField,
};
pub use authorities::Authorities;
pub use facts::{
    AgencyFacts, AgencyName, Answer, AnswerStatus, Answers, ExamCentreFacts, FactsError,
    MarketRegulatorFacts, OffenceRecord, ProvincialTransportFacts, PublicSecurityFacts, RecordKind,
    RegistryFacts, TrafficPoliceFacts, VehicleRegistrationFacts, MAX_FACT_CHARS,
    MAX_OFFENCE_RECORDS,
};
pub use policy::{
    Agencies, Deadlines, DriverPolicy, Light, PlatformPolicy, Policy, PolicyError, Stage,
    VehiclePolicy, LICENCE_CLASSES, MAX_POLICY_BYTES,
};
pub use reasons::{ReasonLabel, Reasons};

use crate::ids::LicenceKind;
use crate::model::LicenceRecord;
pub use dates::show as show_date;
use dates::{iso_date, last_day_of, show};

/// Every reason code the engine can produce. Codes are part of the API: never rename one.
pub const RULE_CODES: &[&str] = &[
    "agency.missing",
    "agency.failed",
    "already_licensed",
    "credit_record_active",
    "area_code_mismatch",
    "driver.min_driving_years",
    "driver.min_age_years",
    "driver.max_age_years",
    "driver.record.traffic_crime",
    "driver.record.dangerous_driving",
    "driver.record.drug_use",
    "driver.record.drink_driving",
    "driver.record.violent_crime",
    "driver.full_deductions",
    "driver.driving_licence_invalid",
    "driver.national_exam",
    "driver.regional_exam",
    "driver.licence_class_not_allowed",
    "driver.licence_class_mismatch",
    "driver.first_licensed_mismatch",
    "driver.revoked_recently",
    "vehicle.not_registered",
    "vehicle.scrapped",
    "vehicle.max_seats",
    "vehicle.seats_mismatch",
    "vehicle.use_nature",
    "vehicle.gps",
    "vehicle.emergency_alarm",
    "vehicle.max_age_years_at_first_application",
    "vehicle.service_life_ended",
    "vehicle.powertrain_not_allowed",
    "vehicle.powertrain_mismatch",
    "vehicle.plate_energy_mismatch",
    "vehicle.registration_date_mismatch",
    "vehicle.local_plate",
    "vehicle.one_vehicle_one_platform",
    "vehicle.inspection_expired",
    "vehicle.insurance_expired",
    "platform.credit_code_invalid",
    "platform.online_capability_certificate",
    "platform.company_name_mismatch",
];

/// How an application ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every rule passed: issue the licence for the decision's validity period.
    Approved,
    /// Every required agency answered and at least one rule failed.
    Refused,
    /// A required agency has not answered or failed; decide again once it has. The reasons
    /// still list every rule already known to fail.
    Incomplete,
}

/// One failed rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reason {
    /// Stable machine code, one of [`RULE_CODES`].
    pub rule: &'static str,
    /// The agency whose facts decided this, if any.
    pub agency: Option<AgencyName>,
    /// For the applicant and the clerk: Chinese, then English in parentheses.
    pub message: String,
}

impl Reason {
    pub(crate) fn new(
        rule: &'static str,
        agency: Option<AgencyName>,
        message_zh: impl AsRef<str>,
        message_en: impl AsRef<str>,
    ) -> Self {
        Reason {
            rule,
            agency,
            message: format!("{} ({})", message_zh.as_ref(), message_en.as_ref()),
        }
    }
}

/// The engine's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// Every failed rule, in evaluation order (agencies, registry, area, then the kind's rules).
    pub reasons: Vec<Reason>,
    /// `name@version` of the policy applied.
    pub policy: String,
    /// The period an approval grants, inclusive. Computed for every outcome so a refusal can
    /// show what would have been granted, but only an approval grants it.
    #[serde(with = "iso_date")]
    pub valid_from: Date,
    #[serde(with = "iso_date")]
    pub valid_until: Date,
}

impl Decision {
    /// The codes of the failed rules, in order.
    pub fn rules(&self) -> Vec<&'static str> {
        self.reasons.iter().map(|r| r.rule).collect()
    }

    pub fn is_approved(&self) -> bool {
        self.outcome == Outcome::Approved
    }
}

/// Decides an application for `record` under `policy` on `today`.
pub fn decide(
    policy: &Policy,
    record: &LicenceRecord,
    answers: &Answers,
    registry: &RegistryFacts,
    today: Date,
) -> Decision {
    let kind = record.kind();
    let answers = &answers.with_no_record_read();
    let mut reasons = agency_reasons(policy, kind, answers);
    let incomplete = !reasons.is_empty();
    reasons.extend(no_record_reasons(policy, kind, answers));
    reasons.extend(formal_review(policy, registry, kind, today));
    if let Some(area) = policy.area_code() {
        if record.area_code() != area {
            reasons.push(Reason::new(
                "area_code_mismatch",
                None,
                format!(
                    "申请属地 {} 不属本政策适用地区 {}",
                    record.area_code().as_str(),
                    area.as_str()
                ),
                format!(
                    "the record's area {} is not this policy's area {}",
                    record.area_code().as_str(),
                    area.as_str()
                ),
            ));
        }
    }
    let valid_until = match record {
        LicenceRecord::Driver(d) => {
            driver::check(policy.driver(), d, answers, today, &mut reasons);
            last_day_of(today, policy.driver().validity_years)
        }
        LicenceRecord::Vehicle(v) => {
            let facts = answers.vehicle_registration.facts();
            vehicle::check(policy.vehicle(), v, facts, today, &mut reasons);
            vehicle::valid_until(policy.vehicle(), v, facts, today)
        }
        LicenceRecord::Platform(p) => {
            let (market, transport) = (
                answers.market_regulator.facts(),
                answers.provincial_transport.facts(),
            );
            platform::check(policy.platform(), p, market, transport, &mut reasons);
            last_day_of(today, policy.platform().validity_years)
        }
    };
    let outcome = match (incomplete, reasons.is_empty()) {
        (true, _) => Outcome::Incomplete,
        (false, true) => Outcome::Approved,
        (false, false) => Outcome::Refused,
    };
    Decision {
        outcome,
        reasons,
        policy: policy.label(),
        valid_from: today,
        valid_until,
    }
}

/// Checks the service can run at submission from its own records, before asking any agency:
/// an applicant who already holds a valid licence of this kind, is under an active credit
/// record (blacklist), had a driver certificate revoked within the lookback, or whose vehicle
/// serves another platform is refused without troubling the agencies. [`decide`] repeats these
/// checks, so the service need not merge the two lists.
pub fn formal_review(
    policy: &Policy,
    registry: &RegistryFacts,
    kind: LicenceKind,
    today: Date,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    if registry.holder_has_valid_licence_of_kind {
        // For a vehicle the fact is about the plate and VIN, not the owner (who may own many).
        let (zh, en) = if kind == LicenceKind::Vehicle {
            (
                format!("该号牌或车辆识别代号已持有有效的{}", kind.name_zh()),
                "the plate or VIN already has a valid vehicle transport certificate".to_string(),
            )
        } else {
            (
                format!("已持有有效的{}", kind.name_zh()),
                format!("already holds a valid {kind} licence"),
            )
        };
        reasons.push(Reason::new("already_licensed", None, zh, en));
    }
    if let Some(until) = registry.credit_record_until.filter(|until| *until >= today) {
        reasons.push(Reason::new(
            "credit_record_active",
            None,
            format!("处于失信惩戒期内（至 {}）", show(until)),
            format!("under an active credit record until {}", show(until)),
        ));
    }
    match kind {
        LicenceKind::Driver => {
            driver::check_revocations(policy.driver(), registry, today, &mut reasons)
        }
        LicenceKind::Vehicle => vehicle::check_binding(policy.vehicle(), registry, &mut reasons),
        LicenceKind::Platform => {}
    }
    reasons
}

/// The reasons of a "no record" answer with no facts to read it as: no driving licence on the
/// traffic police's record, no vehicle on the register.
fn no_record_reasons(policy: &Policy, kind: LicenceKind, answers: &Answers) -> Vec<Reason> {
    let mut reasons = Vec::new();
    for &agency in policy.required_agencies(kind) {
        if answers.status(agency) != AnswerStatus::NoRecord {
            continue;
        }
        let reason = match agency {
            AgencyName::TrafficPolice => Reason::new(
                "driver.driving_licence_invalid",
                Some(agency),
                "公安交管部门无此驾驶证记录",
                "the traffic police hold no driving licence for the applicant",
            ),
            AgencyName::VehicleRegistration => Reason::new(
                "vehicle.not_registered",
                Some(agency),
                "车辆管理所无此车辆登记记录",
                "the vehicle registration office holds no registration of the vehicle",
            ),
            // The others were read as facts by `with_no_record_read`.
            _ => continue,
        };
        reasons.push(reason);
    }
    reasons
}

/// One reason per required agency that has not answered or failed.
fn agency_reasons(policy: &Policy, kind: LicenceKind, answers: &Answers) -> Vec<Reason> {
    let mut reasons = Vec::new();
    for &agency in policy.required_agencies(kind) {
        match answers.status(agency) {
            AnswerStatus::Answered | AnswerStatus::NoRecord => {}
            AnswerStatus::Missing => reasons.push(Reason::new(
                "agency.missing",
                Some(agency),
                format!("{}尚未答复", agency.name_zh()),
                format!("no answer yet from {agency}"),
            )),
            AnswerStatus::Failed(error) => {
                // The error text comes from outside; keep what we echo back bounded.
                let error: String = error.chars().take(MAX_FACT_CHARS).collect();
                reasons.push(Reason::new(
                    "agency.failed",
                    Some(agency),
                    format!("{}答复失败：{error}", agency.name_zh()),
                    format!("{agency} failed: {error}"),
                ));
            }
        }
    }
    reasons
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 01);

    fn policy() -> Policy {
        Policy::parse(include_str!("../../policies/national.toml")).unwrap()
    }

    #[test]
    fn formal_review_passes_a_clean_applicant() {
        let reasons = formal_review(
            &policy(),
            &RegistryFacts::default(),
            LicenceKind::Driver,
            TODAY,
        );
        assert!(reasons.is_empty());
    }

    #[test]
    fn formal_review_refuses_holders_and_active_credit_records() {
        let registry = RegistryFacts {
            holder_has_valid_licence_of_kind: true,
            credit_record_until: Some(TODAY),
            ..RegistryFacts::default()
        };
        let reasons = formal_review(&policy(), &registry, LicenceKind::Platform, TODAY);
        let rules: Vec<_> = reasons.iter().map(|r| r.rule).collect();
        assert_eq!(rules, ["already_licensed", "credit_record_active"]);
        assert!(reasons[0]
            .message
            .starts_with("已持有有效的网络预约出租汽车经营许可证 (already"));
    }

    #[test]
    fn an_expired_credit_record_no_longer_counts() {
        let registry = RegistryFacts {
            credit_record_until: TODAY.previous_day(),
            ..RegistryFacts::default()
        };
        assert!(formal_review(&policy(), &registry, LicenceKind::Vehicle, TODAY).is_empty());
    }

    #[test]
    fn missing_and_failed_agencies_are_named_in_policy_order() {
        let mut answers = Answers::default();
        answers.fail(AgencyName::TrafficPolice, "x".repeat(1000));
        let reasons = agency_reasons(&policy(), LicenceKind::Driver, &answers);
        let got: Vec<_> = reasons.iter().map(|r| (r.rule, r.agency)).collect();
        assert_eq!(
            got,
            [
                ("agency.missing", Some(AgencyName::PublicSecurity)),
                ("agency.failed", Some(AgencyName::TrafficPolice)),
                ("agency.missing", Some(AgencyName::ExamCentre)),
            ]
        );
        assert!(reasons[1].message.chars().count() < 2 * MAX_FACT_CHARS + 40);
    }

    #[test]
    fn rule_codes_are_unique_and_dotted_lower_snake_case() {
        for (i, code) in RULE_CODES.iter().enumerate() {
            assert!(!RULE_CODES[..i].contains(code), "{code} twice");
            assert!(code
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'));
        }
        for kind in RecordKind::ALL {
            assert!(RULE_CODES.contains(&kind.rule()));
        }
    }

    #[test]
    fn decisions_serialise_with_iso_dates_and_snake_case() {
        let decision = Decision {
            outcome: Outcome::Incomplete,
            reasons: vec![Reason::new(
                "agency.missing",
                Some(AgencyName::ExamCentre),
                "甲",
                "a",
            )],
            policy: "national@2026.1".into(),
            valid_from: TODAY,
            valid_until: date!(2032 - 10 - 31),
        };
        let json = serde_json::to_value(&decision).unwrap();
        assert_eq!(json["outcome"], "incomplete");
        assert_eq!(json["reasons"][0]["agency"], "exam_centre");
        assert_eq!(json["valid_until"], "2032-10-31");
        assert_eq!(decision.rules(), ["agency.missing"]);
        assert!(!decision.is_approved());
    }
}

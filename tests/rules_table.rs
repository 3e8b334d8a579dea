//! The rules engine as a table: each row starts from the schema examples and agency answers
//! that pass every rule, changes a few facts, and states the outcome and exact reason codes
//! expected under each shipped policy.
//!
//! Rows are the specification a policy reviewer can read, so they change the inputs the way a
//! real application would (JSON record fields, JSON agency bodies, registry facts) and go through
//! the same parsers the service uses. Coverage tests below fail if any rule code the engine can
//! produce has no row.

use std::collections::{BTreeMap, BTreeSet};

use licreg::ids::{CitizenId, LicenceKind};
use licreg::model::LicenceRecord;
use licreg::rules::{
    decide, formal_review, AgencyFacts, AgencyName, Answers, Decision, Outcome, Policy,
    RegistryFacts, RULE_CODES,
};
use serde_json::{json, Value};
use time::macros::date;
use time::Date;

const TODAY: Date = date!(2026 - 11 - 01);

/// Everything a row may change before the engine runs.
struct Inputs {
    kind: LicenceKind,
    record: Value,
    /// Answer bodies of the agencies that answered; removing one makes it missing.
    facts: BTreeMap<AgencyName, Value>,
    failed: Vec<(AgencyName, String)>,
    /// Agencies that answered they hold no record of the subject.
    no_record: Vec<AgencyName>,
    registry: RegistryFacts,
    today: Date,
}

impl Inputs {
    fn new(kind: LicenceKind) -> Self {
        Inputs {
            kind,
            record: read_json(&format!("schemas/examples/{}.json", kind.as_str())),
            facts: passing_facts(),
            failed: Vec::new(),
            no_record: Vec::new(),
            registry: RegistryFacts::default(),
            today: TODAY,
        }
    }

    fn set(&mut self, agency: AgencyName, field: &str, value: Value) {
        let body = self.facts.get_mut(&agency).expect("agency has a body");
        body[field] = value;
    }

    fn record_set(&mut self, field: &str, value: Value) {
        self.record[field] = value;
    }

    fn missing(&mut self, agency: AgencyName) {
        self.facts.remove(&agency);
    }

    fn no_record(&mut self, agency: AgencyName) {
        self.facts.remove(&agency);
        self.no_record.push(agency);
    }

    fn parts(&self) -> (LicenceRecord, Answers) {
        let text = serde_json::to_vec(&self.record).expect("record serialises");
        let record = LicenceRecord::parse_json(self.kind, &text).expect("row's record is valid");
        let mut answers = Answers::default();
        for (agency, body) in &self.facts {
            answers.insert(AgencyFacts::parse(*agency, body).expect("row's facts are valid"));
        }
        for (agency, error) in &self.failed {
            answers.fail(*agency, error.clone());
        }
        for agency in &self.no_record {
            answers.no_record(*agency);
        }
        (record, answers)
    }

    fn decide(&self, policy: &Policy) -> Decision {
        let (record, answers) = self.parts();
        decide(policy, &record, &answers, &self.registry, self.today)
    }
}

/// Answers under which the schema examples pass every rule of both policies.
fn passing_facts() -> BTreeMap<AgencyName, Value> {
    BTreeMap::from([
        (
            AgencyName::PublicSecurity,
            json!({"records": [], "drug_use": false}),
        ),
        (
            AgencyName::TrafficPolice,
            json!({"licence_class": "C1", "first_licensed": "2015-06-01", "drink_driving": false,
                   "full_deductions_last_3_cycles": 0, "licence_valid": true}),
        ),
        (
            AgencyName::ExamCentre,
            json!({"national_exam_passed": true, "regional_exam_passed": true}),
        ),
        (
            AgencyName::VehicleRegistration,
            json!({"registered": true, "use_nature": "预约出租客运",
                   "registration_date": "2024-03-15", "seats": 5, "powertrain": "battery_electric",
                   "inspection_valid_until": "2027-03-31", "insurance_valid_until": "2027-03-14",
                   "gps_fitted": true, "emergency_alarm_fitted": true, "scrapped": false}),
        ),
        (
            AgencyName::MarketRegulator,
            json!({"credit_code_valid": true, "company_name": "厦门示例出行科技有限公司"}),
        ),
        (
            AgencyName::ProvincialTransport,
            json!({"online_capability_certificate": true}),
        ),
    ])
}

fn read_json(path: &str) -> Value {
    let full = format!("{}/{path}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    serde_json::from_str(&text).expect("example is JSON")
}

fn read_policy(name: &str) -> Policy {
    let full = format!("{}/policies/{name}.toml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"));
    Policy::parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A citizen ID of someone from Xiamen born on `birth`.
fn citizen_born(birth: Date) -> Value {
    let id = CitizenId::from_parts("350203", birth, 123).expect("valid parts");
    Value::String(id.as_str().to_string())
}

type Expect = Option<(Outcome, &'static [&'static str])>;

/// One row: what to change, and what each policy must decide (`None`: not run under it).
struct Case {
    name: &'static str,
    kind: LicenceKind,
    tweak: fn(&mut Inputs),
    national: Expect,
    xiamen: Expect,
}

use AgencyName::*;
use LicenceKind::{Driver, Platform, Vehicle};
use Outcome::{Approved, Incomplete, Refused};

const OK: Expect = Some((Approved, &[]));

const fn refused(rules: &'static [&'static str]) -> Expect {
    Some((Refused, rules))
}

const fn incomplete(rules: &'static [&'static str]) -> Expect {
    Some((Incomplete, rules))
}

const fn row(name: &'static str, kind: LicenceKind, tweak: fn(&mut Inputs), both: Expect) -> Case {
    Case {
        name,
        kind,
        tweak,
        national: both,
        xiamen: both,
    }
}

const fn split(
    name: &'static str,
    kind: LicenceKind,
    tweak: fn(&mut Inputs),
    national: Expect,
    xiamen: Expect,
) -> Case {
    Case {
        name,
        kind,
        tweak,
        national,
        xiamen,
    }
}

const REGISTRY_CASES: &[Case] = &[
    row("driver passes", Driver, |_| {}, OK),
    row("vehicle passes", Vehicle, |_| {}, OK),
    row("platform passes", Platform, |_| {}, OK),
    row(
        "already licensed",
        Driver,
        |i| i.registry.holder_has_valid_licence_of_kind = true,
        refused(&["already_licensed"]),
    ),
    row(
        "credit record active today",
        Platform,
        |i| i.registry.credit_record_until = Some(TODAY),
        refused(&["credit_record_active"]),
    ),
    row(
        "credit record ended yesterday",
        Platform,
        |i| i.registry.credit_record_until = Some(date!(2026 - 10 - 31)),
        OK,
    ),
    split(
        "record from another city",
        Driver,
        |i| i.record_set("area_code", json!("350100")),
        OK,
        refused(&["area_code_mismatch"]),
    ),
    row(
        "certificate revoked 4 years ago",
        Driver,
        |i| i.registry.revoked_certificates = vec![date!(2022 - 11 - 02)],
        refused(&["driver.revoked_recently"]),
    ),
    row(
        "certificate revoked exactly 5 years ago",
        Driver,
        |i| i.registry.revoked_certificates = vec![date!(2021 - 11 - 01)],
        OK,
    ),
    row(
        "vehicle serves another platform",
        Vehicle,
        |i| i.registry.vehicle_bound_to_other_platform = Some("91350200MA2Y00002L".into()),
        refused(&["vehicle.one_vehicle_one_platform"]),
    ),
];

const AGENCY_CASES: &[Case] = &[
    row(
        "exam centre has not answered",
        Driver,
        |i| i.missing(ExamCentre),
        incomplete(&["agency.missing"]),
    ),
    row(
        "traffic police failed",
        Driver,
        |i| {
            i.missing(TrafficPolice);
            i.failed.push((TrafficPolice, "HTTP 503".into()));
        },
        incomplete(&["agency.failed"]),
    ),
    row(
        "missing agency does not hide a known refusal",
        Driver,
        |i| {
            i.missing(ExamCentre);
            let record = json!([{"kind": "violent_crime", "date": "2010-05-01"}]);
            i.set(PublicSecurity, "records", record);
        },
        incomplete(&["agency.missing", "driver.record.violent_crime"]),
    ),
    split(
        "record-only rules run while the registration office is silent",
        Vehicle,
        |i| {
            i.missing(VehicleRegistration);
            i.record_set("plate", json!("闽D12345"));
            i.record_set("powertrain", json!("petrol"));
        },
        incomplete(&["agency.missing"]),
        incomplete(&["agency.missing", "vehicle.powertrain_not_allowed"]),
    ),
    row(
        "no agency answered a platform",
        Platform,
        |i| i.facts.clear(),
        incomplete(&["agency.missing", "agency.missing"]),
    ),
    row(
        "registration office has not answered",
        Vehicle,
        |i| i.missing(VehicleRegistration),
        incomplete(&["agency.missing"]),
    ),
    // "No record" is an answer the policy decides on, never an agency failure.
    row(
        "public security holds no record: a clean record",
        Driver,
        |i| i.no_record(PublicSecurity),
        OK,
    ),
    row(
        "the exam centre holds no result: no exam passed",
        Driver,
        |i| i.no_record(ExamCentre),
        refused(&["driver.national_exam", "driver.regional_exam"]),
    ),
    row(
        "the traffic police hold no driving licence",
        Driver,
        |i| i.no_record(TrafficPolice),
        refused(&["driver.driving_licence_invalid"]),
    ),
    row(
        "the registration office holds no such vehicle",
        Vehicle,
        |i| i.no_record(VehicleRegistration),
        refused(&["vehicle.not_registered"]),
    ),
    row(
        "the market regulator holds no such company",
        Platform,
        |i| i.no_record(MarketRegulator),
        refused(&["platform.credit_code_invalid"]),
    ),
];

const DRIVER_CASES: &[Case] = &[
    row(
        "two years of driving",
        Driver,
        |i| {
            i.record_set("first_licensed", json!("2024-06-01"));
            i.set(TrafficPolice, "first_licensed", json!("2024-06-01"));
        },
        refused(&["driver.min_driving_years"]),
    ),
    row(
        "third anniversary of licensing is enough",
        Driver,
        |i| {
            i.record_set("first_licensed", json!("2023-11-01"));
            i.set(TrafficPolice, "first_licensed", json!("2023-11-01"));
        },
        OK,
    ),
    row(
        "traffic police's first-licensed date decides",
        Driver,
        |i| i.set(TrafficPolice, "first_licensed", json!("2025-01-01")),
        refused(&["driver.min_driving_years", "driver.first_licensed_mismatch"]),
    ),
    split(
        "aged 20",
        Driver,
        |i| i.record_set("citizen_id", citizen_born(date!(2006 - 01 - 01))),
        OK,
        refused(&["driver.min_age_years"]),
    ),
    split(
        "turns 60 today",
        Driver,
        |i| i.record_set("citizen_id", citizen_born(date!(1966 - 11 - 01))),
        OK,
        OK,
    ),
    split(
        "turned 61 today",
        Driver,
        |i| i.record_set("citizen_id", citizen_born(date!(1965 - 11 - 01))),
        OK,
        refused(&["driver.max_age_years"]),
    ),
    row(
        "every barring record on file",
        Driver,
        |i| {
            let kinds = [
                "violent_crime",
                "drink_driving",
                "drug_use",
                "dangerous_driving",
                "traffic_crime",
            ];
            let records: Vec<Value> = kinds
                .iter()
                .map(|k| json!({"kind": k, "date": "2012-03-04"}))
                .collect();
            i.set(PublicSecurity, "records", Value::Array(records));
        },
        refused(&[
            "driver.record.traffic_crime",
            "driver.record.dangerous_driving",
            "driver.record.drug_use",
            "driver.record.drink_driving",
            "driver.record.violent_crime",
        ]),
    ),
    row(
        "drug use flagged outside the criminal record",
        Driver,
        |i| i.set(PublicSecurity, "drug_use", json!(true)),
        refused(&["driver.record.drug_use"]),
    ),
    row(
        "drink driving known to the traffic police",
        Driver,
        |i| i.set(TrafficPolice, "drink_driving", json!(true)),
        refused(&["driver.record.drink_driving"]),
    ),
    row(
        "12 points lost in one of the last 3 cycles",
        Driver,
        |i| i.set(TrafficPolice, "full_deductions_last_3_cycles", json!(1)),
        refused(&["driver.full_deductions"]),
    ),
    row(
        "driving licence not valid",
        Driver,
        |i| i.set(TrafficPolice, "licence_valid", json!(false)),
        refused(&["driver.driving_licence_invalid"]),
    ),
    row(
        "national exam not passed",
        Driver,
        |i| i.set(ExamCentre, "national_exam_passed", json!(false)),
        refused(&["driver.national_exam"]),
    ),
    row(
        "regional exam not passed",
        Driver,
        |i| i.set(ExamCentre, "regional_exam_passed", json!(false)),
        refused(&["driver.regional_exam"]),
    ),
    row(
        "motorcycle licence",
        Driver,
        |i| i.set(TrafficPolice, "licence_class", json!("D")),
        refused(&[
            "driver.licence_class_not_allowed",
            "driver.licence_class_mismatch",
        ]),
    ),
    row(
        "stated class differs from the traffic police's",
        Driver,
        |i| i.set(TrafficPolice, "licence_class", json!("C2")),
        refused(&["driver.licence_class_mismatch"]),
    ),
    row(
        "all reasons at once",
        Driver,
        |i| {
            i.registry.holder_has_valid_licence_of_kind = true;
            i.set(TrafficPolice, "full_deductions_last_3_cycles", json!(2));
            i.set(TrafficPolice, "drink_driving", json!(true));
            i.set(ExamCentre, "national_exam_passed", json!(false));
        },
        refused(&[
            "already_licensed",
            "driver.full_deductions",
            "driver.record.drink_driving",
            "driver.national_exam",
        ]),
    ),
];

fn set_vehicle(i: &mut Inputs, field: &str, value: Value) {
    i.record_set(field, value.clone());
    i.set(VehicleRegistration, field, value);
}

const VEHICLE_CASES: &[Case] = &[
    row(
        "nine seats",
        Vehicle,
        |i| set_vehicle(i, "seats", json!(9)),
        refused(&["vehicle.max_seats"]),
    ),
    row(
        "stated seats differ from the registration",
        Vehicle,
        |i| i.set(VehicleRegistration, "seats", json!(7)),
        refused(&["vehicle.seats_mismatch"]),
    ),
    row(
        "not registered for ride-hailing use",
        Vehicle,
        |i| i.set(VehicleRegistration, "use_nature", json!("非营运")),
        refused(&["vehicle.use_nature"]),
    ),
    row(
        "no positioning device",
        Vehicle,
        |i| i.set(VehicleRegistration, "gps_fitted", json!(false)),
        refused(&["vehicle.gps"]),
    ),
    row(
        "no emergency alarm",
        Vehicle,
        |i| i.set(VehicleRegistration, "emergency_alarm_fitted", json!(false)),
        refused(&["vehicle.emergency_alarm"]),
    ),
    split(
        "registered three and a half years ago",
        Vehicle,
        |i| set_vehicle(i, "registration_date", json!("2023-05-01")),
        OK,
        refused(&["vehicle.max_age_years_at_first_application"]),
    ),
    split(
        "registered exactly three years ago",
        Vehicle,
        |i| set_vehicle(i, "registration_date", json!("2023-11-01")),
        OK,
        OK,
    ),
    split(
        "eight years since registration",
        Vehicle,
        |i| set_vehicle(i, "registration_date", json!("2018-10-31")),
        refused(&["vehicle.service_life_ended"]),
        refused(&[
            "vehicle.max_age_years_at_first_application",
            "vehicle.service_life_ended",
        ]),
    ),
    split(
        "plug-in hybrid with a hybrid green plate",
        Vehicle,
        |i| {
            i.record_set("plate", json!("闽DF12345"));
            set_vehicle(i, "powertrain", json!("plug_in_hybrid"));
        },
        OK,
        refused(&["vehicle.powertrain_not_allowed"]),
    ),
    split(
        "stated powertrain differs from the registration",
        Vehicle,
        |i| i.set(VehicleRegistration, "powertrain", json!("plug_in_hybrid")),
        refused(&[
            "vehicle.plate_energy_mismatch",
            "vehicle.powertrain_mismatch",
        ]),
        refused(&[
            "vehicle.powertrain_not_allowed",
            "vehicle.plate_energy_mismatch",
            "vehicle.powertrain_mismatch",
        ]),
    ),
    split(
        "petrol car on a pure-electric plate",
        Vehicle,
        |i| set_vehicle(i, "powertrain", json!("petrol")),
        refused(&["vehicle.plate_energy_mismatch"]),
        refused(&[
            "vehicle.powertrain_not_allowed",
            "vehicle.plate_energy_mismatch",
        ]),
    ),
    row(
        "stated registration date differs",
        Vehicle,
        |i| {
            i.set(
                VehicleRegistration,
                "registration_date",
                json!("2024-03-16"),
            )
        },
        refused(&["vehicle.registration_date_mismatch"]),
    ),
    split(
        "Fuzhou plate",
        Vehicle,
        |i| i.record_set("plate", json!("闽AD12345")),
        OK,
        refused(&["vehicle.local_plate"]),
    ),
    row(
        "inspection ran out yesterday",
        Vehicle,
        |i| {
            i.set(
                VehicleRegistration,
                "inspection_valid_until",
                json!("2026-10-31"),
            )
        },
        refused(&["vehicle.inspection_expired"]),
    ),
    row(
        "insurance ran out yesterday",
        Vehicle,
        |i| {
            i.set(
                VehicleRegistration,
                "insurance_valid_until",
                json!("2026-10-31"),
            )
        },
        refused(&["vehicle.insurance_expired"]),
    ),
    row(
        "cover that ends today is still valid",
        Vehicle,
        |i| {
            i.set(
                VehicleRegistration,
                "inspection_valid_until",
                json!("2026-11-01"),
            );
            i.set(
                VehicleRegistration,
                "insurance_valid_until",
                json!("2026-11-01"),
            );
        },
        OK,
    ),
    row(
        "not registered and scrapped",
        Vehicle,
        |i| {
            i.set(VehicleRegistration, "registered", json!(false));
            i.set(VehicleRegistration, "scrapped", json!(true));
        },
        refused(&["vehicle.not_registered", "vehicle.scrapped"]),
    ),
];

const PLATFORM_CASES: &[Case] = &[
    row(
        "credit code not valid",
        Platform,
        |i| i.set(MarketRegulator, "credit_code_valid", json!(false)),
        refused(&["platform.credit_code_invalid"]),
    ),
    row(
        "registered under another name",
        Platform,
        |i| {
            i.set(
                MarketRegulator,
                "company_name",
                json!("厦门另一出行有限公司"),
            )
        },
        refused(&["platform.company_name_mismatch"]),
    ),
    row(
        "no online capability certificate",
        Platform,
        |i| {
            i.set(
                ProvincialTransport,
                "online_capability_certificate",
                json!(false),
            )
        },
        refused(&["platform.online_capability_certificate"]),
    ),
    row(
        "provincial transport silent",
        Platform,
        |i| i.missing(ProvincialTransport),
        incomplete(&["agency.missing"]),
    ),
];

fn cases() -> impl Iterator<Item = &'static Case> {
    [
        REGISTRY_CASES,
        AGENCY_CASES,
        DRIVER_CASES,
        VEHICLE_CASES,
        PLATFORM_CASES,
    ]
    .into_iter()
    .flatten()
}

fn policies() -> [(&'static str, Policy); 2] {
    [
        ("national", read_policy("national")),
        ("xiamen", read_policy("xiamen")),
    ]
}

fn expectation<'a>(case: &'a Case, policy: &str) -> &'a Expect {
    if policy == "national" {
        &case.national
    } else {
        &case.xiamen
    }
}

fn sorted(rules: &[&'static str]) -> Vec<&'static str> {
    let mut rules = rules.to_vec();
    rules.sort_unstable();
    rules
}

#[test]
fn the_table() {
    let mut failures = Vec::new();
    for case in cases() {
        for (name, policy) in &policies() {
            let Some((outcome, rules)) = expectation(case, name) else {
                continue;
            };
            let mut inputs = Inputs::new(case.kind);
            (case.tweak)(&mut inputs);
            let decision = inputs.decide(policy);
            for reason in &decision.reasons {
                assert!(RULE_CODES.contains(&reason.rule), "{}", reason.rule);
                assert!(reason.message.contains(" ("), "{}", reason.message);
            }
            if decision.outcome != *outcome || sorted(&decision.rules()) != sorted(rules) {
                failures.push(format!(
                    "{} [{name}]: expected {outcome:?} {rules:?}, got {:?} {:?}",
                    case.name, decision.outcome, decision.reasons
                ));
            }
            assert_eq!(decision.policy, policy.label());
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// Rule codes each shipped policy can never produce, because it does not enable the rule.
fn disabled_in(policy: &str) -> &'static [&'static str] {
    match policy {
        "national" => &[
            "area_code_mismatch",
            "driver.min_age_years",
            "driver.max_age_years",
            "vehicle.max_age_years_at_first_application",
            "vehicle.powertrain_not_allowed",
            "vehicle.local_plate",
        ],
        _ => &[],
    }
}

#[test]
fn every_rule_of_both_policies_has_a_row() {
    let all: BTreeSet<&str> = RULE_CODES.iter().copied().collect();
    for (name, _) in &policies() {
        let covered: BTreeSet<&str> = cases()
            .filter_map(|c| expectation(c, name).as_ref())
            .flat_map(|(_, rules)| rules.iter().copied())
            .collect();
        let disabled: BTreeSet<&str> = disabled_in(name).iter().copied().collect();
        let wanted: BTreeSet<&str> = all.difference(&disabled).copied().collect();
        assert_eq!(
            covered, wanted,
            "{name}: rows do not match the enabled rules"
        );
    }
}

#[test]
fn the_same_inputs_give_the_same_decision() {
    for case in cases() {
        for (_, policy) in &policies() {
            let mut inputs = Inputs::new(case.kind);
            (case.tweak)(&mut inputs);
            let first = inputs.decide(policy);
            assert_eq!(first, inputs.decide(policy), "{}", case.name);
            let json = serde_json::to_string(&first).expect("decision serialises");
            let again = serde_json::to_string(&inputs.decide(policy)).expect("serialises");
            assert_eq!(json, again, "{}", case.name);
        }
    }
}

#[test]
fn listing_order_of_records_and_revocations_does_not_matter() {
    let policy = read_policy("xiamen");
    let records = [
        json!({"kind": "violent_crime", "date": "2010-05-01"}),
        json!({"kind": "traffic_crime", "date": "2012-05-01"}),
    ];
    let revoked = [date!(2023 - 01 - 01), date!(2024 - 06 - 01)];
    let mut forward = Inputs::new(Driver);
    forward.set(PublicSecurity, "records", json!(records));
    forward.registry.revoked_certificates = revoked.to_vec();
    let mut backward = Inputs::new(Driver);
    let reversed: Vec<Value> = records.iter().rev().cloned().collect();
    backward.set(PublicSecurity, "records", json!(reversed));
    backward.registry.revoked_certificates = revoked.iter().rev().copied().collect();
    assert_eq!(forward.decide(&policy), backward.decide(&policy));
}

#[test]
fn approvals_run_for_the_policy_validity_from_today() {
    let [(_, national), (_, xiamen)] = policies();
    for policy in [&national, &xiamen] {
        let driver = Inputs::new(Driver).decide(policy);
        assert_eq!(
            (driver.valid_from, driver.valid_until),
            (TODAY, date!(2032 - 10 - 31))
        );
        let platform = Inputs::new(Platform).decide(policy);
        assert_eq!(platform.valid_until, date!(2030 - 10 - 31));
    }
    assert_eq!(national.label(), "national@2026.1");
    assert_eq!(xiamen.label(), "xiamen@2026.1");
}

#[test]
fn vehicle_validity_stops_eight_years_after_registration() {
    let policy = read_policy("national");
    // Registered 2024-03-15: 8 years of validity would reach 2034-10-31, the car's service
    // life ends first.
    let capped = Inputs::new(Vehicle).decide(&policy);
    assert!(capped.is_approved(), "{capped:?}");
    assert_eq!(capped.valid_from, TODAY);
    assert_eq!(capped.valid_until, date!(2032 - 03 - 14));

    let mut brand_new = Inputs::new(Vehicle);
    set_vehicle(&mut brand_new, "registration_date", json!("2026-10-01"));
    let decision = brand_new.decide(&policy);
    assert!(decision.is_approved(), "{decision:?}");
    assert_eq!(decision.valid_until, date!(2034 - 09 - 30));

    // The registration office's date decides, not the one the applicant typed.
    let mut stated_later = Inputs::new(Vehicle);
    stated_later.record_set("registration_date", json!("2026-10-01"));
    let decision = stated_later.decide(&policy);
    assert_eq!(decision.valid_until, date!(2032 - 03 - 14));
    assert_eq!(decision.rules(), ["vehicle.registration_date_mismatch"]);
}

#[test]
fn reasons_name_the_agency_whose_facts_decided_them() {
    let policy = read_policy("national");
    let mut inputs = Inputs::new(Driver);
    inputs.registry.holder_has_valid_licence_of_kind = true;
    inputs.set(TrafficPolice, "drink_driving", json!(true));
    inputs.set(ExamCentre, "regional_exam_passed", json!(false));
    let agencies: Vec<_> = inputs
        .decide(&policy)
        .reasons
        .iter()
        .map(|r| (r.rule, r.agency))
        .collect();
    assert_eq!(
        agencies,
        [
            ("already_licensed", None),
            ("driver.record.drink_driving", Some(TrafficPolice)),
            ("driver.regional_exam", Some(ExamCentre)),
        ]
    );
}

#[test]
fn formal_review_matches_the_registry_part_of_decide() {
    let policy = read_policy("xiamen");
    let mut inputs = Inputs::new(Vehicle);
    inputs.registry.holder_has_valid_licence_of_kind = true;
    inputs.registry.credit_record_until = Some(date!(2027 - 01 - 01));
    inputs.registry.vehicle_bound_to_other_platform = Some("91350200MA2Y00002L".into());
    let early = formal_review(&policy, &inputs.registry, Vehicle, TODAY);
    let decided = inputs.decide(&policy);
    assert_eq!(early, decided.reasons);
    assert_eq!(
        decided.rules(),
        [
            "already_licensed",
            "credit_record_active",
            "vehicle.one_vehicle_one_platform"
        ]
    );
}

#[test]
fn shipped_policies_parse_and_differ_where_the_city_is_stricter() {
    let [(_, national), (_, xiamen)] = policies();
    assert_eq!(national.area_code(), None);
    assert_eq!(xiamen.area_code().map(|a| a.as_str()), Some("350200"));
    assert_eq!(xiamen.vehicle().max_age_years_at_first_application, Some(3));
    assert_eq!(xiamen.vehicle().local_plate_prefixes, ["闽D"]);
    assert_eq!(xiamen.driver().max_age_years, Some(60));
    for policy in [&national, &xiamen] {
        assert_eq!(policy.driver().min_driving_years, 3);
        assert_eq!(policy.vehicle().max_seats, 7);
        assert_eq!(policy.vehicle().max_years_after_registration, 8);
        let d = policy.deadlines();
        assert!(d.formal_review + d.agency_answer + d.decision <= d.application);
        for kind in LicenceKind::ALL {
            assert!(!policy.required_agencies(kind).is_empty());
        }
    }
}

//! A city's licensing policy, read from a versioned TOML file.
//!
//! The national rules set a floor and each city adds its own (vehicle age, powertrain, local
//! plates, driver age). Keeping those numbers in reviewed data files rather than code lets a city
//! change its policy without a release, and stamping `name@version` on every decision shows which
//! policy refused whom. A policy is only obtainable through [`Policy::parse`], which refuses
//! unknown keys and checks every value, so the engine never runs on a half-understood file.

use serde::{Deserialize, Deserializer, Serialize};

use super::alerts::AlertPolicy;
use super::authorities::Authorities;
use super::credit::CreditPolicy;
use super::facts::{powertrain_list, AgencyName, RecordKind};
use super::reasons::Reasons;
use crate::ids::LicenceKind;
use crate::model::{AreaCode, Powertrain};

/// Largest policy file accepted, in bytes.
pub const MAX_POLICY_BYTES: usize = 64 * 1024;
/// Driving licence classes a policy may allow (those the record model can hold).
pub const LICENCE_CLASSES: [&str; 7] = ["A1", "A2", "A3", "B1", "B2", "C1", "C2"];
/// Longest policy name or version, in bytes.
const MAX_LABEL_BYTES: usize = 32;
/// Longest application deadline, in minutes: 30 days. Anything longer is a typo.
const MAX_APPLICATION_MINUTES: u32 = 30 * 24 * 60;

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("policy is {found} bytes, over the {max}-byte limit")]
    TooLarge { max: usize, found: usize },
    #[error("policy does not match the policy schema: {0}")]
    Syntax(String),
    #[error("policy has {} problem(s): {}", .0.len(), .0.join("; "))]
    Invalid(Vec<String>),
}

/// `[driver]`: who may hold a driver's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DriverPolicy {
    pub min_driving_years: u8,
    #[serde(default)]
    pub min_age_years: Option<u8>,
    #[serde(default)]
    pub max_age_years: Option<u8>,
    pub forbidden_records: Vec<RecordKind>,
    pub max_full_deductions_in_last_3_cycles: u32,
    pub require_national_exam: bool,
    pub require_regional_exam: bool,
    pub revoked_certificate_lookback_years: u8,
    pub allowed_licence_classes: Vec<String>,
    pub validity_years: u8,
}

/// `[vehicle]`: which vehicles may carry a transport certificate.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VehiclePolicy {
    pub max_seats: u8,
    pub required_use_nature: String,
    pub require_gps: bool,
    pub require_emergency_alarm: bool,
    #[serde(default)]
    pub max_age_years_at_first_application: Option<u8>,
    #[serde(with = "powertrain_list")]
    pub allowed_powertrains: Vec<Powertrain>,
    pub require_local_plate: bool,
    #[serde(default)]
    pub local_plate_prefixes: Vec<String>,
    pub one_vehicle_one_platform: bool,
    pub require_valid_inspection: bool,
    pub require_valid_insurance: bool,
    pub validity_years: u8,
    pub max_years_after_registration: u8,
}

/// `[platform]`: which companies may hold an operating permit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformPolicy {
    pub require_valid_credit_code: bool,
    pub require_online_capability_certificate: bool,
    pub validity_years: u8,
}

/// `[deadlines]`, in minutes, for the service's traffic lights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Deadlines {
    pub formal_review: u32,
    pub agency_answer: u32,
    pub decision: u32,
    pub application: u32,
    /// A stage turns yellow when at most this share of its time is left.
    #[serde(default = "default_yellow_percent")]
    pub yellow_remaining_percent: u8,
}

fn default_yellow_percent() -> u8 {
    20
}

/// A timed stage of an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    FormalReview,
    AgencyAnswer,
    Decision,
    Application,
}

/// How close a stage is to its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Light {
    Green,
    Yellow,
    Red,
}

impl Deadlines {
    pub fn limit(&self, stage: Stage) -> u32 {
        match stage {
            Stage::FormalReview => self.formal_review,
            Stage::AgencyAnswer => self.agency_answer,
            Stage::Decision => self.decision,
            Stage::Application => self.application,
        }
    }

    /// The light for `stage` after `elapsed_minutes`: red once past the limit, yellow once the
    /// time left is within `yellow_remaining_percent` of the limit, green before.
    pub fn light(&self, stage: Stage, elapsed_minutes: u32) -> Light {
        let limit = u64::from(self.limit(stage));
        let elapsed = u64::from(elapsed_minutes);
        let left = limit.saturating_sub(elapsed);
        // Integer cross-multiplication keeps this exact: left/limit <= percent/100.
        if elapsed > limit {
            Light::Red
        } else if left * 100 <= limit * u64::from(self.yellow_remaining_percent) {
            Light::Yellow
        } else {
            Light::Green
        }
    }
}

/// `[agencies]`: whom to ask for each kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agencies {
    pub driver: Vec<AgencyName>,
    pub vehicle: Vec<AgencyName>,
    pub platform: Vec<AgencyName>,
}

impl Agencies {
    pub fn for_kind(&self, kind: LicenceKind) -> &[AgencyName] {
        match kind {
            LicenceKind::Driver => &self.driver,
            LicenceKind::Vehicle => &self.vehicle,
            LicenceKind::Platform => &self.platform,
        }
    }
}

/// The file as written; only [`Policy::parse`] sees it, after which it is validated.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    name: String,
    version: String,
    #[serde(default, deserialize_with = "area_code")]
    area_code: Option<AreaCode>,
    driver: DriverPolicy,
    vehicle: VehiclePolicy,
    platform: PlatformPolicy,
    deadlines: Deadlines,
    agencies: Agencies,
    #[serde(default)]
    alerts: AlertPolicy,
    #[serde(default)]
    reasons: Reasons,
    #[serde(default)]
    authorities: Authorities,
    #[serde(default)]
    credit: CreditPolicy,
}

fn area_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AreaCode>, D::Error> {
    let text = String::deserialize(d)?;
    AreaCode::parse(&text)
        .map(Some)
        .ok_or_else(|| serde::de::Error::custom("area_code must be a six-digit division code"))
}

/// A validated licensing policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    name: String,
    version: String,
    area_code: Option<AreaCode>,
    driver: DriverPolicy,
    vehicle: VehiclePolicy,
    platform: PlatformPolicy,
    deadlines: Deadlines,
    agencies: Agencies,
    alerts: AlertPolicy,
    reasons: Reasons,
    authorities: Authorities,
    credit: CreditPolicy,
}

impl Policy {
    /// Parses and validates a policy file, reporting every invalid value at once.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                max: MAX_POLICY_BYTES,
                found: text.len(),
            });
        }
        let file: PolicyFile =
            toml::from_str(text).map_err(|e| PolicyError::Syntax(e.to_string()))?;
        let policy = Policy {
            name: file.name,
            version: file.version,
            area_code: file.area_code,
            driver: file.driver,
            vehicle: file.vehicle,
            platform: file.platform,
            deadlines: file.deadlines,
            agencies: file.agencies,
            alerts: file.alerts,
            reasons: file.reasons,
            authorities: file.authorities,
            credit: file.credit,
        };
        let problems = policy.problems();
        if problems.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyError::Invalid(problems))
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The dishonest-behaviour catalogue and how long records bar their subjects.
    pub fn credit(&self) -> &CreditPolicy {
        &self.credit
    }

    /// What agency alerts do, and which agency may raise which.
    pub fn alerts(&self) -> &AlertPolicy {
        &self.alerts
    }

    /// The licensing authorities' names by area code.
    pub fn authorities(&self) -> &Authorities {
        &self.authorities
    }

    /// The public reason categories.
    pub fn reasons(&self) -> &Reasons {
        &self.reasons
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// `name@version`, stamped on every decision.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The city this policy governs; `None` for the national baseline.
    pub fn area_code(&self) -> Option<&AreaCode> {
        self.area_code.as_ref()
    }

    pub fn driver(&self) -> &DriverPolicy {
        &self.driver
    }

    pub fn vehicle(&self) -> &VehiclePolicy {
        &self.vehicle
    }

    pub fn platform(&self) -> &PlatformPolicy {
        &self.platform
    }

    pub fn deadlines(&self) -> &Deadlines {
        &self.deadlines
    }

    pub fn agencies(&self) -> &Agencies {
        &self.agencies
    }

    /// The agencies an application of `kind` must hear from before a decision.
    pub fn required_agencies(&self, kind: LicenceKind) -> &[AgencyName] {
        self.agencies.for_kind(kind)
    }

    /// Years a new licence of `kind` runs (before the vehicle cap).
    pub fn validity_years(&self, kind: LicenceKind) -> u8 {
        match kind {
            LicenceKind::Driver => self.driver.validity_years,
            LicenceKind::Vehicle => self.vehicle.validity_years,
            LicenceKind::Platform => self.platform.validity_years,
        }
    }

    fn problems(&self) -> Vec<String> {
        let mut p = Problems::default();
        self.check_labels(&mut p);
        check_driver(&self.driver, &mut p);
        check_vehicle(&self.vehicle, &mut p);
        p.range(
            "platform.validity_years",
            self.platform.validity_years,
            1,
            10,
        );
        check_deadlines(&self.deadlines, &mut p);
        self.check_agencies(&mut p);
        p.0.extend(self.credit.problems());
        p.0.extend(self.reasons.problems());
        p.0.extend(self.authorities.problems());
        p.0.extend(self.alerts.problems(&|c| self.reasons.contains(c)));
        p.0
    }

    fn check_labels(&self, p: &mut Problems) {
        let label_ok = |text: &str| {
            !text.is_empty()
                && text.len() <= MAX_LABEL_BYTES
                && text
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        // The label is `name@version` and ends up in logs and credentials, so keep it plain.
        if !label_ok(&self.name) {
            p.push(
                "name",
                "must be 1-32 ASCII letters, digits, '.', '_' or '-'",
            );
        }
        if !label_ok(&self.version) {
            p.push(
                "version",
                "must be 1-32 ASCII letters, digits, '.', '_' or '-'",
            );
        }
    }

    fn check_agencies(&self, p: &mut Problems) {
        for kind in LicenceKind::ALL {
            let list = self.agencies.for_kind(kind);
            let field = format!("agencies.{}", kind.as_str());
            for (i, agency) in list.iter().enumerate() {
                if agency.kind() != kind {
                    p.push(
                        &field,
                        &format!("{agency} has no facts for a {kind} licence"),
                    );
                }
                if list.get(..i).is_some_and(|before| before.contains(agency)) {
                    p.push(&field, &format!("{agency} is listed twice"));
                }
            }
            for needed in self.needed_agencies(kind) {
                if !list.contains(&needed) {
                    p.push(
                        &field,
                        &format!("must include {needed}, which enabled rules need"),
                    );
                }
            }
        }
    }

    /// Agencies whose facts the enabled rules of `kind` read; asking fewer would let a rule pass
    /// for want of evidence.
    fn needed_agencies(&self, kind: LicenceKind) -> Vec<AgencyName> {
        let d = &self.driver;
        let pl = &self.platform;
        let wanted: &[(bool, AgencyName)] = match kind {
            LicenceKind::Driver => &[
                (!d.forbidden_records.is_empty(), AgencyName::PublicSecurity),
                (true, AgencyName::TrafficPolice),
                (
                    d.require_national_exam || d.require_regional_exam,
                    AgencyName::ExamCentre,
                ),
            ],
            LicenceKind::Vehicle => &[(true, AgencyName::VehicleRegistration)],
            LicenceKind::Platform => &[
                (pl.require_valid_credit_code, AgencyName::MarketRegulator),
                (
                    pl.require_online_capability_certificate,
                    AgencyName::ProvincialTransport,
                ),
            ],
        };
        wanted
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, a)| *a)
            .collect()
    }
}

fn check_driver(d: &DriverPolicy, p: &mut Problems) {
    p.range("driver.min_driving_years", d.min_driving_years, 0, 30);
    // 18 is the youngest age for a car licence; past 80 no ride-hailing rule anywhere applies.
    if let Some(min) = d.min_age_years {
        p.range("driver.min_age_years", min, 18, 80);
    }
    if let Some(max) = d.max_age_years {
        p.range("driver.max_age_years", max, 18, 80);
    }
    if let (Some(min), Some(max)) = (d.min_age_years, d.max_age_years) {
        if min > max {
            p.push("driver.min_age_years", "must not exceed max_age_years");
        }
    }
    p.unique("driver.forbidden_records", &d.forbidden_records);
    // Only three cycles are counted, so more than 3 would disable the rule.
    p.range(
        "driver.max_full_deductions_in_last_3_cycles",
        d.max_full_deductions_in_last_3_cycles,
        0,
        3,
    );
    p.range(
        "driver.revoked_certificate_lookback_years",
        d.revoked_certificate_lookback_years,
        0,
        30,
    );
    if d.allowed_licence_classes.is_empty() {
        p.push(
            "driver.allowed_licence_classes",
            "must list at least one class",
        );
    }
    for class in &d.allowed_licence_classes {
        if !LICENCE_CLASSES.contains(&class.as_str()) {
            let msg = format!("`{class}` is not one of {}", LICENCE_CLASSES.join(", "));
            p.push("driver.allowed_licence_classes", &msg);
        }
    }
    p.unique("driver.allowed_licence_classes", &d.allowed_licence_classes);
    p.range("driver.validity_years", d.validity_years, 1, 10);
}

fn check_vehicle(v: &VehiclePolicy, p: &mut Problems) {
    // Records hold 2-9 seats; a limit outside that is meaningless.
    p.range("vehicle.max_seats", v.max_seats, 2, 9);
    let nature = v.required_use_nature.trim();
    if nature.is_empty() || nature.chars().count() > 32 {
        p.push("vehicle.required_use_nature", "must be 1-32 characters");
    }
    if let Some(max) = v.max_age_years_at_first_application {
        p.range("vehicle.max_age_years_at_first_application", max, 1, 30);
    }
    if v.allowed_powertrains.is_empty() {
        p.push(
            "vehicle.allowed_powertrains",
            "must list at least one powertrain",
        );
    }
    p.unique("vehicle.allowed_powertrains", &v.allowed_powertrains);
    if v.require_local_plate && v.local_plate_prefixes.is_empty() {
        p.push(
            "vehicle.local_plate_prefixes",
            "must not be empty when require_local_plate",
        );
    }
    for prefix in &v.local_plate_prefixes {
        if !is_plate_prefix(prefix) {
            let msg = format!("`{prefix}` is not a province character and a letter, e.g. 闽D");
            p.push("vehicle.local_plate_prefixes", &msg);
        }
    }
    p.unique("vehicle.local_plate_prefixes", &v.local_plate_prefixes);
    p.range("vehicle.validity_years", v.validity_years, 1, 10);
    p.range(
        "vehicle.max_years_after_registration",
        v.max_years_after_registration,
        1,
        30,
    );
}

/// A plate area prefix as [`crate::ids::Plate::area_prefix`] returns it: a CJK province
/// character then an upper-case letter.
fn is_plate_prefix(text: &str) -> bool {
    let mut chars = text.chars();
    matches!(
        (chars.next(), chars.next(), chars.next()),
        (Some(province), Some(letter), None)
            if !province.is_ascii() && letter.is_ascii_uppercase()
    )
}

fn check_deadlines(d: &Deadlines, p: &mut Problems) {
    let stages = [
        ("deadlines.formal_review", d.formal_review),
        ("deadlines.agency_answer", d.agency_answer),
        ("deadlines.decision", d.decision),
    ];
    for (field, minutes) in stages {
        if minutes == 0 {
            p.push(field, "must be at least 1 minute");
        }
    }
    p.range(
        "deadlines.application",
        d.application,
        1,
        MAX_APPLICATION_MINUTES,
    );
    // The stages run one after another inside the application's time.
    let sum: u64 = stages.iter().map(|(_, m)| u64::from(*m)).sum();
    if sum > u64::from(d.application) {
        p.push(
            "deadlines.application",
            "must be at least formal_review + agency_answer + decision",
        );
    }
    p.range(
        "deadlines.yellow_remaining_percent",
        d.yellow_remaining_percent,
        1,
        99,
    );
}

/// Collects validation problems as `field: message`.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn push(&mut self, field: &str, message: &str) {
        self.0.push(format!("{field}: {message}"));
    }

    fn range<T: PartialOrd + std::fmt::Display>(&mut self, field: &str, value: T, min: T, max: T) {
        if value < min || value > max {
            self.push(field, &format!("is {value}, must be {min} to {max}"));
        }
    }

    fn unique<T: PartialEq + std::fmt::Debug>(&mut self, field: &str, items: &[T]) {
        for (i, item) in items.iter().enumerate() {
            if items.get(..i).is_some_and(|before| before.contains(item)) {
                self.push(field, &format!("{item:?} is listed twice"));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NATIONAL: &str = include_str!("../../policies/national.toml");
    const XIAMEN: &str = include_str!("../../policies/xiamen.toml");

    fn edited(base: &str, from: &str, to: &str) -> String {
        assert!(base.contains(from), "fixture lacks {from:?}");
        base.replacen(from, to, 1)
    }

    #[test]
    fn shipped_policies_parse() {
        let national = Policy::parse(NATIONAL).unwrap();
        assert_eq!(national.label(), "national@2026.1");
        assert_eq!(national.area_code(), None);
        let xiamen = Policy::parse(XIAMEN).unwrap();
        assert_eq!(xiamen.area_code().map(AreaCode::as_str), Some("350200"));
        assert_eq!(
            xiamen.vehicle().allowed_powertrains,
            [Powertrain::BatteryElectric]
        );
        assert_eq!(xiamen.vehicle().max_age_years_at_first_application, Some(3));
        assert_eq!(national.vehicle().max_age_years_at_first_application, None);
        assert_eq!(national.vehicle().allowed_powertrains.len(), 6);
        assert_eq!(xiamen.credit().behaviours.len(), 20);
        assert_eq!(xiamen.credit().refuse_years, 3);
    }

    #[test]
    fn unknown_keys_are_refused() {
        let text = edited(NATIONAL, "[driver]\n", "[driver]\nmax_speed = 1\n");
        assert!(
            matches!(Policy::parse(&text), Err(PolicyError::Syntax(m)) if m.contains("max_speed"))
        );
    }

    #[test]
    fn unknown_enum_names_are_refused() {
        let text = edited(NATIONAL, "\"drug_use\"", "\"jaywalking\"");
        assert!(matches!(Policy::parse(&text), Err(PolicyError::Syntax(_))));
        let text = edited(XIAMEN, "[\"battery_electric\"]", "[\"steam\"]");
        assert!(matches!(Policy::parse(&text), Err(PolicyError::Syntax(m)) if m.contains("steam")));
    }

    #[test]
    fn oversized_files_are_refused_before_parsing() {
        let text = "#".repeat(MAX_POLICY_BYTES + 1);
        assert!(matches!(
            Policy::parse(&text),
            Err(PolicyError::TooLarge { .. })
        ));
    }

    #[test]
    fn every_invalid_value_is_reported_at_once() {
        let mut text = edited(XIAMEN, "min_age_years = 21", "min_age_years = 70");
        text = edited(&text, "max_seats = 7", "max_seats = 12");
        text = edited(&text, "\"闽D\"", "\"XD\"");
        text = edited(
            &text,
            "yellow_remaining_percent = 20",
            "yellow_remaining_percent = 0",
        );
        text = edited(&text, "validity_years = 4", "validity_years = 0");
        let Err(PolicyError::Invalid(problems)) = Policy::parse(&text) else {
            panic!("expected invalid");
        };
        for field in [
            "driver.min_age_years: must not exceed",
            "vehicle.max_seats",
            "vehicle.local_plate_prefixes",
            "deadlines.yellow_remaining_percent",
            "platform.validity_years",
        ] {
            assert!(
                problems.iter().any(|p| p.starts_with(field)),
                "{field}: {problems:?}"
            );
        }
    }

    #[test]
    fn agencies_must_fit_the_kind_and_the_enabled_rules() {
        let text = edited(
            NATIONAL,
            "vehicle = [\"vehicle_registration\"]",
            "vehicle = [\"exam_centre\", \"exam_centre\"]",
        );
        let Err(PolicyError::Invalid(problems)) = Policy::parse(&text) else {
            panic!("expected invalid");
        };
        let joined = problems.join("\n");
        assert!(joined.contains("exam_centre has no facts for a vehicle licence"));
        assert!(joined.contains("exam_centre is listed twice"));
        assert!(joined.contains("must include vehicle_registration"));
    }

    #[test]
    fn bad_area_codes_and_labels_are_refused() {
        let text = edited(XIAMEN, "area_code = \"350200\"", "area_code = \"35020\"");
        assert!(matches!(Policy::parse(&text), Err(PolicyError::Syntax(_))));
        let text = edited(XIAMEN, "version = \"2026.1\"", "version = \"2026 1\"");
        assert!(
            matches!(Policy::parse(&text), Err(PolicyError::Invalid(p)) if p[0].starts_with("version"))
        );
    }

    #[test]
    fn stage_deadlines_must_fit_in_the_application() {
        let text = edited(NATIONAL, "application = 1440", "application = 100");
        let Err(PolicyError::Invalid(problems)) = Policy::parse(&text) else {
            panic!("expected invalid");
        };
        assert!(problems[0].contains("formal_review + agency_answer + decision"));
    }

    #[test]
    fn lights_turn_yellow_in_the_last_fifth_and_red_after_the_limit() {
        let d = *Policy::parse(NATIONAL).unwrap().deadlines();
        assert_eq!(d.limit(Stage::AgencyAnswer), 60);
        assert_eq!(d.light(Stage::AgencyAnswer, 0), Light::Green);
        assert_eq!(d.light(Stage::AgencyAnswer, 47), Light::Green);
        assert_eq!(d.light(Stage::AgencyAnswer, 48), Light::Yellow);
        assert_eq!(d.light(Stage::AgencyAnswer, 60), Light::Yellow);
        assert_eq!(d.light(Stage::AgencyAnswer, 61), Light::Red);
        assert_eq!(d.light(Stage::Application, u32::MAX), Light::Red);
    }
}

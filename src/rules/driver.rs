//! Driver certificate rules (第十四条 of the 2016 interim measures, plus city conditions).
//!
//! Split by the evidence each rule reads: the citizen ID (age), the traffic police (licence,
//! driving years, penalty points), public security and traffic police together (barring
//! records), the exam centre, and the registry (revocations, run at formal review).

use time::Date;

use super::dates::{add_years, show, whole_years};
use super::facts::{
    AgencyName, Answers, ExamCentreFacts, PublicSecurityFacts, RecordKind, RegistryFacts,
    TrafficPoliceFacts,
};
use super::policy::DriverPolicy;
use super::Reason;
use crate::model::{DriverLicence, DrivingClass};

/// Runs every driver rule except those [`super::formal_review`] owns.
pub(super) fn check(
    p: &DriverPolicy,
    d: &DriverLicence,
    answers: &Answers,
    today: Date,
    out: &mut Vec<Reason>,
) {
    let traffic = answers.traffic_police.facts();
    check_age(p, d, today, out);
    check_licence(p, d, traffic, today, out);
    check_records(p, answers.public_security.facts(), traffic, out);
    check_exams(p, answers.exam_centre.facts(), out);
}

/// The class as printed on a driving licence. Written out here because the model keeps its
/// parser private; the exhaustive match makes a new class a compile error.
pub(super) fn class_str(class: DrivingClass) -> &'static str {
    match class {
        DrivingClass::A1 => "A1",
        DrivingClass::A2 => "A2",
        DrivingClass::A3 => "A3",
        DrivingClass::B1 => "B1",
        DrivingClass::B2 => "B2",
        DrivingClass::C1 => "C1",
        DrivingClass::C2 => "C2",
    }
}

fn check_age(p: &DriverPolicy, d: &DriverLicence, today: Date, out: &mut Vec<Reason>) {
    // Born after `today` can only be a data error; counting it as age 0 fails any minimum.
    let age = d.citizen_id.age_on(today).unwrap_or(0);
    if let Some(min) = p.min_age_years.filter(|min| age < u32::from(*min)) {
        out.push(Reason::new(
            "driver.min_age_years",
            None,
            format!("年龄 {age} 周岁，未满 {min} 周岁"),
            format!("aged {age}, under the minimum age of {min}"),
        ));
    }
    if let Some(max) = p.max_age_years.filter(|max| age > u32::from(*max)) {
        out.push(Reason::new(
            "driver.max_age_years",
            None,
            format!("年龄 {age} 周岁，超过 {max} 周岁"),
            format!("aged {age}, over the maximum age of {max}"),
        ));
    }
}

/// Licence class, driving years, licence validity and penalty points. The traffic police's
/// values decide; before they answer, the record's are checked.
fn check_licence(
    p: &DriverPolicy,
    d: &DriverLicence,
    traffic: Option<&TrafficPoliceFacts>,
    today: Date,
    out: &mut Vec<Reason>,
) {
    let agency = traffic.map(|_| AgencyName::TrafficPolice);
    let record_class = class_str(d.licence_class);
    let class = traffic.map_or(record_class, |t| t.licence_class.trim());
    if !p.allowed_licence_classes.iter().any(|c| c == class) {
        out.push(Reason::new(
            "driver.licence_class_not_allowed",
            agency,
            format!("准驾车型 {class} 不符合要求"),
            format!("driving licence class {class} is not allowed"),
        ));
    }
    let first_licensed = traffic.map_or(d.first_licensed, |t| t.first_licensed);
    let years = whole_years(first_licensed, today);
    if years < u32::from(p.min_driving_years) {
        let min = p.min_driving_years;
        out.push(Reason::new(
            "driver.min_driving_years",
            agency,
            format!(
                "驾龄 {years} 年，不足 {min} 年（初次领证 {}）",
                show(first_licensed)
            ),
            format!(
                "{years} years of driving, fewer than {min} (first licensed {})",
                show(first_licensed)
            ),
        ));
    }
    let Some(t) = traffic else { return };
    cross_check(d, t, out);
    if !t.licence_valid {
        out.push(Reason::new(
            "driver.driving_licence_invalid",
            agency,
            "机动车驾驶证不在有效状态",
            "the driving licence is not valid",
        ));
    }
    if t.full_deductions_last_3_cycles > p.max_full_deductions_in_last_3_cycles {
        let n = t.full_deductions_last_3_cycles;
        out.push(Reason::new(
            "driver.full_deductions",
            agency,
            format!("最近连续 3 个记分周期内有 {n} 次记满 12 分"),
            format!("all 12 points lost in {n} of the last 3 scoring cycles"),
        ));
    }
}

/// Facts the applicant stated that the traffic police contradict.
fn cross_check(d: &DriverLicence, t: &TrafficPoliceFacts, out: &mut Vec<Reason>) {
    let agency = Some(AgencyName::TrafficPolice);
    let record_class = class_str(d.licence_class);
    if !t.licence_class.trim().eq_ignore_ascii_case(record_class) {
        out.push(Reason::new(
            "driver.licence_class_mismatch",
            agency,
            format!(
                "申报准驾车型 {record_class} 与公安交管记录 {} 不符",
                t.licence_class.trim()
            ),
            format!(
                "stated licence class {record_class} differs from the traffic police's {}",
                t.licence_class.trim()
            ),
        ));
    }
    if t.first_licensed != d.first_licensed {
        out.push(Reason::new(
            "driver.first_licensed_mismatch",
            agency,
            format!(
                "申报初次领证日期 {} 与公安交管记录 {} 不符",
                show(d.first_licensed),
                show(t.first_licensed)
            ),
            format!(
                "stated first-licensed date {} differs from the traffic police's {}",
                show(d.first_licensed),
                show(t.first_licensed)
            ),
        ));
    }
}

/// One reason per forbidden kind found, in [`RecordKind::ALL`] order whatever order the
/// agencies list them in, so the same facts always give the same decision.
fn check_records(
    p: &DriverPolicy,
    security: Option<&PublicSecurityFacts>,
    traffic: Option<&TrafficPoliceFacts>,
    out: &mut Vec<Reason>,
) {
    for kind in RecordKind::ALL {
        if !p.forbidden_records.contains(&kind) {
            continue;
        }
        let on_record = security.is_some_and(|s| {
            s.records.iter().any(|r| r.kind == kind) || (kind == RecordKind::DrugUse && s.drug_use)
        });
        let by_traffic =
            kind == RecordKind::DrinkDriving && traffic.is_some_and(|t| t.drink_driving);
        let agency = match (on_record, by_traffic) {
            (true, _) => AgencyName::PublicSecurity,
            (false, true) => AgencyName::TrafficPolice,
            (false, false) => continue,
        };
        out.push(Reason::new(
            kind.rule(),
            Some(agency),
            format!("有{}", kind.name_zh()),
            format!("has a barring record: {}", kind.as_str()),
        ));
    }
}

fn check_exams(p: &DriverPolicy, exams: Option<&ExamCentreFacts>, out: &mut Vec<Reason>) {
    let Some(e) = exams else { return };
    let agency = Some(AgencyName::ExamCentre);
    if p.require_national_exam && !e.national_exam_passed {
        out.push(Reason::new(
            "driver.national_exam",
            agency,
            "未通过全国公共科目考试",
            "has not passed the national exam",
        ));
    }
    if p.require_regional_exam && !e.regional_exam_passed {
        out.push(Reason::new(
            "driver.regional_exam",
            agency,
            "未通过区域科目考试",
            "has not passed the regional exam",
        ));
    }
}

/// A driver certificate revoked less than `revoked_certificate_lookback_years` ago bars a new
/// one; the lookback's anniversary is the first day a new application can pass.
pub(super) fn check_revocations(
    p: &DriverPolicy,
    registry: &RegistryFacts,
    today: Date,
    out: &mut Vec<Reason>,
) {
    let years = p.revoked_certificate_lookback_years;
    let latest = registry
        .revoked_certificates
        .iter()
        .copied()
        .filter(|revoked| today < add_years(*revoked, years))
        .max();
    if let Some(revoked) = latest {
        out.push(Reason::new(
            "driver.revoked_recently",
            None,
            format!("{} 年内被吊销过网约车驾驶员证（{}）", years, show(revoked)),
            format!(
                "a driver certificate was revoked within {years} years ({})",
                show(revoked)
            ),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LicenceKind;
    use crate::model::LicenceRecord;
    use crate::rules::facts::OffenceRecord;
    use crate::rules::Policy;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 01);

    fn policy() -> DriverPolicy {
        let text = include_str!("../../policies/xiamen.toml");
        Policy::parse(text).unwrap().driver().clone()
    }

    fn licence() -> DriverLicence {
        let text = include_str!("../../schemas/examples/driver.json");
        match LicenceRecord::parse_json(LicenceKind::Driver, text.as_bytes()).unwrap() {
            LicenceRecord::Driver(d) => d,
            other => panic!("not a driver: {other:?}"),
        }
    }

    fn traffic() -> TrafficPoliceFacts {
        TrafficPoliceFacts {
            licence_class: "C1".into(),
            first_licensed: date!(2015 - 06 - 01),
            drink_driving: false,
            full_deductions_last_3_cycles: 0,
            licence_valid: true,
        }
    }

    fn rules(out: &[Reason]) -> Vec<&'static str> {
        out.iter().map(|r| r.rule).collect()
    }

    #[test]
    fn every_class_name_is_one_the_policy_accepts() {
        use DrivingClass::*;
        let names: Vec<_> = [A1, A2, A3, B1, B2, C1, C2].map(class_str).to_vec();
        assert_eq!(names, crate::rules::LICENCE_CLASSES);
    }

    #[test]
    fn age_bounds_are_inclusive() {
        let p = policy();
        let d = licence(); // born 1990-01-01
        let mut out = Vec::new();
        check_age(&p, &d, date!(2011 - 01 - 01), &mut out);
        check_age(&p, &d, date!(2050 - 12 - 31), &mut out);
        assert!(out.is_empty(), "{out:?}");
        check_age(&p, &d, date!(2010 - 12 - 31), &mut out);
        check_age(&p, &d, date!(2051 - 01 - 01), &mut out);
        assert_eq!(
            rules(&out),
            ["driver.min_age_years", "driver.max_age_years"]
        );
    }

    #[test]
    fn driving_years_use_the_traffic_police_date_once_answered() {
        let p = policy();
        let d = licence();
        let mut out = Vec::new();
        check_licence(&p, &d, None, TODAY, &mut out);
        assert!(out.is_empty(), "{out:?}");
        let t = TrafficPoliceFacts {
            first_licensed: date!(2023 - 11 - 02),
            ..traffic()
        };
        check_licence(&p, &d, Some(&t), TODAY, &mut out);
        assert_eq!(
            rules(&out),
            ["driver.min_driving_years", "driver.first_licensed_mismatch"]
        );
        assert_eq!(out[0].agency, Some(AgencyName::TrafficPolice));
    }

    #[test]
    fn the_third_anniversary_of_licensing_is_enough() {
        let p = policy();
        let mut d = licence();
        d.first_licensed = date!(2023 - 11 - 01);
        let mut out = Vec::new();
        check_licence(&p, &d, None, TODAY, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn barring_records_are_reported_once_per_kind_in_fixed_order() {
        let p = policy();
        let record = |kind| OffenceRecord {
            kind,
            date: date!(2001 - 01 - 01),
        };
        let security = PublicSecurityFacts {
            records: vec![
                record(RecordKind::ViolentCrime),
                record(RecordKind::TrafficCrime),
                record(RecordKind::ViolentCrime),
            ],
            drug_use: true,
        };
        let t = TrafficPoliceFacts {
            drink_driving: true,
            ..traffic()
        };
        let mut out = Vec::new();
        check_records(&p, Some(&security), Some(&t), &mut out);
        assert_eq!(
            rules(&out),
            [
                "driver.record.traffic_crime",
                "driver.record.drug_use",
                "driver.record.drink_driving",
                "driver.record.violent_crime"
            ]
        );
        assert_eq!(out[2].agency, Some(AgencyName::TrafficPolice));
    }

    #[test]
    fn records_the_policy_does_not_forbid_are_ignored() {
        let mut p = policy();
        p.forbidden_records
            .retain(|k| *k != RecordKind::DrinkDriving);
        let t = TrafficPoliceFacts {
            drink_driving: true,
            ..traffic()
        };
        let mut out = Vec::new();
        check_records(&p, None, Some(&t), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn revocations_bar_until_the_lookback_anniversary() {
        let p = policy();
        let registry = RegistryFacts {
            revoked_certificates: vec![date!(2010 - 01 - 01), date!(2021 - 11 - 02)],
            ..RegistryFacts::default()
        };
        let mut out = Vec::new();
        check_revocations(&p, &registry, TODAY, &mut out);
        assert_eq!(rules(&out), ["driver.revoked_recently"]);
        assert!(out[0].message.contains("2021-11-02"));
        out.clear();
        check_revocations(&p, &registry, date!(2026 - 11 - 02), &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn exams_are_only_judged_once_answered() {
        let p = policy();
        let mut out = Vec::new();
        check_exams(&p, None, &mut out);
        let failed = ExamCentreFacts {
            national_exam_passed: false,
            regional_exam_passed: false,
        };
        check_exams(&p, Some(&failed), &mut out);
        assert_eq!(
            rules(&out),
            ["driver.national_exam", "driver.regional_exam"]
        );
    }
}

//! Transport certificate rules (第十二条 of the 2016 interim measures, plus city conditions) and
//! the vehicle's validity period.
//!
//! A ride-hailing car is scrapped 8 years after registration, so the certificate can never
//! outlive that date however long the policy's validity is; the cap and the "service life
//! ended" refusal come from the same computation so they cannot disagree.

use time::Date;

use super::dates::{add_years, last_day_of, show, whole_years};
use super::facts::{powertrain_str, AgencyName, RegistryFacts, VehicleRegistrationFacts};
use super::policy::VehiclePolicy;
use super::Reason;
use crate::ids::NevKind;
use crate::model::{Powertrain, VehicleLicence};

/// The values rules decide on: the registration office's once it answers, else the record's.
struct Known {
    seats: u8,
    powertrain: Powertrain,
    registration_date: Date,
    agency: Option<AgencyName>,
}

impl Known {
    fn new(v: &VehicleLicence, facts: Option<&VehicleRegistrationFacts>) -> Self {
        match facts {
            Some(f) => Known {
                seats: f.seats,
                powertrain: f.powertrain,
                registration_date: f.registration_date,
                agency: Some(AgencyName::VehicleRegistration),
            },
            None => Known {
                seats: v.seats,
                powertrain: v.powertrain,
                registration_date: v.registration_date,
                agency: None,
            },
        }
    }
}

/// Runs every vehicle rule except those [`super::formal_review`] owns.
pub(super) fn check(
    p: &VehiclePolicy,
    v: &VehicleLicence,
    facts: Option<&VehicleRegistrationFacts>,
    today: Date,
    out: &mut Vec<Reason>,
) {
    let known = Known::new(v, facts);
    check_build(p, v, &known, out);
    check_age(p, &known, today, out);
    if p.require_local_plate
        && !p
            .local_plate_prefixes
            .iter()
            .any(|x| x == v.plate.area_prefix())
    {
        out.push(Reason::new(
            "vehicle.local_plate",
            None,
            format!("号牌 {} 不是本地号牌", v.plate.as_str()),
            format!("plate {} is not a local plate", v.plate.as_str()),
        ));
    }
    if let Some(f) = facts {
        cross_check(v, f, out);
        check_registration(p, f, today, out);
    }
}

/// The last day a certificate issued today may run: the policy's validity, cut at the day
/// before the registration anniversary that ends the vehicle's service life.
pub(super) fn valid_until(
    p: &VehiclePolicy,
    v: &VehicleLicence,
    facts: Option<&VehicleRegistrationFacts>,
    today: Date,
) -> Date {
    let known = Known::new(v, facts);
    let by_policy = last_day_of(today, p.validity_years);
    let by_service_life = last_day_of(known.registration_date, p.max_years_after_registration);
    by_policy.min(by_service_life)
}

/// Seats, powertrain and the plate's energy class.
fn check_build(p: &VehiclePolicy, v: &VehicleLicence, known: &Known, out: &mut Vec<Reason>) {
    if known.seats > p.max_seats {
        let (seats, max) = (known.seats, p.max_seats);
        out.push(Reason::new(
            "vehicle.max_seats",
            known.agency,
            format!("核定载客 {seats} 人，超过 {max} 座"),
            format!("{seats} seats, more than {max}"),
        ));
    }
    let name = powertrain_str(known.powertrain);
    if !p.allowed_powertrains.contains(&known.powertrain) {
        out.push(Reason::new(
            "vehicle.powertrain_not_allowed",
            known.agency,
            format!("动力类型 {name} 不符合要求"),
            format!("powertrain {name} is not allowed"),
        ));
    }
    // A green plate declares the energy class; ordinary plates declare nothing, since older
    // new-energy cars may still carry blue ones.
    let plate_fits = match v.plate.new_energy_kind() {
        None => true,
        Some(NevKind::PureElectric) => known.powertrain == Powertrain::BatteryElectric,
        Some(NevKind::NonPureElectric) => {
            matches!(
                known.powertrain,
                Powertrain::PlugInHybrid | Powertrain::FuelCell
            )
        }
    };
    if !plate_fits {
        out.push(Reason::new(
            "vehicle.plate_energy_mismatch",
            known.agency,
            format!("新能源号牌 {} 与动力类型 {name} 不符", v.plate.as_str()),
            format!(
                "new-energy plate {} does not fit powertrain {name}",
                v.plate.as_str()
            ),
        ));
    }
}

/// Age at first application, and the end of the vehicle's service life.
fn check_age(p: &VehiclePolicy, known: &Known, today: Date, out: &mut Vec<Reason>) {
    let registered = known.registration_date;
    // The anniversary itself still qualifies: "at most 3 years old" includes the day it turns 3.
    if let Some(max) = p
        .max_age_years_at_first_application
        .filter(|max| today > add_years(registered, *max))
    {
        let age = whole_years(registered, today);
        out.push(Reason::new(
            "vehicle.max_age_years_at_first_application",
            known.agency,
            format!(
                "车辆注册于 {}，车龄超过 {max} 年（{age} 年）",
                show(registered)
            ),
            format!(
                "registered {}, older than {max} years ({age})",
                show(registered)
            ),
        ));
    }
    let end = last_day_of(registered, p.max_years_after_registration);
    if end < today {
        let years = p.max_years_after_registration;
        out.push(Reason::new(
            "vehicle.service_life_ended",
            known.agency,
            format!(
                "车辆注册已满 {years} 年（至 {}），不得从事网约车经营",
                show(end)
            ),
            format!(
                "more than {years} years since registration (service life ended {})",
                show(end)
            ),
        ));
    }
}

/// Facts the applicant stated that the registration office contradicts.
fn cross_check(v: &VehicleLicence, f: &VehicleRegistrationFacts, out: &mut Vec<Reason>) {
    let agency = Some(AgencyName::VehicleRegistration);
    let mut differs = |rule, field_zh: &str, field_en: &str, stated: String, found: String| {
        out.push(Reason::new(
            rule,
            agency,
            format!("申报{field_zh} {stated} 与车辆登记 {found} 不符"),
            format!("stated {field_en} {stated} differs from the registration's {found}"),
        ));
    };
    if v.seats != f.seats {
        let (stated, found) = (v.seats.to_string(), f.seats.to_string());
        differs("vehicle.seats_mismatch", "座位数", "seats", stated, found);
    }
    if v.powertrain != f.powertrain {
        let stated = powertrain_str(v.powertrain).to_string();
        let found = powertrain_str(f.powertrain).to_string();
        differs(
            "vehicle.powertrain_mismatch",
            "动力类型",
            "powertrain",
            stated,
            found,
        );
    }
    if v.registration_date != f.registration_date {
        let (stated, found) = (show(v.registration_date), show(f.registration_date));
        let rule = "vehicle.registration_date_mismatch";
        differs(rule, "注册日期", "registration date", stated, found);
    }
}

/// What only the registration office knows: status, use, equipment, inspection, insurance.
fn check_registration(
    p: &VehiclePolicy,
    f: &VehicleRegistrationFacts,
    today: Date,
    out: &mut Vec<Reason>,
) {
    let agency = Some(AgencyName::VehicleRegistration);
    let mut fail = |rule, zh: String, en: String| out.push(Reason::new(rule, agency, zh, en));
    if !f.registered {
        fail(
            "vehicle.not_registered",
            "车辆未登记".into(),
            "not registered".into(),
        );
    }
    if f.scrapped {
        fail(
            "vehicle.scrapped",
            "车辆已报废".into(),
            "the vehicle is scrapped".into(),
        );
    }
    let nature = f.use_nature.trim();
    if nature != p.required_use_nature.trim() {
        let want = p.required_use_nature.trim();
        let zh = format!("使用性质为 {nature}，应为 {want}");
        fail(
            "vehicle.use_nature",
            zh,
            format!("use nature is {nature}, must be {want}"),
        );
    }
    if p.require_gps && !f.gps_fitted {
        let zh = "未安装具有行驶记录功能的卫星定位装置".into();
        fail(
            "vehicle.gps",
            zh,
            "no satellite positioning device fitted".into(),
        );
    }
    if p.require_emergency_alarm && !f.emergency_alarm_fitted {
        let en = "no emergency alarm fitted".into();
        fail("vehicle.emergency_alarm", "未安装应急报警装置".into(), en);
    }
    let expired = |until: Date| until < today;
    if p.require_valid_inspection && expired(f.inspection_valid_until) {
        let until = show(f.inspection_valid_until);
        let zh = format!("安全技术检验有效期至 {until}，已过期");
        fail(
            "vehicle.inspection_expired",
            zh,
            format!("inspection expired {until}"),
        );
    }
    if p.require_valid_insurance && expired(f.insurance_valid_until) {
        let until = show(f.insurance_valid_until);
        let zh = format!("保险有效期至 {until}，已过期");
        fail(
            "vehicle.insurance_expired",
            zh,
            format!("insurance expired {until}"),
        );
    }
}

/// One vehicle, one platform: a vehicle already serving another platform is refused.
pub(super) fn check_binding(p: &VehiclePolicy, registry: &RegistryFacts, out: &mut Vec<Reason>) {
    let Some(other) = registry.vehicle_bound_to_other_platform.as_deref() else {
        return;
    };
    if p.one_vehicle_one_platform {
        // The code comes from our own registry, but bound it anyway before echoing it.
        let other: String = other.chars().take(32).collect();
        out.push(Reason::new(
            "vehicle.one_vehicle_one_platform",
            None,
            format!("车辆已接入其他平台（{other}）"),
            format!("the vehicle already serves another platform ({other})"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LicenceKind;
    use crate::model::LicenceRecord;
    use crate::rules::Policy;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 11 - 01);

    fn policy(name: &str) -> VehiclePolicy {
        let text = match name {
            "xiamen" => include_str!("../../policies/xiamen.toml"),
            _ => include_str!("../../policies/national.toml"),
        };
        Policy::parse(text).unwrap().vehicle().clone()
    }

    fn licence() -> VehicleLicence {
        let text = include_str!("../../schemas/examples/vehicle.json");
        match LicenceRecord::parse_json(LicenceKind::Vehicle, text.as_bytes()).unwrap() {
            LicenceRecord::Vehicle(v) => v,
            other => panic!("not a vehicle: {other:?}"),
        }
    }

    fn facts() -> VehicleRegistrationFacts {
        VehicleRegistrationFacts {
            registered: true,
            use_nature: "预约出租客运".into(),
            registration_date: date!(2024 - 03 - 15),
            seats: 5,
            powertrain: Powertrain::BatteryElectric,
            inspection_valid_until: date!(2027 - 03 - 31),
            insurance_valid_until: date!(2027 - 03 - 14),
            gps_fitted: true,
            emergency_alarm_fitted: true,
            scrapped: false,
        }
    }

    fn rules(out: &[Reason]) -> Vec<&'static str> {
        out.iter().map(|r| r.rule).collect()
    }

    #[test]
    fn the_example_vehicle_passes_both_policies() {
        for name in ["national", "xiamen"] {
            let mut out = Vec::new();
            check(&policy(name), &licence(), Some(&facts()), TODAY, &mut out);
            assert!(out.is_empty(), "{name}: {out:?}");
        }
    }

    #[test]
    fn validity_is_capped_at_the_end_of_service_life() {
        let p = policy("national");
        let until = valid_until(&p, &licence(), Some(&facts()), TODAY);
        assert_eq!(until, date!(2032 - 03 - 14));
        let new = VehicleRegistrationFacts {
            registration_date: TODAY,
            ..facts()
        };
        assert_eq!(
            valid_until(&p, &licence(), Some(&new), TODAY),
            date!(2034 - 10 - 31)
        );
    }

    #[test]
    fn a_vehicle_may_be_licensed_on_its_third_anniversary_but_not_after() {
        let p = policy("xiamen");
        let f = facts();
        let mut out = Vec::new();
        check_age(
            &p,
            &Known::new(&licence(), Some(&f)),
            date!(2027 - 03 - 15),
            &mut out,
        );
        assert!(out.is_empty(), "{out:?}");
        check_age(
            &p,
            &Known::new(&licence(), Some(&f)),
            date!(2027 - 03 - 16),
            &mut out,
        );
        assert_eq!(rules(&out), ["vehicle.max_age_years_at_first_application"]);
    }

    #[test]
    fn service_life_ends_after_the_last_day() {
        let p = policy("national");
        let known = Known::new(&licence(), None);
        let mut out = Vec::new();
        check_age(&p, &known, date!(2032 - 03 - 14), &mut out);
        assert!(out.is_empty(), "{out:?}");
        check_age(&p, &known, date!(2032 - 03 - 15), &mut out);
        assert_eq!(rules(&out), ["vehicle.service_life_ended"]);
    }

    #[test]
    fn green_plates_must_fit_the_powertrain() {
        let p = policy("national");
        let f = VehicleRegistrationFacts {
            powertrain: Powertrain::Petrol,
            ..facts()
        };
        let mut out = Vec::new();
        check_build(&p, &licence(), &Known::new(&licence(), Some(&f)), &mut out);
        assert_eq!(rules(&out), ["vehicle.plate_energy_mismatch"]);
        assert_eq!(out[0].agency, Some(AgencyName::VehicleRegistration));
    }

    #[test]
    fn registration_failures_are_all_reported() {
        let p = policy("national");
        let f = VehicleRegistrationFacts {
            registered: false,
            scrapped: true,
            use_nature: "非营运".into(),
            gps_fitted: false,
            emergency_alarm_fitted: false,
            inspection_valid_until: date!(2026 - 10 - 31),
            insurance_valid_until: date!(2026 - 10 - 31),
            ..facts()
        };
        let mut out = Vec::new();
        check_registration(&p, &f, TODAY, &mut out);
        assert_eq!(
            rules(&out),
            [
                "vehicle.not_registered",
                "vehicle.scrapped",
                "vehicle.use_nature",
                "vehicle.gps",
                "vehicle.emergency_alarm",
                "vehicle.inspection_expired",
                "vehicle.insurance_expired"
            ]
        );
    }

    #[test]
    fn cover_valid_through_today_is_enough() {
        let f = VehicleRegistrationFacts {
            inspection_valid_until: TODAY,
            insurance_valid_until: TODAY,
            ..facts()
        };
        let mut out = Vec::new();
        check_registration(&policy("xiamen"), &f, TODAY, &mut out);
        assert!(out.is_empty(), "{out:?}");
    }

    #[test]
    fn binding_to_another_platform_only_matters_under_the_rule() {
        let registry = RegistryFacts {
            vehicle_bound_to_other_platform: Some("91350200MA2Y00002L".into()),
            ..RegistryFacts::default()
        };
        let mut p = policy("national");
        let mut out = Vec::new();
        check_binding(&p, &registry, &mut out);
        assert_eq!(rules(&out), ["vehicle.one_vehicle_one_platform"]);
        p.one_vehicle_one_platform = false;
        out.clear();
        check_binding(&p, &registry, &mut out);
        assert!(out.is_empty());
    }
}

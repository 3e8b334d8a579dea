//! Synthetic but valid licence records for benchmarks and load tests: real check characters on
//! citizen ids and VINs, plates of the new-energy format, and a mix of 70% drivers and 30%
//! vehicles as nationally. Record `n` is always the same record, so runs can be repeated.

use serde_json::{json, Value};
use time::{Date, Duration, Month};

use crate::ids::{CitizenId, Plate, Vin};

/// Provinces used for generated plates (each gives 24 authority letters × 2 × 100,000 plates).
const PROVINCES: [char; 8] = ['闽', '粤', '浙', '苏', '沪', '京', '川', '鄂'];
/// Authority letters (I and O are never used on plates).
const LETTERS: &str = "ABCDEFGHJKLMNPQRSTUVWXYZ";
/// VIN plant codes (I, O and Q are not allowed in VINs).
const PLANTS: &str = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ";

/// The licence kind record `n` of a national mix has: 7 in 10 are drivers.
pub fn is_driver(n: u64) -> bool {
    n % 10 < 7
}

/// A citizen id unique for each `n` below about 14 million.
pub fn citizen_id(n: u64) -> String {
    let day = n / 1000;
    let sequence = u16::try_from(n % 1000).unwrap_or(0);
    let start = Date::from_calendar_date(1965, Month::January, 1).unwrap_or(Date::MIN);
    let birth = start + Duration::days(i64::try_from(day % 14_600).unwrap_or(0));
    CitizenId::from_parts("350203", birth, sequence)
        .map(|id| id.as_str().to_string())
        .unwrap_or_default()
}

/// A plate unique for each `n` below 38.4 million.
pub fn plate(n: u64) -> String {
    let digits = n % 100_000;
    let rest = n / 100_000;
    let energy = if rest % 2 == 0 { 'D' } else { 'F' };
    let rest = rest / 2;
    let letter = LETTERS.chars().nth((rest % 24) as usize).unwrap_or('A');
    let province = PROVINCES[((rest / 24) % 8) as usize];
    let text = format!("{province}{letter}{energy}{digits:05}");
    Plate::parse(&text)
        .map(|p| p.as_str().to_string())
        .unwrap_or(text)
}

/// A VIN unique for each `n` below 33 million.
pub fn vin(n: u64) -> String {
    let plant = PLANTS
        .chars()
        .nth(((n / 1_000_000) % 33) as usize)
        .unwrap_or('1');
    let body = format!("LGXC16DF0N{plant}{:06}", n % 1_000_000);
    Vin::with_check(&body)
        .map(|v| v.as_str().to_string())
        .unwrap_or(body)
}

const AUTHORITY: &str = r#"{"name": "厦门市交通运输局", "credit_code": "11350200MB00000004"}"#;

fn authority() -> Value {
    serde_json::from_str(AUTHORITY).unwrap_or(Value::Null)
}

/// Driver record `n` (a licence in force, valid 2026-2032).
pub fn driver(n: u64) -> Value {
    json!({
        "holder_name": "王小明",
        "citizen_id": citizen_id(n),
        "licence_class": "C1",
        "first_licensed": "2015-06-01",
        "issuing_authority": authority(),
        "area_code": "350200",
        "valid_from": "2026-11-01",
        "valid_until": "2032-10-31",
    })
}

/// Vehicle record `n`, owned by driver `n`'s holder.
pub fn vehicle(n: u64) -> Value {
    json!({
        "plate": plate(n),
        "vin": vin(n),
        "make": "比亚迪",
        "model": "秦PLUS EV",
        "colour": "白色",
        "seats": 5,
        "powertrain": "battery_electric",
        "owner": {"name": "王小明", "id": citizen_id(n)},
        "platform_credit_code": "91350200MA2Y00001N",
        "registration_date": "2024-03-15",
        "issuing_authority": authority(),
        "area_code": "350200",
        "valid_from": "2026-11-01",
        "valid_until": "2032-03-14",
    })
}

/// One import line: the record with its legacy number.
pub fn import_line(mut record: Value, legacy_number: &str) -> String {
    if let Some(obj) = record.as_object_mut() {
        obj.insert("legacy_number".into(), Value::String(legacy_number.into()));
    }
    record.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::LicenceKind;
    use crate::model::LicenceRecord;

    #[test]
    fn generated_records_parse_and_identifiers_are_distinct() {
        let mut ids = std::collections::BTreeSet::new();
        let mut plates = std::collections::BTreeSet::new();
        let mut vins = std::collections::BTreeSet::new();
        for n in (0..3_000_000).step_by(9_973) {
            LicenceRecord::parse(LicenceKind::Driver, &driver(n)).unwrap();
            LicenceRecord::parse(LicenceKind::Vehicle, &vehicle(n)).unwrap();
            assert!(ids.insert(citizen_id(n)));
            assert!(plates.insert(plate(n)));
            assert!(vins.insert(vin(n)));
        }
    }
}

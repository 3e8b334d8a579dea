//! Proptest strategies that produce valid identifiers, shared by the identifier tests so each
//! file's properties start from the same independent description of "valid".
//! Compiled only for tests (`#[cfg(test)] mod strategies;` in `ids/mod.rs`), so its `unwrap`s
//! never meet input.

use proptest::prelude::*;
use proptest::sample::select;
use time::{Date, Duration, Month};

use super::{CitizenId, CreditCode, LicenceKind, LicenceNumber, Plate, Vin};

/// `text` with the character at `index` replaced by a different symbol of `alphabet`, chosen
/// by `shift`.
pub(crate) fn other_symbol(text: &str, index: usize, shift: usize, alphabet: &str) -> String {
    text.chars()
        .enumerate()
        .map(|(i, ch)| {
            if i != index {
                return ch;
            }
            let others: Vec<char> = alphabet.chars().filter(|&c| c != ch).collect();
            others[shift % others.len()]
        })
        .collect()
}

/// GB/T 2260 province-level codes plus the two extra leads citizen IDs use.
const CITIZEN_PROVINCES: &[&str] = &[
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82", "83", "91",
];

/// Registration-authority division leads: central level and the provinces.
const REGISTRATION_PROVINCES: &[&str] = &[
    "10", "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37",
    "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
    "71", "81", "82",
];

const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

pub(crate) fn citizen_id() -> impl Strategy<Value = CitizenId> {
    let days_1900_to_2099 = 73_000_i64;
    (
        select(CITIZEN_PROVINCES),
        "[0-9]{4}",
        0..days_1900_to_2099,
        0u16..1000,
    )
        .prop_map(|(province, county, days, sequence)| {
            let start = Date::from_calendar_date(1900, Month::January, 1).unwrap();
            let birth = start + Duration::days(days);
            CitizenId::from_parts(&format!("{province}{county}"), birth, sequence).unwrap()
        })
}

pub(crate) fn credit_code() -> impl Strategy<Value = CreditCode> {
    (
        "[0-9A-HJ-NP-RTUW-Y]{2}",
        select(REGISTRATION_PROVINCES),
        "[0-9]{4}",
        "[0-9A-HJ-NP-RTUW-Y]{9}",
    )
        .prop_map(|(head, province, county, organisation)| {
            CreditCode::with_check(&format!("{head}{province}{county}{organisation}")).unwrap()
        })
}

pub(crate) fn vin() -> impl Strategy<Value = Vin> {
    "[0-9A-HJ-NPR-Z]{17}".prop_map(|text| Vin::with_check(&text).unwrap())
}

pub(crate) fn plate() -> impl Strategy<Value = Plate> {
    let serial = prop_oneof![
        "[0-9A-HJ-NP-Z]{5}",
        "[DABCEFGHJK][0-9A-HJ-NP-Z][0-9]{4}",
        "[0-9]{5}[DF]",
    ];
    (
        select(PLATE_PROVINCES.chars().collect::<Vec<char>>()),
        "[A-HJ-NP-Z]",
        serial,
    )
        .prop_map(|(province, authority, serial)| {
            Plate::parse(&format!("{province}{authority}{serial}")).unwrap()
        })
}

pub(crate) fn licence_number() -> impl Strategy<Value = LicenceNumber> {
    (
        select(LicenceKind::ALL.to_vec()),
        credit_code(),
        0..=LicenceNumber::MAX_SERIAL,
        1u8..=255,
    )
        .prop_map(|(kind, issuer, serial, version)| {
            LicenceNumber::new(kind, &issuer, serial, version).unwrap()
        })
}

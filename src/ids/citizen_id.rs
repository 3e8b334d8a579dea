//! Citizen ID numbers (公民身份号码, GB 11643-1999), which identify licensed drivers and vehicle
//! owners who are people.
//!
//! Layout: 6-digit address code (first two digits a province-level code), 8-digit birth date
//! `YYYYMMDD`, 3-digit sequence (odd for men, even for women), and an ISO 7064 MOD 11-2 check
//! character that is a digit or `X`. A lower-case `x` is accepted because people type it, and
//! stored as `X` so equal numbers compare equal.
//!
//! The number is personal data: `Debug` shows only the masked form so it cannot leak into logs
//! by accident; `Display`, `as_str` and serde give the full number for storage and signing.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month};

use super::iso7064::MOD_11_2;
use super::region::is_citizen_region;
use super::{bounded_trim, exact_chars, part, IdError};

/// A valid 18-character citizen ID number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CitizenId {
    text: String,
    /// Kept parsed so `birth_date` needs no fallible re-parse.
    birth: Date,
}

string_id!(CitizenId);

/// Sequence numbers are three digits.
const MAX_SEQUENCE: u16 = 999;

impl CitizenId {
    /// Characters in a number.
    pub const LEN: usize = 18;
    /// Characters before the check character.
    pub const BODY_LEN: usize = 17;
    /// Byte limit on raw input, checked before anything else (room for surrounding spaces).
    pub const MAX_INPUT_LEN: usize = 64;
    /// Earliest birth year accepted: nobody alive was born earlier, and dates before it are
    /// almost always a mistyped century.
    pub const MIN_BIRTH_YEAR: i32 = 1900;

    /// Parses and validates a number, trimming surrounding whitespace and upper-casing `x`.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let text = bounded_trim(input, Self::MAX_INPUT_LEN)?;
        let chars = exact_chars(text, Self::LEN)?;
        let mut canonical = String::with_capacity(Self::LEN);
        for (i, ch) in chars.into_iter().enumerate() {
            let position = i + 1;
            let is_check = position == Self::LEN;
            if !(ch.is_ascii_digit() || (is_check && matches!(ch, 'X' | 'x'))) {
                return Err(IdError::Charset { position, ch });
            }
            canonical.push(ch.to_ascii_uppercase());
        }
        let province = part(&canonical, 0..2);
        if !province.parse().is_ok_and(is_citizen_region) {
            return Err(IdError::Region {
                found: province.to_owned(),
            });
        }
        let birth = birth_date(part(&canonical, 6..14))?;
        MOD_11_2.verify(&canonical)?;
        Ok(CitizenId {
            text: canonical,
            birth,
        })
    }

    /// The check character for the first 17 digits.
    pub fn compute_check_char(body: &str) -> Result<char, IdError> {
        let body = bounded_trim(body, Self::MAX_INPUT_LEN)?;
        exact_chars(body, Self::BODY_LEN)?;
        MOD_11_2.compute(body)
    }

    /// Completes the first 17 digits with their check character and parses the result, for
    /// fixtures and demo data.
    pub fn with_check(body: &str) -> Result<Self, IdError> {
        let check = Self::compute_check_char(body)?;
        Self::parse(&format!("{}{check}", body.trim()))
    }

    /// Builds a number from its parts: a 6-digit address code, a birth date and a sequence
    /// number up to 999.
    pub fn from_parts(region: &str, birth: Date, sequence: u16) -> Result<Self, IdError> {
        if sequence > MAX_SEQUENCE {
            return Err(IdError::Range {
                min: 0,
                max: u64::from(MAX_SEQUENCE),
                found: u64::from(sequence),
            });
        }
        let body = format!(
            "{region}{:04}{:02}{:02}{sequence:03}",
            birth.year(),
            u8::from(birth.month()),
            birth.day()
        );
        Self::with_check(&body)
    }

    /// The canonical 18-character number.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The 6-digit address code (county-level division at registration).
    pub fn region_code(&self) -> &str {
        part(&self.text, 0..6)
    }

    /// The date of birth.
    pub fn birth_date(&self) -> Date {
        self.birth
    }

    /// The check character (`0`-`9` or `X`).
    pub fn check_char(&self) -> char {
        self.text.chars().last().unwrap_or_default()
    }

    /// Completed years of age on `on`, or `None` if `on` is before the birth date. Someone born
    /// on 29 February comes of age on 1 March in common years.
    pub fn age_on(&self, on: Date) -> Option<u32> {
        let birth = self.birth;
        let mut years = on.year() - birth.year();
        if (u8::from(on.month()), on.day()) < (u8::from(birth.month()), birth.day()) {
            years -= 1;
        }
        u32::try_from(years).ok()
    }

    /// The number with the birth date and sequence hidden, e.g. `110105********002X`: enough
    /// for a person to recognise their own card, not enough to identify them.
    pub fn masked(&self) -> String {
        format!(
            "{}{}{}",
            part(&self.text, 0..6),
            "*".repeat(8),
            part(&self.text, 14..18)
        )
    }
}

impl fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CitizenId").field(&self.masked()).finish()
    }
}

/// A real calendar date `YYYYMMDD` (all digits, already checked) no earlier than 1900.
fn birth_date(text: &str) -> Result<Date, IdError> {
    let number = |range| part(text, range).parse::<u16>().ok();
    let (Some(year), Some(month), Some(day)) = (number(0..4), number(4..6), number(6..8)) else {
        return Err(IdError::BirthDate);
    };
    let year = i32::from(year);
    if year < CitizenId::MIN_BIRTH_YEAR {
        return Err(IdError::BirthDate);
    }
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok());
    let day = u8::try_from(day).ok();
    match (month, day) {
        (Some(month), Some(day)) => {
            Date::from_calendar_date(year, month, day).map_err(|_| IdError::BirthDate)
        }
        _ => Err(IdError::BirthDate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::strategies::{citizen_id, other_symbol};
    use proptest::prelude::*;
    use time::macros::date;

    /// The worked example printed in GB 11643-1999.
    const STANDARD_EXAMPLE: &str = "11010519491231002X";

    #[test]
    fn standard_example_is_valid() {
        let id = CitizenId::parse(STANDARD_EXAMPLE).unwrap();
        assert_eq!(id.as_str(), STANDARD_EXAMPLE);
        assert_eq!(id.region_code(), "110105");
        assert_eq!(id.birth_date(), date!(1949 - 12 - 31));
        assert_eq!(id.check_char(), 'X');
        assert_eq!(id.masked(), "110105********002X");
        assert_eq!(id.to_string(), STANDARD_EXAMPLE);
    }

    #[test]
    fn lower_case_x_and_surrounding_space_are_normalised() {
        let id = CitizenId::parse("  11010519491231002x\n").unwrap();
        assert_eq!(id.as_str(), STANDARD_EXAMPLE);
    }

    #[test]
    fn debug_does_not_leak_the_number() {
        let id = CitizenId::parse(STANDARD_EXAMPLE).unwrap();
        let debug = format!("{id:?}");
        assert!(debug.contains("110105********002X"), "{debug}");
        assert!(!debug.contains("19491231"));
    }

    #[test]
    fn check_char_computation() {
        assert_eq!(CitizenId::compute_check_char("11010519491231002"), Ok('X'));
        assert_eq!(
            CitizenId::with_check("11010519491231002").unwrap().as_str(),
            STANDARD_EXAMPLE
        );
        assert_eq!(
            CitizenId::compute_check_char("1101051949123100"),
            Err(IdError::Length {
                expected: 17,
                found: 16
            })
        );
    }

    #[test]
    fn from_parts_builds_valid_numbers() {
        let id = CitizenId::from_parts("350203", date!(1990 - 01 - 01), 123).unwrap();
        let check = CitizenId::compute_check_char("35020319900101123").unwrap();
        assert_eq!(id.as_str(), format!("35020319900101123{check}"));
        assert_eq!(id.birth_date(), date!(1990 - 01 - 01));
        assert_eq!(
            CitizenId::from_parts("350203", date!(1990 - 01 - 01), 1000),
            Err(IdError::Range {
                min: 0,
                max: 999,
                found: 1000
            })
        );
    }

    #[test]
    fn each_rule_has_its_error() {
        let rule = |s: &str| CitizenId::parse(s).unwrap_err().rule();
        assert_eq!(rule(&"1".repeat(65)), "too_long");
        assert_eq!(rule("1101051949123100"), "length");
        assert_eq!(rule("11010519491231002Y"), "charset");
        assert_eq!(rule("1101051949123100X2"), "charset");
        assert_eq!(rule("110105194912310021"), "check_character");
        // Well-formed apart from the rule under test: the check character is right.
        let with = |body: &str| {
            let check = MOD_11_2.compute(body).unwrap();
            CitizenId::parse(&format!("{body}{check}")).unwrap_err()
        };
        assert_eq!(
            with("99010519491231002"),
            IdError::Region { found: "99".into() }
        );
        assert_eq!(with("10010519491231002").rule(), "region");
        assert_eq!(with("11010518991231002"), IdError::BirthDate);
        assert_eq!(with("11010519490229002"), IdError::BirthDate);
        assert_eq!(with("11010519491301002"), IdError::BirthDate);
        assert_eq!(with("11010519491200002"), IdError::BirthDate);
    }

    #[test]
    fn leap_days_are_real_dates() {
        let id = CitizenId::with_check("11010520000229002").unwrap();
        assert_eq!(id.birth_date(), date!(2000 - 02 - 29));
        assert_eq!(id.age_on(date!(2018 - 02 - 28)), Some(17));
        assert_eq!(id.age_on(date!(2018 - 03 - 01)), Some(18));
        assert_eq!(id.age_on(date!(2020 - 02 - 29)), Some(20));
        assert_eq!(id.age_on(date!(2000 - 02 - 28)), None);
    }

    #[test]
    fn charset_error_names_the_character() {
        assert_eq!(
            CitizenId::parse("11010519491231002\u{ff38}"),
            Err(IdError::Charset {
                position: 18,
                ch: '\u{ff38}'
            })
        );
    }

    #[test]
    fn serde_uses_the_string_and_the_parser() {
        let id = CitizenId::parse(STANDARD_EXAMPLE).unwrap();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{STANDARD_EXAMPLE}\""));
        assert_eq!(serde_json::from_str::<CitizenId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<CitizenId>("\"110105194912310021\"").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(id in citizen_id()) {
            let reparsed = CitizenId::parse(id.as_str()).unwrap();
            prop_assert_eq!(&reparsed, &id);
            let json = serde_json::to_string(&id).unwrap();
            prop_assert_eq!(serde_json::from_str::<CitizenId>(&json).unwrap(), id);
        }

        #[test]
        fn a_changed_character_fails(id in citizen_id(), index in 0usize..18, shift in any::<usize>()) {
            let alphabet = if index == 17 { "0123456789X" } else { "0123456789" };
            let changed = other_symbol(id.as_str(), index, shift, alphabet);
            prop_assert!(CitizenId::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,30}") {
            let _ = CitizenId::parse(&text);
        }
    }
}

//! Unified social credit codes (统一社会信用代码, GB 32100-2015), which identify platform
//! companies, vehicle-owning organisations and the transport authorities that issue licences
//! (the issuer is part of every licence number).
//!
//! Layout, 18 characters over `0-9` and the upper-case letters other than I, O, S, V, Z:
//! position 1 registration authority, 2 organisation category, 3-8 the registration
//! authority's administrative division (digits, GB/T 2260; `100000` for central level), 9-17
//! the organisation code (GB 11714), 18 the check character
//! `C18 = 31 − (Σ Cᵢ·Wᵢ mod 31)` with `Wᵢ = 3^(i−1) mod 31` (31 is written `0`).
//!
//! Positions 1 and 2 are checked against the alphabet only: their tables grow by amendment
//! (GB 32100 has gained authorities since 2015), and the check character already catches the
//! typos a table would.

use serde::{Deserialize, Serialize};

use super::iso7064::{symbol_values, NOT_A_SYMBOL};
use super::region::is_registration_region;
use super::{bounded_trim, exact_len, part, IdError};

/// A valid 18-character unified social credit code.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CreditCode(String);

string_id!(CreditCode);

/// The code character set of GB 32100 Annex A, in value order (value = index).
const ALPHABET: &str = CreditCode::ALPHABET;

/// The value of each alphabet character, by ASCII code.
const VALUES: [u8; 128] = symbol_values(ALPHABET.as_bytes(), ALPHABET.len());

/// `3^(i−1) mod 31` for positions 1..=17.
const WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];

/// Positions (1-based) of the administrative division, which must be digits.
const DIVISION: std::ops::RangeInclusive<usize> = 3..=8;

impl CreditCode {
    /// Characters in a code.
    pub const LEN: usize = 18;
    /// Characters before the check character.
    pub const BODY_LEN: usize = 17;
    /// Byte limit on raw input, checked before anything else.
    pub const MAX_INPUT_LEN: usize = 64;
    /// The code character set of GB 32100 Annex A (no I, O, S, V, Z), in value order.
    pub const ALPHABET: &'static str = "0123456789ABCDEFGHJKLMNPQRTUWXY";

    /// Parses and validates a code, trimming surrounding whitespace and upper-casing letters.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let text = bounded_trim(input, Self::MAX_INPUT_LEN)?;
        exact_len(text, Self::LEN)?;
        let canonical = canonical_chars(text)?;
        let province = part(&canonical, 2..4);
        if !province.parse().is_ok_and(is_registration_region) {
            return Err(IdError::Region {
                found: province.to_owned(),
            });
        }
        let expected = check_for(part(&canonical, 0..Self::BODY_LEN));
        let found = canonical.chars().last().unwrap_or_default();
        if found != expected {
            return Err(IdError::CheckCharacter { expected, found });
        }
        Ok(CreditCode(canonical))
    }

    /// The check character for the first 17 characters.
    pub fn compute_check_char(body: &str) -> Result<char, IdError> {
        let body = bounded_trim(body, Self::MAX_INPUT_LEN)?;
        exact_len(body, Self::BODY_LEN)?;
        Ok(check_for(&canonical_chars(body)?))
    }

    /// Completes the first 17 characters with their check character and parses the result,
    /// for fixtures and demo data.
    pub fn with_check(body: &str) -> Result<Self, IdError> {
        let check = Self::compute_check_char(body)?;
        Self::parse(&format!("{}{check}", body.trim()))
    }

    /// The canonical 18-character code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Position 1: the registration authority (e.g. `9` market regulation, `1` public bodies).
    pub fn registration_authority(&self) -> char {
        self.0.chars().next().unwrap_or_default()
    }

    /// Position 2: the organisation category within that authority (e.g. `1` enterprise).
    pub fn category(&self) -> char {
        self.0.chars().nth(1).unwrap_or_default()
    }

    /// Positions 3-8: the registration authority's administrative division code.
    pub fn admin_division(&self) -> &str {
        part(&self.0, 2..8)
    }

    /// Positions 9-17: the organisation code (subject identifier).
    pub fn organisation_code(&self) -> &str {
        part(&self.0, 8..17)
    }

    /// Position 18: the check character.
    pub fn check_char(&self) -> char {
        self.0.chars().last().unwrap_or_default()
    }
}

/// Upper-cases `text` and checks every character against its position's set; errors name the
/// character as typed.
fn canonical_chars(text: &str) -> Result<String, IdError> {
    text.chars()
        .enumerate()
        .map(|(i, ch)| {
            let position = i + 1;
            let upper = ch.to_ascii_uppercase();
            let allowed = if DIVISION.contains(&position) {
                upper.is_ascii_digit()
            } else {
                value(upper).is_some()
            };
            if allowed {
                Ok(upper)
            } else {
                Err(IdError::Charset { position, ch })
            }
        })
        .collect()
}

/// The GB 32100 check character of a 17-character body already in the alphabet.
fn check_for(body: &str) -> char {
    let sum: u32 = body
        .chars()
        .zip(WEIGHTS)
        .map(|(ch, w)| value(ch).unwrap_or_default() * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    ALPHABET
        .as_bytes()
        .get(usize::try_from(check).unwrap_or_default())
        .map_or('\0', |&b| char::from(b))
}

/// The value of `ch` in the alphabet, if it is one of its characters.
fn value(ch: char) -> Option<u32> {
    match VALUES.get(ch as usize) {
        Some(&v) if v != NOT_A_SYMBOL => Some(u32::from(v)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::strategies::{credit_code, other_symbol};
    use proptest::prelude::*;

    /// Real codes as published: the example in the widely copied GB 32100 validation snippet, a
    /// company's code, and transport and government bodies' codes taken from published
    /// electronic licence identifiers.
    const PUBLISHED: &[&str] = &[
        "91350100M000100Y43",
        "91440300708461136T",
        "11100000000013338W",
        "11430000006122244L",
        "11220000013544541J",
        "11330105002500287C",
    ];

    #[test]
    fn published_codes_are_valid() {
        for code in PUBLISHED {
            let parsed = CreditCode::parse(code).unwrap();
            assert_eq!(parsed.as_str(), *code);
        }
    }

    #[test]
    fn parts_are_exposed() {
        let code = CreditCode::parse("91350100M000100Y43").unwrap();
        assert_eq!(code.registration_authority(), '9');
        assert_eq!(code.category(), '1');
        assert_eq!(code.admin_division(), "350100");
        assert_eq!(code.organisation_code(), "M000100Y4");
        assert_eq!(code.check_char(), '3');
    }

    #[test]
    fn check_computation_matches_published_codes() {
        for code in PUBLISHED {
            let (body, check) = code.split_at(17);
            assert_eq!(
                CreditCode::compute_check_char(body),
                Ok(check.chars().next().unwrap())
            );
            assert_eq!(CreditCode::with_check(body).unwrap().as_str(), *code);
        }
    }

    #[test]
    fn a_remainder_of_zero_gives_check_zero() {
        // All-zero body: sum 0, 31 − 0 = 31, written as '0'.
        assert_eq!(check_for("00000000000000000"), '0');
    }

    #[test]
    fn lower_case_is_normalised() {
        let code = CreditCode::parse(" 91350100m000100y43 ").unwrap();
        assert_eq!(code.as_str(), "91350100M000100Y43");
    }

    #[test]
    fn each_rule_has_its_error() {
        let err = |s: &str| CreditCode::parse(s).unwrap_err();
        assert_eq!(err(&"9".repeat(65)).rule(), "too_long");
        assert_eq!(
            err("91350100M000100Y4"),
            IdError::Length {
                expected: 18,
                found: 17
            }
        );
        assert_eq!(
            err("91350100M000100I43"),
            IdError::Charset {
                position: 16,
                ch: 'I'
            }
        );
        assert_eq!(
            err("9135A100M000100Y43"),
            IdError::Charset {
                position: 5,
                ch: 'A'
            }
        );
        assert_eq!(
            err("91350100M000100Y44"),
            IdError::CheckCharacter {
                expected: '3',
                found: '4'
            }
        );
        let body = "91990100M000100Y4";
        let check = CreditCode::compute_check_char(body).unwrap();
        assert_eq!(
            err(&format!("{body}{check}")),
            IdError::Region { found: "99".into() }
        );
    }

    #[test]
    fn serde_uses_the_string_and_the_parser() {
        let code = CreditCode::parse("91350100M000100Y43").unwrap();
        let json = serde_json::to_string(&code).unwrap();
        assert_eq!(json, "\"91350100M000100Y43\"");
        assert_eq!(serde_json::from_str::<CreditCode>(&json).unwrap(), code);
        assert!(serde_json::from_str::<CreditCode>("\"91350100M000100Y44\"").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(code in credit_code()) {
            prop_assert_eq!(&CreditCode::parse(code.as_str()).unwrap(), &code);
            let json = serde_json::to_string(&code).unwrap();
            prop_assert_eq!(serde_json::from_str::<CreditCode>(&json).unwrap(), code);
        }

        #[test]
        fn a_changed_character_fails(
            code in credit_code(), index in 0usize..18, shift in any::<usize>()
        ) {
            let alphabet = if DIVISION.contains(&(index + 1)) { "0123456789" } else { ALPHABET };
            let changed = other_symbol(code.as_str(), index, shift, alphabet);
            prop_assert!(CreditCode::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,30}") {
            let _ = CreditCode::parse(&text);
            let _ = CreditCode::compute_check_char(&text);
        }
    }
}

//! Vehicle identification numbers (ISO 3779, GB 16735), which tie a transport certificate to
//! one physical car whatever plate it carries.
//!
//! 17 characters: digits and upper-case letters except I, O and Q (too easily read as 1 and
//! 0). Position 9 is a check character: each character is transliterated to a number (digits
//! as themselves, A-H 1-8, J-N 1-5, P 7, R 9, S-Z 2-9), weighted by
//! 8,7,6,5,4,3,2,10,0,9,8,7,6,5,4,3,2, and the sum taken mod 11, with 10 written `X`.
//! ISO 3779 leaves the check optional (European VINs often lack it) but GB 16735 makes it
//! mandatory for vehicles sold in China, and every ride-hailing car is registered here, so it
//! is always enforced.
//!
//! Because several characters share a transliterated value (`A`, `J` and `1` are all 1), the
//! check cannot catch every substitution; it catches every change to a different value.

use serde::{Deserialize, Serialize};

use super::{bounded_trim, exact_len, part, IdError};

/// A valid 17-character VIN with a correct position-9 check character.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Vin(String);

string_id!(Vin);

/// Weight of each position; position 9 (the check itself) weighs nothing.
const WEIGHTS: [u32; 17] = [8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2];

impl Vin {
    /// Characters in a VIN.
    pub const LEN: usize = 17;
    /// 1-based position of the check character.
    pub const CHECK_POSITION: usize = 9;
    /// Byte limit on raw input, checked before anything else.
    pub const MAX_INPUT_LEN: usize = 64;

    /// Parses and validates a VIN, trimming surrounding whitespace and upper-casing letters.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let text = bounded_trim(input, Self::MAX_INPUT_LEN)?;
        exact_len(text, Self::LEN)?;
        let canonical = canonical_chars(text)?;
        let found = canonical
            .chars()
            .nth(Self::CHECK_POSITION - 1)
            .unwrap_or_default();
        if !(found.is_ascii_digit() || found == 'X') {
            return Err(IdError::Charset {
                position: Self::CHECK_POSITION,
                ch: found,
            });
        }
        let expected = check_for(&canonical);
        if found != expected {
            return Err(IdError::CheckCharacter { expected, found });
        }
        Ok(Vin(canonical))
    }

    /// The check character for a 17-character VIN; whatever stands in position 9 is ignored
    /// (it weighs 0), so a placeholder such as `0` will do.
    pub fn compute_check_char(vin: &str) -> Result<char, IdError> {
        let text = bounded_trim(vin, Self::MAX_INPUT_LEN)?;
        exact_len(text, Self::LEN)?;
        Ok(check_for(&canonical_chars(text)?))
    }

    /// Replaces position 9 of a 17-character VIN with its check character and parses the
    /// result, for fixtures and demo data.
    pub fn with_check(vin: &str) -> Result<Self, IdError> {
        let check = Self::compute_check_char(vin)?;
        let completed: String = vin
            .trim()
            .chars()
            .enumerate()
            .map(|(i, ch)| {
                if i + 1 == Self::CHECK_POSITION {
                    check
                } else {
                    ch
                }
            })
            .collect();
        Self::parse(&completed)
    }

    /// The canonical 17-character VIN.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Positions 1-3: world manufacturer identifier (`L` first for China).
    pub fn wmi(&self) -> &str {
        part(&self.0, 0..3)
    }

    /// Positions 4-9: vehicle descriptor section, including the check character.
    pub fn vds(&self) -> &str {
        part(&self.0, 3..9)
    }

    /// Positions 10-17: vehicle indicator section (model year, plant, serial).
    pub fn vis(&self) -> &str {
        part(&self.0, 9..17)
    }

    /// Position 9: the check character (`0`-`9` or `X`).
    pub fn check_char(&self) -> char {
        self.0
            .chars()
            .nth(Self::CHECK_POSITION - 1)
            .unwrap_or_default()
    }
}

/// Upper-cases `text`, refusing characters outside the VIN set; errors name the character as
/// typed.
fn canonical_chars(text: &str) -> Result<String, IdError> {
    text.chars()
        .enumerate()
        .map(|(i, ch)| {
            let upper = ch.to_ascii_uppercase();
            match transliterate(upper) {
                Some(_) => Ok(upper),
                None => Err(IdError::Charset {
                    position: i + 1,
                    ch,
                }),
            }
        })
        .collect()
}

/// The numeric value ISO 3779 gives a character; `None` for characters a VIN may not hold.
fn transliterate(ch: char) -> Option<u32> {
    match ch {
        '0'..='9' => ch.to_digit(10),
        'A'..='H' => Some(u32::from(ch) - u32::from('A') + 1),
        'J'..='N' => Some(u32::from(ch) - u32::from('J') + 1),
        'P' => Some(7),
        'R' => Some(9),
        'S'..='Z' => Some(u32::from(ch) - u32::from('S') + 2),
        _ => None,
    }
}

/// The check character of a 17-character string already in the VIN set.
fn check_for(vin: &str) -> char {
    let sum: u32 = vin
        .chars()
        .zip(WEIGHTS)
        .map(|(ch, w)| transliterate(ch).unwrap_or_default() * w)
        .sum();
    match sum % 11 {
        10 => 'X',
        r => char::from_digit(r, 10).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::strategies::vin;
    use proptest::prelude::*;

    /// The worked example used in the US regulation (49 CFR 565) and most VIN references.
    const CLASSIC: &str = "1M8GDM9AXKP042788";

    #[test]
    fn published_example_is_valid() {
        let vin = Vin::parse(CLASSIC).unwrap();
        assert_eq!(vin.check_char(), 'X');
        assert_eq!(vin.wmi(), "1M8");
        assert_eq!(vin.vds(), "GDM9AX");
        assert_eq!(vin.vis(), "KP042788");
        assert_eq!(Vin::compute_check_char(CLASSIC), Ok('X'));
    }

    #[test]
    fn computed_chinese_example() {
        // WMI LSV (SAIC Volkswagen); check computed by hand:
        // L3·8 + S2·7 + V5·6 + A1·5 + M4·4 + 4·3 + 1·2 + 8·10 + C3·9 + 2·8 + 1·7 + 8·6 + 4·5
        // + 8·4 + 4·3 + 7·2 = 359 = 32·11 + 7.
        let vin = Vin::with_check("LSVAM4180C2184847").unwrap();
        assert_eq!(vin.as_str(), "LSVAM4187C2184847");
        assert_eq!(vin.check_char(), '7');
    }

    #[test]
    fn a_vin_without_a_check_digit_is_refused() {
        // A European VIN, valid under ISO 3779 there, but position 9 is not a check digit.
        assert_eq!(
            Vin::parse("WP0ZZZ99ZTS392124"),
            Err(IdError::Charset {
                position: 9,
                ch: 'Z'
            })
        );
    }

    #[test]
    fn lower_case_is_normalised() {
        assert_eq!(Vin::parse(" 1m8gdm9axkp042788 ").unwrap().as_str(), CLASSIC);
    }

    #[test]
    fn each_rule_has_its_error() {
        let err = |s: &str| Vin::parse(s).unwrap_err();
        assert_eq!(err(&"1".repeat(65)).rule(), "too_long");
        assert_eq!(
            err("1M8GDM9AXKP04278"),
            IdError::Length {
                expected: 17,
                found: 16
            }
        );
        for banned in ['I', 'O', 'Q'] {
            let text = format!("1M8GDM9AXKP04278{banned}");
            assert_eq!(
                err(&text),
                IdError::Charset {
                    position: 17,
                    ch: banned
                }
            );
        }
        assert_eq!(
            err("1M8GDM9A1KP042788"),
            IdError::CheckCharacter {
                expected: 'X',
                found: '1'
            }
        );
    }

    #[test]
    fn serde_uses_the_string_and_the_parser() {
        let vin = Vin::parse(CLASSIC).unwrap();
        let json = serde_json::to_string(&vin).unwrap();
        assert_eq!(json, format!("\"{CLASSIC}\""));
        assert_eq!(serde_json::from_str::<Vin>(&json).unwrap(), vin);
        assert!(serde_json::from_str::<Vin>("\"1M8GDM9A1KP042788\"").is_err());
    }

    proptest! {
        #[test]
        fn round_trips(vin in vin()) {
            prop_assert_eq!(&Vin::parse(vin.as_str()).unwrap(), &vin);
            let json = serde_json::to_string(&vin).unwrap();
            prop_assert_eq!(serde_json::from_str::<Vin>(&json).unwrap(), vin);
        }

        #[test]
        fn a_character_changed_to_another_value_fails(
            vin in vin(), index in 0usize..17, replacement in "[0-9A-HJ-NPR-Z]"
        ) {
            let new = replacement.chars().next().unwrap();
            let old = vin.as_str().chars().nth(index).unwrap();
            prop_assume!(transliterate(new) != transliterate(old));
            let changed: String = vin
                .as_str()
                .chars()
                .enumerate()
                .map(|(i, ch)| if i == index { new } else { ch })
                .collect();
            prop_assert!(Vin::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,30}") {
            let _ = Vin::parse(&text);
            let _ = Vin::compute_check_char(&text);
        }
    }
}

//! Licence numbers: the electronic licence identifier (电子证照标识) of GB/T 36904-2018, which is
//! what every licence this registry issues is known by, in the ledger, on credentials and in
//! other government systems.
//!
//! # Structure implemented
//!
//! ```text
//! 1.2.156.3005.2 . 11100000000013338W902 . 11350200MB00000004 . 0000123456 . 001 . E
//! root OID         licence type code       issuing authority    serial       ver.  check
//! ```
//!
//! * root code `1.2.156.3005.2`, fixed for all Chinese electronic licences;
//! * licence type code, 21 characters: the defining body's credit code and a 3-digit number
//!   (ours are in `kind.rs`, with their caveat);
//! * issuing authority code: the issuer's 18-character unified social credit code;
//! * serial (流水号): the standard lets each issuer choose; this profile uses exactly
//!   [`LicenceNumber::SERIAL_DIGITS`] decimal digits, zero-padded, so every number has one
//!   spelling and one length (72 characters);
//! * version: 3 digits, `001` for the first issue, raised on re-issue;
//! * check character: ISO/IEC 7064 MOD 37,36 (GB/T 17710) over type code + issuer + serial +
//!   version concatenated without the root or the dots.
//!
//! Source: the GB/T 36904-2018 text itself was not available, so the structure was confirmed
//! from several independent public implementations of it by Chinese e-government systems
//! (their code comments spell out "电子证照根代码.证照类型代码.证照颁发机构代码.流水号.版本号.
//! 校验位", the fixed root `1.2.156.3005.2`, the 3-digit version and the MOD 37,36 check), and
//! by checking our MOD 37,36 against identifiers they published: e.g.
//! `1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U` verifies (see
//! the tests here and in `iso7064.rs`). Those identifiers use serials of 7 to 32 characters;
//! fixing ours at 10 digits is our profile's choice, within the standard.

use serde::{Deserialize, Serialize};

use super::iso7064::MOD_37_36;
use super::short_serial::ShortSerial;
use super::{bounded_trim, exact_len, part, CreditCode, IdError, LicenceKind};

/// A valid licence number in canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LicenceNumber {
    text: String,
    kind: LicenceKind,
    issuer: CreditCode,
    serial: u64,
    version: u8,
}

string_id!(LicenceNumber);

/// Root code of Chinese electronic licence identifiers, with its trailing separator.
const ROOT_PREFIX: &str = LicenceNumber::ROOT_PREFIX;

// Byte offsets of each part (the text is ASCII once parsed).
const TYPE_START: usize = ROOT_PREFIX.len();
const TYPE_END: usize = TYPE_START + LicenceKind::TYPE_CODE_LEN;
const ISSUER_START: usize = TYPE_END + 1;
const ISSUER_END: usize = ISSUER_START + CreditCode::LEN;
const SERIAL_START: usize = ISSUER_END + 1;
const SERIAL_END: usize = SERIAL_START + LicenceNumber::SERIAL_DIGITS;
const VERSION_START: usize = SERIAL_END + 1;
const VERSION_END: usize = VERSION_START + LicenceNumber::VERSION_DIGITS;
const CHECK_AT: usize = VERSION_END + 1;

// The serial bound is exactly what its digits can spell.
const _: () =
    assert!(LicenceNumber::MAX_SERIAL + 1 == 10u64.pow(LicenceNumber::SERIAL_DIGITS as u32));

impl LicenceNumber {
    /// Root code of Chinese electronic licence identifiers, with its trailing separator.
    pub const ROOT_PREFIX: &'static str = "1.2.156.3005.2.";
    /// Digits in the serial.
    pub const SERIAL_DIGITS: usize = 10;
    /// Largest serial: ten digits leave a thousand-fold margin over the ~10 million licences
    /// expected nationally, even if one issuer numbers every kind from one counter.
    pub const MAX_SERIAL: u64 = 9_999_999_999;
    /// Digits in the version.
    pub const VERSION_DIGITS: usize = 3;
    /// First version of a licence.
    pub const MIN_VERSION: u8 = 1;
    /// Last version a `u8` can carry (the field itself could hold 999).
    pub const MAX_VERSION: u8 = u8::MAX;
    /// Characters in a licence number.
    pub const LEN: usize = CHECK_AT + 1;
    /// Byte limit on raw input, checked before anything else.
    pub const MAX_INPUT_LEN: usize = 128;

    /// The number for `serial` (at most [`Self::MAX_SERIAL`]) and `version` (at least 1) of a
    /// `kind` of licence issued by `issuer`, with its check character computed.
    pub fn new(
        kind: LicenceKind,
        issuer: &CreditCode,
        serial: u64,
        version: u8,
    ) -> Result<Self, IdError> {
        check_serial(serial)?;
        check_version(version)?;
        Ok(Self::assemble(kind, issuer.clone(), serial, version))
    }

    /// The same licence re-issued as `version`.
    pub fn with_version(&self, version: u8) -> Result<Self, IdError> {
        Self::new(self.kind, &self.issuer, self.serial, version)
    }

    /// Builds the text from parts whose ranges were already checked.
    pub(crate) fn assemble(
        kind: LicenceKind,
        issuer: CreditCode,
        serial: u64,
        version: u8,
    ) -> Self {
        let payload = format!("{}{}{serial:010}{version:03}", kind.type_code(), issuer);
        // Every part is drawn from 0-9A-Z, so `compute` cannot fail; the fallback would only
        // produce a number that fails its own check, never a panic.
        let check = MOD_37_36.compute(&payload).unwrap_or('\u{FFFD}');
        let text = format!(
            "{ROOT_PREFIX}{}.{}.{serial:010}.{version:03}.{check}",
            kind.type_code(),
            issuer
        );
        LicenceNumber {
            text,
            kind,
            issuer,
            serial,
            version,
        }
    }

    /// Parses and validates a number, trimming surrounding whitespace and upper-casing letters.
    /// Typos are reported as `check_character`; a well-formed number of another licence type
    /// as `unknown_code`.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let text = bounded_trim(input, Self::MAX_INPUT_LEN)?;
        exact_len(text, Self::LEN)?;
        let text = text.to_ascii_uppercase();
        check_layout(&text)?;
        let expected = MOD_37_36.compute_parts(&[
            part(&text, TYPE_START..TYPE_END),
            part(&text, ISSUER_START..ISSUER_END),
            part(&text, SERIAL_START..SERIAL_END),
            part(&text, VERSION_START..VERSION_END),
        ])?;
        let found = text.chars().last().unwrap_or_default();
        if found != expected {
            return Err(IdError::CheckCharacter { expected, found });
        }
        let issuer = CreditCode::parse(part(&text, ISSUER_START..ISSUER_END))
            .map_err(|e| e.shifted(ISSUER_START))?;
        let type_code = part(&text, TYPE_START..TYPE_END);
        let kind = LicenceKind::from_type_code(type_code).ok_or_else(|| IdError::UnknownCode {
            found: type_code.to_owned(),
        })?;
        let serial = digits_value(part(&text, SERIAL_START..SERIAL_END));
        let version = digits_value(part(&text, VERSION_START..VERSION_END));
        let version = u8::try_from(version).map_err(|_| version_range(version))?;
        check_version(version)?;
        Ok(LicenceNumber {
            text,
            kind,
            issuer,
            serial,
            version,
        })
    }

    /// The serial and version that `text` carries if it is laid out as a canonical number, read
    /// from their positions and nothing else checked: for finding a stored number that the
    /// caller then compares with `text` in full. Equal to a number the registry issued, `text`
    /// is that number; any other text finds nothing, as it would if parsed (a status lookup
    /// spent a tenth of its CPU checking characters the comparison checks anyway).
    pub fn locate(text: &str) -> Option<(u64, u8)> {
        if text.len() != Self::LEN || !text.is_ascii() {
            return None;
        }
        let digits = |range: std::ops::Range<usize>| {
            let part = text.get(range)?;
            part.bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits_value(part))
        };
        let serial = digits(SERIAL_START..SERIAL_END)?;
        let version = u8::try_from(digits(VERSION_START..VERSION_END)?).ok()?;
        Some((serial, version))
    }

    /// The canonical 72-character number.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which licence this numbers.
    pub fn kind(&self) -> LicenceKind {
        self.kind
    }

    /// The issuing authority.
    pub fn issuer(&self) -> &CreditCode {
        &self.issuer
    }

    /// The serial within the issuer.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The version (1 for the first issue).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The MOD 37,36 check character.
    pub fn check_char(&self) -> char {
        self.text.chars().last().unwrap_or_default()
    }

    /// The compact form for QR codes; the issuer is left out and supplied again by
    /// [`ShortSerial::to_licence_number`].
    pub fn short_serial(&self) -> ShortSerial {
        ShortSerial::assemble(self.kind, self.serial, self.version)
    }
}

pub(crate) fn check_serial(serial: u64) -> Result<(), IdError> {
    if serial > LicenceNumber::MAX_SERIAL {
        return Err(IdError::Range {
            min: 0,
            max: LicenceNumber::MAX_SERIAL,
            found: serial,
        });
    }
    Ok(())
}

pub(crate) fn check_version(version: u8) -> Result<(), IdError> {
    if version < LicenceNumber::MIN_VERSION {
        return Err(version_range(u64::from(version)));
    }
    Ok(())
}

fn version_range(found: u64) -> IdError {
    IdError::Range {
        min: u64::from(LicenceNumber::MIN_VERSION),
        max: u64::from(LicenceNumber::MAX_VERSION),
        found,
    }
}

/// Value of a run of ASCII digits already checked. Our runs are at most 10 digits; saturating
/// keeps a longer one from overflowing, and the saturated value then fails a range check.
pub(crate) fn digits_value(digits: &str) -> u64 {
    digits.bytes().fold(0, |acc: u64, b| {
        acc.saturating_mul(10)
            .saturating_add(u64::from(b.wrapping_sub(b'0')))
    })
}

/// Checks the root, the separators and each part's character set, so later slicing is on
/// ASCII boundaries. `text` is upper-cased and has exactly `LEN` characters.
fn check_layout(text: &str) -> Result<(), IdError> {
    let separators = [TYPE_END, ISSUER_END, SERIAL_END, VERSION_END];
    let digits = SERIAL_START..VERSION_END;
    for ((i, ch), expected_root) in text
        .chars()
        .enumerate()
        .zip(ROOT_PREFIX.chars().map(Some).chain(std::iter::repeat(None)))
    {
        let position = i + 1;
        if let Some(root) = expected_root {
            if ch != root {
                return Err(IdError::Structure {
                    position,
                    expected: "the root code \"1.2.156.3005.2.\"",
                });
            }
        } else if separators.contains(&i) {
            if ch != '.' {
                return Err(IdError::Structure {
                    position,
                    expected: "'.'",
                });
            }
        } else if !(ch.is_ascii_digit() || (!digits.contains(&i) && ch.is_ascii_uppercase())) {
            return Err(IdError::Charset { position, ch });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::strategies::{credit_code, licence_number, other_symbol};
    use proptest::prelude::*;

    fn xiamen() -> CreditCode {
        CreditCode::with_check("11350200MB0000000").unwrap()
    }

    proptest! {
        #[test]
        fn locate_reads_what_parse_reads(number in licence_number()) {
            prop_assert_eq!(
                LicenceNumber::locate(number.as_str()),
                Some((number.serial(), number.version()))
            );
        }
    }

    #[test]
    fn locate_needs_the_layout_only() {
        let number = LicenceNumber::new(LicenceKind::Vehicle, &xiamen(), 123_456, 7).unwrap();
        let text = number.as_str();
        assert_eq!(LicenceNumber::locate(text), Some((123_456, 7)));
        assert_eq!(LicenceNumber::locate(&text[1..]), None, "too short");
        assert_eq!(LicenceNumber::locate(&format!("{text}0")), None, "too long");
        let letter_in_serial = format!("{}X{}", &text[..SERIAL_START], &text[SERIAL_START + 1..]);
        assert_eq!(LicenceNumber::locate(&letter_in_serial), None);
        let huge_version = format!("{}999{}", &text[..VERSION_START], &text[VERSION_END..]);
        assert_eq!(LicenceNumber::locate(&huge_version), None);
    }

    #[test]
    fn layout_is_as_documented() {
        let number = LicenceNumber::new(LicenceKind::Vehicle, &xiamen(), 123_456, 1).unwrap();
        let text = number.as_str();
        assert_eq!(text.len(), 72);
        assert_eq!(LicenceNumber::LEN, 72);
        let parts: Vec<&str> = text.split('.').collect();
        assert_eq!(&parts[..5], ["1", "2", "156", "3005", "2"]);
        assert_eq!(parts[5], "11100000000013338W902");
        assert_eq!(parts[6], xiamen().as_str());
        assert_eq!(parts[7], "0000123456");
        assert_eq!(parts[8], "001");
        let payload = parts[5..9].concat();
        assert_eq!(parts[9], MOD_37_36.compute(&payload).unwrap().to_string());
        assert_eq!(number.kind(), LicenceKind::Vehicle);
        assert_eq!(number.issuer(), &xiamen());
        assert_eq!(number.serial(), 123_456);
        assert_eq!(number.version(), 1);
        assert_eq!(LicenceNumber::parse(text).unwrap(), number);
        // The example in the module header, pinned so a format change cannot go unnoticed.
        assert_eq!(
            text,
            "1.2.156.3005.2.11100000000013338W902.11350200MB00000004.0000123456.001.E"
        );
    }

    #[test]
    fn published_identifier_verifies_with_our_check() {
        // A real identifier published by a provincial system (another licence type, so it is
        // not a `LicenceNumber` for us), checked the way `parse` checks ours.
        let published = "1.2.156.3005.2.11100000000013338W011.11430000006122244L.20230000403.001.U";
        let parts: Vec<&str> = published.split('.').collect();
        let payload = parts[5..9].concat();
        assert_eq!(MOD_37_36.compute(&payload), Ok('U'));
        assert!(CreditCode::parse(parts[6]).is_ok());
        assert_eq!(
            LicenceNumber::parse(published),
            Err(IdError::Length {
                expected: 72,
                found: published.len()
            })
        );
    }

    #[test]
    fn ranges_are_enforced() {
        let issuer = xiamen();
        let max = LicenceNumber::new(LicenceKind::Driver, &issuer, LicenceNumber::MAX_SERIAL, 255);
        assert_eq!(max.unwrap().serial(), 9_999_999_999);
        let err = LicenceNumber::new(LicenceKind::Driver, &issuer, 10_000_000_000, 1).unwrap_err();
        assert_eq!(err.rule(), "range");
        let err = LicenceNumber::new(LicenceKind::Driver, &issuer, 1, 0).unwrap_err();
        assert_eq!(
            err,
            IdError::Range {
                min: 1,
                max: 255,
                found: 0
            }
        );
    }

    #[test]
    fn re_issue_changes_version_and_check_only() {
        let first = LicenceNumber::new(LicenceKind::Driver, &xiamen(), 42, 1).unwrap();
        let second = first.with_version(2).unwrap();
        assert_eq!(second.version(), 2);
        assert_eq!(second.serial(), 42);
        assert_ne!(first, second);
        assert_eq!(&second.as_str()[..66], &first.as_str()[..66]);
    }

    /// A number with its text edited at `at` and the check character recomputed, so the error
    /// is about the edit rather than the check.
    fn edited(at: std::ops::Range<usize>, with: &str) -> String {
        let number = LicenceNumber::new(LicenceKind::Platform, &xiamen(), 7, 1).unwrap();
        let mut text = number.as_str().to_owned();
        text.replace_range(at, with);
        let payload: String = text[15..70].chars().filter(|c| *c != '.').collect();
        let check = MOD_37_36.compute(&payload).unwrap();
        text.replace_range(71.., &check.to_string());
        text
    }

    #[test]
    fn each_rule_has_its_error() {
        let err = |s: &str| LicenceNumber::parse(s).unwrap_err();
        let good = LicenceNumber::new(LicenceKind::Platform, &xiamen(), 7, 1).unwrap();
        let good = good.as_str();
        assert_eq!(err(&"1".repeat(129)).rule(), "too_long");
        assert_eq!(err(&good[..71]).rule(), "length");
        let wrong_root = good.replacen("3005", "3003", 1);
        assert_eq!(
            err(&wrong_root),
            IdError::Structure {
                position: 12,
                expected: "the root code \"1.2.156.3005.2.\""
            }
        );
        let mut no_dot = good.to_owned();
        no_dot.replace_range(36..37, "-");
        assert_eq!(err(&no_dot).rule(), "structure");
        let mut letter_in_serial = good.to_owned();
        letter_in_serial.replace_range(60..61, "A");
        assert_eq!(
            err(&letter_in_serial),
            IdError::Charset {
                position: 61,
                ch: 'A'
            }
        );
        let mut typo = good.to_owned();
        typo.replace_range(60..61, "9");
        assert_eq!(err(&typo).rule(), "check_character");
        assert_eq!(
            err(&edited(15..36, "11100000000013338W001")),
            IdError::UnknownCode {
                found: "11100000000013338W001".into()
            }
        );
        // The issuer is checked as a credit code of its own.
        let issuer_check = if good.as_bytes()[54] == b'1' {
            "2"
        } else {
            "1"
        };
        assert_eq!(err(&edited(54..55, issuer_check)).rule(), "check_character");
        assert_eq!(
            err(&edited(39..41, "99")),
            IdError::Region { found: "99".into() }
        );
        assert_eq!(
            err(&edited(44..45, "I")),
            IdError::Charset {
                position: 45,
                ch: 'I'
            },
            "issuer positions are reported within the whole number"
        );
        assert_eq!(err(&edited(67..70, "000")).rule(), "range");
        assert_eq!(err(&edited(67..70, "256")).rule(), "range");
    }

    #[test]
    fn lower_case_and_space_are_normalised() {
        let number = LicenceNumber::new(LicenceKind::Driver, &xiamen(), 99, 3).unwrap();
        let typed = format!("  {}\t", number.as_str().to_ascii_lowercase());
        assert_eq!(LicenceNumber::parse(&typed).unwrap(), number);
    }

    #[test]
    fn serde_uses_the_string_and_the_parser() {
        let number = LicenceNumber::new(LicenceKind::Driver, &xiamen(), 5, 1).unwrap();
        let json = serde_json::to_string(&number).unwrap();
        assert_eq!(json, format!("\"{}\"", number.as_str()));
        assert_eq!(
            serde_json::from_str::<LicenceNumber>(&json).unwrap(),
            number
        );
        let broken = json.replacen("0000000005", "0000000006", 1);
        assert!(serde_json::from_str::<LicenceNumber>(&broken).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(number in licence_number()) {
            prop_assert_eq!(&LicenceNumber::parse(number.as_str()).unwrap(), &number);
            let json = serde_json::to_string(&number).unwrap();
            prop_assert_eq!(serde_json::from_str::<LicenceNumber>(&json).unwrap(), number);
        }

        #[test]
        fn new_then_accessors_give_the_parts_back(
            issuer in credit_code(),
            kind in prop::sample::select(LicenceKind::ALL.to_vec()),
            serial in 0..=LicenceNumber::MAX_SERIAL,
            version in 1u8..=255,
        ) {
            let number = LicenceNumber::new(kind, &issuer, serial, version).unwrap();
            prop_assert_eq!(number.kind(), kind);
            prop_assert_eq!(number.issuer(), &issuer);
            prop_assert_eq!(number.serial(), serial);
            prop_assert_eq!(number.version(), version);
        }

        #[test]
        fn a_changed_character_fails(
            number in licence_number(), index in 15usize..72, shift in any::<usize>()
        ) {
            prop_assume!(![36, 55, 66, 70].contains(&index));
            let digits_only = (56..70).contains(&index);
            let alphabet = if digits_only { "0123456789" } else { "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" };
            let changed = other_symbol(number.as_str(), index, shift, alphabet);
            prop_assert!(LicenceNumber::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
            let _ = LicenceNumber::parse(&text);
            let _ = LicenceNumber::parse(&format!("{ROOT_PREFIX}{text}"));
        }
    }
}

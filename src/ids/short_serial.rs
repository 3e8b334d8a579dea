//! The short serial: a licence number without its constant and issuer parts, small enough for
//! a QR code a phone camera reads at arm's length, and for the `cti` claim of a credential.
//!
//! The full number is 72 characters, of which 36 are the same for every licence of an issuer
//! (root code, type-code definer, issuer) and only kind, serial and version vary. The short
//! serial keeps just those:
//!
//! ```text
//! V 0000123456 001 Y
//! │ │          │   └ ISO 7064 MOD 37,36 check over the 14 characters before it
//! │ │          └ version, 3 digits
//! │ └ serial, 10 digits
//! └ kind letter: D driver, V vehicle, P platform
//! ```
//!
//! 15 characters, all in the QR alphanumeric set. It has its own check character because it is
//! typed and scanned on its own. Given the issuer, which a verifier learns from the signed
//! credential or its registry, it maps back to exactly one full number, and the full number
//! maps to exactly one short serial.
//!
//! The binary form for CBOR is 7 bytes: kind code, version, serial as a 40-bit big-endian
//! integer. It carries no check byte: inside a signed credential the signature covers it.

use serde::{Deserialize, Serialize};

use super::iso7064::MOD_37_36;
use super::licence_number::{check_serial, check_version, digits_value};
use super::{bounded_trim, exact_chars, part, CreditCode, IdError, LicenceKind, LicenceNumber};

/// A valid short serial.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ShortSerial {
    text: String,
    kind: LicenceKind,
    serial: u64,
    version: u8,
}

string_id!(ShortSerial);

const SERIAL_START: usize = 1;
const SERIAL_END: usize = SERIAL_START + LicenceNumber::SERIAL_DIGITS;
const VERSION_END: usize = SERIAL_END + LicenceNumber::VERSION_DIGITS;

/// Bytes of the serial in the binary form; 2^40 > `MAX_SERIAL`.
const SERIAL_BYTES: usize = 5;

// The sizes promised to the QR and CBOR encoders, and the serial fitting its bytes.
const _: () = assert!(ShortSerial::LEN <= 16 && ShortSerial::BYTES_LEN <= 10);
const _: () = assert!(LicenceNumber::MAX_SERIAL < 1 << (8 * SERIAL_BYTES));

impl ShortSerial {
    /// Characters in a short serial.
    pub const LEN: usize = VERSION_END + 1;
    /// Bytes in the binary form.
    pub const BYTES_LEN: usize = 2 + SERIAL_BYTES;
    /// Byte limit on raw input, checked before anything else.
    pub const MAX_INPUT_LEN: usize = 32;

    /// The short serial for a serial (at most `LicenceNumber::MAX_SERIAL`) and version (at
    /// least 1) of a kind of licence.
    pub fn new(kind: LicenceKind, serial: u64, version: u8) -> Result<Self, IdError> {
        check_serial(serial)?;
        check_version(version)?;
        Ok(Self::assemble(kind, serial, version))
    }

    /// Builds the text from parts whose ranges were already checked.
    pub(crate) fn assemble(kind: LicenceKind, serial: u64, version: u8) -> Self {
        let body = format!("{}{serial:010}{version:03}", kind.letter());
        // Letter and digits only, so `compute` cannot fail; see `LicenceNumber::assemble`.
        let check = MOD_37_36.compute(&body).unwrap_or('\u{FFFD}');
        ShortSerial {
            text: format!("{body}{check}"),
            kind,
            serial,
            version,
        }
    }

    /// Parses and validates a short serial, trimming surrounding whitespace and upper-casing
    /// letters.
    /// The serial and version `text` carries if it is laid out as a short serial, read from
    /// their positions and nothing else checked; see [`LicenceNumber::locate`], whose contract
    /// this shares: the caller compares what it finds with `text` in full.
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
        let version = u8::try_from(digits(SERIAL_END..VERSION_END)?).ok()?;
        Some((serial, version))
    }

    pub fn parse(input: &str) -> Result<Self, IdError> {
        let text = bounded_trim(input, Self::MAX_INPUT_LEN)?;
        let chars = exact_chars(text, Self::LEN)?;
        for (i, &ch) in chars.iter().enumerate() {
            let allowed = match i {
                0 => LicenceKind::from_letter(ch.to_ascii_uppercase()).is_some(),
                i if i < VERSION_END => ch.is_ascii_digit(),
                _ => ch.is_ascii_alphanumeric(),
            };
            if !allowed {
                return Err(IdError::Charset {
                    position: i + 1,
                    ch,
                });
            }
        }
        let text = text.to_ascii_uppercase();
        MOD_37_36.verify(&text)?;
        let kind = text
            .chars()
            .next()
            .and_then(LicenceKind::from_letter)
            .ok_or(IdError::Structure {
                position: 1,
                expected: "a licence kind letter",
            })?;
        let serial = digits_value(part(&text, SERIAL_START..SERIAL_END));
        let version = digits_value(part(&text, SERIAL_END..VERSION_END));
        let version = u8::try_from(version).map_err(|_| IdError::Range {
            min: u64::from(LicenceNumber::MIN_VERSION),
            max: u64::from(LicenceNumber::MAX_VERSION),
            found: version,
        })?;
        check_version(version)?;
        Ok(ShortSerial {
            text,
            kind,
            serial,
            version,
        })
    }

    /// The canonical 15-character form.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Which licence this numbers.
    pub fn kind(&self) -> LicenceKind {
        self.kind
    }

    /// The serial within the issuer.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The version (1 for the first issue).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The full licence number, given the issuer the short serial was issued under.
    pub fn to_licence_number(&self, issuer: &CreditCode) -> LicenceNumber {
        LicenceNumber::assemble(self.kind, issuer.clone(), self.serial, self.version)
    }

    /// The 7-byte binary form: kind code, version, serial as 40-bit big-endian.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(Self::BYTES_LEN);
        bytes.push(self.kind.code());
        bytes.push(self.version);
        let serial = self.serial.to_be_bytes();
        bytes.extend(serial.iter().skip(serial.len() - SERIAL_BYTES));
        bytes
    }

    /// Parses the binary form, refusing any other length, unknown kinds and out-of-range values.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdError> {
        let &[kind, version, s0, s1, s2, s3, s4] = bytes else {
            return Err(IdError::Length {
                expected: Self::BYTES_LEN,
                found: bytes.len(),
            });
        };
        let kind = LicenceKind::from_code(kind).ok_or_else(|| IdError::UnknownCode {
            found: kind.to_string(),
        })?;
        let serial = u64::from_be_bytes([0, 0, 0, s0, s1, s2, s3, s4]);
        Self::new(kind, serial, version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::strategies::{credit_code, licence_number, other_symbol};
    use proptest::prelude::*;

    fn issuer() -> CreditCode {
        CreditCode::with_check("11350200MB0000000").unwrap()
    }

    #[test]
    fn layout_is_as_documented() {
        let short = ShortSerial::new(LicenceKind::Vehicle, 123_456, 1).unwrap();
        assert_eq!(short.as_str().len(), 15);
        assert!(short.as_str().len() <= 16);
        assert_eq!(&short.as_str()[..14], "V0000123456001");
        assert_eq!(
            short.as_str()[14..],
            MOD_37_36.compute("V0000123456001").unwrap().to_string()
        );
        assert_eq!(short.to_bytes(), [2, 1, 0x00, 0x00, 0x01, 0xE2, 0x40]);
        // The example in the module header, pinned so a format change cannot go unnoticed.
        assert_eq!(short.as_str(), "V0000123456001Y");
    }

    #[test]
    fn maps_to_and_from_the_full_number() {
        let number = LicenceNumber::new(LicenceKind::Driver, &issuer(), 77, 4).unwrap();
        let short = number.short_serial();
        assert_eq!(short.kind(), LicenceKind::Driver);
        assert_eq!(short.serial(), 77);
        assert_eq!(short.version(), 4);
        assert_eq!(short.to_licence_number(&issuer()), number);
    }

    #[test]
    fn binary_form_limits() {
        let max = ShortSerial::new(LicenceKind::Platform, LicenceNumber::MAX_SERIAL, 255).unwrap();
        assert_eq!(max.to_bytes().len(), ShortSerial::BYTES_LEN);
        assert_eq!(ShortSerial::from_bytes(&max.to_bytes()).unwrap(), max);
        let err = |b: &[u8]| ShortSerial::from_bytes(b).unwrap_err();
        assert_eq!(
            err(&[1, 1, 0, 0, 0, 0]),
            IdError::Length {
                expected: 7,
                found: 6
            }
        );
        assert_eq!(err(&[]).rule(), "length");
        assert_eq!(
            err(&[4, 1, 0, 0, 0, 0, 1]),
            IdError::UnknownCode { found: "4".into() }
        );
        assert_eq!(err(&[1, 0, 0, 0, 0, 0, 1]).rule(), "range");
        // 0xFF_FFFF_FFFF is over ten digits.
        assert_eq!(err(&[1, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).rule(), "range");
    }

    #[test]
    fn each_rule_has_its_error() {
        let good = ShortSerial::new(LicenceKind::Driver, 12, 1).unwrap();
        let good = good.as_str();
        let err = |s: &str| ShortSerial::parse(s).unwrap_err();
        assert_eq!(err(&"D".repeat(33)).rule(), "too_long");
        assert_eq!(err(&good[..14]).rule(), "length");
        assert_eq!(
            err(&format!("X{}", &good[1..])),
            IdError::Charset {
                position: 1,
                ch: 'X'
            }
        );
        assert_eq!(
            err(&format!("{}A{}", &good[..5], &good[6..])),
            IdError::Charset {
                position: 6,
                ch: 'A'
            }
        );
        assert_eq!(
            err(&format!("{}9{}", &good[..5], &good[6..])).rule(),
            "check_character"
        );
        let body = "D0000000012000";
        let check = MOD_37_36.compute(body).unwrap();
        assert_eq!(err(&format!("{body}{check}")).rule(), "range");
        let body = "D0000000012256";
        let check = MOD_37_36.compute(body).unwrap();
        assert_eq!(
            err(&format!("{body}{check}")),
            IdError::Range {
                min: 1,
                max: 255,
                found: 256
            }
        );
    }

    #[test]
    fn lower_case_is_normalised() {
        let short = ShortSerial::new(LicenceKind::Platform, 3, 1).unwrap();
        let typed = format!(" {} ", short.as_str().to_ascii_lowercase());
        assert_eq!(ShortSerial::parse(&typed).unwrap(), short);
    }

    #[test]
    fn serde_uses_the_string_and_the_parser() {
        let short = ShortSerial::new(LicenceKind::Vehicle, 9, 2).unwrap();
        let json = serde_json::to_string(&short).unwrap();
        assert_eq!(json, format!("\"{}\"", short.as_str()));
        assert_eq!(serde_json::from_str::<ShortSerial>(&json).unwrap(), short);
        let mut wrong = short.as_str().to_owned();
        let other = if wrong.ends_with('0') { "1" } else { "0" };
        wrong.replace_range(14.., other);
        assert!(serde_json::from_str::<ShortSerial>(&format!("\"{wrong}\"")).is_err());
    }

    proptest! {
        #[test]
        fn text_and_bytes_round_trip(number in licence_number()) {
            let short = number.short_serial();
            prop_assert_eq!(&ShortSerial::parse(short.as_str()).unwrap(), &short);
            prop_assert_eq!(&ShortSerial::from_bytes(&short.to_bytes()).unwrap(), &short);
            prop_assert_eq!(short.to_licence_number(number.issuer()), number);
            prop_assert_eq!(
                ShortSerial::locate(short.as_str()),
                Some((short.serial(), short.version()))
            );
        }

        #[test]
        fn distinct_numbers_have_distinct_short_forms(
            a in licence_number(), b in licence_number(), issuer in credit_code()
        ) {
            let a = a.short_serial().to_licence_number(&issuer);
            let b = b.short_serial().to_licence_number(&issuer);
            prop_assert_eq!(a == b, a.short_serial() == b.short_serial());
            prop_assert_eq!(a == b, a.short_serial().to_bytes() == b.short_serial().to_bytes());
        }

        #[test]
        fn a_changed_character_fails(
            number in licence_number(), index in 0usize..15, shift in any::<usize>()
        ) {
            let short = number.short_serial();
            let alphabet = match index {
                0 => "DVP",
                14 => "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                _ => "0123456789",
            };
            let changed = other_symbol(short.as_str(), index, shift, alphabet);
            prop_assert!(ShortSerial::parse(&changed).is_err(), "{} accepted", changed);
        }

        #[test]
        fn arbitrary_input_never_panics(text in "\\PC{0,20}", bytes in prop::collection::vec(any::<u8>(), 0..12)) {
            let _ = ShortSerial::parse(&text);
            let _ = ShortSerial::from_bytes(&bytes);
        }
    }
}

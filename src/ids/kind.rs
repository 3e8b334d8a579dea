//! The three licences a city issues under the 2016 ride-hailing rules, and every code that
//! names them: the API word, the one-byte CBOR code, the letter of the short serial and the
//! GB/T 36904 licence type code inside the licence number. Keeping all of them in one enum
//! means adding a kind is one edit and no two encodings can drift apart.
//!
//! GB/T 36904 licence type codes are 21 characters: the unified social credit code of the body
//! that defines the licence type, then a 3-digit number it assigns. The defining body used here,
//! `11100000000013338W`, is the one in front of every national-catalogue type code found in
//! published identifiers. The 3-digit numbers `901`-`903` are PLACEHOLDERS chosen by this
//! project, clear of the low numbers seen in use: the national catalogue numbers for these three
//! licences could not be confirmed. They are covered by every licence number's check character,
//! so they must be settled before the first real licence is issued.

use std::fmt;
use std::str::FromStr;

use super::IdError;

/// Which licence a number, record or credential is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LicenceKind {
    /// 网络预约出租汽车驾驶员证: the driver's certificate.
    Driver,
    /// 网络预约出租汽车运输证: the vehicle's transport certificate.
    Vehicle,
    /// 网络预约出租汽车经营许可证: the platform company's operating permit.
    Platform,
}

crate::text_enum::serde_as_text!(LicenceKind, LicenceKind::ALL);

const DRIVER_TYPE_CODE: &str = "11100000000013338W901";
const VEHICLE_TYPE_CODE: &str = "11100000000013338W902";
const PLATFORM_TYPE_CODE: &str = "11100000000013338W903";

impl LicenceKind {
    /// Every kind, in code order.
    pub const ALL: [LicenceKind; 3] = [
        LicenceKind::Driver,
        LicenceKind::Vehicle,
        LicenceKind::Platform,
    ];
    /// Unified social credit code of the body defining the licence types (see the module
    /// header).
    pub const TYPE_CODE_DEFINER: &'static str = "11100000000013338W";
    /// Characters in a GB/T 36904 licence type code.
    pub const TYPE_CODE_LEN: usize = 21;
    /// Byte limit on raw input to `parse`.
    pub const MAX_INPUT_LEN: usize = 16;

    /// The API and JSON word: `driver`, `vehicle` or `platform`.
    pub fn as_str(self) -> &'static str {
        match self {
            LicenceKind::Driver => "driver",
            LicenceKind::Vehicle => "vehicle",
            LicenceKind::Platform => "platform",
        }
    }

    /// Parses the API word, ignoring ASCII case and surrounding whitespace.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let text = super::bounded_trim(input, Self::MAX_INPUT_LEN)?;
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str().eq_ignore_ascii_case(text))
            .ok_or_else(|| IdError::UnknownCode {
                found: text.to_owned(),
            })
    }

    /// One-byte code for compact encodings (CBOR credentials): 1, 2, 3.
    pub fn code(self) -> u8 {
        match self {
            LicenceKind::Driver => 1,
            LicenceKind::Vehicle => 2,
            LicenceKind::Platform => 3,
        }
    }

    /// The kind with the given one-byte code.
    pub fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// The GB/T 36904 licence type code used in licence numbers.
    pub fn type_code(self) -> &'static str {
        match self {
            LicenceKind::Driver => DRIVER_TYPE_CODE,
            LicenceKind::Vehicle => VEHICLE_TYPE_CODE,
            LicenceKind::Platform => PLATFORM_TYPE_CODE,
        }
    }

    /// The kind with the given licence type code.
    pub fn from_type_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.type_code() == code)
    }

    /// The letter that opens a short serial: `D`, `V` or `P`.
    pub fn letter(self) -> char {
        match self {
            LicenceKind::Driver => 'D',
            LicenceKind::Vehicle => 'V',
            LicenceKind::Platform => 'P',
        }
    }

    /// The kind whose short-serial letter is `letter`.
    pub fn from_letter(letter: char) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.letter() == letter)
    }

    /// The licence's official Chinese name, for printed and displayed credentials.
    pub fn name_zh(self) -> &'static str {
        match self {
            LicenceKind::Driver => "网络预约出租汽车驾驶员证",
            LicenceKind::Vehicle => "网络预约出租汽车运输证",
            LicenceKind::Platform => "网络预约出租汽车经营许可证",
        }
    }
}

impl fmt::Display for LicenceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for LicenceKind {
    type Err = IdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::CreditCode;

    #[test]
    fn words_round_trip() {
        for kind in LicenceKind::ALL {
            assert_eq!(kind.as_str().parse::<LicenceKind>(), Ok(kind));
            assert_eq!(kind.to_string(), kind.as_str());
        }
        assert_eq!(" Driver ".parse::<LicenceKind>(), Ok(LicenceKind::Driver));
        assert_eq!(
            "taxi".parse::<LicenceKind>(),
            Err(IdError::UnknownCode {
                found: "taxi".into()
            })
        );
        assert_eq!(
            "x".repeat(17).parse::<LicenceKind>().unwrap_err().rule(),
            "too_long"
        );
    }

    #[test]
    fn codes_round_trip_and_are_distinct() {
        for kind in LicenceKind::ALL {
            assert_eq!(LicenceKind::from_code(kind.code()), Some(kind));
            assert_eq!(LicenceKind::from_type_code(kind.type_code()), Some(kind));
            assert_eq!(LicenceKind::from_letter(kind.letter()), Some(kind));
        }
        assert_eq!(
            LicenceKind::ALL.map(LicenceKind::code),
            [1, 2, 3],
            "codes are stored in credentials and must never change"
        );
        assert_eq!(LicenceKind::from_code(0), None);
        assert_eq!(LicenceKind::from_code(4), None);
        assert_eq!(LicenceKind::from_type_code("11100000000013338W001"), None);
        assert_eq!(LicenceKind::from_letter('X'), None);
    }

    #[test]
    fn type_codes_are_definer_plus_three_digits() {
        let definer = CreditCode::parse(LicenceKind::TYPE_CODE_DEFINER).unwrap();
        for kind in LicenceKind::ALL {
            let code = kind.type_code();
            assert_eq!(code.len(), LicenceKind::TYPE_CODE_LEN);
            let (prefix, number) = code.split_at(CreditCode::LEN);
            assert_eq!(prefix, definer.as_str());
            assert!(number.chars().all(|c| c.is_ascii_digit()));
        }
    }

    #[test]
    fn serde_uses_lower_case_words() {
        let json = serde_json::to_string(&LicenceKind::Platform).unwrap();
        assert_eq!(json, "\"platform\"");
        assert_eq!(
            serde_json::from_str::<LicenceKind>("\"vehicle\"").unwrap(),
            LicenceKind::Vehicle
        );
        assert!(serde_json::from_str::<LicenceKind>("\"Vehicle\"").is_err());
    }
}

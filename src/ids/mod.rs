//! Identifiers the registry accepts from applicants and issues to holders, parsed once at the
//! edge so the rest of the crate never sees an invalid one.
//!
//! Every identifier is a newtype whose parser is its only constructor ("parse, don't validate"):
//! holding a [`CitizenId`], [`CreditCode`], [`Vin`], [`Plate`], [`LicenceNumber`] or
//! [`ShortSerial`] means the text passed every structural rule and check character of its
//! standard. Each type checks a named byte limit before looking at the input, serialises as its
//! canonical string and deserialises through the same parser. All failures are one
//! [`IdError`], whose [`IdError::rule`] is the stable code the HTTP layer reports.
//!
//! This module is pure: no I/O, no clock, no randomness.

/// Implements the string plumbing every identifier shares, so each type's file holds only its
/// rules: `Display`, `FromStr`, `TryFrom<String>`/`TryFrom<&str>` (what serde's `try_from`
/// uses), `From<T> for String` (serde's `into`) and `AsRef<str>`. The type must provide
/// `parse(&str) -> Result<Self, IdError>` and `as_str(&self) -> &str`.
macro_rules! string_id {
    ($ty:ty) => {
        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $crate::ids::IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::parse(s)
            }
        }

        impl ::std::convert::TryFrom<String> for $ty {
            type Error = $crate::ids::IdError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                <$ty>::parse(&s)
            }
        }

        impl ::std::convert::TryFrom<&str> for $ty {
            type Error = $crate::ids::IdError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                <$ty>::parse(s)
            }
        }

        impl From<$ty> for String {
            fn from(id: $ty) -> String {
                id.as_str().to_owned()
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }
    };
}

mod citizen_id;
mod credit_code;
mod error;
pub mod iso7064;
mod kind;
mod licence_number;
pub mod personal_data;
mod plate;
mod region;
mod short_serial;
#[cfg(test)]
mod strategies;
mod vin;

pub use citizen_id::CitizenId;
pub use credit_code::CreditCode;
pub use error::IdError;
pub use kind::LicenceKind;
pub use licence_number::LicenceNumber;
pub use plate::{NevKind, Plate};
pub use short_serial::ShortSerial;
pub use vin::Vin;

/// Applies a type's byte limit before anything else touches the input, then drops surrounding
/// whitespace (copy-paste from forms and spreadsheets routinely carries it).
fn bounded_trim(input: &str, max: usize) -> Result<&str, IdError> {
    if input.len() > max {
        return Err(IdError::TooLong {
            max,
            found: input.len(),
        });
    }
    Ok(input.trim())
}

/// The characters of `text`, refusing any count other than `expected`.
fn exact_chars(text: &str, expected: usize) -> Result<Vec<char>, IdError> {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() != expected {
        return Err(IdError::Length {
            expected,
            found: chars.len(),
        });
    }
    Ok(chars)
}

/// Refuses `text` unless it has exactly `expected` characters ([`exact_chars`] without
/// collecting them).
fn exact_len(text: &str, expected: usize) -> Result<(), IdError> {
    let found = text.chars().count();
    if found != expected {
        return Err(IdError::Length { expected, found });
    }
    Ok(())
}

/// A sub-slice of a validated identifier. Parsers guarantee the range is on ASCII boundaries, so
/// the empty fallback is unreachable; it exists so no accessor can panic.
fn part(text: &str, range: std::ops::Range<usize>) -> &str {
    text.get(range).unwrap_or_default()
}

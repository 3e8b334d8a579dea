//! The one error type for every identifier in this module.
//!
//! Each variant names the rule that was broken, not the field it was broken in: the caller
//! knows the field (`citizen_id`, `plate`, ...) and the HTTP layer reports `{field, rule,
//! message}`. `rule()` is the stable machine code; `Display` is the human message. Positions are
//! 1-based character positions in the input after the normalisation the parser documents
//! (surrounding whitespace trimmed, and for plates separators removed), because the standards
//! number positions from 1 and the message is read by a person holding the card.

use thiserror::Error;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum IdError {
    /// The raw input is over the type's named byte limit; nothing else was looked at.
    #[error("input is {found} bytes long, over the limit of {max}")]
    TooLong { max: usize, found: usize },
    /// The (normalised) input has the wrong number of characters.
    #[error("must be {expected} characters long, found {found}")]
    Length { expected: usize, found: usize },
    /// A character is not allowed at its position.
    #[error("character {ch:?} is not allowed at position {position}")]
    Charset { position: usize, ch: char },
    /// The check character does not match the rest of the identifier.
    #[error("check character is {found:?} but the rest of the identifier gives {expected:?}")]
    CheckCharacter { expected: char, found: char },
    /// The embedded birth date is not a real calendar date on or after 1900-01-01.
    #[error("birth date is not a real calendar date on or after 1900-01-01")]
    BirthDate,
    /// The region (province-level division or plate province abbreviation) is not known.
    #[error("region code {found:?} is not a known province-level code")]
    Region { found: String },
    /// A number is outside its allowed range.
    #[error("value {found} is outside the allowed range {min}..={max}")]
    Range { min: u64, max: u64, found: u64 },
    /// A fixed part of the layout (a prefix or separator) is missing or wrong.
    #[error("expected {expected} at position {position}")]
    Structure {
        position: usize,
        expected: &'static str,
    },
    /// A code from a closed list (licence type, licence kind) is not one we know.
    #[error("unknown code {found:?}")]
    UnknownCode { found: String },
}

impl IdError {
    /// Stable machine-readable name of the broken rule, for API error bodies and metrics.
    pub fn rule(&self) -> &'static str {
        match self {
            IdError::TooLong { .. } => "too_long",
            IdError::Length { .. } => "length",
            IdError::Charset { .. } => "charset",
            IdError::CheckCharacter { .. } => "check_character",
            IdError::BirthDate => "birth_date",
            IdError::Region { .. } => "region",
            IdError::Range { .. } => "range",
            IdError::Structure { .. } => "structure",
            IdError::UnknownCode { .. } => "unknown_code",
        }
    }

    /// The same error with its position moved right by `by`, for errors found while parsing an
    /// identifier embedded in a longer one (the issuer inside a licence number).
    pub(crate) fn shifted(self, by: usize) -> Self {
        match self {
            IdError::Charset { position, ch } => IdError::Charset {
                position: position.saturating_add(by),
                ch,
            },
            IdError::Structure { position, expected } => IdError::Structure {
                position: position.saturating_add(by),
                expected,
            },
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_variant() -> Vec<IdError> {
        vec![
            IdError::TooLong { max: 1, found: 2 },
            IdError::Length {
                expected: 18,
                found: 17,
            },
            IdError::Charset {
                position: 3,
                ch: 'I',
            },
            IdError::CheckCharacter {
                expected: 'X',
                found: '1',
            },
            IdError::BirthDate,
            IdError::Region { found: "99".into() },
            IdError::Range {
                min: 1,
                max: 255,
                found: 0,
            },
            IdError::Structure {
                position: 1,
                expected: "'.'",
            },
            IdError::UnknownCode { found: "x".into() },
        ]
    }

    #[test]
    fn rules_are_distinct_snake_case_codes() {
        let rules: Vec<&str> = every_variant().iter().map(IdError::rule).collect();
        let mut unique = rules.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), rules.len());
        for rule in rules {
            assert!(
                rule.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{rule}"
            );
        }
    }

    #[test]
    fn messages_are_not_empty() {
        for e in every_variant() {
            assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn shifting_moves_positions_only() {
        let e = IdError::Charset {
            position: 2,
            ch: 'I',
        };
        assert_eq!(
            e.shifted(10),
            IdError::Charset {
                position: 12,
                ch: 'I'
            }
        );
        assert_eq!(IdError::BirthDate.shifted(3), IdError::BirthDate);
    }
}

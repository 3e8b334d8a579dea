//! Chinese motor-vehicle plate numbers (GA 36-2018) for the cars a transport certificate
//! covers. Local rules key on them ("the plate must be local", new-energy-only quotas), so the
//! province, issuing authority and new-energy class are exposed as parsed parts.
//!
//! Accepted forms, after removing spaces and middle dots (`粤B·12345`, `粤B 12345`) and
//! upper-casing ASCII letters:
//!
//! * ordinary small-car plates: province abbreviation, authority letter, 5 serial characters
//!   (digits and letters other than I and O), e.g. `粤B12345`, `京A8K3M2`;
//! * small new-energy plates: province, authority, a class letter, a letter or digit, then 4
//!   digits, e.g. `粤BD12345`. GA 36-2018 lists `D` (pure electric) and `F` (other new
//!   energy); cities that ran out of those segments have since been given `A B C E` for pure
//!   electric and `G H J K` for the rest, as publicly announced by the traffic police, so
//!   those are accepted too;
//! * large new-energy plates: province, authority, 5 digits, then `D` or `F`, e.g.
//!   `粤B12345D`.
//!
//! Suffix plates (挂 trailer, 学 learner, 警 police, 港/澳 cross-border) are refused: none of
//! them may carry ride-hailing passengers. There is no check character, so no typo detection
//! beyond the layout.

use serde::{Deserialize, Serialize};

use super::{bounded_trim, IdError};

/// A valid plate number in canonical form (no separators, upper-case letters).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Plate {
    text: String,
    /// Decided during parsing so the accessors need no re-parse.
    nev: Option<NevKind>,
}

string_id!(Plate);

/// The energy class a new-energy plate declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NevKind {
    /// Battery electric.
    PureElectric,
    /// Plug-in hybrid, range-extended or fuel-cell.
    NonPureElectric,
}

/// Province-level abbreviations used on plates.
const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// Characters people put between the parts of a plate, which carry no meaning.
const SEPARATORS: [char; 5] = [' ', '\u{3000}', '\u{00B7}', '\u{2022}', '\u{30FB}'];

/// Class letters in position 3 of small new-energy plates.
const SMALL_PURE_ELECTRIC: &str = "DABCE";
const SMALL_NON_PURE_ELECTRIC: &str = "FGHJK";

impl Plate {
    /// Characters in an ordinary plate.
    pub const ORDINARY_LEN: usize = 7;
    /// Characters in a new-energy plate.
    pub const NEW_ENERGY_LEN: usize = 8;
    /// Byte limit on raw input, checked before anything else.
    pub const MAX_INPUT_LEN: usize = 48;

    /// Parses and validates a plate. Positions in errors count characters of the input with
    /// separators removed.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let text = bounded_trim(input, Self::MAX_INPUT_LEN)?;
        let chars: Vec<char> = text
            .chars()
            .filter(|ch| !SEPARATORS.contains(ch))
            .map(|ch| ch.to_ascii_uppercase())
            .collect();
        let (province, authority, serial) = match chars.as_slice() {
            [province, authority, serial @ ..]
                if serial.len() + 2 == Self::ORDINARY_LEN
                    || serial.len() + 2 == Self::NEW_ENERGY_LEN =>
            {
                (*province, *authority, serial)
            }
            _ => {
                return Err(IdError::Length {
                    expected: if chars.len() < Self::ORDINARY_LEN {
                        Self::ORDINARY_LEN
                    } else {
                        Self::NEW_ENERGY_LEN
                    },
                    found: chars.len(),
                })
            }
        };
        if !PROVINCES.contains(province) {
            return Err(IdError::Region {
                found: province.to_string(),
            });
        }
        if !is_serial_letter(authority) {
            return Err(IdError::Charset {
                position: 2,
                ch: authority,
            });
        }
        let nev = if serial.len() + 2 == Self::ORDINARY_LEN {
            check_ordinary(serial)?;
            None
        } else {
            Some(new_energy_kind(serial)?)
        };
        Ok(Plate {
            text: chars.into_iter().collect(),
            nev,
        })
    }

    /// The canonical plate, e.g. `粤BD12345`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The province abbreviation, e.g. `粤`.
    pub fn province(&self) -> char {
        self.text.chars().next().unwrap_or_default()
    }

    /// The issuing-authority letter, e.g. `B` (Shenzhen under `粤`).
    pub fn authority_letter(&self) -> char {
        self.text.chars().nth(1).unwrap_or_default()
    }

    /// Province and authority together, e.g. `闽D`: the plate-issuing area that "local plate"
    /// rules compare against.
    pub fn area_prefix(&self) -> &str {
        let end = self
            .text
            .char_indices()
            .nth(2)
            .map_or(self.text.len(), |(at, _)| at);
        self.text.get(..end).unwrap_or_default()
    }

    /// The serial after the area prefix, e.g. `D12345`.
    pub fn serial(&self) -> &str {
        self.text
            .get(self.area_prefix().len()..)
            .unwrap_or_default()
    }

    /// Whether this is a (green) new-energy plate.
    pub fn is_new_energy(&self) -> bool {
        self.nev.is_some()
    }

    /// The energy class of a new-energy plate; `None` for ordinary plates.
    pub fn new_energy_kind(&self) -> Option<NevKind> {
        self.nev
    }
}

/// Digits and letters other than I and O, the only serial characters plates use.
fn is_serial_char(ch: char) -> bool {
    ch.is_ascii_digit() || is_serial_letter(ch)
}

fn is_serial_letter(ch: char) -> bool {
    ch.is_ascii_uppercase() && ch != 'I' && ch != 'O'
}

/// 1-based plate position of `serial[i]`.
fn position(i: usize) -> usize {
    i + 3
}

fn check_ordinary(serial: &[char]) -> Result<(), IdError> {
    match serial
        .iter()
        .enumerate()
        .find(|(_, ch)| !is_serial_char(**ch))
    {
        Some((i, &ch)) => Err(IdError::Charset {
            position: position(i),
            ch,
        }),
        None => Ok(()),
    }
}

/// Classifies a 6-character new-energy serial, large form first: its five leading digits can
/// never start a small one, whose first character is a letter.
fn new_energy_kind(serial: &[char]) -> Result<NevKind, IdError> {
    if let [digits @ .., last] = serial {
        if digits.iter().all(char::is_ascii_digit) {
            return match last {
                'D' => Ok(NevKind::PureElectric),
                'F' => Ok(NevKind::NonPureElectric),
                &ch => Err(IdError::Charset {
                    position: position(digits.len()),
                    ch,
                }),
            };
        }
    }
    let [class, second, rest @ ..] = serial else {
        return Err(IdError::Length {
            expected: Plate::NEW_ENERGY_LEN,
            found: serial.len() + 2,
        });
    };
    let kind = if SMALL_PURE_ELECTRIC.contains(*class) {
        NevKind::PureElectric
    } else if SMALL_NON_PURE_ELECTRIC.contains(*class) {
        NevKind::NonPureElectric
    } else {
        return Err(IdError::Charset {
            position: position(0),
            ch: *class,
        });
    };
    if !is_serial_char(*second) {
        return Err(IdError::Charset {
            position: position(1),
            ch: *second,
        });
    }
    if let Some((i, &ch)) = rest.iter().enumerate().find(|(_, ch)| !ch.is_ascii_digit()) {
        return Err(IdError::Charset {
            position: position(i + 2),
            ch,
        });
    }
    Ok(kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::strategies::plate;
    use proptest::prelude::*;

    #[test]
    fn ordinary_plates() {
        let plate = Plate::parse("闽D12345").unwrap();
        assert_eq!(plate.province(), '闽');
        assert_eq!(plate.authority_letter(), 'D');
        assert_eq!(plate.area_prefix(), "闽D");
        assert_eq!(plate.serial(), "12345");
        assert!(!plate.is_new_energy());
        assert_eq!(plate.new_energy_kind(), None);
        assert!(Plate::parse("京A8K3M2").is_ok());
        assert!(Plate::parse("沪AAB123").is_ok());
    }

    #[test]
    fn small_new_energy_plates() {
        let plate = Plate::parse("粤BD12345").unwrap();
        assert!(plate.is_new_energy());
        assert_eq!(plate.new_energy_kind(), Some(NevKind::PureElectric));
        assert_eq!(plate.area_prefix(), "粤B");
        assert_eq!(plate.serial(), "D12345");
        let hybrid = Plate::parse("京AFA1234").unwrap();
        assert_eq!(hybrid.new_energy_kind(), Some(NevKind::NonPureElectric));
        let extended = Plate::parse("粤BA12345").unwrap();
        assert_eq!(extended.new_energy_kind(), Some(NevKind::PureElectric));
        let extended = Plate::parse("粤BG12345").unwrap();
        assert_eq!(extended.new_energy_kind(), Some(NevKind::NonPureElectric));
    }

    #[test]
    fn large_new_energy_plates() {
        let plate = Plate::parse("粤B12345D").unwrap();
        assert_eq!(plate.new_energy_kind(), Some(NevKind::PureElectric));
        let plate = Plate::parse("粤B12345F").unwrap();
        assert_eq!(plate.new_energy_kind(), Some(NevKind::NonPureElectric));
    }

    #[test]
    fn separators_and_case_are_normalised() {
        for written in [
            "粤B·D12345",
            "粤B D12345",
            " 粤 b d 1 2 3 4 5 ",
            "粤B\u{3000}d12345",
        ] {
            assert_eq!(
                Plate::parse(written).unwrap().as_str(),
                "粤BD12345",
                "{written}"
            );
        }
    }

    #[test]
    fn length_and_region_errors() {
        let err = |s: &str| Plate::parse(s).unwrap_err();
        assert_eq!(err(&" ".repeat(49)).rule(), "too_long");
        assert_eq!(
            err("粤B1234"),
            IdError::Length {
                expected: 7,
                found: 6
            }
        );
        assert_eq!(
            err("粤BD123456"),
            IdError::Length {
                expected: 8,
                found: 9
            }
        );
        assert_eq!(
            err(""),
            IdError::Length {
                expected: 7,
                found: 0
            }
        );
        assert_eq!(
            err("港B12345"),
            IdError::Region {
                found: "港".into()
            }
        );
        assert_eq!(err("AB12345"), IdError::Region { found: "A".into() });
    }

    #[test]
    fn each_position_has_its_charset() {
        let err = |s: &str| Plate::parse(s).unwrap_err();
        assert_eq!(
            err("粤I12345"),
            IdError::Charset {
                position: 2,
                ch: 'I'
            }
        );
        assert_eq!(
            err("粤B1234O"),
            IdError::Charset {
                position: 7,
                ch: 'O'
            }
        );
        assert_eq!(
            err("粤B1234挂"),
            IdError::Charset {
                position: 7,
                ch: '挂'
            }
        );
        assert_eq!(
            err("粤BL12345"),
            IdError::Charset {
                position: 3,
                ch: 'L'
            }
        );
        assert_eq!(
            err("粤BDO2345"),
            IdError::Charset {
                position: 4,
                ch: 'O'
            }
        );
        assert_eq!(
            err("粤BD1234A"),
            IdError::Charset {
                position: 8,
                ch: 'A'
            }
        );
        assert_eq!(
            err("粤B12345A"),
            IdError::Charset {
                position: 8,
                ch: 'A'
            }
        );
    }

    #[test]
    fn serde_uses_the_string_and_the_parser() {
        let plate = Plate::parse("粤B·D12345").unwrap();
        let json = serde_json::to_string(&plate).unwrap();
        assert_eq!(json, "\"粤BD12345\"");
        assert_eq!(serde_json::from_str::<Plate>(&json).unwrap(), plate);
        assert!(serde_json::from_str::<Plate>("\"粤B1234\"").is_err());
        let kind = serde_json::to_string(&NevKind::NonPureElectric).unwrap();
        assert_eq!(kind, "\"non_pure_electric\"");
    }

    proptest! {
        #[test]
        fn round_trips(plate in plate()) {
            let reparsed = Plate::parse(plate.as_str()).unwrap();
            prop_assert_eq!(&reparsed, &plate);
            let spaced: String = plate.as_str().chars().flat_map(|c| [c, ' ']).collect();
            prop_assert_eq!(&Plate::parse(&spaced).unwrap(), &plate);
            let json = serde_json::to_string(&plate).unwrap();
            prop_assert_eq!(serde_json::from_str::<Plate>(&json).unwrap(), plate);
        }

        #[test]
        fn prefix_and_serial_rebuild_the_plate(plate in plate()) {
            prop_assert_eq!(format!("{}{}", plate.area_prefix(), plate.serial()), plate.as_str());
            prop_assert_eq!(plate.area_prefix().chars().count(), 2);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,20}") {
            let _ = Plate::parse(&text);
        }
    }
}

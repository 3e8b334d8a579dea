//! ISO/IEC 7064 (GB/T 17710) check character systems with one check character.
//!
//! Three of our identifiers lean on this standard: the citizen ID number (GB 11643, pure MOD
//! 11-2) and the electronic licence identifier and its short form (GB/T 36904, hybrid MOD
//! 37,36). Keeping the arithmetic in one generic place lets each identifier's file deal only
//! with its layout, and lets the systems be tested against the standard's own examples once.
//!
//! A *pure* system with modulus M and radix r computes P = Σ aᵢ·r^(n−i+1) mod M over the data
//! and picks the check value c with (P + c) mod M = 1; its check alphabet has M symbols, one
//! more than the data alphabet when M is prime (hence MOD 11-2's `X` and MOD 37-2's `*`). A
//! *hybrid* system MOD M+1,M works over one alphabet of M symbols for data and check alike,
//! which is why GB/T 36904 picked MOD 37,36: the check is always a digit or a letter.
//!
//! The two-character systems (MOD 97-10, 661-26, 1271-36) are out of scope: nothing here uses
//! them. The GB 32100 credit code check is not an ISO 7064 system and lives in `credit_code.rs`.

use super::IdError;

/// A pure ISO 7064 system with a single check character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PureSystem {
    modulus: u32,
    radix: u32,
    /// One symbol per check value `0..modulus`, in value order.
    alphabet: &'static [u8],
    /// How many leading symbols of `alphabet` may appear in the data (the supplementary check
    /// symbol may not).
    data_symbols: usize,
    /// The value of each data symbol, by ASCII code (see [`symbol_values`]).
    values: [u8; 128],
}

/// A hybrid ISO 7064 system MOD M+1,M with a single check character.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HybridSystem {
    modulus: u32,
    /// One symbol per value `0..modulus`, used for data and check alike.
    alphabet: &'static [u8],
    /// The value of each symbol, by ASCII code (see [`symbol_values`]).
    values: [u8; 128],
}

/// Largest modulus accepted by the constructors; keeps every intermediate product far from
/// `u32` overflow and covers every single-character system of the standard.
pub const MAX_MODULUS: u32 = 64;

const DIGITS: &[u8] = b"0123456789";
const LETTERS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALPHANUMERIC: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// ISO/IEC 7064 MOD 11-2: digits, check digit or `X` (GB 11643 citizen ID numbers).
pub const MOD_11_2: PureSystem = PureSystem {
    modulus: 11,
    radix: 2,
    alphabet: b"0123456789X",
    data_symbols: 10,
    values: symbol_values(b"0123456789X", 10),
};

/// ISO/IEC 7064 MOD 37-2: digits and letters, check may also be `*`.
pub const MOD_37_2: PureSystem = PureSystem {
    modulus: 37,
    radix: 2,
    alphabet: b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*",
    data_symbols: 36,
    values: symbol_values(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*", 36),
};

/// ISO/IEC 7064 MOD 11,10: digits with a check digit.
pub const MOD_11_10: HybridSystem = HybridSystem {
    modulus: 10,
    alphabet: DIGITS,
    values: symbol_values(DIGITS, DIGITS.len()),
};

/// ISO/IEC 7064 MOD 27,26: letters with a check letter.
pub const MOD_27_26: HybridSystem = HybridSystem {
    modulus: 26,
    alphabet: LETTERS,
    values: symbol_values(LETTERS, LETTERS.len()),
};

/// ISO/IEC 7064 MOD 37,36: digits and upper-case letters, check from the same set (GB/T 36904).
pub const MOD_37_36: HybridSystem = HybridSystem {
    modulus: 36,
    alphabet: ALPHANUMERIC,
    values: symbol_values(ALPHANUMERIC, ALPHANUMERIC.len()),
};

impl PureSystem {
    /// A pure system over `alphabet` (ASCII, one symbol per check value, in value order) whose
    /// first `data_symbols` symbols may appear in the data. `None` when the parts do not fit
    /// together, so no system can index outside its alphabet.
    pub const fn new(
        modulus: u32,
        radix: u32,
        alphabet: &'static str,
        data_symbols: usize,
    ) -> Option<Self> {
        let bytes = alphabet.as_bytes();
        let fits = modulus >= 2
            && modulus <= MAX_MODULUS
            && radix >= 2
            && radix < modulus
            && bytes.len() == modulus as usize
            && data_symbols >= 1
            && data_symbols <= bytes.len()
            && is_ascii_set(bytes);
        if fits {
            Some(PureSystem {
                modulus,
                radix,
                alphabet: bytes,
                data_symbols,
                values: symbol_values(bytes, data_symbols),
            })
        } else {
            None
        }
    }

    /// The check character for `data`. Positions in a `Charset` error are 1-based in `data`.
    pub fn compute(&self, data: &str) -> Result<char, IdError> {
        let mut p = 0;
        for (i, ch) in data.chars().enumerate() {
            let a = value_of(&self.values, ch, i + 1)?;
            p = (p + a) * self.radix % self.modulus;
        }
        Ok(symbol(self.alphabet, (self.modulus + 1 - p) % self.modulus))
    }

    /// Checks that the last character of `full` is the check character of the rest.
    pub fn verify(&self, full: &str) -> Result<(), IdError> {
        verify_with(full, self.alphabet, |data| self.compute(data))
    }

    /// `verify` as a yes/no answer.
    pub fn is_valid(&self, full: &str) -> bool {
        self.verify(full).is_ok()
    }
}

impl HybridSystem {
    /// A hybrid system MOD M+1,M over `alphabet` (ASCII, M symbols in value order). `None` when
    /// the alphabet size is not a usable modulus.
    pub const fn new(alphabet: &'static str) -> Option<Self> {
        let bytes = alphabet.as_bytes();
        let m = bytes.len();
        if m >= 2 && m <= MAX_MODULUS as usize && is_ascii_set(bytes) {
            Some(HybridSystem {
                modulus: m as u32,
                alphabet: bytes,
                values: symbol_values(bytes, m),
            })
        } else {
            None
        }
    }

    /// The check character for `data`. Positions in a `Charset` error are 1-based in `data`.
    pub fn compute(&self, data: &str) -> Result<char, IdError> {
        self.compute_parts(&[data])
    }

    /// The check character for the concatenation of `parts`, without building it (a licence
    /// number's check covers four of its parts). Positions in a `Charset` error are 1-based in
    /// the concatenation.
    pub fn compute_parts(&self, parts: &[&str]) -> Result<char, IdError> {
        let m = self.modulus;
        let mut p = m;
        for (i, ch) in parts.iter().flat_map(|part| part.chars()).enumerate() {
            let a = value_of(&self.values, ch, i + 1)?;
            // The standard writes "(P + a) mod M, with 0 read as M"; the product is then
            // reduced modulo M + 1, so P always lies in 1..=M before the next step.
            let s = match (p + a) % m {
                0 => m,
                s => s,
            };
            p = s * 2 % (m + 1);
        }
        Ok(symbol(self.alphabet, (m + 1 - p) % m))
    }

    /// Checks that the last character of `full` is the check character of the rest.
    pub fn verify(&self, full: &str) -> Result<(), IdError> {
        verify_with(full, self.alphabet, |data| self.compute(data))
    }

    /// `verify` as a yes/no answer.
    pub fn is_valid(&self, full: &str) -> bool {
        self.verify(full).is_ok()
    }
}

/// Shared tail of both `verify`s: split off the last character, make sure it could be a check
/// character at all, then compare.
fn verify_with(
    full: &str,
    check_alphabet: &[u8],
    compute: impl Fn(&str) -> Result<char, IdError>,
) -> Result<(), IdError> {
    let Some((last_at, found)) = full.char_indices().last() else {
        return Err(IdError::Length {
            expected: 1,
            found: 0,
        });
    };
    let data = full.get(..last_at).unwrap_or_default();
    let expected = compute(data)?;
    if found == expected {
        return Ok(());
    }
    let position = data.chars().count() + 1;
    if !u8::try_from(found).is_ok_and(|byte| check_alphabet.contains(&byte)) {
        return Err(IdError::Charset {
            position,
            ch: found,
        });
    }
    Err(IdError::CheckCharacter { expected, found })
}

/// The value of `ch` in a [`symbol_values`] table.
fn value_of(values: &[u8; 128], ch: char, position: usize) -> Result<u32, IdError> {
    match values.get(ch as usize) {
        Some(&value) if value != NOT_A_SYMBOL => Ok(u32::from(value)),
        _ => Err(IdError::Charset { position, ch }),
    }
}

/// What [`symbol_values`] holds for a byte that is not a symbol.
pub(crate) const NOT_A_SYMBOL: u8 = u8::MAX;

/// The value (index) of each of the first `usable` symbols of `alphabet`, by ASCII code, and
/// [`NOT_A_SYMBOL`] for every other code: check characters are computed on every lookup of a
/// licence by number, and a table read is cheaper than a search of the alphabet per character.
/// `alphabet` must be ASCII with at most 255 symbols (every constructor's alphabet is).
pub(crate) const fn symbol_values(alphabet: &[u8], usable: usize) -> [u8; 128] {
    let mut values = [NOT_A_SYMBOL; 128];
    let mut i = 0;
    while i < usable && i < alphabet.len() && i < NOT_A_SYMBOL as usize {
        let byte = alphabet[i];
        if byte < 128 {
            values[byte as usize] = i as u8;
        }
        i += 1;
    }
    values
}

/// The symbol for `value`. Constructors guarantee `value < alphabet.len()`, so the fallback is
/// unreachable; it exists so that a mistake shows up as a failed check, never as a panic.
fn symbol(alphabet: &[u8], value: u32) -> char {
    usize::try_from(value)
        .ok()
        .and_then(|i| alphabet.get(i))
        .map_or('\u{FFFD}', |&b| char::from(b))
}

/// ASCII, without repeats: a repeated symbol would make two values read back as one.
const fn is_ascii_set(mut bytes: &[u8]) -> bool {
    while let [first, rest @ ..] = bytes {
        if !first.is_ascii() {
            return false;
        }
        let mut others = rest;
        while let [other, tail @ ..] = others {
            if *other == *first {
                return false;
            }
            others = tail;
        }
        bytes = rest;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn value_tables_agree_with_a_search_of_the_alphabet() {
        let tables: [(&[u8], usize, [u8; 128]); 5] = [
            (MOD_11_2.alphabet, 10, MOD_11_2.values),
            (MOD_37_2.alphabet, 36, MOD_37_2.values),
            (MOD_11_10.alphabet, 10, MOD_11_10.values),
            (MOD_27_26.alphabet, 26, MOD_27_26.values),
            (MOD_37_36.alphabet, 36, MOD_37_36.values),
        ];
        for (alphabet, usable, values) in tables {
            for code in 0..=0x10FFu32 {
                let Some(ch) = char::from_u32(code) else {
                    continue;
                };
                let searched = alphabet[..usable]
                    .iter()
                    .position(|&b| u32::from(b) == code)
                    .map(|i| i as u32);
                assert_eq!(value_of(&values, ch, 1).ok(), searched, "{ch:?}");
            }
        }
    }

    #[test]
    fn a_check_over_parts_is_the_check_over_their_concatenation() {
        let parts = [
            "11100000000013338W902",
            "11350200MB00000004",
            "0000123456",
            "001",
        ];
        assert_eq!(
            MOD_37_36.compute_parts(&parts),
            MOD_37_36.compute(&parts.concat())
        );
        assert_eq!(
            MOD_37_36.compute_parts(&["AB", "c"]),
            Err(IdError::Charset {
                position: 3,
                ch: 'c'
            })
        );
    }

    #[test]
    fn constants_agree_with_the_checked_constructors() {
        assert_eq!(PureSystem::new(11, 2, "0123456789X", 10), Some(MOD_11_2));
        assert_eq!(
            PureSystem::new(37, 2, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ*", 36),
            Some(MOD_37_2)
        );
        assert_eq!(HybridSystem::new("0123456789"), Some(MOD_11_10));
        assert_eq!(
            HybridSystem::new("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            Some(MOD_27_26)
        );
        assert_eq!(
            HybridSystem::new("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            Some(MOD_37_36)
        );
    }

    #[test]
    fn constructors_refuse_inconsistent_systems() {
        assert_eq!(PureSystem::new(11, 2, "0123456789", 10), None);
        assert_eq!(PureSystem::new(11, 2, "0123456789X", 12), None);
        assert_eq!(PureSystem::new(11, 11, "0123456789X", 10), None);
        assert_eq!(PureSystem::new(11, 2, "0123456789\u{e9}", 10), None);
        assert_eq!(HybridSystem::new("0"), None);
        assert_eq!(HybridSystem::new("00"), None);
    }

    #[test]
    fn mod_11_2_published_examples() {
        // ISO 7064's own example, and the cdigit library's README example.
        assert_eq!(MOD_11_2.compute("0794"), Ok('0'));
        assert_eq!(MOD_11_2.compute("1234"), Ok('4'));
        // The worked example of GB 11643-1999.
        assert_eq!(MOD_11_2.compute("11010519491231002"), Ok('X'));
        assert!(MOD_11_2.is_valid("11010519491231002X"));
        assert!(!MOD_11_2.is_valid("110105194912310021"));
    }

    #[test]
    fn mod_37_2_published_examples() {
        assert_eq!(MOD_37_2.compute("G123498654321"), Ok('H'));
        assert_eq!(MOD_37_2.compute("12CD"), Ok('6'));
    }

    #[test]
    fn mod_37_36_hand_computed() {
        // M = 36, P starts at 36.
        // 'A' (10): s = (36 + 10) mod 36 = 10; P = 20 mod 37 = 20.
        // '1' (1):  s = (20 + 1) mod 36 = 21;  P = 42 mod 37 = 5.
        // c = (37 - 5) mod 36 = 32 -> 'W'.
        assert_eq!(MOD_37_36.compute("A1"), Ok('W'));
        assert!(MOD_37_36.is_valid("A1W"));
    }

    #[test]
    fn mod_37_36_published_examples() {
        assert_eq!(MOD_37_36.compute("A12425GABC1234002"), Ok('M'));
        // Electronic licence identifiers published by Chinese government systems (GB/T 36904):
        // the check covers type code + issuer + serial + version with the dots removed.
        let published = [
            ("11100000000013338W01111430000006122244L20230000403001", 'U'),
            ("11100000000013338W03211220000013544541J2430599001", 'F'),
            ("11100000000013338W00911330105002500287C2025052201002", '0'),
        ];
        for (data, check) in published {
            assert_eq!(MOD_37_36.compute(data), Ok(check), "{data}");
        }
    }

    #[test]
    fn hybrid_examples_for_the_smaller_alphabets() {
        assert_eq!(MOD_11_10.compute("79462"), Ok('3'));
        assert!(MOD_11_10.is_valid("794623"));
        assert_eq!(MOD_27_26.compute("JEFF"), Ok('K'));
    }

    #[test]
    fn verify_reports_the_rule_broken() {
        assert_eq!(
            MOD_37_36.verify("A1X"),
            Err(IdError::CheckCharacter {
                expected: 'W',
                found: 'X'
            })
        );
        assert_eq!(
            MOD_37_36.verify("A1*"),
            Err(IdError::Charset {
                position: 3,
                ch: '*'
            })
        );
        assert_eq!(
            MOD_37_36.verify("a1W"),
            Err(IdError::Charset {
                position: 1,
                ch: 'a'
            })
        );
        assert_eq!(
            MOD_11_2.verify("0X940"),
            Err(IdError::Charset {
                position: 2,
                ch: 'X'
            })
        );
        assert_eq!(
            MOD_11_2.verify(""),
            Err(IdError::Length {
                expected: 1,
                found: 0
            })
        );
        assert_eq!(
            MOD_11_2.verify("12\u{4e00}"),
            Err(IdError::Charset {
                position: 3,
                ch: '\u{4e00}'
            })
        );
    }

    #[test]
    fn empty_data_still_has_a_check_character() {
        assert_eq!(MOD_11_2.compute(""), Ok('1'));
        assert!(MOD_37_36.is_valid(&MOD_37_36.compute("").unwrap().to_string()));
    }

    fn with_check<F: Fn(&str) -> Result<char, IdError>>(data: &str, f: F) -> String {
        format!("{data}{}", f(data).unwrap())
    }

    /// Replaces the character at `index` by the `shift`-th other symbol of `alphabet`.
    fn substitute(full: &str, index: usize, shift: usize, alphabet: &[u8]) -> String {
        let mut bytes = full.as_bytes().to_vec();
        let at = index % bytes.len();
        let old = alphabet.iter().position(|&b| b == bytes[at]).unwrap();
        let new = (old + 1 + shift % (alphabet.len() - 1)) % alphabet.len();
        bytes[at] = alphabet[new];
        String::from_utf8(bytes).unwrap()
    }

    /// The hybrid system as ISO/IEC 7064 writes it, symbol by symbol from the alphabet (the
    /// implementation reads values from a table and takes the parts without joining them).
    fn hybrid_by_the_standard(system: &HybridSystem, data: &str) -> char {
        let m = system.modulus;
        let mut p = m;
        for ch in data.chars() {
            let a = system
                .alphabet
                .iter()
                .position(|&b| char::from(b) == ch)
                .unwrap() as u32;
            let s = match (p + a) % m {
                0 => m,
                s => s,
            };
            p = s * 2 % (m + 1);
        }
        char::from(system.alphabet[((m + 1 - p) % m) as usize])
    }

    proptest! {
        #[test]
        fn hybrid_check_characters_are_the_standards(
            digits in "[0-9]{0,40}", letters in "[A-Z]{0,40}", mixed in "[0-9A-Z]{0,80}"
        ) {
            prop_assert_eq!(MOD_11_10.compute(&digits).unwrap(), hybrid_by_the_standard(&MOD_11_10, &digits));
            prop_assert_eq!(MOD_27_26.compute(&letters).unwrap(), hybrid_by_the_standard(&MOD_27_26, &letters));
            prop_assert_eq!(MOD_37_36.compute(&mixed).unwrap(), hybrid_by_the_standard(&MOD_37_36, &mixed));
        }

        #[test]
        fn mod_11_2_round_trips(data in "[0-9]{0,40}") {
            prop_assert!(MOD_11_2.is_valid(&with_check(&data, |d| MOD_11_2.compute(d))));
        }

        #[test]
        fn mod_37_2_round_trips(data in "[0-9A-Z]{0,40}") {
            prop_assert!(MOD_37_2.is_valid(&with_check(&data, |d| MOD_37_2.compute(d))));
        }

        #[test]
        fn mod_37_36_round_trips(data in "[0-9A-Z]{0,80}") {
            prop_assert!(MOD_37_36.is_valid(&with_check(&data, |d| MOD_37_36.compute(d))));
        }

        #[test]
        fn mod_11_10_round_trips(data in "[0-9]{0,40}") {
            prop_assert!(MOD_11_10.is_valid(&with_check(&data, |d| MOD_11_10.compute(d))));
        }

        #[test]
        fn mod_11_2_catches_any_changed_digit(
            data in "[0-9]{1,30}", index in any::<usize>(), shift in any::<usize>()
        ) {
            let full = with_check(&data, |d| MOD_11_2.compute(d));
            // The changed character stays a digit, or becomes another check symbol at the end.
            let alphabet: &[u8] = if index % full.len() == full.len() - 1 {
                b"0123456789X"
            } else {
                DIGITS
            };
            let changed = substitute(&full, index, shift, alphabet);
            prop_assert!(!MOD_11_2.is_valid(&changed), "{} -> {}", full, changed);
        }

        #[test]
        fn mod_11_2_catches_adjacent_swaps(data in "[0-9]{2,30}", index in any::<usize>()) {
            let full = with_check(&data, |d| MOD_11_2.compute(d));
            let mut bytes = full.into_bytes();
            let at = index % (bytes.len() - 1);
            prop_assume!(bytes[at] != bytes[at + 1]);
            bytes.swap(at, at + 1);
            let swapped = String::from_utf8(bytes).unwrap();
            prop_assert!(!MOD_11_2.is_valid(&swapped));
        }

        #[test]
        fn mod_37_36_catches_any_changed_character(
            data in "[0-9A-Z]{1,60}", index in any::<usize>(), shift in any::<usize>()
        ) {
            let full = with_check(&data, |d| MOD_37_36.compute(d));
            let changed = substitute(&full, index, shift, ALPHANUMERIC);
            prop_assert!(!MOD_37_36.is_valid(&changed), "{} -> {}", full, changed);
        }

        #[test]
        fn mod_37_2_catches_any_changed_data_character(
            data in "[0-9A-Z]{1,40}", index in any::<usize>(), shift in any::<usize>()
        ) {
            let full = with_check(&data, |d| MOD_37_2.compute(d));
            let changed = substitute(&full, index % data.len(), shift, ALPHANUMERIC);
            prop_assert!(!MOD_37_2.is_valid(&changed));
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
            let _ = MOD_11_2.verify(&text);
            let _ = MOD_37_2.verify(&text);
            let _ = MOD_37_36.verify(&text);
            let _ = MOD_27_26.compute(&text);
        }
    }
}

//! Finds personal data in free text that the public will see.
//!
//! Some record fields (a vehicle's make, model and colour) are printed on the credential, the QR
//! page and the in-car card. They are free text, so an applicant or a clerk could type a citizen ID
//! or a phone number into them and publish it. This check refuses that at the edge. It looks for
//! the two identifiers that matter here: an 18-character citizen ID whose check character is right
//! (GB 11643), and a mainland mobile number (11 digits starting 13–19), each standing alone rather
//! than inside a longer run of digits. It is deliberately narrow: a make such as "比亚迪" or a
//! model number must never trip it.

use super::CitizenId;

/// What kind of personal data a text holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PersonalData {
    CitizenId,
    PhoneNumber,
}

impl PersonalData {
    /// The rule code reported to the caller.
    pub fn rule(self) -> &'static str {
        match self {
            PersonalData::CitizenId => "contains_citizen_id",
            PersonalData::PhoneNumber => "contains_phone_number",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            PersonalData::CitizenId => "must not contain a citizen ID number",
            PersonalData::PhoneNumber => "must not contain a phone number",
        }
    }
}

/// Length of a mainland mobile number, in digits.
const MOBILE_DIGITS: usize = 11;
/// Length of a citizen ID, in characters.
const CITIZEN_ID_CHARS: usize = 18;

/// The first personal identifier found in `text`, if any.
pub fn find(text: &str) -> Option<PersonalData> {
    // Runs of ASCII digits (and a trailing X, the ID's check character), separators ignored
    // between digits of a phone number as people write them: "138 0013 8000", "138-0013-8000".
    for run in digit_runs(text) {
        let compact: String = run.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
        if compact.len() == CITIZEN_ID_CHARS && CitizenId::parse(&compact).is_ok() {
            return Some(PersonalData::CitizenId);
        }
        if is_mobile(&compact) || is_mobile(compact.strip_prefix("86").unwrap_or_default()) {
            return Some(PersonalData::PhoneNumber);
        }
    }
    None
}

fn is_mobile(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    bytes.len() == MOBILE_DIGITS
        && bytes.iter().all(u8::is_ascii_digit)
        && bytes[0] == b'1'
        && (b'3'..=b'9').contains(&bytes[1])
}

/// Maximal runs of digits, 'X'/'x' and the separators people put inside numbers.
fn digit_runs(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut runs = Vec::new();
    let mut current = String::new();
    for c in text.chars() {
        let part_of_number = c.is_ascii_digit()
            || (matches!(c, 'X' | 'x') && !current.is_empty())
            || (matches!(c, ' ' | '-') && current.ends_with(|d: char| d.is_ascii_digit()));
        if part_of_number {
            current.push(c.to_ascii_uppercase());
        } else if !current.is_empty() {
            runs.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        runs.push(current);
    }
    runs.into_iter()
        .map(|run| run.trim_end_matches([' ', '-']).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_found_and_ordinary_text_is_not() {
        let cases: &[(&str, Option<PersonalData>)] = &[
            ("比亚迪", None),
            ("秦PLUS EV", None),
            ("白色", None),
            ("Model 3 2024", None),
            ("12345678901", None),   // not a mobile prefix
            ("1380013800012", None), // 13 digits: part of something longer
            ("张三 13800138000", Some(PersonalData::PhoneNumber)),
            ("电话138-0013-8000", Some(PersonalData::PhoneNumber)),
            ("138 0013 8000", Some(PersonalData::PhoneNumber)),
            ("+86 13800138000", Some(PersonalData::PhoneNumber)),
            ("8613800138000", Some(PersonalData::PhoneNumber)),
            ("身份证35020319900101123X", Some(PersonalData::CitizenId)),
            ("id 35020319900101123x", Some(PersonalData::CitizenId)),
            ("350203199001011230", None), // wrong check character: not an ID
        ];
        for (text, expected) in cases {
            assert_eq!(find(text), *expected, "{text:?}");
        }
    }
}

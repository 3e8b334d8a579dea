//! `[credit]`: the city's catalogue of dishonest behaviours (失信行为) and how long a confirmed
//! record bars its subject from new licences.
//!
//! Cities publish their own lists (Xiamen names 20 kinds), so the catalogue is policy, not code.
//! An officer who confirms a passenger's report picks a behaviour from it; the behaviour says
//! whether the record falls on the licence holder or on the platform, and for how many years
//! formal review then refuses that subject. The arithmetic lives here so it stays pure.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::Date;

use super::dates::last_day_of;

/// Most behaviours one catalogue may list.
pub const MAX_BEHAVIOURS: usize = 64;
/// Longest behaviour name, in characters.
pub const MAX_BEHAVIOUR_NAME_CHARS: usize = 64;
/// Longest a record may bar its subject, in years.
pub const MAX_REFUSE_YEARS: u8 = 10;

/// Whom a confirmed record is held against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditSubject {
    /// The licence holder: the driver, or the vehicle's owner.
    Holder,
    /// The platform the vehicle serves.
    Platform,
}

impl std::fmt::Display for CreditSubject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

crate::text_enum::serde_as_text!(
    CreditSubject,
    [CreditSubject::Holder, CreditSubject::Platform]
);

impl CreditSubject {
    pub fn as_str(self) -> &'static str {
        match self {
            CreditSubject::Holder => "holder",
            CreditSubject::Platform => "platform",
        }
    }
}

/// One dishonest behaviour in the catalogue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Behaviour {
    /// Name in Chinese, as the city publishes it.
    pub zh: String,
    /// Name in English.
    pub en: String,
    pub against: CreditSubject,
    /// Years a confirmed record bars new licences; `[credit] refuse_years` when absent.
    #[serde(default)]
    pub refuse_years: Option<u8>,
}

/// `[credit]`: the catalogue and the default bar.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreditPolicy {
    /// Years a confirmed record bars new licences unless its behaviour says otherwise; 0 keeps
    /// records without barring anyone.
    #[serde(default)]
    pub refuse_years: u8,
    /// Behaviour code (ASCII snake case) → behaviour.
    #[serde(default)]
    pub behaviours: BTreeMap<String, Behaviour>,
}

impl CreditPolicy {
    pub fn behaviour(&self, code: &str) -> Option<&Behaviour> {
        self.behaviours.get(code)
    }

    /// Years a record of `behaviour` bars its subject.
    pub fn years_for(&self, behaviour: &Behaviour) -> u8 {
        behaviour.refuse_years.unwrap_or(self.refuse_years)
    }

    /// The last day a record confirmed on `confirmed_on` bars its subject, or `None` when the
    /// behaviour bars no one.
    pub fn barred_until(&self, behaviour: &Behaviour, confirmed_on: Date) -> Option<Date> {
        match self.years_for(behaviour) {
            0 => None,
            years => Some(last_day_of(confirmed_on, years)),
        }
    }

    /// Every invalid value, as `field: message`.
    pub(crate) fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.refuse_years > MAX_REFUSE_YEARS {
            problems.push(format!(
                "credit.refuse_years: is {}, must be 0 to {MAX_REFUSE_YEARS}",
                self.refuse_years
            ));
        }
        if self.behaviours.len() > MAX_BEHAVIOURS {
            problems.push(format!(
                "credit.behaviours: lists {}, at most {MAX_BEHAVIOURS}",
                self.behaviours.len()
            ));
        }
        for (code, behaviour) in &self.behaviours {
            let field = format!("credit.behaviours.{code}");
            let code_ok = !code.is_empty()
                && code.len() <= 32
                && code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !code_ok {
                problems.push(format!("{field}: code must be 1-32 of a-z, 0-9 and '_'"));
            }
            for (part, name) in [("zh", &behaviour.zh), ("en", &behaviour.en)] {
                let chars = name.chars().count();
                if chars == 0
                    || chars > MAX_BEHAVIOUR_NAME_CHARS
                    || name.chars().any(char::is_control)
                {
                    problems.push(format!(
                        "{field}.{part}: must be 1 to {MAX_BEHAVIOUR_NAME_CHARS} characters"
                    ));
                }
            }
            if behaviour.refuse_years.is_some_and(|y| y > MAX_REFUSE_YEARS) {
                problems.push(format!(
                    "{field}.refuse_years: must be 0 to {MAX_REFUSE_YEARS}"
                ));
            }
        }
        problems
    }
}

/// The last day any of `records` (each a barred-until day) still bars its subject on
/// `today`, if one does.
pub fn active_until(records: impl IntoIterator<Item = Date>, today: Date) -> Option<Date> {
    records.into_iter().filter(|until| *until >= today).max()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn behaviour(years: Option<u8>) -> Behaviour {
        Behaviour {
            zh: "拒载".into(),
            en: "refusing a passenger".into(),
            against: CreditSubject::Holder,
            refuse_years: years,
        }
    }

    #[test]
    fn a_record_bars_until_the_day_before_the_anniversary() {
        let policy = CreditPolicy {
            refuse_years: 3,
            behaviours: BTreeMap::new(),
        };
        let on = date!(2026 - 11 - 23);
        assert_eq!(
            policy.barred_until(&behaviour(None), on),
            Some(date!(2029 - 11 - 22))
        );
        assert_eq!(
            policy.barred_until(&behaviour(Some(1)), on),
            Some(date!(2027 - 11 - 22))
        );
        assert_eq!(policy.barred_until(&behaviour(Some(0)), on), None);
    }

    #[test]
    fn only_records_still_running_count() {
        let today = date!(2027 - 01 - 01);
        let records = [
            date!(2026 - 12 - 31),
            date!(2027 - 01 - 01),
            date!(2026 - 06 - 01),
        ];
        assert_eq!(active_until(records, today), Some(date!(2027 - 01 - 01)));
        assert_eq!(active_until([date!(2026 - 12 - 31)], today), None);
    }

    #[test]
    fn bad_catalogues_are_reported_in_full() {
        let mut policy = CreditPolicy {
            refuse_years: 11,
            behaviours: BTreeMap::new(),
        };
        policy
            .behaviours
            .insert("Bad Code".into(), behaviour(Some(12)));
        let mut empty = behaviour(None);
        empty.zh.clear();
        policy.behaviours.insert("empty_name".into(), empty);
        let problems = policy.problems();
        assert_eq!(problems.len(), 4, "{problems:?}");
    }
}

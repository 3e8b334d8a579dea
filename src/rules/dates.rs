//! Calendar arithmetic the rules share, in one place so "3 years of driving", "at most 3 years
//! old" and "valid for 6 years" all count years the same way.
//!
//! Every function is total: a date that would fall outside `time`'s range saturates instead of
//! failing, because a rule must always produce an answer and the inputs here are real-world dates
//! far from either end of the range.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month};

time::serde::format_description!(pub(crate) iso_date, Date, "[year]-[month]-[day]");

/// The `years`-th anniversary of `date`. Someone born on 29 February has their anniversary on
/// 1 March in common years, matching [`crate::ids::CitizenId::age_on`], so ages, driving years
/// and validity periods never disagree about a leap day.
pub(crate) fn add_years(date: Date, years: u8) -> Date {
    let year = date.year().saturating_add(i32::from(years));
    Date::from_calendar_date(year, date.month(), date.day())
        .or_else(|_| Date::from_calendar_date(year, Month::March, 1))
        .unwrap_or(Date::MAX)
}

/// Completed years from `from` to `to`; zero if `to` is before `from`.
pub(crate) fn whole_years(from: Date, to: Date) -> u32 {
    let mut years = i64::from(to.year()) - i64::from(from.year());
    if (u8::from(to.month()), to.day()) < (u8::from(from.month()), from.day()) {
        years -= 1;
    }
    u32::try_from(years.max(0)).unwrap_or(0)
}

/// The last day of a period of `years` that starts on (and includes) `start`: the day before the
/// anniversary, so a 6-year licence from 2026-11-01 ends on 2032-10-31.
pub(crate) fn last_day_of(start: Date, years: u8) -> Date {
    let end = add_years(start, years);
    end.previous_day().unwrap_or(end)
}

/// Formats a date as `YYYY-MM-DD` for reason messages.
pub fn show(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Serde for a list of `YYYY-MM-DD` dates (the `time` macro only covers one and `Option`).
pub(crate) mod iso_date_list {
    use super::*;

    #[derive(Serialize, Deserialize)]
    #[serde(transparent)]
    struct Item(#[serde(with = "iso_date")] Date);

    pub(crate) fn serialize<S: Serializer>(dates: &[Date], s: S) -> Result<S::Ok, S::Error> {
        let items: Vec<Item> = dates.iter().copied().map(Item).collect();
        items.serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Date>, D::Error> {
        let items = Vec::<Item>::deserialize(d)?;
        Ok(items.into_iter().map(|Item(date)| date).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn anniversaries_of_a_leap_day_fall_on_the_first_of_march() {
        assert_eq!(add_years(date!(2028 - 02 - 29), 1), date!(2029 - 03 - 01));
        assert_eq!(add_years(date!(2028 - 02 - 29), 4), date!(2032 - 02 - 29));
        assert_eq!(last_day_of(date!(2028 - 02 - 29), 6), date!(2034 - 02 - 28));
    }

    #[test]
    fn whole_years_agree_with_anniversaries() {
        let starts = [
            date!(2000 - 02 - 29),
            date!(2015 - 06 - 01),
            date!(1999 - 12 - 31),
        ];
        for start in starts {
            for n in 0..=20u8 {
                let anniversary = add_years(start, n);
                assert_eq!(whole_years(start, anniversary), u32::from(n));
                if let Some(before) = anniversary.previous_day().filter(|_| n > 0) {
                    assert_eq!(whole_years(start, before), u32::from(n) - 1);
                }
            }
        }
    }

    #[test]
    fn whole_years_never_go_negative() {
        assert_eq!(whole_years(date!(2030 - 01 - 01), date!(2020 - 01 - 01)), 0);
    }

    #[test]
    fn periods_end_the_day_before_the_anniversary() {
        assert_eq!(last_day_of(date!(2026 - 11 - 01), 6), date!(2032 - 10 - 31));
        assert_eq!(last_day_of(date!(2024 - 03 - 15), 8), date!(2032 - 03 - 14));
    }

    #[test]
    fn far_future_saturates() {
        assert_eq!(add_years(Date::MAX, 5), Date::MAX);
    }

    #[test]
    fn dates_show_as_iso() {
        assert_eq!(show(date!(2026 - 01 - 05)), "2026-01-05");
    }
}

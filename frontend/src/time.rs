//! Formatting server timestamps (Unix milliseconds) for display in local time, and
//! the calendar days the message list is divided into.
//!
//! In the browser, "local" is the browser's time zone (through `Date`); elsewhere
//! (the native unit tests) it is UTC.

/// Milliseconds since the Unix epoch, by the browser's clock.
pub fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}

/// `HH:MM` in local time.
pub fn local_hhmm(ts_ms: u64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        let date = js_date(ts_ms);
        format!("{:02}:{:02}", date.get_hours(), date.get_minutes())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let minutes = (ts_ms / 60_000) % (24 * 60);
        format!("{:02}:{:02}", minutes / 60, minutes % 60)
    }
}

/// The machine-readable `datetime` attribute (ISO 8601, UTC).
pub fn iso(ts_ms: u64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        String::from(js_date(ts_ms).to_iso_string())
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let _ = ts_ms;
        String::new()
    }
}

/// A full local date and time for the tooltip.
pub fn local_full(ts_ms: u64) -> String {
    #[cfg(target_arch = "wasm32")]
    {
        String::from(js_date(ts_ms).to_locale_string("default", &wasm_bindgen::JsValue::UNDEFINED))
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        format!("{} {}", day_of(ts_ms).long(None), local_hhmm(ts_ms))
    }
}

#[cfg(target_arch = "wasm32")]
fn js_date(ts_ms: u64) -> js_sys::Date {
    js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts_ms as f64))
}

/// A calendar day in local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day {
    pub year: i32,
    /// 1–12.
    pub month: u32,
    /// 1–31.
    pub day: u32,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

impl Day {
    /// Days since 1970-01-01 (proleptic Gregorian; H. Hinnant's algorithm).
    fn days_since_epoch(self) -> i64 {
        let (month, day) = (i64::from(self.month), i64::from(self.day));
        let year = i64::from(self.year) - i64::from(month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    fn from_days_since_epoch(days: i64) -> Self {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let mp = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Self {
            year: i32::try_from(year).unwrap_or(i32::MAX),
            month: u32::try_from(month).unwrap_or(1),
            day: u32::try_from(day).unwrap_or(1),
        }
    }

    /// The day before.
    pub fn previous(self) -> Self {
        Self::from_days_since_epoch(self.days_since_epoch() - 1)
    }

    /// "Monday, 4 March", with the year unless it is `this_year`.
    pub fn long(self, this_year: Option<i32>) -> String {
        let weekday =
            WEEKDAYS[usize::try_from((self.days_since_epoch() + 4).rem_euclid(7)).unwrap_or(0)];
        let month = MONTHS[usize::try_from(self.month.clamp(1, 12) - 1).unwrap_or(0)];
        if this_year == Some(self.year) {
            format!("{weekday}, {} {month}", self.day)
        } else {
            format!("{weekday}, {} {month} {}", self.day, self.year)
        }
    }

    /// The `data-day` key: `YYYY-MM-DD`.
    pub fn key(self) -> String {
        format!("{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// The local day of a timestamp.
pub fn day_of(ts_ms: u64) -> Day {
    #[cfg(target_arch = "wasm32")]
    {
        let date = js_date(ts_ms);
        Day {
            year: i32::try_from(date.get_full_year()).unwrap_or(1970),
            month: date.get_month() + 1,
            day: date.get_date(),
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    {
        let days = i64::try_from(ts_ms / 86_400_000).unwrap_or(0);
        Day::from_days_since_epoch(days)
    }
}

/// The local day now.
pub fn today() -> Day {
    #[cfg(target_arch = "wasm32")]
    let now = now_ms();
    #[cfg(not(target_arch = "wasm32"))]
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    day_of(now)
}

/// What a day separator says: "Today", "Yesterday", or the date.
pub fn day_label(day: Day, today: Day) -> String {
    if day == today {
        "Today".to_owned()
    } else if day == today.previous() {
        "Yesterday".to_owned()
    } else {
        day.long(Some(today.year))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(year: i32, month: u32, day: u32) -> Day {
        Day { year, month, day }
    }

    #[test]
    fn formats_hours_and_minutes() {
        // 2023-11-14T22:13:20Z
        assert_eq!(local_hhmm(1_700_000_000_000), "22:13");
    }

    #[test]
    fn days_of_timestamps() {
        assert_eq!(day_of(0), day(1970, 1, 1));
        assert_eq!(day_of(1_700_000_000_000), day(2023, 11, 14));
        // 2024-02-29T23:59:59.999Z, a leap day.
        assert_eq!(day_of(1_709_251_199_999), day(2024, 2, 29));
        assert_eq!(day_of(1_709_251_200_000), day(2024, 3, 1));
    }

    #[test]
    fn previous_day_crosses_months_and_years() {
        assert_eq!(day(2024, 3, 1).previous(), day(2024, 2, 29));
        assert_eq!(day(2023, 3, 1).previous(), day(2023, 2, 28));
        assert_eq!(day(2024, 1, 1).previous(), day(2023, 12, 31));
        assert_eq!(day(1970, 1, 1).previous(), day(1969, 12, 31));
    }

    #[test]
    fn labels_are_relative_when_close() {
        let today = day(2024, 3, 1);
        assert_eq!(day_label(today, today), "Today");
        assert_eq!(day_label(day(2024, 2, 29), today), "Yesterday");
        assert_eq!(day_label(day(2024, 2, 28), today), "Wednesday, 28 February");
        assert_eq!(
            day_label(day(2023, 11, 14), today),
            "Tuesday, 14 November 2023"
        );
        assert_eq!(day(2023, 11, 14).key(), "2023-11-14");
    }
}

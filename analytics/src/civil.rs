//! UTC calendar arithmetic on UNIX time, by hand (Howard Hinnant's `days_from_civil` and
//! `civil_from_days`, proleptic Gregorian calendar, no leap seconds), plus RFC 3339 formatting
//! and parsing for the log partitions, the `minute` group and `ringway logs --since`.

use std::fmt::Write as _;

/// Microseconds in a second.
pub const US_PER_SEC: i64 = 1_000_000;
/// Microseconds in a minute.
pub const US_PER_MINUTE: i64 = 60 * US_PER_SEC;
/// Microseconds in an hour.
pub const US_PER_HOUR: i64 = 60 * US_PER_MINUTE;
/// Microseconds in a day.
pub const US_PER_DAY: i64 = 24 * US_PER_HOUR;

/// Days since 1970-01-01 of the civil date `year-month-day` (`month` 1..=12, `day` 1..=31; not
/// range-checked).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// The civil date `(year, month, day)` of `days` since 1970-01-01.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` is a Gregorian leap year.
pub fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` (1..=12) of `year`.
pub fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Microseconds since the UNIX epoch of `hour` (0..=23) on the civil date `year-month-day`.
pub fn hour_start_us(year: i64, month: u32, day: u32, hour: u32) -> i64 {
    days_from_civil(year, month, day) * US_PER_DAY + i64::from(hour) * US_PER_HOUR
}

/// A broken-down UTC time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UtcDateTime {
    /// Year (proleptic Gregorian).
    pub year: i64,
    /// Month, 1..=12.
    pub month: u32,
    /// Day of the month, 1..=31.
    pub day: u32,
    /// Hour, 0..=23.
    pub hour: u32,
    /// Minute, 0..=59.
    pub minute: u32,
    /// Second, 0..=59.
    pub second: u32,
    /// Microseconds within the second, 0..=999_999.
    pub micros: u32,
}

impl UtcDateTime {
    /// Breaks down microseconds since the UNIX epoch (negative values are before 1970).
    pub fn from_unix_us(us: i64) -> Self {
        let days = us.div_euclid(US_PER_DAY);
        let in_day = us.rem_euclid(US_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        let secs = in_day / US_PER_SEC;
        Self {
            year,
            month,
            day,
            hour: (secs / 3600) as u32,
            minute: (secs / 60 % 60) as u32,
            second: (secs % 60) as u32,
            micros: (in_day % US_PER_SEC) as u32,
        }
    }

    /// Microseconds since the UNIX epoch.
    pub fn to_unix_us(&self) -> i64 {
        let days = days_from_civil(self.year, self.month, self.day);
        days * US_PER_DAY
            + i64::from(self.hour) * US_PER_HOUR
            + i64::from(self.minute) * US_PER_MINUTE
            + i64::from(self.second) * US_PER_SEC
            + i64::from(self.micros)
    }
}

/// Appends `us` (microseconds since the UNIX epoch) as RFC 3339 in UTC:
/// `2026-11-28T06:00:00Z`, with `.ffffff` before the `Z` when the microseconds are not zero.
pub fn write_rfc3339(out: &mut String, us: i64) {
    let t = UtcDateTime::from_unix_us(us);
    // Writing to a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    );
    if t.micros != 0 {
        let _ = write!(out, ".{:06}", t.micros);
    }
    out.push('Z');
}

/// `us` as RFC 3339 in UTC (see [`write_rfc3339`]).
pub fn format_rfc3339(us: i64) -> String {
    let mut s = String::with_capacity(27);
    write_rfc3339(&mut s, us);
    s
}

/// Parses an RFC 3339 timestamp into microseconds since the UNIX epoch.
///
/// Accepted: `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` (`T` may be `t` or a space, `Z`
/// may be `z`; fractions beyond microseconds are truncated), and a bare date `YYYY-MM-DD`
/// meaning midnight UTC. Returns `None` for anything else, including out-of-range fields.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let year = digits(b, 0, 4)? as i64;
    let month = digits(b, 5, 2)?;
    let day = digits(b, 8, 2)?;
    if b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
        return None;
    }
    let date_us = days_from_civil(year, month, day) * US_PER_DAY;
    if b.len() == 10 {
        return Some(date_us);
    }
    if !matches!(b.get(10), Some(b'T' | b't' | b' ')) {
        return None;
    }
    let hour = digits(b, 11, 2)?;
    let minute = digits(b, 14, 2)?;
    let second = digits(b, 17, 2)?;
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            if i - start < 6 {
                micros = micros * 10 + i64::from(b[i] - b'0');
            }
            i += 1;
        }
        let n = i - start;
        if n == 0 {
            return None;
        }
        for _ in n..6 {
            micros *= 10;
        }
    }
    let offset_us = match &b[i..] {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), rest @ ..] if rest.len() == 5 && rest[2] == b':' => {
            let oh = digits(rest, 0, 2)?;
            let om = digits(rest, 3, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i64::from(oh) * US_PER_HOUR + i64::from(om) * US_PER_MINUTE;
            if *sign == b'+' {
                off
            } else {
                -off
            }
        }
        _ => return None,
    };
    Some(
        date_us
            + i64::from(hour) * US_PER_HOUR
            + i64::from(minute) * US_PER_MINUTE
            + i64::from(second) * US_PER_SEC
            + micros
            - offset_us,
    )
}

/// The `n` ASCII digits of `b` starting at `at`, as a number.
fn digits(b: &[u8], at: usize, n: usize) -> Option<u32> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips_over_four_centuries() {
        // Every day from 1800 to 2200, both directions.
        let start = days_from_civil(1800, 1, 1);
        let end = days_from_civil(2200, 1, 1);
        let (mut y, mut m, mut d) = (1800i64, 1u32, 1u32);
        for days in start..end {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            assert_eq!(days_from_civil(y, m, d), days);
            d += 1;
            if d > days_in_month(y, m) {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn known_dates() {
        for (days, ymd) in [
            (0, (1970, 1, 1)),
            (-1, (1969, 12, 31)),
            (11_016, (2000, 2, 29)),
            (19_782, (2024, 2, 29)),
            (20_785, (2026, 11, 28)),
        ] {
            assert_eq!(civil_from_days(days), ymd);
        }
    }

    #[test]
    fn breaks_down_and_formats() {
        let us = parse_rfc3339("2026-11-28T06:07:08.123456Z").unwrap();
        let t = UtcDateTime::from_unix_us(us);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute, t.second, t.micros),
            (2026, 11, 28, 6, 7, 8, 123_456)
        );
        assert_eq!(t.to_unix_us(), us);
        assert_eq!(format_rfc3339(us), "2026-11-28T06:07:08.123456Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(-1), "1969-12-31T23:59:59.999999Z");
    }

    #[test]
    fn parses_rfc3339_variants() {
        let base = parse_rfc3339("2026-11-28T06:00:00Z").unwrap();
        assert_eq!(base, 1_795_845_600 * US_PER_SEC);
        assert_eq!(parse_rfc3339("2026-11-28t06:00:00z"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-28 06:00:00Z"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-28T08:00:00+02:00"), Some(base));
        assert_eq!(parse_rfc3339("2026-11-28T05:30:00-00:30"), Some(base));
        assert_eq!(
            parse_rfc3339("2026-11-28T06:00:00.5Z"),
            Some(base + 500_000)
        );
        assert_eq!(
            parse_rfc3339("2026-11-28T06:00:00.123456789Z"),
            Some(base + 123_456)
        );
        assert_eq!(parse_rfc3339("2026-11-28"), Some(base - 6 * US_PER_HOUR));
        for bad in [
            "",
            "2026-11-28T06:00:00",
            "2026-13-01T00:00:00Z",
            "2026-02-29T00:00:00Z",
            "2026-11-28T24:00:00Z",
            "2026-11-28T06:00:00.Z",
            "2026-11-28T06:00:00+0200",
            "2026/11/28",
            "15m",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}

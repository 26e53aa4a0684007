//! The one clock and the calendar arithmetic of every lienthong crate. Only `now_s` and
//! `now_ms` read the system clock; everything else is pure arithmetic on Unix times.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 if the clock is before it).
pub fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The civil date (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's
/// civil_from_days, proleptic Gregorian).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m as u32, d as u32)
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's days_from_civil).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DD HH:MM:SS` of a Unix time in UTC.
pub fn utc_datetime(unix_s: i64) -> String {
    let (y, m, d) = civil_from_days(unix_s.div_euclid(86_400));
    let s = unix_s.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Vietnam's offset from UTC (no daylight saving).
pub const VIETNAM_UTC_OFFSET_S: i64 = 7 * 3600;

/// The calendar date (`YYYY-MM-DD`) in Vietnam at a Unix time, pure arithmetic
/// (civil-from-days, Howard Hinnant's algorithm); callers bring the clock.
pub fn vietnam_date(unix_s: i64) -> String {
    let (y, m, d) = civil_from_days((unix_s + VIETNAM_UTC_OFFSET_S).div_euclid(86_400));
    format!("{y:04}-{m:02}-{d:02}")
}

/// The date and time in Vietnam at a Unix time, `YYYY-MM-DD HH:MM:SS +07:00`.
pub fn vietnam_time(unix_s: i64) -> String {
    let s = (unix_s + VIETNAM_UTC_OFFSET_S).rem_euclid(86_400);
    format!(
        "{} {:02}:{:02}:{:02} +07:00",
        vietnam_date(unix_s),
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// Parses a moment written as `YYYY-MM-DD HH:MM[:SS]` (Vietnam time) or RFC 3339
/// (`YYYY-MM-DDTHH:MM[:SS](Z|±HH:MM)`); Unix seconds, or None when it is not one.
pub fn parse_time(text: &str) -> Option<u64> {
    let text = text.trim();
    let (date, rest) = text.split_at_checked(10)?;
    let mut d = date.split('-');
    let (y, m, day) = (d.next()?, d.next()?, d.next()?);
    if d.next().is_some() || y.len() != 4 || m.len() != 2 || day.len() != 2 {
        return None;
    }
    let (y, m, day): (i64, u32, u32) = (y.parse().ok()?, m.parse().ok()?, day.parse().ok()?);
    if !(1..=12).contains(&m) || day == 0 || day > days_in_month(y, m) {
        return None;
    }
    let rest = rest.strip_prefix([' ', 'T'])?;
    let (clock, offset_s) = if let Some(c) = rest.strip_suffix('Z') {
        (c, 0)
    } else if rest.len() > 6 && matches!(rest.as_bytes()[rest.len() - 6], b'+' | b'-') {
        let (c, o) = rest.split_at(rest.len() - 6);
        let sign = if o.starts_with('-') { -1 } else { 1 };
        let (oh, om) = o[1..].split_once(':')?;
        let (oh, om): (i64, i64) = (oh.parse().ok()?, om.parse().ok()?);
        if oh > 23 || om > 59 {
            return None;
        }
        (c, sign * (oh * 3600 + om * 60))
    } else if text.contains('T') {
        return None;
    } else {
        (rest, VIETNAM_UTC_OFFSET_S)
    };
    let mut c = clock.split(':');
    let (h, mi, s) = (c.next()?, c.next()?, c.next().unwrap_or("00"));
    if c.next().is_some() || h.len() != 2 || mi.len() != 2 || s.len() != 2 {
        return None;
    }
    let (h, mi, s): (i64, i64, i64) = (h.parse().ok()?, mi.parse().ok()?, s.parse().ok()?);
    if h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let unix = days_from_civil(y, m, day) * 86_400 + h * 3600 + mi * 60 + s - offset_s;
    u64::try_from(unix).ok()
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vietnam_times() {
        assert_eq!(super::vietnam_time(0), "1970-01-01 07:00:00 +07:00");
        assert_eq!(
            super::vietnam_time(1_795_453_199),
            "2026-11-23 23:59:59 +07:00"
        );
        assert_eq!(
            super::vietnam_time(1_795_453_200),
            "2026-11-24 00:00:00 +07:00"
        );
    }

    #[test]
    fn vietnam_dates() {
        assert_eq!(super::vietnam_date(0), "1970-01-01");
        // 2026-11-23T17:00:00Z is already the 24th in Hà Nội.
        assert_eq!(super::vietnam_date(1_795_453_200), "2026-11-24");
        assert_eq!(super::vietnam_date(1_795_453_199), "2026-11-23");
        assert_eq!(super::vietnam_date(951_782_400), "2000-02-29");
    }

    #[test]
    fn civil_days_round_trip() {
        for days in [-719_468_i64, -1, 0, 1, 11_016, 20_423, 2_932_896] {
            let (y, m, d) = super::civil_from_days(days);
            assert_eq!(super::days_from_civil(y, m, d), days, "{y}-{m}-{d}");
        }
        assert_eq!(super::civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(
            super::utc_datetime(951_782_400 + 3_661),
            "2000-02-29 01:01:01"
        );
    }

    #[test]
    fn moments_parse_in_vietnam_time_or_rfc_3339() {
        let t = parse_time("2026-12-02 09:30").unwrap();
        assert_eq!(vietnam_time(t as i64), "2026-12-02 09:30:00 +07:00");
        assert_eq!(parse_time("2026-12-02T02:30:00Z"), Some(t));
        assert_eq!(parse_time("2026-12-02T09:30:00+07:00"), Some(t));
        assert_eq!(parse_time("2026-12-02T04:30:00+02:00"), Some(t));
        assert_eq!(parse_time("2026-12-02 09:30:15"), Some(t + 15));
        for bad in [
            "",
            "2026-12-02",
            "2026-13-02 09:30",
            "2026-02-30 09:30",
            "2026-12-02 24:00",
            "2026-12-02T09:30",
            "2026-12-02 9:30",
            "02/12/2026 09:30",
            "2026-12-02 09:30+25:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}

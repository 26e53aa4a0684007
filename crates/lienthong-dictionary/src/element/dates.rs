//! Dates and timestamps in their accepted forms, and dates exported as date-times.

use super::*;

/// Whether `s` is a real calendar date written `YYYY-MM-DD`.
pub fn is_iso_date(s: &str) -> bool {
    s.len() == 10
        && s.as_bytes()[4] == b'-'
        && parse_date(s)
            .is_some_and(|(y, m, d)| (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
}

/// Parses an accepted date form into (year, month, day); month/day 0 for a bare year.
pub(super) fn parse_date(v: &str) -> Option<(u32, u32, u32)> {
    let num = |s: &str| -> Option<u32> {
        (!s.is_empty() && s.chars().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let b = v.as_bytes();
    if b.len() == 10 && b[4] == b'-' && b[7] == b'-' {
        return Some((num(&v[..4])?, num(&v[5..7])?, num(&v[8..])?));
    }
    if b.len() == 8 && v.chars().all(|c| c.is_ascii_digit()) {
        return Some((num(&v[..4])?, num(&v[4..6])?, num(&v[6..])?));
    }
    if b.len() == 4 {
        return Some((num(v)?, 0, 0));
    }
    let parts: Vec<&str> = v.split(['/', '.', '-']).collect();
    if parts.len() == 3 && parts[2].len() == 4 && parts[0].len() <= 2 && parts[1].len() <= 2 {
        return Some((num(parts[2])?, num(parts[1])?, num(parts[0])?));
    }
    None
}

/// Days in month `m` of year `y` (Gregorian); 0 for a month outside 1..=12.
pub fn days_in_month(y: u32, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Splits a date exported as a date-time (`1963-06-03 00:00:00.000`, `1963-06-03T00:00:00`,
/// `03/06/1963 0:00`) into its date and its time, when it has one.
pub(super) fn split_time(v: &str) -> Option<(&str, &str)> {
    let at = v.find([' ', 'T'])?;
    let (date, time) = (&v[..at], v[at + 1..].trim_start());
    (!time.is_empty() && time.as_bytes()[0].is_ascii_digit()).then_some((date, time))
}

/// Reads a time of day `H[H]:MM[:SS[.fff]]` with an optional zone (`Z`, `±HH`, `±HH:MM`,
/// `±HHMM`): whether it is midnight, and the zone's offset in minutes.
pub(super) fn read_time(t: &str) -> Option<(bool, i32)> {
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == ':' || c == '.'))
        .unwrap_or(t.len());
    let (clock, zone) = (&t[..end], &t[end..]);
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let parts: Vec<&str> = hms.split(':').collect();
    let num = |s: &str, max: u32| -> Option<u32> {
        (!s.is_empty() && s.len() <= 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
            .filter(|n| *n <= max)
    };
    if !(2..=3).contains(&parts.len())
        || parts[1].len() != 2
        || (parts.len() == 2 && !frac.is_empty())
    {
        return None;
    }
    let h = num(parts[0], 23)?;
    let m = num(parts[1], 59)?;
    let sec = match parts.get(2) {
        Some(x) if x.len() == 2 => num(x, 60)?,
        Some(_) => return None,
        None => 0,
    };
    if !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let midnight = h == 0 && m == 0 && sec == 0 && frac.bytes().all(|b| b == b'0');
    let offset = match zone {
        "" | "Z" => 0,
        z if matches!(z.as_bytes()[0], b'+' | b'-') => {
            let digits: String = z[1..].chars().filter(|c| *c != ':').collect();
            if !(digits.len() == 2 || digits.len() == 4) || z[1..].len() > 5 {
                return None;
            }
            let hh = num(&digits[..2], 14)? as i32;
            let mm = if digits.len() == 4 {
                num(&digits[2..], 59)? as i32
            } else {
                0
            };
            let sign = if z.starts_with('-') { -1 } else { 1 };
            sign * (hh * 60 + mm)
        }
        _ => return None,
    };
    Some((midnight, offset))
}

/// Vietnam time's offset from UTC in minutes.
pub(super) const VIETNAM_OFFSET_MIN: i32 = 7 * 60;

pub(super) fn date(raw: &str, year_only: bool, out: &mut Out<'_>) -> String {
    match date_in_form(raw) {
        Some(t) => t.to_owned(),
        None => date_general(raw, year_only, out),
    }
}

/// Fast path: `raw` trimmed when it is a real calendar date `YYYY-MM-DD` in the accepted
/// years, which the general path returns unchanged and without a finding (a test compares
/// the two).
pub(super) fn date_in_form(raw: &str) -> Option<&str> {
    let t = raw.trim();
    let (y, m, d) = iso_digits(t)?;
    ((1800..=2200).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m))
        .then_some(t)
}

/// Fast path: `raw` trimmed when it is an RFC 3339 timestamp in the form kept
/// (`YYYY-MM-DDTHH:MM:SS` and `Z` or `±HH:MM`, a real date in the accepted years), which the
/// general path returns unchanged and without a finding (a test compares the two).
pub(super) fn timestamp_in_form(raw: &str) -> Option<&str> {
    let t = raw.trim();
    let b = t.as_bytes();
    if !(b.len() == 20 || b.len() == 25) || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    date_in_form(&t[..10])?;
    let n = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    let clock = n(11..13)? < 24 && n(14..16)? < 60 && n(17..19)? < 61;
    let zone = match &b[19..] {
        [b'Z'] => true,
        [b'+' | b'-', _, _, b':', _, _] => n(20..22)? <= 14 && n(23..25)? < 60,
        _ => false,
    };
    (clock && zone).then_some(t)
}

/// Year, month and day of `YYYY-MM-DD` written with ASCII digits.
fn iso_digits(v: &str) -> Option<(u32, u32, u32)> {
    let b = v.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |acc, c| {
            c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
        })
    };
    Some((n(0..4)?, n(5..7)?, n(8..10)?))
}

pub(super) fn date_general(raw: &str, year_only: bool, out: &mut Out<'_>) -> String {
    let whole = raw.trim();
    let mut v = whole;
    if let Some((date_part, time)) = split_time(whole) {
        let Some((midnight, offset)) = read_time(time) else {
            out.error(
                "date.format",
                "not a date in an accepted form (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY)",
            );
            return whole.to_owned();
        };
        if !midnight {
            out.error(
                "date.has_time",
                format!(
                    "a date-time at {time}, not midnight: not a date exported with its time,                      so the date is not taken from it"
                ),
            );
            return whole.to_owned();
        }
        // Midnight at an offset east of Vietnam is the evening before in Vietnam.
        if offset > VIETNAM_OFFSET_MIN {
            out.error(
                "date.zone_moves_date",
                format!(
                    "midnight at UTC{} is the previous day in Vietnam (UTC+07:00): which date                      is meant is not certain",
                    &time[time.find(['+', '-']).unwrap_or(0)..]
                ),
            );
            return whole.to_owned();
        }
        if parse_date(date_part).is_none_or(|(_, m, _)| m == 0) {
            out.error(
                "date.format",
                "not a date in an accepted form (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY)",
            );
            return whole.to_owned();
        }
        v = date_part;
    }
    let mut findings = Vec::new();
    let mut sub = Out {
        field: out.field,
        findings: &mut findings,
    };
    let date = calendar_date(v, year_only, &mut sub);
    let failed = findings.iter().any(|f| f.severity == Severity::Error);
    if v.len() != whole.len() && !failed {
        out.repaired(
            "date.midnight_time",
            "a date exported as a date-time at midnight: the time removed",
        );
    }
    out.findings.append(&mut findings);
    // An invalid value is kept as written, time and all.
    if failed {
        whole.to_owned()
    } else {
        date
    }
}

/// Checks and normalises a date written in one of the accepted forms.
pub(super) fn calendar_date(v: &str, year_only: bool, out: &mut Out<'_>) -> String {
    let Some((y, m, d)) = parse_date(v) else {
        out.error(
            "date.format",
            "not a date in an accepted form (YYYY-MM-DD, YYYYMMDD, DD/MM/YYYY, YYYY)",
        );
        return v.to_owned();
    };
    if m == 0 {
        if !year_only {
            out.error("date.format", "a year alone is not accepted for this field");
        }
        if !(1800..=2200).contains(&y) {
            out.error("date.impossible", format!("year {y} is out of range"));
        }
        return format!("{y:04}");
    }
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) || !(1800..=2200).contains(&y) {
        out.error(
            "date.impossible",
            format!("{v} is not a calendar date (day and month swapped?)"),
        );
        return v.to_owned();
    }
    if v.len() == 10 && v.as_bytes()[4] == b'-' {
        return v.to_owned();
    }
    format!("{y:04}-{m:02}-{d:02}")
}

pub(super) fn timestamp(raw: &str, out: &mut Out<'_>) -> String {
    match timestamp_in_form(raw) {
        Some(t) => t.to_owned(),
        None => timestamp_general(raw, out),
    }
}

pub(super) fn timestamp_general(raw: &str, out: &mut Out<'_>) -> String {
    let v = raw.trim();
    let (date_part, rest) = if v.len() >= 19 && matches!(v.as_bytes()[10], b'T' | b' ') {
        (&v[..10], &v[11..])
    } else {
        (v, "")
    };
    let mut sub = Out {
        field: out.field,
        findings: &mut Vec::new(),
    };
    let d = date(date_part, false, &mut sub);
    let time_ok = rest.len() >= 8
        && rest.as_bytes()[..8].is_ascii()
        && rest.as_bytes()[2] == b':'
        && rest.as_bytes()[5] == b':'
        && rest[..2].parse::<u32>().is_ok_and(|h| h < 24)
        && rest[3..5].parse::<u32>().is_ok_and(|m| m < 60)
        && rest[6..8].parse::<u32>().is_ok_and(|s| s < 61);
    if !sub.findings.is_empty() || !time_ok {
        out.error(
            "timestamp.format",
            "not an RFC 3339 timestamp (YYYY-MM-DDTHH:MM:SS+07:00)",
        );
        return v.to_owned();
    }
    let tail = &rest[8..];
    let (frac, zone) = match tail.strip_prefix('.') {
        Some(t) => {
            let n = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            if n == 0 {
                out.error(
                    "timestamp.format",
                    "a decimal point with no fraction digits",
                );
                return v.to_owned();
            }
            (&tail[..n + 1], &t[n..])
        }
        None => ("", tail),
    };
    // PostgreSQL's timestamptz text and ISO 8601's short forms give `+07` and `+0700`.
    let long_zone;
    let zone = if (zone.len() == 3 || zone.len() == 5)
        && matches!(zone.as_bytes()[0], b'+' | b'-')
        && zone[1..].bytes().all(|b| b.is_ascii_digit())
    {
        let mm = if zone.len() == 5 { &zone[3..5] } else { "00" };
        long_zone = format!("{}:{mm}", &zone[..3]);
        long_zone.as_str()
    } else {
        zone
    };
    let zone_ok = zone.is_empty()
        || zone == "Z"
        || (zone.len() == 6
            && matches!(zone.as_bytes()[0], b'+' | b'-')
            && zone.as_bytes()[3] == b':'
            && zone[1..3].parse::<u32>().is_ok_and(|h| h <= 14)
            && zone[4..6].parse::<u32>().is_ok_and(|m| m < 60));
    if !zone_ok {
        out.error("timestamp.format", "bad time-zone offset");
        return v.to_owned();
    }
    if !zone.is_empty() && v.as_bytes()[10] == b'T' && v.ends_with(zone) {
        return v.to_owned();
    }
    // A timestamp without an offset is Vietnam time (UTC+07:00).
    let zone = if zone.is_empty() { "+07:00" } else { zone };
    format!("{d}T{}{frac}{zone}", &rest[..8])
}

//! Identifiers in the X-Road form: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`, e.g.
//! `VN/GOV/BCA/DANCU`. Pure: parsing and display only.

use std::fmt;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid identifier {value:?}: {reason}")]
pub struct IdError {
    pub value: String,
    pub reason: &'static str,
}

/// A member (`VN/GOV/BCA`) or one of its subsystems (`VN/GOV/BCA/DANCU`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MemberId {
    pub instance: String,
    pub class: String,
    pub member: String,
    pub subsystem: Option<String>,
}

fn part_ok(p: &str) -> bool {
    p.len() <= 64
        && p.chars().any(|c| c.is_ascii_alphanumeric())
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl MemberId {
    /// Parses `INSTANCE/CLASS/MEMBER` or `INSTANCE/CLASS/MEMBER/SUBSYSTEM`.
    pub fn parse(s: &str) -> Result<MemberId, IdError> {
        let err = |reason| IdError {
            value: s.chars().take(100).collect(),
            reason,
        };
        let parts: Vec<&str> = s.split('/').collect();
        if !(3..=4).contains(&parts.len()) {
            return Err(err("expected INSTANCE/CLASS/MEMBER[/SUBSYSTEM]"));
        }
        if !parts.iter().all(|p| part_ok(p)) {
            return Err(err("each part is 1-64 letters, digits, '-', '_' or '.'"));
        }
        Ok(MemberId {
            instance: parts[0].into(),
            class: parts[1].into(),
            member: parts[2].into(),
            subsystem: parts.get(3).map(|s| s.to_string()),
        })
    }

    /// The member this subsystem belongs to (itself when it is a member).
    pub fn member_only(&self) -> MemberId {
        MemberId {
            subsystem: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for MemberId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.instance, self.class, self.member)?;
        if let Some(s) = &self.subsystem {
            write!(f, "/{s}")?;
        }
        Ok(())
    }
}

/// A service: a provider subsystem and a service code, `VN/GOV/BCA/DANCU/citizen`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ServiceId {
    pub provider: MemberId,
    pub code: String,
}

impl ServiceId {
    pub fn parse(s: &str) -> Result<ServiceId, IdError> {
        let (provider, code) = s.rsplit_once('/').ok_or(IdError {
            value: s.into(),
            reason: "expected PROVIDER/SERVICE",
        })?;
        let provider = MemberId::parse(provider)?;
        if provider.subsystem.is_none() || !part_ok(code) {
            return Err(IdError {
                value: s.into(),
                reason: "expected INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE",
            });
        }
        Ok(ServiceId {
            provider,
            code: code.into(),
        })
    }
}

impl fmt::Display for ServiceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.provider, self.code)
    }
}

/// Vietnam's offset from UTC (no daylight saving).
pub const VIETNAM_UTC_OFFSET_S: i64 = 7 * 3600;

/// The calendar date (`YYYY-MM-DD`) in Vietnam at a Unix time, pure arithmetic
/// (civil-from-days, Howard Hinnant's algorithm); callers bring the clock.
pub fn vietnam_date(unix_s: i64) -> String {
    let days = (unix_s + VIETNAM_UTC_OFFSET_S).div_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
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

#[cfg(test)]
mod tests {
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

    use super::*;

    #[test]
    fn parse_and_display() {
        let id = MemberId::parse("VN/GOV/BCA/DANCU").unwrap();
        assert_eq!(id.to_string(), "VN/GOV/BCA/DANCU");
        assert_eq!(id.member_only().to_string(), "VN/GOV/BCA");
        let s = ServiceId::parse("VN/GOV/BCA/DANCU/citizen").unwrap();
        assert_eq!(s.provider, id);
        assert_eq!(s.to_string(), "VN/GOV/BCA/DANCU/citizen");
        for bad in [
            "",
            "VN",
            "VN/GOV",
            "VN/GOV/BCA/DANCU/X/Y",
            "VN//BCA",
            "VN/GOV/B C A",
            "VN/GOV/BCA/..",
        ] {
            assert!(MemberId::parse(bad).is_err(), "{bad}");
        }
        assert!(ServiceId::parse("VN/GOV/BCA/citizen").is_err());
    }
}

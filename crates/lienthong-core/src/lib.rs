//! Identifiers in the X-Road form: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`, e.g.
//! `VN/GOV/BCA/DANCU` (pure: parsing and display), and the one clock and calendar of every
//! lienthong crate (`time`).

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

pub mod time;

pub use time::{vietnam_date, vietnam_time, VIETNAM_UTC_OFFSET_S};

#[cfg(test)]
mod tests {
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

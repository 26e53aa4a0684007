//! What validation says about a value: a finding per rule, with a severity.

/// How bad a finding is. Only `Error` makes a record invalid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The value was changed to a clean form (legacy encoding, NFD, case, abbreviation…);
    /// reported so that no repair is silent.
    Repaired,
    /// Suspicious but kept as it is (structure mismatch the law no longer fixes, names
    /// without diacritics, an address that disagrees with its unit codes…).
    Warning,
    /// The value breaks the dictionary; the record is invalid.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Repaired => "repaired",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// One rule's verdict on one field of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Dataset field name (or `record` for record-level findings).
    pub field: &'static str,
    /// Stable rule code, `area.rule`, e.g. `personal_id.length`.
    pub rule: &'static str,
    pub severity: Severity,
    /// What is wrong, in plain words; never includes other records' data.
    pub message: String,
}

impl Finding {
    pub fn new(
        field: &'static str,
        rule: &'static str,
        severity: Severity,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            field,
            rule,
            severity,
            message: message.into(),
        }
    }
}

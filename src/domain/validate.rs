//! Validation vocabulary: the rule a value broke ([`RuleError`]), the field it was in
//! ([`FieldViolation`]), a collector that gathers every violation of a request ([`Violations`]),
//! the deployment's policy ([`ValidationPolicy`]) and the generic rules (lengths, amounts, times,
//! fact names) shared by every event type.
//!
//! Field paths are the caller's business: the gateway names them after the protobuf fields.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

/// A value broke a rule. `rule` is a stable dotted name clients can match on (`uscc.checksum`);
/// `description` says it in words.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {description}")]
pub struct RuleError {
    /// Stable rule name, e.g. `uscc.checksum`.
    pub rule: &'static str,
    /// What is wrong, for people.
    pub description: String,
}

impl RuleError {
    /// A rule error.
    pub fn new(rule: &'static str, description: impl Into<String>) -> Self {
        Self {
            rule,
            description: description.into(),
        }
    }
}

/// A rule broken by one field of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    /// Path of the field in the request, e.g. `lead.subject.id` or `lead.facts[2].name`.
    pub field: String,
    /// The rule and its description.
    pub error: RuleError,
}

impl std::fmt::Display for FieldViolation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.error)
    }
}

/// Collects every violation (and every accepted warning) of one request, so the caller learns
/// all that is wrong at once rather than one field per attempt.
#[derive(Debug, Default)]
pub struct Violations {
    errors: Vec<FieldViolation>,
    warnings: Vec<FieldViolation>,
}

impl Violations {
    /// An empty collector.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a violation of `field`.
    pub fn push(&mut self, field: impl Into<String>, error: RuleError) {
        self.errors.push(FieldViolation {
            field: field.into(),
            error,
        });
    }

    /// Records a problem the policy accepts: the event is stored and flagged.
    pub fn warn(&mut self, field: impl Into<String>, error: RuleError) {
        self.warnings.push(FieldViolation {
            field: field.into(),
            error,
        });
    }

    /// Runs a parser; on error records it against `field` and returns `None`.
    pub fn check<T>(
        &mut self,
        field: impl Into<String>,
        result: Result<T, RuleError>,
    ) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.push(field, error);
                None
            }
        }
    }

    /// Records `required` against `field` if `value` is `None`; passes it through.
    pub fn require<T>(&mut self, field: impl Into<String>, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.push(field, RuleError::new("required", "must be set"));
        }
        value
    }

    /// Whether nothing was recorded so far.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// The violations, or `Ok` with the accepted warnings as `field: rule` strings.
    pub fn finish(self) -> Result<Vec<String>, Vec<FieldViolation>> {
        if self.errors.is_empty() {
            Ok(self
                .warnings
                .iter()
                .map(|w| format!("{}: {}", w.field, w.error.rule))
                .collect())
        } else {
            Err(self.errors)
        }
    }
}

/// What the deployment does when a credit code's check character fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksumPolicy {
    /// Refuse the event (the default).
    #[default]
    Reject,
    /// Accept the event and flag it with a warning; some registered codes fail the check.
    Warn,
}

/// Limits and policies of validation, from the `[validation]` config section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationPolicy {
    /// Credit-code checksum failures: reject or warn.
    pub uscc_checksum: ChecksumPolicy,
    /// How far in the future a timestamp may be (clock skew between agencies).
    pub max_future_skew: SignedDuration,
}

impl Default for ValidationPolicy {
    fn default() -> Self {
        Self {
            uscc_checksum: ChecksumPolicy::Reject,
            max_future_skew: SignedDuration::from_mins(5),
        }
    }
}

/// Length limits, in characters, shared by every event type.
pub mod limits {
    /// Subject names (名称 / 姓名).
    pub const NAME: usize = 200;
    /// Lead summaries.
    pub const SUMMARY: usize = 4_000;
    /// Case numbers (案号).
    pub const CASE_NUMBER: usize = 64;
    /// Legal basis text.
    pub const LEGAL_BASIS: usize = 500;
    /// Facts per event.
    pub const FACTS: usize = 64;
    /// Fact name length.
    pub const FACT_NAME: usize = 64;
    /// Explicit target agencies per lead.
    pub const TARGETS: usize = 32;
}

/// Unit suffixes a fact name may end in (DOMAIN.md: "units in the name").
pub const FACT_UNITS: [&str; 13] = [
    "_fen", "_kg", "_g", "_t", "_l", "_m2", "_m3", "_mu_x100", "_count", "_days", "_hours",
    "_x100", "_x1000",
];

/// Checks required free text: non-blank and at most `max` characters.
pub fn required_text(raw: &str, max: usize) -> Result<String, RuleError> {
    if raw.trim().is_empty() {
        return Err(RuleError::new("required", "must be set"));
    }
    optional_text(raw, max)
}

/// Checks optional free text: at most `max` characters, no control characters but newlines
/// and tabs.
pub fn optional_text(raw: &str, max: usize) -> Result<String, RuleError> {
    let count = raw.chars().count();
    if count > max {
        return Err(RuleError::new(
            "length.max",
            format!("at most {max} characters, got {count}"),
        ));
    }
    if raw
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(RuleError::new(
            "text.control",
            "must not contain control characters",
        ));
    }
    Ok(raw.to_owned())
}

/// Checks a list length against `max`.
pub fn max_items(len: usize, max: usize) -> Result<(), RuleError> {
    if len > max {
        return Err(RuleError::new(
            "length.max",
            format!("at most {max} items, got {len}"),
        ));
    }
    Ok(())
}

/// The largest amount or quantity accepted: 10¹⁵ (for money, ten trillion yuan — five
/// thousand times the largest fine China has imposed). A sanity bound, not a legal one: above it
/// a value is a unit or encoding error, and sums of a subject's facts stay far from overflow.
pub const MAX_VALUE: i64 = 1_000_000_000_000_000;

/// Checks an amount of money: integer fen, not negative, at most [`MAX_VALUE`].
pub fn amount_fen(value: i64) -> Result<i64, RuleError> {
    if value < 0 {
        return Err(RuleError::new(
            "amount.non_negative",
            format!("amounts in fen must be ≥ 0, got {value}"),
        ));
    }
    bounded(value)
}

/// Checks a value is at most [`MAX_VALUE`] in size.
fn bounded(value: i64) -> Result<i64, RuleError> {
    if value.unsigned_abs() > MAX_VALUE.unsigned_abs() {
        return Err(RuleError::new(
            "value.max",
            format!("must be at most {MAX_VALUE} in size, got {value}; check the unit"),
        ));
    }
    Ok(value)
}

/// Checks a timestamp is not further in the future than the policy allows.
pub fn not_future(
    at: Timestamp,
    now: Timestamp,
    policy: &ValidationPolicy,
) -> Result<Timestamp, RuleError> {
    if at.duration_since(now) > policy.max_future_skew {
        return Err(RuleError::new(
            "time.future",
            format!(
                "{at} is more than {}s ahead of the server clock ({now})",
                policy.max_future_skew.as_secs()
            ),
        ));
    }
    Ok(at)
}

/// The earliest time an event may carry: 1949-10-01 00:00 Beijing time. Nothing this broker
/// carries happened earlier; an earlier time is a unit error (milliseconds sent as seconds,
/// a negative value).
pub const EARLIEST: Timestamp = Timestamp::constant(-639_129_600, 0);

/// Checks a timestamp is not before [`EARLIEST`].
pub fn not_ancient(at: Timestamp) -> Result<Timestamp, RuleError> {
    if at < EARLIEST {
        return Err(RuleError::new(
            "time.past",
            format!("{at} is before {EARLIEST}, the earliest time accepted"),
        ));
    }
    Ok(at)
}

/// Checks a fact name: lower snake case, at most 64 characters, ending in a unit suffix.
pub fn fact_name(raw: &str) -> Result<String, RuleError> {
    let snake = raw.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !snake || raw.len() > limits::FACT_NAME {
        return Err(RuleError::new(
            "fact.name",
            "must be lower snake case, 1–64 characters, starting with a letter",
        ));
    }
    if !FACT_UNITS
        .iter()
        .any(|unit| raw.ends_with(unit) && raw.len() > unit.len())
    {
        return Err(RuleError::new(
            "fact.unit",
            format!("must end in a unit suffix, one of {}", FACT_UNITS.join(" ")),
        ));
    }
    Ok(raw.to_owned())
}

/// Checks one fact's value against its unit: money must not be negative; nothing may exceed
/// [`MAX_VALUE`].
pub fn fact_value(name: &str, value: i64) -> Result<i64, RuleError> {
    if name.ends_with("_fen") {
        amount_fen(value)
    } else {
        bounded(value)
    }
}

/// Checks facts given as `(name, value)` pairs; violations are recorded under
/// `{field}[i].name` / `{field}[i].value`.
pub fn facts<'a>(
    violations: &mut Violations,
    field: &str,
    pairs: impl ExactSizeIterator<Item = (&'a str, i64)>,
) -> BTreeMap<String, i64> {
    let _ = violations.check(field, max_items(pairs.len(), limits::FACTS));
    let mut out = BTreeMap::new();
    for (i, (name, value)) in pairs.enumerate() {
        let name = violations.check(format!("{field}[{i}].name"), fact_name(name));
        let value = violations.check(
            format!("{field}[{i}].value"),
            fact_value(name.as_deref().unwrap_or(""), value),
        );
        if let (Some(name), Some(value)) = (name, value)
            && out.insert(name, value).is_some()
        {
            violations.push(
                format!("{field}[{i}].name"),
                RuleError::new("fact.duplicate", "each fact name may appear once"),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violations_collect_every_field() {
        let mut v = Violations::new();
        assert_eq!(v.check("a", amount_fen(5)), Some(5));
        assert_eq!(v.check("b", amount_fen(-1)), None);
        assert_eq!(amount_fen(MAX_VALUE), Ok(MAX_VALUE));
        assert_eq!(EARLIEST.to_string(), "1949-09-30T16:00:00Z");
        assert!(not_ancient(EARLIEST).is_ok());
        assert_eq!(
            not_ancient(Timestamp::UNIX_EPOCH - jiff::SignedDuration::from_hours(200_000 * 24))
                .unwrap_err()
                .rule,
            "time.past"
        );
        assert_eq!(amount_fen(i64::MAX).unwrap_err().rule, "value.max");
        assert_eq!(
            fact_value("waste_kg", i64::MIN).unwrap_err().rule,
            "value.max"
        );
        assert_eq!(v.require::<u8>("c", None), None);
        let errors = v.finish().unwrap_err();
        let fields: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.error.rule))
            .collect();
        assert_eq!(fields, [("b", "amount.non_negative"), ("c", "required")]);
    }

    #[test]
    fn warnings_are_reported_on_success() {
        let mut v = Violations::new();
        v.warn("lead.subject.id", RuleError::new("uscc.checksum", "x"));
        assert_eq!(v.finish().unwrap(), ["lead.subject.id: uscc.checksum"]);
    }

    #[test]
    fn text_limits_count_characters_not_bytes() {
        assert!(optional_text(&"违".repeat(200), limits::NAME).is_ok());
        assert_eq!(
            optional_text(&"违".repeat(201), limits::NAME)
                .unwrap_err()
                .rule,
            "length.max"
        );
        assert_eq!(required_text("  ", 10).unwrap_err().rule, "required");
        assert_eq!(
            optional_text("a\u{0}", 10).unwrap_err().rule,
            "text.control"
        );
        assert!(optional_text("line\nline", 10).is_ok());
    }

    #[test]
    fn future_timestamps_beyond_skew_are_rejected() {
        let now: Timestamp = "2026-11-27T10:00:00Z".parse().unwrap();
        let policy = ValidationPolicy::default();
        let ok: Timestamp = "2026-11-27T10:05:00Z".parse().unwrap();
        let late: Timestamp = "2026-11-27T10:05:01Z".parse().unwrap();
        assert!(not_future(ok, now, &policy).is_ok());
        assert_eq!(
            not_future(late, now, &policy).unwrap_err().rule,
            "time.future"
        );
    }

    #[test]
    fn fact_names_need_units_and_money_is_not_negative() {
        assert!(fact_name("sales_fen").is_ok());
        assert!(fact_name("arable_land_mu_x100").is_ok());
        assert_eq!(fact_name("sales").unwrap_err().rule, "fact.unit");
        assert_eq!(fact_name("_fen").unwrap_err().rule, "fact.name");
        assert_eq!(fact_name("Sales_fen").unwrap_err().rule, "fact.name");
        assert_eq!(
            fact_value("sales_fen", -1).unwrap_err().rule,
            "amount.non_negative"
        );
        assert_eq!(fact_value("temperature_x100", -1), Ok(-1));
    }

    #[test]
    fn duplicate_fact_names_are_rejected() {
        let mut v = Violations::new();
        let pairs = [("sales_fen", 1), ("sales_fen", 2)];
        facts(&mut v, "lead.facts", pairs.iter().map(|(n, x)| (*n, *x)));
        let errors = v.finish().unwrap_err();
        assert_eq!(errors[0].field, "lead.facts[1].name");
        assert_eq!(errors[0].error.rule, "fact.duplicate");
    }
}

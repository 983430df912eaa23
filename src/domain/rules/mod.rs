//! Rules as data: prosecution thresholds (立案追诉标准) and discretion benchmarks (裁量基准),
//! loaded from TOML files and checked when loaded — a bad rule stops start-up with the file, the
//! rule and the reason.
//!
//! A threshold rule names an offence, a condition over the case's facts (see [`super::expr`]),
//! values a province may override within the range the law gives, an effective period and its
//! legal source. A discretion band names an offence and severity and bounds the fine, as
//! expressions over the facts (statutory ranges are often multiples of an amount).

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::expr::{self, Case, Cond, Num};
use super::ids::{DivisionCode, OffenceCode};
use super::validate;
use super::vocab::{Domain, Facts};

/// A rule file that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("rules file {origin}, rule {rule}: {reason}")]
pub struct RulesError {
    /// The file (or "built-in").
    pub origin: String,
    /// The rule's id, or its position if it has none.
    pub rule: String,
    /// What is wrong.
    pub reason: String,
}

pub use super::vocab::Severity;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ThresholdFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    title: String,
    offence: String,
    domain: Domain,
    condition: String,
    citation: String,
    effective_from: Date,
    #[serde(default)]
    effective_until: Option<Date>,
    #[serde(default)]
    values: BTreeMap<String, i64>,
    #[serde(default)]
    province: BTreeMap<String, BTreeMap<String, i64>>,
    #[serde(default)]
    note: String,
}

/// One prosecution threshold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThresholdRule {
    /// Stable id, e.g. `CL-140`.
    pub id: String,
    /// What it is, for people.
    pub title: String,
    /// The offence it applies to.
    pub offence: OffenceCode,
    /// The domain of that offence.
    pub domain: Domain,
    /// When the threshold is met.
    pub condition: Cond,
    /// Legal source.
    pub citation: String,
    /// First day it applies to (by the conduct's date).
    pub effective_from: Date,
    /// Last day it applies to, if superseded.
    pub effective_until: Option<Date>,
    /// Default values of `$names`.
    pub values: BTreeMap<String, i64>,
    /// Per-province overrides, by two-digit province code.
    pub provinces: BTreeMap<String, BTreeMap<String, i64>>,
    /// Caveats for people reading alerts.
    pub note: String,
}

/// A threshold met by a case.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hit {
    /// The rule's id.
    pub rule_id: String,
    /// Its title.
    pub title: String,
    /// Its legal source.
    pub citation: String,
    /// The facts the rule looks at, with the case's values (0 when not reported).
    pub facts: BTreeMap<String, i64>,
}

/// What a rule needs to know about a case besides its facts.
pub struct Context<'a> {
    /// The facts.
    pub facts: &'a Facts,
    /// Where the conduct took place (selects provincial values).
    pub division: &'a DivisionCode,
    /// Whether the subject is a natural person.
    pub person: bool,
    /// The subject's prior penalties for the offence within n months.
    pub prior_penalties: &'a dyn Fn(u32) -> i64,
}

struct RuleCase<'a> {
    ctx: &'a Context<'a>,
    rule: &'a ThresholdRule,
}

impl Case for RuleCase<'_> {
    fn fact(&self, name: &str) -> i64 {
        self.ctx.facts.get(name).copied().unwrap_or(0)
    }

    fn value(&self, name: &str) -> i64 {
        let province = &self.ctx.division.as_str()[..2];
        self.rule
            .provinces
            .get(province)
            .and_then(|values| values.get(name))
            .or_else(|| self.rule.values.get(name))
            .copied()
            .unwrap_or(0)
    }

    fn is_person(&self) -> bool {
        self.ctx.person
    }

    fn prior_penalties(&self, months: u32) -> i64 {
        (self.ctx.prior_penalties)(months)
    }
}

impl ThresholdRule {
    /// Whether the rule applies to conduct on `day`.
    pub fn in_force(&self, day: Date) -> bool {
        day >= self.effective_from && self.effective_until.is_none_or(|until| day <= until)
    }

    /// The hit, if the case meets the threshold.
    pub fn check(&self, ctx: &Context<'_>) -> Option<Hit> {
        if !self.condition.eval(&RuleCase { ctx, rule: self }) {
            return None;
        }
        let (names, _) = self.condition.names();
        Some(Hit {
            rule_id: self.id.clone(),
            title: self.title.clone(),
            citation: self.citation.clone(),
            facts: names
                .into_iter()
                .map(|name| {
                    let value = ctx.facts.get(&name).copied().unwrap_or(0);
                    (name, value)
                })
                .collect(),
        })
    }
}

/// The prosecution thresholds of a deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Thresholds {
    rules: Vec<ThresholdRule>,
}

fn rule_error(origin: &str, rule: &str, reason: impl Into<String>) -> RulesError {
    RulesError {
        origin: origin.to_owned(),
        rule: rule.to_owned(),
        reason: reason.into(),
    }
}

/// Checks that an expression's facts are well-named and its `$values` defined.
fn check_names(
    cond_names: (
        std::collections::BTreeSet<String>,
        std::collections::BTreeSet<String>,
    ),
    values: &BTreeMap<String, i64>,
) -> Result<(), String> {
    let (facts, used_values) = cond_names;
    for fact in facts {
        validate::fact_name(&fact).map_err(|e| format!("fact `{fact}`: {}", e.description))?;
    }
    if let Some(missing) = used_values.iter().find(|v| !values.contains_key(*v)) {
        return Err(format!("`${missing}` is used but not defined in `values`"));
    }
    Ok(())
}

impl Thresholds {
    /// Parses and checks a threshold file's text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RulesError> {
        let file: ThresholdFile =
            toml::from_str(text).map_err(|e| rule_error(origin, "-", e.to_string()))?;
        let mut rules: Vec<ThresholdRule> = Vec::with_capacity(file.rule.len());
        for raw in file.rule {
            let err = |reason: String| rule_error(origin, &raw.id, reason);
            if rules.iter().any(|r| r.id == raw.id) {
                return Err(err("the id is used twice".into()));
            }
            let offence = OffenceCode::parse(&raw.offence).map_err(|e| err(e.to_string()))?;
            let condition =
                expr::parse_cond(&raw.condition).map_err(|e| err(format!("condition {e}")))?;
            check_names(condition.names(), &raw.values).map_err(&err)?;
            for (province, overrides) in &raw.province {
                DivisionCode::parse(&format!("{province}0000")).map_err(|_| {
                    err(format!(
                        "province `{province}` is not a two-digit province code"
                    ))
                })?;
                if let Some(unknown) = overrides.keys().find(|k| !raw.values.contains_key(*k)) {
                    return Err(err(format!(
                        "province {province} overrides `{unknown}`, which `values` does not define"
                    )));
                }
            }
            if raw
                .effective_until
                .is_some_and(|until| until < raw.effective_from)
            {
                return Err(err("effective_until is before effective_from".into()));
            }
            if raw.citation.trim().is_empty() || raw.title.trim().is_empty() {
                return Err(err("title and citation must not be empty".into()));
            }
            rules.push(ThresholdRule {
                id: raw.id,
                title: raw.title,
                offence,
                domain: raw.domain,
                condition,
                citation: raw.citation,
                effective_from: raw.effective_from,
                effective_until: raw.effective_until,
                values: raw.values,
                provinces: raw.province,
                note: raw.note,
            });
        }
        Ok(Self { rules })
    }

    /// Every rule.
    pub fn rules(&self) -> &[ThresholdRule] {
        &self.rules
    }

    /// The rules for `offence` in force on `day`.
    pub fn for_offence<'a>(
        &'a self,
        offence: &'a OffenceCode,
        day: Date,
    ) -> impl Iterator<Item = &'a ThresholdRule> {
        self.rules
            .iter()
            .filter(move |r| &r.offence == offence && r.in_force(day))
    }

    /// The thresholds the case meets.
    pub fn hits(&self, offence: &OffenceCode, day: Date, ctx: &Context<'_>) -> Vec<Hit> {
        self.for_offence(offence, day)
            .filter_map(|rule| rule.check(ctx))
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscretionFile {
    #[serde(default)]
    band: Vec<RawBand>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBand {
    offence: String,
    severity: Severity,
    min_fen: String,
    max_fen: String,
    citation: String,
    effective_from: Date,
    #[serde(default)]
    effective_until: Option<Date>,
}

/// The fine band for one offence and severity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Band {
    /// The offence.
    pub offence: OffenceCode,
    /// The severity.
    pub severity: Severity,
    /// Lowest fine, in fen, as an expression over the facts.
    pub min_fen: Num,
    /// Highest fine, in fen.
    pub max_fen: Num,
    /// Legal source of the band.
    pub citation: String,
    /// First day it applies to.
    pub effective_from: Date,
    /// Last day it applies to.
    pub effective_until: Option<Date>,
}

impl Band {
    /// The band's (min, max) in fen for a case with these facts.
    pub fn range(&self, facts: &Facts) -> (i64, i64) {
        let case = expr::FactCase {
            facts: Some(facts),
            ..Default::default()
        };
        (self.min_fen.eval(&case), self.max_fen.eval(&case))
    }
}

/// The discretion benchmarks of a deployment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discretion {
    bands: Vec<Band>,
}

impl Discretion {
    /// Parses and checks a discretion file's text.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RulesError> {
        let file: DiscretionFile =
            toml::from_str(text).map_err(|e| rule_error(origin, "-", e.to_string()))?;
        let mut bands = Vec::with_capacity(file.band.len());
        for raw in file.band {
            let name = format!("{} {:?}", raw.offence, raw.severity);
            let err = |reason: String| rule_error(origin, &name, reason);
            let offence = OffenceCode::parse(&raw.offence).map_err(|e| err(e.to_string()))?;
            let min_fen = expr::parse_num(&raw.min_fen).map_err(|e| err(format!("min_fen {e}")))?;
            let max_fen = expr::parse_num(&raw.max_fen).map_err(|e| err(format!("max_fen {e}")))?;
            for num in [&min_fen, &max_fen] {
                let probe = Cond::Cmp(num.clone(), expr::CmpOp::Ge, Num::Lit(0));
                check_names(probe.names(), &BTreeMap::new()).map_err(&err)?;
            }
            if raw.citation.trim().is_empty() {
                return Err(err("citation must not be empty".into()));
            }
            let band = Band {
                offence,
                severity: raw.severity,
                min_fen,
                max_fen,
                citation: raw.citation,
                effective_from: raw.effective_from,
                effective_until: raw.effective_until,
            };
            if bands.iter().any(|b: &Band| {
                b.offence == band.offence
                    && b.severity == band.severity
                    && b.effective_from == band.effective_from
            }) {
                return Err(err(
                    "a band for this offence, severity and start date exists twice".into(),
                ));
            }
            bands.push(band);
        }
        Ok(Self { bands })
    }

    /// The band for an offence and severity in force on `day`.
    pub fn band(&self, offence: &OffenceCode, severity: Severity, day: Date) -> Option<&Band> {
        self.bands.iter().find(|b| {
            &b.offence == offence
                && b.severity == severity
                && day >= b.effective_from
                && b.effective_until.is_none_or(|until| day <= until)
        })
    }

    /// Every band.
    pub fn bands(&self) -> &[Band] {
        &self.bands
    }
}

#[cfg(test)]
mod tests;

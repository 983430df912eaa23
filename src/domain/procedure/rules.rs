//! The procedure rules that differ by province: `rules/procedure.toml` (hearing thresholds —
//! 较大数额, Art. 63 — and the amount above which 法制审核 is required, Art. 58) and
//! `rules/exemptions.toml` (minor first offences not to be fined, 首违不罚, Art. 33), each entry
//! with its source; checked when loaded, as the other rule files are.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Deserialize;

use crate::domain::ids::OffenceCode;
use crate::domain::rules::RulesError;

/// A province's procedure figures.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvinceProcedure {
    /// Two digits.
    pub code: String,
    /// Its name.
    pub name: String,
    /// 较大数额 for a natural person, fen: a fine from this amount up is of a hearing kind.
    pub hearing_person_fen: i64,
    /// 较大数额 for an organisation, fen.
    pub hearing_organization_fen: i64,
    /// Where the hearing thresholds come from.
    pub hearing_citation: String,
    /// Fines from this amount up need 法制审核, fen.
    pub review_line_fen: i64,
    /// Where the review line comes from.
    pub review_citation: String,
}

/// A minor first offence not to be fined (首违不罚).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exemption {
    /// Province (2 digits).
    pub province: String,
    /// The offence code outcomes carry.
    pub offence: String,
    /// What it is.
    pub title: String,
    /// The list and article it comes from.
    pub citation: String,
    /// First day it applies to (by the decision's day).
    pub effective_from: Date,
    /// Last day, if withdrawn.
    #[serde(default)]
    pub effective_until: Option<Date>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProcedureFile {
    #[serde(default)]
    province: Vec<ProvinceProcedure>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExemptionFile {
    #[serde(default)]
    exemption: Vec<Exemption>,
}

/// Both files, checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcedureRules {
    provinces: BTreeMap<String, ProvinceProcedure>,
    exemptions: Vec<Exemption>,
}

impl ProcedureRules {
    /// Parses `rules/procedure.toml`'s and `rules/exemptions.toml`'s texts (`origins` name them).
    pub fn parse(
        procedure: &str,
        exemptions: &str,
        origins: (&str, &str),
    ) -> Result<Self, RulesError> {
        let error = |origin: &str, rule: &str, reason: String| RulesError {
            origin: origin.to_owned(),
            rule: rule.to_owned(),
            reason,
        };
        let file: ProcedureFile =
            toml::from_str(procedure).map_err(|e| error(origins.0, "(file)", e.to_string()))?;
        let mut rules = Self::default();
        for p in file.province {
            let name = format!("province {}", p.code);
            if p.code.len() != 2 || !p.code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error(origins.0, &name, "code must be two digits".into()));
            }
            if p.hearing_person_fen <= 0
                || p.hearing_organization_fen <= 0
                || p.review_line_fen <= 0
            {
                return Err(error(origins.0, &name, "amounts are positive fen".into()));
            }
            if p.hearing_citation.trim().is_empty() || p.review_citation.trim().is_empty() {
                return Err(error(
                    origins.0,
                    &name,
                    "every figure needs its citation".into(),
                ));
            }
            let code = p.code.clone();
            if rules.provinces.insert(code, p).is_some() {
                return Err(error(origins.0, &name, "listed twice".into()));
            }
        }
        let file: ExemptionFile =
            toml::from_str(exemptions).map_err(|e| error(origins.1, "(file)", e.to_string()))?;
        for e in file.exemption {
            let name = format!("exemption {}/{}", e.province, e.offence);
            if e.province.len() != 2 || !e.province.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error(
                    origins.1,
                    &name,
                    "province must be two digits".into(),
                ));
            }
            if let Err(bad) = OffenceCode::parse(&e.offence) {
                return Err(error(origins.1, &name, bad.to_string()));
            }
            if e.citation.trim().is_empty() || e.title.trim().is_empty() {
                return Err(error(
                    origins.1,
                    &name,
                    "title and citation are required".into(),
                ));
            }
            if e.effective_until.is_some_and(|u| u < e.effective_from) {
                return Err(error(
                    origins.1,
                    &name,
                    "effective_until is before effective_from".into(),
                ));
            }
            rules.exemptions.push(e);
        }
        Ok(rules)
    }

    /// The figures of the province `division` lies in.
    pub fn province(&self, division: &str) -> Option<&ProvinceProcedure> {
        self.provinces.get(division.get(..2)?)
    }

    /// The 首违不罚 entry for `offence` in `division`'s province on `day`.
    pub fn exemption(&self, division: &str, offence: &str, day: Date) -> Option<&Exemption> {
        let province = division.get(..2)?;
        self.exemptions.iter().find(|e| {
            e.province == province
                && e.offence == offence
                && e.effective_from <= day
                && e.effective_until.is_none_or(|u| day <= u)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROCEDURE: &str = include_str!("../../../rules/procedure.toml");
    const EXEMPTIONS: &str = include_str!("../../../rules/exemptions.toml");

    #[test]
    fn the_shipped_files_load() {
        let rules = ProcedureRules::parse(PROCEDURE, EXEMPTIONS, ("p", "e")).unwrap();
        let zj = rules.province("330106").unwrap();
        assert_eq!(
            (zj.hearing_person_fen, zj.hearing_organization_fen),
            (1_000_000, 10_000_000)
        );
        let day = Date::constant(2026, 6, 1);
        assert!(rules.exemption("330106", "FSL-125-2", day).is_some());
        assert!(rules.exemption("310115", "FSL-125-2", day).is_none());
    }

    #[test]
    fn bad_entries_name_file_entry_and_reason() {
        let bad = PROCEDURE.replacen("review_line_fen = ", "review_line_fen = -", 1);
        let err = ProcedureRules::parse(&bad, EXEMPTIONS, ("p.toml", "e.toml")).unwrap_err();
        assert_eq!(
            (err.origin.as_str(), err.rule.as_str()),
            ("p.toml", "province 33")
        );
        let bad = EXEMPTIONS.replacen("offence = \"FSL-125-2\"", "offence = \"bad code!\"", 1);
        let err = ProcedureRules::parse(PROCEDURE, &bad, ("p.toml", "e.toml")).unwrap_err();
        assert_eq!(err.origin, "e.toml");
        assert!(err.rule.contains("bad code!"), "{err}");
    }
}

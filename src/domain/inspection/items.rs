//! The published inspection items (行政检查事项清单) and each province's frequency rules, from
//! `rules/inspection-items.toml`, checked when loaded: a bad entry stops start-up with the
//! file, the entry and the reason (as `rules/thresholds.toml` does).
//!
//! 国办发〔2024〕54号 (published 2025-01-03): 行政检查事项未经公布的，不得实施; each province
//! publishes a yearly cap on how often one enterprise may be inspected, by grade.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Deserialize;

use super::{PlanReason, RiskGrade};
use crate::domain::ids::AgencyId;
use crate::domain::rules::RulesError;

/// What kind of inspection an item is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// 日常检查.
    Routine,
    /// 专项检查.
    Special,
    /// 个案检查 (on a complaint, a lead, a transfer).
    Case,
}

/// One published item.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// Province (2 digits).
    pub province: String,
    /// The department code of the agencies it belongs to (the part of an agency id after `-`).
    pub department: String,
    /// Its code, unique within province and department.
    pub code: String,
    /// Its name.
    pub name: String,
    /// The legal basis, with the article (设定依据).
    pub basis: String,
    /// 日常 / 专项 / 个案.
    pub kind: ItemKind,
    /// May be done remotely (非现场).
    #[serde(default)]
    pub remote: bool,
    /// First day it is published for.
    pub effective_from: Date,
    /// Last day, if withdrawn.
    #[serde(default)]
    pub effective_until: Option<Date>,
}

impl Item {
    /// Whether it is published on `day`.
    pub fn in_force(&self, day: Date) -> bool {
        self.effective_from <= day && self.effective_until.is_none_or(|until| day <= until)
    }
}

/// A province's frequency rules.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProvinceRules {
    /// Two digits.
    pub code: String,
    /// Its name.
    pub name: String,
    /// The grade of an enterprise whose plan gives none.
    pub default_grade: RiskGrade,
    /// Yearly cap across all agencies, per grade.
    pub caps: BTreeMap<RiskGrade, u32>,
    /// Yearly cap per agency, per grade.
    pub agency_caps: BTreeMap<RiskGrade, u32>,
    /// The reasons whose inspections count against the caps.
    pub counted_reasons: Vec<PlanReason>,
    /// Whether remote (非现场) inspections count.
    #[serde(default)]
    pub count_remote: bool,
    /// The same item on the same enterprise by the same agency within this many days is a
    /// repeated inspection (重复检查).
    pub repeat_window_days: u32,
    /// Plans of different agencies whose windows overlap or lie within this many days of each
    /// other are proposed as one joint inspection (综合查一次).
    pub joint_window_days: u32,
    /// Where the caps and windows come from.
    pub citation: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    province: Vec<ProvinceRules>,
    #[serde(default)]
    item: Vec<Item>,
}

/// The published items and the provinces' rules.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InspectionRules {
    provinces: BTreeMap<String, ProvinceRules>,
    /// By (province, department), sorted by code.
    items: BTreeMap<(String, String), Vec<Item>>,
}

const GRADES: [RiskGrade; 4] = [RiskGrade::A, RiskGrade::B, RiskGrade::C, RiskGrade::D];

fn is_code(raw: &str, max: usize) -> bool {
    (1..=max).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
}

impl InspectionRules {
    /// Parses and checks the file's text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, RulesError> {
        let error = |rule: &str, reason: String| RulesError {
            origin: origin.to_owned(),
            rule: rule.to_owned(),
            reason,
        };
        let file: File = toml::from_str(text).map_err(|e| error("(file)", e.to_string()))?;
        let mut rules = Self::default();
        for province in file.province {
            let name = format!("province {}", province.code);
            if province.code.len() != 2 || !province.code.bytes().all(|b| b.is_ascii_digit()) {
                return Err(error(&name, "code must be two digits".into()));
            }
            if province.citation.trim().is_empty() {
                return Err(error(&name, "citation is empty".into()));
            }
            for grade in GRADES {
                let (Some(all), Some(one)) =
                    (province.caps.get(&grade), province.agency_caps.get(&grade))
                else {
                    return Err(error(
                        &name,
                        format!("caps and agency_caps need grade {grade:?}"),
                    ));
                };
                if *one == 0 || one > all {
                    return Err(error(
                        &name,
                        format!(
                            "grade {grade:?}: agency cap {one} must be 1..=the cap across agencies ({all})"
                        ),
                    ));
                }
            }
            if province.joint_window_days > 90 || province.repeat_window_days > 366 {
                return Err(error(
                    &name,
                    "joint_window_days is at most 90 and repeat_window_days at most 366".into(),
                ));
            }
            let code = province.code.clone();
            if rules.provinces.insert(code, province).is_some() {
                return Err(error(&name, "listed twice".into()));
            }
        }
        for item in file.item {
            let name = format!("item {}/{}/{}", item.province, item.department, item.code);
            if !rules.provinces.contains_key(&item.province) {
                return Err(error(
                    &name,
                    "its province has no [[province]] entry".into(),
                ));
            }
            if !is_code(&item.department, 16) || !is_code(&item.code, 32) {
                return Err(error(
                    &name,
                    "department and code are upper-case letters, digits, - and .".into(),
                ));
            }
            if item.name.trim().is_empty() || item.basis.trim().is_empty() {
                return Err(error(
                    &name,
                    "name and basis (the legal source) are required".into(),
                ));
            }
            if item
                .effective_until
                .is_some_and(|until| until < item.effective_from)
            {
                return Err(error(
                    &name,
                    "effective_until is before effective_from".into(),
                ));
            }
            let list = rules
                .items
                .entry((item.province.clone(), item.department.clone()))
                .or_default();
            if list.iter().any(|i| i.code == item.code) {
                return Err(error(&name, "listed twice".into()));
            }
            list.push(item);
        }
        for list in rules.items.values_mut() {
            list.sort_by(|a, b| a.code.cmp(&b.code));
        }
        Ok(rules)
    }

    /// The rules of the province `division` lies in.
    pub fn province(&self, division: &str) -> Option<&ProvinceRules> {
        self.provinces.get(division.get(..2)?)
    }

    /// The items published for `agency` (its province and department) on `day`.
    pub fn items_for(&self, agency: &AgencyId, day: Date) -> Vec<&Item> {
        let id = agency.as_str();
        let (Some(province), Some((_, department))) = (id.get(..2), id.split_once('-')) else {
            return Vec::new();
        };
        self.items
            .get(&(province.to_owned(), department.to_owned()))
            .map(|list| list.iter().filter(|i| i.in_force(day)).collect())
            .unwrap_or_default()
    }

    /// The item `code` as published for `agency` on `day`.
    pub fn item(&self, agency: &AgencyId, code: &str, day: Date) -> Option<&Item> {
        self.items_for(agency, day)
            .into_iter()
            .find(|i| i.code == code)
    }

    /// Every province's rules.
    pub fn provinces(&self) -> impl Iterator<Item = &ProvinceRules> {
        self.provinces.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../rules/inspection-items.toml");

    #[test]
    fn the_shipped_file_loads_with_three_domains_each_citing_an_article() {
        let rules = InspectionRules::parse(SHIPPED, "rules/inspection-items.toml").unwrap();
        let day = Date::constant(2026, 6, 1);
        for agency in ["330106-SCJG", "330100-STHJ", "330102-YJGL"] {
            let items = rules.items_for(&AgencyId::parse(agency).unwrap(), day);
            assert!(items.len() >= 2, "{agency}: {items:?}");
            assert!(
                items
                    .iter()
                    .all(|i| i.basis.contains('第') && i.basis.contains('条'))
            );
        }
        let zj = rules.province("330106").unwrap();
        assert_eq!(zj.default_grade, RiskGrade::B);
        assert!(rules.province("310115").is_none());
    }

    #[test]
    fn bad_entries_name_file_entry_and_reason() {
        let bad = SHIPPED.replacen("agency_caps = { A = 1", "agency_caps = { A = 9", 1);
        let err = InspectionRules::parse(&bad, "x.toml").unwrap_err();
        assert_eq!(
            (err.origin.as_str(), err.rule.as_str()),
            ("x.toml", "province 33")
        );
        assert!(err.reason.contains("agency cap 9"), "{err}");
        let dup = format!(
            "{SHIPPED}\n[[item]]\nprovince = \"33\"\ndepartment = \"SCJG\"\ncode = \"SCJG-SP-01\"\nname = \"x\"\nbasis = \"y\"\nkind = \"routine\"\neffective_from = \"2025-01-01\"\n"
        );
        let err = InspectionRules::parse(&dup, "x.toml").unwrap_err();
        assert!(
            err.rule.contains("SCJG-SP-01") && err.reason.contains("twice"),
            "{err}"
        );
        let orphan = "[[item]]\nprovince = \"44\"\ndepartment = \"SCJG\"\ncode = \"A\"\nname = \"x\"\nbasis = \"y\"\nkind = \"routine\"\neffective_from = \"2025-01-01\"\n";
        let err = InspectionRules::parse(orphan, "x.toml").unwrap_err();
        assert!(err.reason.contains("no [[province]]"), "{err}");
        let unknown = SHIPPED.replacen("kind = \"routine\"", "kind = \"daily\"", 1);
        assert!(InspectionRules::parse(&unknown, "x.toml").is_err());
    }

    #[test]
    fn withdrawn_items_are_not_published_after_their_last_day() {
        let text = SHIPPED.replacen(
            "effective_from = \"2021-04-29\"",
            "effective_from = \"2021-04-29\"\neffective_until = \"2026-05-31\"",
            1,
        );
        let rules = InspectionRules::parse(&text, "x").unwrap();
        let agency = AgencyId::parse("330106-SCJG").unwrap();
        assert!(
            rules
                .item(&agency, "SCJG-SP-01", Date::constant(2026, 5, 31))
                .is_some()
        );
        assert!(
            rules
                .item(&agency, "SCJG-SP-01", Date::constant(2026, 6, 1))
                .is_none()
        );
    }
}

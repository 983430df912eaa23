//! The division codes that exist: GB/T 2260 provinces, cities and counties and the townships of
//! each county, from `rules/divisions.txt` (the National Bureau of Statistics' 统计用区划代码,
//! editions 2016–2023 merged; `rules/divisions.py` regenerates it). A `division` typed by hand
//! with a county that does not exist would route a lead to nobody, so publishing checks it here.
//!
//! A code listed by any edition stays valid: records and agencies outlive boundary changes
//! (DOMAIN.md). A 9-digit code's township must be one its county has (when the source lists
//! townships for it); a 12-digit code is checked as its first nine digits, and `…000000` names
//! the county itself. Village digits are not checked.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use super::ids::DivisionCode;
use super::validate::RuleError;

/// The list shipped in the binary.
pub const BUILTIN_DIVISIONS: &str = include_str!("../../rules/divisions.txt");

/// The known codes, cheap to clone.
#[derive(Clone, Debug)]
pub struct Divisions(Arc<Table>);

#[derive(Debug, Default)]
struct Table {
    /// By 6-digit code.
    codes: HashMap<u32, Entry>,
    /// The editions the list merges, e.g. `2016–2023`.
    editions: String,
}

#[derive(Debug)]
struct Entry {
    name: String,
    /// Township suffixes (the three digits after the county), sorted; empty when the source
    /// lists none for this code.
    townships: Vec<u16>,
}

/// A division list that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{origin} line {line}: {problem}")]
pub struct DivisionsError {
    /// The file (or `built-in`).
    pub origin: String,
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub problem: String,
}

impl Default for Divisions {
    /// The built-in list (parsed once per process).
    fn default() -> Self {
        static BUILTIN: OnceLock<Divisions> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                // Checked by a unit test; a broken built-in list is a build defect.
                Divisions::parse(BUILTIN_DIVISIONS, "built-in")
                    .unwrap_or_else(|err| panic!("built-in division list: {err}"))
            })
            .clone()
    }
}

impl Divisions {
    /// Parses a list in the format of `rules/divisions.txt`: `#` comments (one of them
    /// `# latest edition: YYYY`, and the editions as `#   YYYY (…)`), then
    /// `<6-digit code> <edition> <name> [<3-digit township suffix>[~] …]`.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DivisionsError> {
        let mut table = Table::default();
        let mut years = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let error = |problem: String| DivisionsError {
                origin: origin.to_owned(),
                line: n + 1,
                problem,
            };
            if let Some(comment) = line.strip_prefix('#') {
                let comment = comment.trim_start();
                if let Some(year) = comment.get(..4).and_then(|y| y.parse::<u16>().ok())
                    && comment[4..].starts_with(" (")
                {
                    years.push(year);
                }
                continue;
            }
            let mut fields = line.split_ascii_whitespace();
            let (Some(code), Some(_edition), Some(name)) =
                (fields.next(), fields.next(), fields.next())
            else {
                if line.trim().is_empty() {
                    continue;
                }
                return Err(error("expected <code> <edition> <name> [townships]".into()));
            };
            let code = six_digits(code).ok_or_else(|| error(format!("{code}: not 6 digits")))?;
            let townships = fields
                .map(|t| {
                    let digits = t.trim_end_matches('~');
                    (digits.len() == 3)
                        .then(|| digits.parse::<u16>().ok())
                        .flatten()
                        .ok_or_else(|| error(format!("{t}: not a 3-digit township suffix")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let mut townships = townships;
            townships.sort_unstable();
            table.codes.insert(
                code,
                Entry {
                    name: name.to_owned(),
                    townships,
                },
            );
        }
        if table.codes.is_empty() {
            return Err(DivisionsError {
                origin: origin.to_owned(),
                line: 0,
                problem: "no division codes".into(),
            });
        }
        table.editions = match (years.iter().min(), years.iter().max()) {
            (Some(first), Some(last)) if first != last => format!("{first}–{last}"),
            (Some(only), _) => only.to_string(),
            _ => "undated".into(),
        };
        Ok(Self(Arc::new(table)))
    }

    /// How many 6-digit codes the list has.
    pub fn len(&self) -> usize {
        self.0.codes.len()
    }

    /// Whether the list is empty (never, once parsed).
    pub fn is_empty(&self) -> bool {
        self.0.codes.is_empty()
    }

    /// The editions merged, e.g. `2016–2023`.
    pub fn editions(&self) -> &str {
        &self.0.editions
    }

    /// The name of a 6-digit code's division.
    pub fn name(&self, code: &str) -> Option<&str> {
        let entry = self.0.codes.get(&six_digits(code.get(..6)?)?)?;
        Some(&entry.name)
    }

    /// Whether `code` names a division that exists (or existed): see the module docs.
    pub fn check(&self, code: &DivisionCode) -> Result<(), RuleError> {
        let text = code.as_str();
        let county = &text[..6];
        let Some(entry) = six_digits(county).and_then(|c| self.0.codes.get(&c)) else {
            return Err(RuleError::new(
                "division.unknown",
                format!(
                    "{county} is not a GB/T 2260 division (statistical codes, editions {})",
                    self.0.editions
                ),
            ));
        };
        let township = text.get(6..9).and_then(|t| t.parse::<u16>().ok());
        match township {
            None | Some(0) => Ok(()),
            Some(_) if entry.townships.is_empty() => Ok(()),
            Some(t) if entry.townships.binary_search(&t).is_ok() => Ok(()),
            Some(_) => Err(RuleError::new(
                "division.unknown",
                format!(
                    "{} is not a township of {} ({county})",
                    &text[..9],
                    entry.name
                ),
            )),
        }
    }
}

fn six_digits(code: &str) -> Option<u32> {
    (code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit()))
        .then(|| code.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(code: &str) -> Result<(), String> {
        let code = DivisionCode::parse(code).map_err(|e| e.to_string())?;
        Divisions::default()
            .check(&code)
            .map_err(|e| format!("{}: {}", e.rule, e.description))
    }

    #[test]
    fn the_built_in_list_parses_and_covers_every_edition() {
        let divisions = Divisions::default();
        assert!(divisions.len() > 3_400, "{}", divisions.len());
        assert_eq!(divisions.editions(), "2016–2023");
        assert_eq!(divisions.name("330106"), Some("西湖区"));
        assert_eq!(divisions.name("330100"), Some("杭州市"));
        assert_eq!(divisions.name("330000"), Some("浙江省"));
    }

    #[test]
    fn real_counties_cities_and_provinces_are_accepted() {
        for code in ["330106", "330100", "330000", "310115", "110101"] {
            assert_eq!(check(code), Ok(()), "{code}");
        }
    }

    #[test]
    fn a_county_that_does_not_exist_is_refused_naming_the_code() {
        let err = check("319999").unwrap_err();
        assert!(err.starts_with("division.unknown: 319999 is not"), "{err}");
        assert!(err.contains("2016–2023"), "{err}");
    }

    #[test]
    fn a_withdrawn_code_stays_valid() {
        // 330104 江干区 was merged away in 2021; records and agencies from before still use it.
        assert_eq!(Divisions::default().name("330104"), Some("江干区"));
        assert_eq!(check("330104"), Ok(()));
    }

    #[test]
    fn townships_are_checked_against_their_county() {
        assert_eq!(check("330106002"), Ok(()));
        let err = check("330106999").unwrap_err();
        assert!(
            err.contains("330106999 is not a township of 西湖区"),
            "{err}"
        );
        // 12 digits: the county itself, and a village of a real township (village digits are
        // not checked).
        assert_eq!(check("310115000000"), Ok(()));
        assert_eq!(check("330106002123"), Ok(()));
        assert!(check("330106999001").is_err());
    }

    #[test]
    fn a_list_in_a_bad_shape_is_refused_with_its_line() {
        let err = Divisions::parse("# x\n33010 2023 x\n", "f.txt").unwrap_err();
        assert_eq!((err.origin.as_str(), err.line), ("f.txt", 2));
        let err = Divisions::parse("330106 2023 西湖区 0a1\n", "f.txt").unwrap_err();
        assert!(err.problem.contains("0a1"), "{err}");
        assert!(Divisions::parse("# only comments\n", "f.txt").is_err());
    }
}

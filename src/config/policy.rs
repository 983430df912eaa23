//! What the router decides with, read from the configured files (or the built-in ones): the
//! agency registry, the rule files, the calendar and the alert windows.

use std::path::PathBuf;

use serde::Deserialize;

use super::{
    BUILTIN_DISCRETION, BUILTIN_EXEMPTIONS, BUILTIN_INSPECTION_ITEMS, BUILTIN_PROCEDURE,
    BUILTIN_THRESHOLDS, Config, ConfigError, SAMPLE_REGISTRY,
};
use crate::domain::calendar::WorkCalendar;
use crate::domain::divisions::{BUILTIN_DIVISIONS, Divisions};
use crate::domain::inspection::InspectionRules;
use crate::domain::procedure::ProcedureRules;
use crate::domain::rules::{Discretion, Thresholds};
use crate::domain::{Agency, AlertWindows, Policy, Registry};

/// The registry file's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    agency: Vec<Agency>,
}

impl Config {
    /// Reads the agency registry: the configured file, or the built-in sample.
    pub fn load_registry(&self) -> Result<Registry, ConfigError> {
        if self.registry.file.as_os_str().is_empty() {
            return parse_registry(SAMPLE_REGISTRY, "built-in sample");
        }
        let path = &self.registry.file;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        parse_registry(&text, &path.display().to_string())
    }
}

impl Config {
    /// Loads everything the router decides with: registry, rules, calendar, windows.
    pub fn load_policy(&self) -> Result<Policy, ConfigError> {
        let rules_file =
            |path: &PathBuf, builtin: &'static str| -> Result<(String, String), ConfigError> {
                if path.as_os_str().is_empty() {
                    return Ok((builtin.to_owned(), "built-in".to_owned()));
                }
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Ok((text, path.display().to_string()))
            };
        let (text, origin) = rules_file(&self.rules.thresholds, BUILTIN_THRESHOLDS)?;
        let thresholds = Thresholds::parse(&text, &origin)?;
        let (text, origin) = rules_file(&self.rules.discretion, BUILTIN_DISCRETION)?;
        let discretion = Discretion::parse(&text, &origin)?;
        let (text, origin) = rules_file(&self.rules.inspection_items, BUILTIN_INSPECTION_ITEMS)?;
        let inspections = InspectionRules::parse(&text, &origin)?;
        let (procedure_text, procedure_origin) =
            rules_file(&self.rules.procedure, BUILTIN_PROCEDURE)?;
        let (text, origin) = rules_file(&self.rules.exemptions, BUILTIN_EXEMPTIONS)?;
        let procedure =
            ProcedureRules::parse(&procedure_text, &text, (&procedure_origin, &origin))?;
        let divisions = if self.rules.divisions.as_os_str().is_empty() {
            Divisions::default()
        } else {
            let (text, origin) = rules_file(&self.rules.divisions, BUILTIN_DIVISIONS)?;
            Divisions::parse(&text, &origin).map_err(|e| ConfigError::Invalid {
                key: "rules.divisions",
                message: e.to_string(),
            })?
        };
        let calendar = WorkCalendar::new(
            self.calendar.holidays.iter().copied(),
            self.calendar.workdays.iter().copied(),
        )
        .map_err(|e| ConfigError::Invalid {
            key: "calendar",
            message: e.to_string(),
        })?;
        let days = |n: u32| jiff::SignedDuration::from_hours(24 * i64::from(n));
        Ok(Policy {
            registry: self.load_registry()?,
            thresholds,
            discretion,
            inspections,
            procedure,
            calendar,
            divisions,
            windows: AlertWindows {
                referral_grace: days(self.alerts.referral_grace_days),
                duplicate_window: days(self.alerts.duplicate_window_days),
                split_window: days(self.alerts.split_window_days),
                outcome_lead_wait: jiff::SignedDuration::from_secs(i64::from(
                    self.alerts.outcome_lead_wait_secs,
                )),
                lead_answer_working_days: self.alerts.lead_answer_working_days,
            },
        })
    }
}

/// Parses a registry file's text.
pub fn parse_registry(text: &str, origin: &str) -> Result<Registry, ConfigError> {
    let error = |message: String| ConfigError::Registry {
        origin: origin.to_owned(),
        message,
    };
    let file: RegistryFile = toml::from_str(text).map_err(|e| error(e.to_string()))?;
    if file.agency.is_empty() {
        return Err(error("no [[agency]] entries".to_owned()));
    }
    Registry::new(file.agency).map_err(|e| error(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_registry_names_the_entry() {
        let text = "[[agency]]\nid = \"330106-GA\"\nname = \"x\"\nkind = \"police\"\ndivision = \"330102\"\n";
        let err = parse_registry(text, "test.toml").unwrap_err().to_string();
        assert!(
            err.contains("330106-GA") && err.contains("test.toml"),
            "{err}"
        );
        let err = parse_registry("[[agency]]\nid = \"bad\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("agency.format") || err.contains("id"), "{err}");
    }
}

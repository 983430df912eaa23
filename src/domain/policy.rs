//! Everything the router decides with: the agency registry, the rules, the working-day
//! calendar and the alert windows. Loaded once at start-up and shared read-only.

use super::alert::AlertWindows;
use super::calendar::WorkCalendar;
use super::divisions::Divisions;
use super::inspection::InspectionRules;
use super::procedure::ProcedureRules;
use super::registry::Registry;
use super::rules::{Discretion, Thresholds};

/// The deployment's rules of routing, thresholds, discretion, deadlines and alerts.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Who exists and who is responsible for what.
    pub registry: Registry,
    /// Prosecution thresholds.
    pub thresholds: Thresholds,
    /// Discretion benchmarks.
    pub discretion: Discretion,
    /// Working days.
    pub calendar: WorkCalendar,
    /// The division codes that exist.
    pub divisions: Divisions,
    /// Alert windows.
    pub windows: AlertWindows,
    /// Published inspection items and the provinces' frequency rules (涉企行政检查).
    pub inspections: InspectionRules,
    /// Hearing thresholds, review lines and 首违不罚 lists (执法监督).
    pub procedure: ProcedureRules,
}

impl Policy {
    /// A policy with this registry and nothing else (no rules, weekends only, default windows).
    pub fn with_registry(registry: Registry) -> Self {
        Self {
            registry,
            ..Self::default()
        }
    }
}

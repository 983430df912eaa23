//! The console's words for what it shows: the enums' Chinese labels (kept in
//! [`crate::domain::labels`], one place for the console and the alert texts), domains as the
//! boards' filters name them, and agencies by their registered names.

pub(crate) use crate::domain::labels::*;
use crate::domain::{AgencyId, Domain, Registry};

/// A domain's name in addresses (`food_drug`): what the boards' `domain` filter takes.
pub(crate) fn domain_key(domain: Domain) -> String {
    serde_json::to_value(domain)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// An agency's registered name, or its id when the registry does not know it.
pub(crate) fn agency_name(registry: &Registry, id: &AgencyId) -> String {
    registry
        .get(id)
        .map_or_else(|| id.to_string(), |a| a.name.clone())
}

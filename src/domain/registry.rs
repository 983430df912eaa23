//! The agency registry — who exists, of what kind, where, responsible for which domains — and
//! the routing decisions drawn from it.
//!
//! Routing of a lead: the agencies the producer named, plus the agencies responsible for the
//! lead's domain at the nearest level whose division covers the lead's division (a county
//! agency before the city's). The producer receives its own lead only if it names itself. A lead nobody is
//! responsible for and nobody was named for goes to the nearest coordinator covering its
//! division, so no lead is silently dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::{Lead, Payload};
use super::ids::{AgencyId, DivisionCode};
use super::stored::StoredEvent;
use super::vocab::Domain;

/// What an agency is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgencyKind {
    /// An administrative enforcement agency (行政执法机关).
    Administrative,
    /// Police (公安机关).
    Police,
    /// Procuratorate (检察院).
    Procuratorate,
    /// Coordinator of enforcement (司法行政 / 执法协调监督).
    Coordinator,
}

/// One registered agency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Agency {
    /// `<division>-<dept>`, e.g. `330106-SCJG`.
    pub id: AgencyId,
    /// Official name.
    pub name: String,
    /// What it is.
    pub kind: AgencyKind,
    /// The division it serves; its jurisdiction is every division this code covers.
    pub division: DivisionCode,
    /// The enforcement domains it is responsible for.
    #[serde(default)]
    pub domains: Vec<Domain>,
}

/// Why an agency receives an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryReason {
    /// Named by the producer.
    ExplicitTarget,
    /// Responsible for the domain at the nearest level.
    ResponsibleAgency,
    /// Nobody responsible: the nearest coordinator.
    Unassigned,
    /// The outcome answers a lead this agency published.
    LeadFeedback,
    /// The agency is a party to the referral (agency, police or procuratorate).
    Referral,
    /// An alert for the agency.
    Alert,
}

/// A registry that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// Two entries with one id.
    #[error("agency {0} is registered twice")]
    Duplicate(AgencyId),
    /// The id's division part is not the first six digits of the division.
    #[error("agency {id}: id must start with the first six digits of its division {division}")]
    DivisionMismatch {
        /// The agency.
        id: AgencyId,
        /// Its declared division.
        division: DivisionCode,
    },
    /// A blank name.
    #[error("agency {0}: name must not be empty")]
    EmptyName(AgencyId),
}

/// Where a lead goes and where it stands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadRouting {
    /// Recipients in delivery order, each once.
    pub recipients: Vec<(AgencyId, DeliveryReason)>,
    /// True if an explicit target or a responsible agency (possibly the producer) exists.
    pub assigned: bool,
}

/// The agencies of a deployment, by id.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    agencies: BTreeMap<AgencyId, Agency>,
}

impl Registry {
    /// Builds a registry, refusing duplicates and ids that do not match their division.
    pub fn new(agencies: Vec<Agency>) -> Result<Self, RegistryError> {
        let mut map = BTreeMap::new();
        for agency in agencies {
            if agency.id.division() != agency.division.county() {
                return Err(RegistryError::DivisionMismatch {
                    id: agency.id,
                    division: agency.division,
                });
            }
            if agency.name.trim().is_empty() {
                return Err(RegistryError::EmptyName(agency.id));
            }
            let id = agency.id.clone();
            if map.insert(id.clone(), agency).is_some() {
                return Err(RegistryError::Duplicate(id));
            }
        }
        Ok(Self { agencies: map })
    }

    /// The agency with this id.
    pub fn get(&self, id: &AgencyId) -> Option<&Agency> {
        self.agencies.get(id)
    }

    /// Every agency, ordered by id.
    pub fn iter(&self) -> impl Iterator<Item = &Agency> {
        self.agencies.values()
    }

    /// Number of agencies.
    pub fn len(&self) -> usize {
        self.agencies.len()
    }

    /// Whether no agency is registered.
    pub fn is_empty(&self) -> bool {
        self.agencies.is_empty()
    }

    /// Agencies of `kind` at the nearest level whose division covers `division` (the police or
    /// procuratorate of a place).
    pub fn nearest_of_kind(&self, division: &DivisionCode, kind: AgencyKind) -> Vec<&Agency> {
        self.nearest(division, |a| a.kind == kind)
    }

    /// Agencies of `kind` whose jurisdiction covers `division`, at every level (coordinators of
    /// the county, the city and the province).
    pub fn covering_of_kind(&self, division: &DivisionCode, kind: AgencyKind) -> Vec<&Agency> {
        self.agencies
            .values()
            .filter(|a| a.kind == kind && a.division.covers(division))
            .collect()
    }

    /// Agencies matching `filter` whose division covers `division`, at the nearest level only.
    fn nearest<'a>(
        &'a self,
        division: &DivisionCode,
        filter: impl Fn(&Agency) -> bool,
    ) -> Vec<&'a Agency> {
        let covering: Vec<&Agency> = self
            .agencies
            .values()
            .filter(|a| filter(a) && a.division.covers(division))
            .collect();
        let nearest = covering
            .iter()
            .map(|a| a.division.jurisdiction_prefix().len())
            .max();
        covering
            .into_iter()
            .filter(|a| Some(a.division.jurisdiction_prefix().len()) == nearest)
            .collect()
    }

    /// The agencies responsible for a lead's domain at the nearest level to its division.
    fn responsible(&self, lead: &Lead) -> Vec<&Agency> {
        self.responsible_for(&lead.division, lead.domain)
    }

    /// The agencies responsible for `domain` nearest `division`: where a lead about it goes.
    pub fn responsible_for(&self, division: &DivisionCode, domain: Domain) -> Vec<&Agency> {
        self.nearest(division, |a| a.domains.contains(&domain))
    }

    /// Who may answer an applied lead (close it with an outcome): the agencies it was delivered
    /// to, and its producer when the lead names it or it is itself responsible for the lead (a
    /// lead is never delivered to its own producer). `None` if the event is not a lead. The
    /// gateway and the router both ask here.
    pub fn may_answer(&self, stored: &StoredEvent) -> Option<Vec<AgencyId>> {
        let Payload::Lead(lead) = &stored.envelope.payload else {
            return None;
        };
        let producer = &stored.envelope.producer;
        let mut out = stored.delivered_to.clone();
        if lead.target_agencies.contains(producer)
            || self.responsible(lead).iter().any(|a| &a.id == producer)
        {
            out.push(producer.clone());
        }
        Some(out)
    }

    /// Where a lead published by `producer` goes.
    /// With `only_targets` (handling NO_ONWARD_SHARING) the lead goes to the agencies it names
    /// and nowhere else.
    pub fn route_lead(&self, producer: &AgencyId, lead: &Lead, only_targets: bool) -> LeadRouting {
        let mut recipients: Vec<(AgencyId, DeliveryReason)> = Vec::new();
        // A producer receives its own lead only when it names itself (an intake desk, such
        // as the coordinator that takes the verification pages' complaints).
        let mut add = |id: &AgencyId, reason| {
            let own = id == producer && reason != DeliveryReason::ExplicitTarget;
            if !own && !recipients.iter().any(|(r, _)| r == id) {
                recipients.push((id.clone(), reason));
            }
        };
        for target in &lead.target_agencies {
            add(target, DeliveryReason::ExplicitTarget);
        }
        let responsible = if only_targets {
            Vec::new()
        } else {
            self.responsible(lead)
        };
        for agency in &responsible {
            add(&agency.id, DeliveryReason::ResponsibleAgency);
        }
        let assigned = !lead.target_agencies.is_empty() || !responsible.is_empty();
        if !assigned && !only_targets {
            for agency in self.nearest(&lead.division, |a| a.kind == AgencyKind::Coordinator) {
                add(&agency.id, DeliveryReason::Unassigned);
            }
        }
        LeadRouting {
            recipients,
            assigned,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::{Payload, tests::sample_lead};

    fn agency(id: &str, kind: AgencyKind, division: &str, domains: &[Domain]) -> Agency {
        Agency {
            id: AgencyId::parse(id).unwrap(),
            name: id.to_owned(),
            kind,
            division: DivisionCode::parse(division).unwrap(),
            domains: domains.to_vec(),
        }
    }

    fn registry() -> Registry {
        use AgencyKind::*;
        Registry::new(vec![
            agency("330100-SFJ", Coordinator, "330100", &[]),
            agency(
                "330100-STHJ",
                Administrative,
                "330100",
                &[Domain::EcologyEnvironment],
            ),
            agency("330106-SCJG", Administrative, "330106", &[Domain::FoodDrug]),
            agency("330102-SCJG", Administrative, "330102", &[Domain::FoodDrug]),
            agency("330100-SCJG", Administrative, "330100", &[Domain::FoodDrug]),
            agency("330106-GA", Police, "330106", &[]),
        ])
        .unwrap()
    }

    fn lead_in(division: &str, domain: Domain, targets: &[&str]) -> Lead {
        let Payload::Lead(mut lead) = sample_lead().payload else {
            unreachable!()
        };
        lead.division = DivisionCode::parse(division).unwrap();
        lead.domain = domain;
        lead.target_agencies = targets
            .iter()
            .map(|t| AgencyId::parse(t).unwrap())
            .collect();
        lead
    }

    fn ids(routing: &LeadRouting) -> Vec<(&str, DeliveryReason)> {
        routing
            .recipients
            .iter()
            .map(|(id, reason)| (id.as_str(), *reason))
            .collect()
    }

    #[test]
    fn nearest_responsible_level_wins() {
        let producer = AgencyId::parse("330100-STHJ").unwrap();
        let routing = registry().route_lead(
            &producer,
            &lead_in("330106005", Domain::FoodDrug, &[]),
            false,
        );
        assert_eq!(
            ids(&routing),
            [("330106-SCJG", DeliveryReason::ResponsibleAgency)]
        );
        assert!(routing.assigned);
    }

    #[test]
    fn city_agency_covers_districts_without_their_own() {
        let producer = AgencyId::parse("330106-SCJG").unwrap();
        let lead = lead_in("330108", Domain::FoodDrug, &[]);
        assert_eq!(
            ids(&registry().route_lead(&producer, &lead, false)),
            [("330100-SCJG", DeliveryReason::ResponsibleAgency)]
        );
    }

    #[test]
    fn explicit_targets_come_first_and_once() {
        let producer = AgencyId::parse("330100-STHJ").unwrap();
        let lead = lead_in("330106", Domain::FoodDrug, &["330106-GA", "330106-SCJG"]);
        assert_eq!(
            ids(&registry().route_lead(&producer, &lead, false)),
            [
                ("330106-GA", DeliveryReason::ExplicitTarget),
                ("330106-SCJG", DeliveryReason::ExplicitTarget)
            ]
        );
    }

    #[test]
    fn no_onward_sharing_goes_to_the_named_agencies_only() {
        let producer = AgencyId::parse("330100-STHJ").unwrap();
        let lead = lead_in("330106", Domain::FoodDrug, &["330106-GA"]);
        assert_eq!(
            ids(&registry().route_lead(&producer, &lead, true)),
            [("330106-GA", DeliveryReason::ExplicitTarget)],
            "not also the responsible market regulator"
        );
    }

    #[test]
    fn producer_does_not_receive_its_own_lead() {
        let producer = AgencyId::parse("330100-STHJ").unwrap();
        let routing = registry().route_lead(
            &producer,
            &lead_in("330106", Domain::EcologyEnvironment, &[]),
            false,
        );
        assert!(routing.recipients.is_empty());
        assert!(routing.assigned, "the producer itself is responsible");
    }

    #[test]
    fn unassigned_lead_goes_to_nearest_coordinator() {
        let producer = AgencyId::parse("330106-SCJG").unwrap();
        let routing = registry().route_lead(&producer, &lead_in("330106", Domain::Tax, &[]), false);
        assert_eq!(ids(&routing), [("330100-SFJ", DeliveryReason::Unassigned)]);
        assert!(!routing.assigned);
    }

    #[test]
    fn lead_outside_every_jurisdiction_reaches_nobody() {
        let producer = AgencyId::parse("330106-SCJG").unwrap();
        let routing = registry().route_lead(&producer, &lead_in("110105", Domain::Tax, &[]), false);
        assert!(routing.recipients.is_empty() && !routing.assigned);
    }

    #[test]
    fn registry_refuses_duplicates_and_mismatched_ids() {
        let a = agency("330106-GA", AgencyKind::Police, "330106", &[]);
        assert_eq!(
            Registry::new(vec![a.clone(), a.clone()]).unwrap_err(),
            RegistryError::Duplicate(a.id.clone())
        );
        let mut b = a;
        b.division = DivisionCode::parse("330102").unwrap();
        assert!(matches!(
            Registry::new(vec![b]).unwrap_err(),
            RegistryError::DivisionMismatch { .. }
        ));
    }
}

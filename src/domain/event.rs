//! The events agencies exchange — [`Envelope`] around a [`Lead`], a [`CaseOutcome`] or a
//! referral and its steps.
//!
//! Values of these types are valid: the gateway builds them only through the parsers in
//! [`super::ids`] and [`super::validate`]. Their encodings are not the domain's business: the
//! log and the store carry them in protobuf (`crate::codec`); the serde derives read the JSON
//! that releases before layout 4 put on the log.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::ids::{AgencyId, DivisionCode, EventId, OffenceCode, SubjectKey};
use super::inspection::{
    Certificate, InspectionCancel, InspectionPlan, InspectionRecord, JointAnswer, PlanKey,
};
use super::referral::{Referral, ReferralKey, ReferralUpdate};
use super::vocab::{Domain, Facts, Handling, Sensitivity, Severity, Subject};

/// The schema version the gateway writes. Decoders accept every version up to this one.
pub const SCHEMA_VERSION: u32 = 1;

/// A violation lead (违法线索).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lead {
    /// The party.
    pub subject: Subject,
    /// Where the conduct took place.
    pub division: DivisionCode,
    /// Enforcement domain.
    pub domain: Domain,
    /// Offence the conduct may constitute.
    pub offence_code: OffenceCode,
    /// What was found.
    pub summary: String,
    /// Numeric facts.
    pub facts: Facts,
    /// When the conduct was observed.
    pub observed_at: Option<Timestamp>,
    /// Who may see it.
    pub sensitivity: Sensitivity,
    /// Agencies named by the producer.
    pub target_agencies: Vec<AgencyId>,
}

/// Names an event by its producer and event id; unique on the log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EventKey {
    /// The producing agency.
    pub producer: AgencyId,
    /// The producer's event id.
    pub event_id: EventId,
}

impl EventKey {
    /// Bytes for store and idempotency keys: producer and event id separated by `/`, which
    /// neither may contain.
    pub fn to_bytes(&self) -> Vec<u8> {
        format!("{}/{}", self.producer, self.event_id).into_bytes()
    }
}

impl std::fmt::Display for EventKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.producer, self.event_id)
    }
}

/// What an agency decided in a case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// 行政处罚.
    Penalty,
    /// 不予处罚.
    NoPenalty,
    /// 不予立案 / 撤销立案.
    NoCase,
    /// 移送司法机关.
    TransferredToPolice,
    /// 移送其他行政机关.
    TransferredToAgency,
}

/// A case outcome (处理结果).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseOutcome {
    /// The agency's case number (案号).
    pub case_number: String,
    /// The party.
    pub subject: Subject,
    /// Where the conduct took place.
    pub division: DivisionCode,
    /// Enforcement domain.
    pub domain: Domain,
    /// Offence code.
    pub offence_code: OffenceCode,
    /// What was decided.
    pub decision: Decision,
    /// Fine, in fen.
    pub fine_fen: i64,
    /// Confiscated illegal gains, in fen.
    pub confiscated_fen: i64,
    /// Numeric facts.
    pub facts: Facts,
    /// When the decision was made.
    pub decided_at: Timestamp,
    /// The lead this outcome answers.
    pub lead: Option<EventKey>,
    /// Legal basis cited.
    pub legal_basis: String,
    /// Who may see it.
    pub sensitivity: Sensitivity,
    /// How grave the case is, for discretion benchmarks (absent: not graded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// How the decision was reached (absent: not recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub procedure: Option<Box<super::procedure::Procedure>>,
    /// Loaded from a ledger of past decisions (`xiezhi import`): history, no alerts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub historic: bool,
}

/// The payload of an envelope.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "body", rename_all = "snake_case")]
pub enum Payload {
    /// A violation lead.
    Lead(Lead),
    /// A case outcome.
    CaseOutcome(CaseOutcome),
    /// A criminal referral's transfer report.
    Referral(Referral),
    /// A step on a referral.
    ReferralUpdate(ReferralUpdate),
    /// A law-enforcement certificate (执法证).
    Certificate(Certificate),
    /// An inspection planned.
    InspectionPlan(InspectionPlan),
    /// An inspection carried out.
    InspectionRecord(InspectionRecord),
    /// A planned inspection called off.
    InspectionCancel(InspectionCancel),
    /// An answer to a joint-inspection proposal.
    JointAnswer(JointAnswer),
}

/// The kind of payload, for logs and filters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// [`Lead`].
    Lead,
    /// [`CaseOutcome`].
    CaseOutcome,
    /// [`Referral`].
    Referral,
    /// [`ReferralUpdate`].
    ReferralUpdate,
    /// [`Certificate`].
    Certificate,
    /// [`InspectionPlan`].
    InspectionPlan,
    /// [`InspectionRecord`].
    InspectionRecord,
    /// [`InspectionCancel`].
    InspectionCancel,
    /// [`JointAnswer`].
    JointAnswer,
}

impl EventKind {
    /// Every kind, for the metrics' series present from start.
    pub const ALL: [EventKind; 9] = [
        EventKind::Lead,
        EventKind::CaseOutcome,
        EventKind::Referral,
        EventKind::ReferralUpdate,
        EventKind::Certificate,
        EventKind::InspectionPlan,
        EventKind::InspectionRecord,
        EventKind::InspectionCancel,
        EventKind::JointAnswer,
    ];

    /// Its name in snake case, as in JSON and metrics.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Lead => "lead",
            EventKind::CaseOutcome => "case_outcome",
            EventKind::Referral => "referral",
            EventKind::ReferralUpdate => "referral_update",
            EventKind::Certificate => "certificate",
            EventKind::InspectionPlan => "inspection_plan",
            EventKind::InspectionRecord => "inspection_record",
            EventKind::InspectionCancel => "inspection_cancel",
            EventKind::JointAnswer => "joint_answer",
        }
    }
}

/// Where a lead stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadStatus {
    /// Routed to an agency that is responsible or was named; no outcome yet.
    Open,
    /// Nobody responsible was found; a coordinator received it.
    Unassigned,
    /// An outcome answering it was recorded.
    Closed,
}

/// Where an event sits on the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LogPosition {
    /// Partition, chosen from the subject key.
    pub partition: u32,
    /// Offset within the partition.
    pub offset: u64,
}

/// One event with who produced it and when: the unit on the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    /// Producer-chosen idempotency key.
    pub event_id: EventId,
    /// The publishing agency.
    pub producer: AgencyId,
    /// When the producer created the event.
    pub produced_at: Timestamp,
    /// Schema version it was written with.
    pub schema_version: u32,
    /// The event.
    pub payload: Payload,
    /// How it may be shared.
    #[serde(default, skip_serializing_if = "is_default_handling")]
    pub handling: Handling,
    /// Problems accepted under the deployment's policy (`field: rule`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

fn is_default_handling(handling: &Handling) -> bool {
    *handling == Handling::default()
}

impl Envelope {
    /// The payload kind.
    pub fn kind(&self) -> EventKind {
        match self.payload {
            Payload::Lead(_) => EventKind::Lead,
            Payload::CaseOutcome(_) => EventKind::CaseOutcome,
            Payload::Referral(_) => EventKind::Referral,
            Payload::ReferralUpdate(_) => EventKind::ReferralUpdate,
            Payload::Certificate(_) => EventKind::Certificate,
            Payload::InspectionPlan(_) => EventKind::InspectionPlan,
            Payload::InspectionRecord(_) => EventKind::InspectionRecord,
            Payload::InspectionCancel(_) => EventKind::InspectionCancel,
            Payload::JointAnswer(_) => EventKind::JointAnswer,
        }
    }

    /// The party the event is about (a referral update names its referral instead, an
    /// inspection's later steps their plan; a certificate's holder is not a party).
    pub fn subject(&self) -> Option<&Subject> {
        match &self.payload {
            Payload::Lead(lead) => Some(&lead.subject),
            Payload::CaseOutcome(outcome) => Some(&outcome.subject),
            Payload::Referral(referral) => Some(&referral.subject),
            Payload::InspectionPlan(plan) => Some(&plan.enterprise),
            _ => None,
        }
    }

    /// The inspection plan an inspection event belongs to.
    pub fn plan_key(&self) -> Option<PlanKey> {
        let plan_id = match &self.payload {
            Payload::InspectionPlan(plan) => &plan.plan_id,
            Payload::InspectionRecord(record) => &record.plan_id,
            Payload::InspectionCancel(cancel) => &cancel.plan_id,
            Payload::JointAnswer(answer) => &answer.plan_id,
            _ => return None,
        };
        Some(PlanKey {
            agency: self.producer.clone(),
            plan_id: plan_id.clone(),
        })
    }

    /// The referral a referral event belongs to.
    pub fn referral_key(&self) -> Option<ReferralKey> {
        match &self.payload {
            Payload::Referral(referral) => Some(ReferralKey {
                agency: self.producer.clone(),
                id: referral.referral_id.clone(),
            }),
            Payload::ReferralUpdate(update) => Some(update.referral.clone()),
            _ => None,
        }
    }

    /// The key that orders and partitions the event on the log: the subject, or for referral
    /// events the referral, so that a referral's steps stay in order behind its report.
    pub fn log_key(&self) -> String {
        // An inspection's steps follow its enterprise, so that one enterprise's plans of every
        // agency are decided in order (caps, joint inspections).
        let enterprise = match &self.payload {
            Payload::InspectionRecord(record) => Some(&record.enterprise),
            Payload::InspectionCancel(cancel) => Some(&cancel.enterprise),
            Payload::JointAnswer(answer) => Some(&answer.enterprise),
            Payload::Certificate(certificate) => {
                return format!("certificate:{}", certificate.number);
            }
            _ => None,
        };
        if let Some(code) = enterprise {
            return SubjectKey::organization(code).as_str().to_owned();
        }
        match self.referral_key() {
            Some(referral) => format!("referral:{referral}"),
            None => self
                .subject()
                .map(|s| s.key().as_str().to_owned())
                .unwrap_or_default(),
        }
    }

    /// Producer and event id.
    pub fn key(&self) -> EventKey {
        EventKey {
            producer: self.producer.clone(),
            event_id: self.event_id.clone(),
        }
    }

    /// The division the event concerns.
    pub fn division(&self) -> Option<&DivisionCode> {
        match &self.payload {
            Payload::Lead(lead) => Some(&lead.division),
            Payload::CaseOutcome(outcome) => Some(&outcome.division),
            Payload::Referral(referral) => Some(&referral.division),
            Payload::InspectionPlan(plan) => Some(&plan.division),
            _ => None,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::domain::{SubjectId, Uscc};

    /// A valid lead envelope for tests in this crate.
    pub(crate) fn sample_lead() -> Envelope {
        Envelope {
            event_id: EventId::parse("ev-1").unwrap(),
            producer: AgencyId::parse("330106-SCJG").unwrap(),
            produced_at: "2026-11-27T08:00:00Z".parse().unwrap(),
            schema_version: SCHEMA_VERSION,
            handling: Handling::default(),
            payload: Payload::Lead(Lead {
                subject: Subject {
                    id: SubjectId::Organization(Uscc::parse("91330106MA2H0Q7W1G").unwrap()),
                    name: "某某食品有限公司".into(),
                },
                division: DivisionCode::parse("330106").unwrap(),
                domain: Domain::EcologyEnvironment,
                offence_code: OffenceCode::parse("CL-338").unwrap(),
                summary: "夜间偷排含铅废水".into(),
                facts: [("hazardous_waste_kg".to_owned(), 3_200)].into(),
                observed_at: None,
                sensitivity: Sensitivity::Internal,
                target_agencies: vec![],
            }),
            warnings: vec![],
        }
    }
}

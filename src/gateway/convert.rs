//! The boundary between protobuf and the domain: requests are validated into domain values —
//! every broken rule collected with the path of its field — and stored values are turned back
//! into protobuf messages.

use jiff::Timestamp;

use crate::domain::validate::{self, limits};
use crate::domain::{
    AgencyId, CaseOutcome, ChecksumPolicy, Decision, DeliveryReason, DivisionCode, Domain,
    Envelope, EventId, EventKey, FieldViolation, Lead, LeadStatus, LogPosition, OffenceCode,
    Payload, Registry, ResidentId, RuleError, SCHEMA_VERSION, Sensitivity, Subject, SubjectId,
    SubjectKey, Uscc, ValidationPolicy, Violations,
};
use crate::proto;
use crate::store::{DeliveryRecord, LeadRow, StoredEvent};

/// Pairs of protobuf and domain enum values; one table serves both directions.
const DOMAINS: [(proto::Domain, Domain); 12] = [
    (proto::Domain::FoodDrug, Domain::FoodDrug),
    (proto::Domain::PublicHealth, Domain::PublicHealth),
    (proto::Domain::NaturalResources, Domain::NaturalResources),
    (
        proto::Domain::EcologyEnvironment,
        Domain::EcologyEnvironment,
    ),
    (proto::Domain::WorkSafety, Domain::WorkSafety),
    (proto::Domain::LabourSecurity, Domain::LabourSecurity),
    (proto::Domain::UrbanManagement, Domain::UrbanManagement),
    (proto::Domain::Transport, Domain::Transport),
    (proto::Domain::FinancialServices, Domain::FinancialServices),
    (proto::Domain::EducationTraining, Domain::EducationTraining),
    (proto::Domain::MarketRegulation, Domain::MarketRegulation),
    (proto::Domain::Tax, Domain::Tax),
];
const SENSITIVITIES: [(proto::Sensitivity, Sensitivity); 3] = [
    (proto::Sensitivity::Public, Sensitivity::Public),
    (proto::Sensitivity::Internal, Sensitivity::Internal),
    (proto::Sensitivity::Restricted, Sensitivity::Restricted),
];
const DECISIONS: [(proto::Decision, Decision); 5] = [
    (proto::Decision::Penalty, Decision::Penalty),
    (proto::Decision::NoPenalty, Decision::NoPenalty),
    (proto::Decision::NoCase, Decision::NoCase),
    (
        proto::Decision::TransferredToPolice,
        Decision::TransferredToPolice,
    ),
    (
        proto::Decision::TransferredToAgency,
        Decision::TransferredToAgency,
    ),
];
const LEAD_STATUSES: [(proto::LeadStatus, LeadStatus); 3] = [
    (proto::LeadStatus::Open, LeadStatus::Open),
    (proto::LeadStatus::Unassigned, LeadStatus::Unassigned),
    (proto::LeadStatus::Closed, LeadStatus::Closed),
];
const REASONS: [(proto::DeliveryReason, DeliveryReason); 4] = [
    (
        proto::DeliveryReason::ExplicitTarget,
        DeliveryReason::ExplicitTarget,
    ),
    (
        proto::DeliveryReason::ResponsibleAgency,
        DeliveryReason::ResponsibleAgency,
    ),
    (
        proto::DeliveryReason::Unassigned,
        DeliveryReason::Unassigned,
    ),
    (
        proto::DeliveryReason::LeadFeedback,
        DeliveryReason::LeadFeedback,
    ),
];

fn to_domain<P: PartialEq + Copy, D: Copy>(table: &[(P, D)], p: P) -> Option<D> {
    table.iter().find(|(x, _)| *x == p).map(|(_, d)| *d)
}

fn to_proto<P: Copy, D: PartialEq + Copy>(table: &[(P, D)], d: D) -> P {
    // Every table lists every domain value: the lookup cannot miss.
    table
        .iter()
        .find(|(_, x)| *x == d)
        .map(|(p, _)| *p)
        .expect("enum table covers every domain value")
}

/// Reads a protobuf enum field: unknown numbers and UNSPECIFIED are violations when `required`;
/// an optional UNSPECIFIED is `None` without a violation.
fn enum_field<P, D>(
    v: &mut Violations,
    field: &str,
    raw: i32,
    table: &[(P, D)],
    required: bool,
) -> Option<D>
where
    P: TryFrom<i32> + PartialEq + Copy,
    D: Copy,
{
    if raw == 0 {
        if required {
            v.push(
                field,
                RuleError::new(
                    "enum.unspecified",
                    "must be set to a value other than UNSPECIFIED",
                ),
            );
        }
        return None;
    }
    let found = P::try_from(raw).ok().and_then(|p| to_domain(table, p));
    if found.is_none() {
        v.push(
            field,
            RuleError::new("enum.unknown", format!("{raw} is not a known value")),
        );
    }
    found
}

/// A domain's protobuf value.
pub(crate) fn domain_to_proto(domain: Domain) -> proto::Domain {
    to_proto(&DOMAINS, domain)
}

/// Converts a protobuf timestamp; out-of-range values are violations.
fn timestamp(ts: &prost_types::Timestamp) -> Result<Timestamp, RuleError> {
    let invalid = || RuleError::new("time.invalid", "seconds or nanos out of range");
    // google.protobuf.Timestamp requires 0 ≤ nanos < 10⁹; jiff would normalise a negative one.
    if !(0..1_000_000_000).contains(&ts.nanos) {
        return Err(invalid());
    }
    Timestamp::new(ts.seconds, ts.nanos).map_err(|_| invalid())
}

/// A domain timestamp as protobuf.
pub(crate) fn ts(at: Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.as_second(),
        nanos: at.subsec_nanosecond(),
    }
}

/// Validates requests against the registry, the policy and the clock.
pub(crate) struct Validator<'a> {
    pub(crate) registry: &'a Registry,
    pub(crate) policy: &'a ValidationPolicy,
    pub(crate) now: Timestamp,
}

impl Validator<'_> {
    /// A lead publish request as an envelope, with the accepted warnings in it.
    pub(crate) fn lead(
        &self,
        req: &proto::PublishLeadRequest,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        let head = (
            req.event_id.as_str(),
            req.producer.as_str(),
            req.produced_at.as_ref(),
        );
        self.envelope(head, "lead", req.lead.as_ref(), |this, v, lead| {
            this.lead_body(v, lead).map(Payload::Lead)
        })
    }

    /// An outcome publish request as an envelope.
    pub(crate) fn outcome(
        &self,
        req: &proto::PublishOutcomeRequest,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        let head = (
            req.event_id.as_str(),
            req.producer.as_str(),
            req.produced_at.as_ref(),
        );
        self.envelope(head, "outcome", req.outcome.as_ref(), |this, v, outcome| {
            this.outcome_body(v, outcome).map(Payload::CaseOutcome)
        })
    }

    /// Validates the envelope fields every publish request has, and the payload under `field`
    /// with `body`; collects every violation of both.
    fn envelope<B>(
        &self,
        (event_id, producer, produced_at): (&str, &str, Option<&prost_types::Timestamp>),
        field: &str,
        payload: Option<&B>,
        body: impl FnOnce(&Self, &mut Violations, &B) -> Option<Payload>,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        let mut v = Violations::new();
        let head = self.head(&mut v, event_id, producer, produced_at);
        let payload = v
            .require(field, payload)
            .and_then(|p| body(self, &mut v, p));
        finish(v, head, payload)
    }

    fn head(
        &self,
        v: &mut Violations,
        event_id: &str,
        producer: &str,
        produced_at: Option<&prost_types::Timestamp>,
    ) -> Option<(EventId, AgencyId, Timestamp)> {
        let event_id = v.check("event_id", EventId::parse(event_id));
        let producer = self.agency(v, "producer", producer);
        let produced_at = self.time(v, "produced_at", produced_at, true);
        Some((event_id?, producer?, produced_at?))
    }

    /// An agency id that is well formed and registered.
    pub(crate) fn agency(&self, v: &mut Violations, field: &str, raw: &str) -> Option<AgencyId> {
        if raw.is_empty() {
            v.push(field, RuleError::new("required", "must be set"));
            return None;
        }
        let id = v.check(field, AgencyId::parse(raw))?;
        if self.registry.get(&id).is_none() {
            v.push(
                field,
                RuleError::new(
                    "agency.unknown",
                    format!("{raw} is not in the agency registry"),
                ),
            );
            return None;
        }
        Some(id)
    }

    fn time(
        &self,
        v: &mut Violations,
        field: &str,
        raw: Option<&prost_types::Timestamp>,
        required: bool,
    ) -> Option<Timestamp> {
        let raw = if required {
            v.require(field, raw)?
        } else {
            raw?
        };
        let at = v.check(field, timestamp(raw))?;
        v.check(field, validate::not_future(at, self.now, self.policy))
    }

    /// A subject with its identifier checked by kind.
    pub(crate) fn subject(
        &self,
        v: &mut Violations,
        field: &str,
        raw: Option<&proto::Subject>,
    ) -> Option<Subject> {
        let raw = v.require(field, raw)?;
        let id_field = format!("{field}.id");
        let kind =
            proto::SubjectKind::try_from(raw.kind).unwrap_or(proto::SubjectKind::Unspecified);
        let id = match kind {
            proto::SubjectKind::Unspecified => {
                v.push(
                    format!("{field}.kind"),
                    RuleError::new("enum.unspecified", "must be ORGANIZATION or PERSON"),
                );
                None
            }
            proto::SubjectKind::Organization => self
                .uscc(v, &id_field, &raw.id)
                .map(SubjectId::Organization),
            proto::SubjectKind::Person => v
                .check(&id_field, ResidentId::parse(&raw.id))
                .map(SubjectId::Person),
        };
        let name = v.check(
            format!("{field}.name"),
            validate::required_text(&raw.name, limits::NAME),
        );
        Some(Subject {
            id: id?,
            name: name?,
        })
    }

    fn uscc(&self, v: &mut Violations, field: &str, raw: &str) -> Option<Uscc> {
        match (Uscc::parse(raw), self.policy.uscc_checksum) {
            (Ok(code), _) => Some(code),
            (Err(err), ChecksumPolicy::Warn) if err.rule == "uscc.checksum" => {
                v.warn(field, err);
                Uscc::parse_format(raw).ok()
            }
            (Err(err), _) => {
                v.push(field, err);
                None
            }
        }
    }

    fn lead_body(&self, v: &mut Violations, raw: &proto::Lead) -> Option<Lead> {
        let subject = self.subject(v, "lead.subject", raw.subject.as_ref());
        let division = v.check("lead.division", DivisionCode::parse(&raw.division));
        let domain = enum_field(v, "lead.domain", raw.domain, &DOMAINS, true);
        let offence_code = v.check("lead.offence_code", OffenceCode::parse(&raw.offence_code));
        let summary = v.check(
            "lead.summary",
            validate::required_text(&raw.summary, limits::SUMMARY),
        );
        let facts = fact_list(v, "lead.facts", &raw.facts);
        let observed_at = self.time(v, "lead.observed_at", raw.observed_at.as_ref(), false);
        let sensitivity = enum_field(v, "lead.sensitivity", raw.sensitivity, &SENSITIVITIES, true);
        let targets = self.targets(v, &raw.target_agencies);
        Some(Lead {
            subject: subject?,
            division: division?,
            domain: domain?,
            offence_code: offence_code?,
            summary: summary?,
            facts,
            observed_at,
            sensitivity: sensitivity?,
            target_agencies: targets?,
        })
    }

    fn targets(&self, v: &mut Violations, raw: &[String]) -> Option<Vec<AgencyId>> {
        v.check(
            "lead.target_agencies",
            validate::max_items(raw.len(), limits::TARGETS),
        )?;
        let mut out: Vec<AgencyId> = Vec::with_capacity(raw.len());
        let mut ok = true;
        for (i, target) in raw.iter().enumerate() {
            let field = format!("lead.target_agencies[{i}]");
            match self.agency(v, &field, target) {
                Some(id) if out.contains(&id) => {
                    v.push(
                        field,
                        RuleError::new("target.duplicate", format!("{id} is named twice")),
                    );
                    ok = false;
                }
                Some(id) => out.push(id),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    fn outcome_body(&self, v: &mut Violations, raw: &proto::CaseOutcome) -> Option<CaseOutcome> {
        let case_number = v.check(
            "outcome.case_number",
            validate::required_text(&raw.case_number, limits::CASE_NUMBER),
        );
        let subject = self.subject(v, "outcome.subject", raw.subject.as_ref());
        let division = v.check("outcome.division", DivisionCode::parse(&raw.division));
        let domain = enum_field(v, "outcome.domain", raw.domain, &DOMAINS, true);
        let offence_code = v.check(
            "outcome.offence_code",
            OffenceCode::parse(&raw.offence_code),
        );
        let decision = enum_field(v, "outcome.decision", raw.decision, &DECISIONS, true);
        let fine_fen = v.check("outcome.fine_fen", validate::amount_fen(raw.fine_fen));
        let confiscated_fen = v.check(
            "outcome.confiscated_fen",
            validate::amount_fen(raw.confiscated_fen),
        );
        let facts = fact_list(v, "outcome.facts", &raw.facts);
        let decided_at = self.time(v, "outcome.decided_at", raw.decided_at.as_ref(), true);
        let lead = match &raw.lead {
            None => Some(None),
            Some(r) => {
                let producer = v.check("outcome.lead.producer", AgencyId::parse(&r.producer));
                let event_id = v.check("outcome.lead.event_id", EventId::parse(&r.event_id));
                producer
                    .zip(event_id)
                    .map(|(producer, event_id)| Some(EventKey { producer, event_id }))
            }
        };
        let legal_basis = v.check(
            "outcome.legal_basis",
            validate::optional_text(&raw.legal_basis, limits::LEGAL_BASIS),
        );
        let sensitivity = enum_field(
            v,
            "outcome.sensitivity",
            raw.sensitivity,
            &SENSITIVITIES,
            true,
        );
        Some(CaseOutcome {
            case_number: case_number?,
            subject: subject?,
            division: division?,
            domain: domain?,
            offence_code: offence_code?,
            decision: decision?,
            fine_fen: fine_fen?,
            confiscated_fen: confiscated_fen?,
            facts,
            decided_at: decided_at?,
            lead: lead?,
            legal_basis: legal_basis?,
            sensitivity: sensitivity?,
        })
    }

    /// A subject key from a kind and id, as the query API takes them.
    pub(crate) fn subject_key(
        &self,
        v: &mut Violations,
        kind: i32,
        id: &str,
    ) -> Option<SubjectKey> {
        match proto::SubjectKind::try_from(kind).unwrap_or(proto::SubjectKind::Unspecified) {
            proto::SubjectKind::Unspecified => {
                v.push(
                    "kind",
                    RuleError::new("enum.unspecified", "must be ORGANIZATION or PERSON"),
                );
                None
            }
            // Reads accept any well-formed code: it may have been stored under the warn policy.
            proto::SubjectKind::Organization => v
                .check("id", Uscc::parse_format(id))
                .map(|code| SubjectKey::organization(&code)),
            proto::SubjectKind::Person => v
                .check("id", ResidentId::parse(id))
                .map(|id| SubjectKey::person(&id)),
        }
    }

    /// An optional filter enum of the query API.
    pub(crate) fn domain_filter(&self, v: &mut Violations, raw: i32) -> Option<Domain> {
        enum_field(v, "domain", raw, &DOMAINS, false)
    }

    /// An optional lead-status filter.
    pub(crate) fn status_filter(&self, v: &mut Violations, raw: i32) -> Option<LeadStatus> {
        enum_field(v, "status", raw, &LEAD_STATUSES, false)
    }

    /// An optional time bound of a query (any valid time, future allowed).
    pub(crate) fn bound(
        &self,
        v: &mut Violations,
        field: &str,
        raw: Option<&prost_types::Timestamp>,
    ) -> Option<Timestamp> {
        v.check(field, timestamp(raw?))
    }
}

fn fact_list(v: &mut Violations, field: &str, raw: &[proto::Fact]) -> crate::domain::Facts {
    validate::facts(v, field, raw.iter().map(|f| (f.name.as_str(), f.value)))
}

fn finish(
    v: Violations,
    head: Option<(EventId, AgencyId, Timestamp)>,
    payload: Option<Payload>,
) -> Result<Envelope, Vec<FieldViolation>> {
    let warnings = v.finish()?;
    // No violation was recorded, so every part parsed.
    let ((event_id, producer, produced_at), payload) = head
        .zip(payload)
        .expect("a request without violations has every part");
    Ok(Envelope {
        event_id,
        producer,
        produced_at,
        schema_version: SCHEMA_VERSION,
        payload,
        warnings,
    })
}

fn subject(s: &Subject) -> proto::Subject {
    let (kind, id) = match &s.id {
        SubjectId::Organization(code) => (proto::SubjectKind::Organization, code.as_str()),
        SubjectId::Person(id) => (proto::SubjectKind::Person, id.as_str()),
    };
    proto::Subject {
        kind: kind as i32,
        id: id.to_owned(),
        name: s.name.clone(),
    }
}

fn facts(facts: &crate::domain::Facts) -> Vec<proto::Fact> {
    facts
        .iter()
        .map(|(name, value)| proto::Fact {
            name: name.clone(),
            value: *value,
        })
        .collect()
}

fn lead_ref(key: &EventKey) -> proto::LeadRef {
    proto::LeadRef {
        producer: key.producer.to_string(),
        event_id: key.event_id.to_string(),
    }
}

/// A stored envelope as protobuf.
pub(crate) fn envelope(e: &Envelope) -> proto::Envelope {
    let payload = match &e.payload {
        Payload::Lead(l) => proto::envelope::Payload::Lead(proto::Lead {
            subject: Some(subject(&l.subject)),
            division: l.division.as_str().to_owned(),
            domain: to_proto(&DOMAINS, l.domain) as i32,
            offence_code: l.offence_code.as_str().to_owned(),
            summary: l.summary.clone(),
            facts: facts(&l.facts),
            observed_at: l.observed_at.map(ts),
            sensitivity: to_proto(&SENSITIVITIES, l.sensitivity) as i32,
            target_agencies: l.target_agencies.iter().map(ToString::to_string).collect(),
        }),
        Payload::CaseOutcome(o) => proto::envelope::Payload::CaseOutcome(proto::CaseOutcome {
            case_number: o.case_number.clone(),
            subject: Some(subject(&o.subject)),
            division: o.division.as_str().to_owned(),
            domain: to_proto(&DOMAINS, o.domain) as i32,
            offence_code: o.offence_code.as_str().to_owned(),
            decision: to_proto(&DECISIONS, o.decision) as i32,
            fine_fen: o.fine_fen,
            confiscated_fen: o.confiscated_fen,
            facts: facts(&o.facts),
            decided_at: Some(ts(o.decided_at)),
            lead: o.lead.as_ref().map(lead_ref),
            legal_basis: o.legal_basis.clone(),
            sensitivity: to_proto(&SENSITIVITIES, o.sensitivity) as i32,
        }),
    };
    let kind = match e.kind() {
        crate::domain::EventKind::Lead => proto::EventKind::Lead,
        crate::domain::EventKind::CaseOutcome => proto::EventKind::CaseOutcome,
    };
    proto::Envelope {
        event_id: e.event_id.to_string(),
        kind: kind as i32,
        producer: e.producer.to_string(),
        produced_at: Some(ts(e.produced_at)),
        schema_version: e.schema_version,
        payload: Some(payload),
        warnings: e.warnings.clone(),
    }
}

/// A log position as protobuf.
pub(crate) fn position(p: LogPosition) -> proto::LogPosition {
    proto::LogPosition {
        partition: p.partition,
        offset: p.offset,
    }
}

/// A stored event as protobuf.
pub(crate) fn stored(e: &StoredEvent) -> proto::StoredEvent {
    proto::StoredEvent {
        event: Some(envelope(&e.envelope)),
        position: Some(position(e.position)),
        applied_at: Some(ts(e.applied_at)),
        delivered_to: e.delivered_to.iter().map(ToString::to_string).collect(),
    }
}

/// A delivery as protobuf.
pub(crate) fn delivery(d: &DeliveryRecord, e: &StoredEvent) -> proto::Delivery {
    proto::Delivery {
        cursor: d.cursor,
        reason: to_proto(&REASONS, d.reason) as i32,
        delivered_at: Some(ts(d.delivered_at)),
        event: Some(envelope(&e.envelope)),
    }
}

/// A lead with its standing as protobuf.
pub(crate) fn lead_summary(e: &StoredEvent, row: &LeadRow) -> proto::LeadSummary {
    proto::LeadSummary {
        lead: Some(stored(e)),
        status: to_proto(&LEAD_STATUSES, row.status) as i32,
        closed_by: row.closed_by.as_ref().map(lead_ref),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SAMPLE_REGISTRY, parse_registry};

    fn now() -> Timestamp {
        "2026-11-27T10:00:00Z".parse().unwrap()
    }

    fn request() -> proto::PublishLeadRequest {
        proto::PublishLeadRequest {
            event_id: "ev-1".into(),
            producer: "330106-SCJG".into(),
            produced_at: Some(ts(now())),
            lead: Some(proto::Lead {
                subject: Some(proto::Subject {
                    kind: proto::SubjectKind::Organization as i32,
                    id: "91330106MA2H0Q7W1G".into(),
                    name: "某某有限公司".into(),
                }),
                division: "330106".into(),
                domain: proto::Domain::FoodDrug as i32,
                offence_code: "CL-140".into(),
                summary: "销售伪劣产品".into(),
                facts: vec![proto::Fact {
                    name: "sales_fen".into(),
                    value: 6_000_000,
                }],
                observed_at: None,
                sensitivity: proto::Sensitivity::Internal as i32,
                target_agencies: vec!["330106-GA".into()],
            }),
        }
    }

    fn check(
        req: &proto::PublishLeadRequest,
        policy: &ValidationPolicy,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        let registry = parse_registry(SAMPLE_REGISTRY, "sample").unwrap();
        Validator {
            registry: &registry,
            policy,
            now: now(),
        }
        .lead(req)
    }

    #[test]
    fn valid_lead_round_trips_to_protobuf() {
        let envelope = check(&request(), &ValidationPolicy::default()).unwrap();
        let back = super::envelope(&envelope);
        let proto::envelope::Payload::Lead(lead) = back.payload.unwrap() else {
            panic!()
        };
        assert_eq!(lead, request().lead.unwrap());
        assert_eq!(back.kind, proto::EventKind::Lead as i32);
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let mut req = request();
        req.producer = "330106-XXXX".into();
        let lead = req.lead.as_mut().unwrap();
        lead.subject.as_mut().unwrap().id = "91330106MA2H0Q7W1F".into();
        lead.domain = 0;
        lead.sensitivity = 99;
        lead.facts.push(proto::Fact {
            name: "sales_fen".into(),
            value: -1,
        });
        let fields: Vec<(String, &str)> = check(&req, &ValidationPolicy::default())
            .unwrap_err()
            .into_iter()
            .map(|v| (v.field, v.error.rule))
            .collect();
        assert_eq!(
            fields,
            [
                ("producer".to_owned(), "agency.unknown"),
                ("lead.subject.id".to_owned(), "uscc.checksum"),
                ("lead.domain".to_owned(), "enum.unspecified"),
                ("lead.facts[1].value".to_owned(), "amount.non_negative"),
                ("lead.sensitivity".to_owned(), "enum.unknown"),
            ]
        );
    }

    #[test]
    fn checksum_warn_policy_accepts_and_flags() {
        let mut req = request();
        req.lead.as_mut().unwrap().subject.as_mut().unwrap().id = "91330106MA2H0Q7W1F".into();
        let policy = ValidationPolicy {
            uscc_checksum: ChecksumPolicy::Warn,
            ..Default::default()
        };
        let envelope = check(&req, &policy).unwrap();
        assert_eq!(envelope.warnings, ["lead.subject.id: uscc.checksum"]);
    }
}

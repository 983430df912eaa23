//! Leads, case outcomes and what is stored of them, between protobuf and the domain.

use super::*;

impl Validator<'_> {
    /// A lead publish request as an envelope, with the accepted warnings in it.
    pub(crate) fn lead(
        &self,
        req: &proto::PublishLeadRequest,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        let head = Head {
            event_id: &req.event_id,
            producer: &req.producer,
            producer_field: "producer",
            produced_at: req.produced_at.as_ref(),
            handling: req.handling,
        };
        let no_onward = req.handling == proto::HandlingCode::NoOnwardSharing as i32;
        self.envelope(head, "lead", req.lead.as_ref(), |this, v, lead| {
            // Routing then delivers to the named agencies only; with none, to no one at all.
            if no_onward && lead.target_agencies.is_empty() {
                v.push(
                    "lead.target_agencies",
                    RuleError::new(
                        "handling.no_onward_sharing",
                        "a lead with handling NO_ONWARD_SHARING goes only to the agencies it names; name at least one",
                    ),
                );
            }
            this.lead_body(v, lead).map(Payload::Lead)
        })
    }

    /// An outcome publish request as an envelope.
    pub(crate) fn outcome(
        &self,
        req: &proto::PublishOutcomeRequest,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        let head = Head {
            event_id: &req.event_id,
            producer: &req.producer,
            producer_field: "producer",
            produced_at: req.produced_at.as_ref(),
            handling: req.handling,
        };
        self.envelope(head, "outcome", req.outcome.as_ref(), |this, v, outcome| {
            this.outcome_body(v, outcome).map(Payload::CaseOutcome)
        })
    }

    fn lead_body(&self, v: &mut Violations, raw: &proto::Lead) -> Option<Lead> {
        let subject = self.subject(v, "lead.subject", raw.subject.as_ref());
        let division = self.division(v, "lead.division", &raw.division);
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
        let division = self.division(v, "outcome.division", &raw.division);
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
        let severity = enum_field(v, "outcome.severity", raw.severity, &SEVERITIES, false);
        let decided_on = decided_at.map(|at| crate::domain::calendar::CHINA.to_datetime(at).date());
        let procedure = raw
            .procedure
            .as_ref()
            .map(|p| Box::new(self.procedure(v, p, decided_on)));
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
            severity,
            procedure,
            historic: raw.historic,
        })
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
pub(crate) fn delivery(d: &DeliveryRecord, item: &DeliveredItem) -> proto::Delivery {
    let item = match item {
        DeliveredItem::Event(e) => proto::delivery::Item::Event(envelope(&e.envelope)),
        DeliveredItem::Alert(a) => proto::delivery::Item::Alert(super::referrals::alert(a)),
    };
    proto::Delivery {
        cursor: d.cursor,
        reason: to_proto(&REASONS, d.reason) as i32,
        delivered_at: Some(ts(d.delivered_at)),
        item: Some(item),
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
            handling: 0,
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
            divisions: &Divisions::default(),
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

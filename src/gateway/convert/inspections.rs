//! Inspection requests (涉企行政检查) validated into envelopes, and plans turned back into views.

use std::collections::BTreeSet;

use super::*;
use crate::codec::inspection::{self as codec, GRADES, REASONS};
use crate::domain::AgencyKind;
use crate::domain::inspection::{
    Certificate, CertificateNumber, InspectionCancel, InspectionEntry, InspectionPlan,
    InspectionRecord, JointAnswer, PlanState,
};

/// Most items on one plan or record.
const MAX_ITEMS: usize = 50;
/// Most inspectors on one record.
const MAX_INSPECTORS: usize = 20;
/// Longest planned window, in days.
const MAX_WINDOW_DAYS: i32 = 366;
/// Longest reason or remark of a cancellation, answer or revocation.
const REASON: usize = 500;

/// Item codes: 1–50, unique, 1–32 characters from `A-Z 0-9 - .`.
fn items(v: &mut Violations, field: &str, raw: &[String]) -> Vec<String> {
    if raw.is_empty() || raw.len() > MAX_ITEMS {
        v.push(
            field,
            RuleError::new("items.count", format!("must name 1–{MAX_ITEMS} items")),
        );
    }
    let mut seen = BTreeSet::new();
    for (i, code) in raw.iter().enumerate() {
        let ok = (1..=32).contains(&code.len())
            && code
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        if !ok {
            v.push(
                format!("{field}[{i}]"),
                RuleError::new("item.format", "1–32 characters from A-Z 0-9 - ."),
            );
        } else if !seen.insert(code) {
            v.push(
                format!("{field}[{i}]"),
                RuleError::new("item.repeated", format!("{code} is named twice")),
            );
        }
    }
    raw.to_vec()
}

impl Validator<'_> {
    /// An inspection event as an envelope.
    pub(crate) fn inspection(
        &self,
        req: &proto::PublishInspectionRequest,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        use proto::publish_inspection_request::Body;
        let head = Head {
            event_id: &req.event_id,
            producer: &req.producer,
            producer_field: "producer",
            produced_at: req.produced_at.as_ref(),
            handling: 0,
        };
        let producer = AgencyId::parse(&req.producer)
            .ok()
            .and_then(|p| self.registry.get(&p));
        let kind = producer.map(|p| p.kind);
        let field = match &req.body {
            Some(Body::Plan(_)) => "plan",
            Some(Body::Record(_)) => "record",
            Some(Body::Cancel(_)) => "cancel",
            Some(Body::JointAnswer(_)) => "joint_answer",
            Some(Body::Certificate(_)) => "certificate",
            None => "body",
        };
        self.envelope(head, field, req.body.as_ref(), |this, v, body| {
            let wanted = match body {
                Body::Certificate(_) => AgencyKind::Coordinator,
                _ => AgencyKind::Administrative,
            };
            if kind.is_some_and(|k| k != wanted) {
                let who = if wanted == AgencyKind::Coordinator {
                    "only coordinators (司法行政) publish certificates"
                } else {
                    "only administrative agencies plan and record inspections"
                };
                v.push("producer", RuleError::new("inspection.agency_kind", who));
            }
            match body {
                Body::Plan(p) => this.plan(v, p).map(Payload::InspectionPlan),
                Body::Record(r) => this.record(v, r).map(Payload::InspectionRecord),
                Body::Cancel(c) => this.cancel(v, c).map(Payload::InspectionCancel),
                Body::JointAnswer(a) => this.answer(v, a).map(Payload::JointAnswer),
                Body::Certificate(c) => this.certificate(v, c).map(Payload::Certificate),
            }
        })
    }

    fn plan_id(&self, v: &mut Violations, field: &str, raw: &str) -> Option<EventId> {
        v.check(field, EventId::parse(raw))
    }

    fn enterprise(&self, v: &mut Violations, field: &str, raw: &str) -> Option<Uscc> {
        self.uscc(v, field, raw)
    }

    fn plan(&self, v: &mut Violations, raw: &proto::InspectionPlan) -> Option<InspectionPlan> {
        let plan_id = self.plan_id(v, "plan.plan_id", &raw.plan_id);
        let enterprise = self.subject(v, "plan.enterprise", raw.enterprise.as_ref());
        if enterprise
            .as_ref()
            .is_some_and(|s| !matches!(s.id, SubjectId::Organization(_)))
        {
            v.push(
                "plan.enterprise.kind",
                RuleError::new(
                    "inspection.enterprise",
                    "inspections are of enterprises: ORGANIZATION",
                ),
            );
        }
        let division = self.division(v, "plan.division", &raw.division);
        let items = items(v, "plan.items", &raw.items);
        let start = day(v, "plan.window_start", &raw.window_start, true);
        let end = day(v, "plan.window_end", &raw.window_end, true);
        if let (Some(s), Some(e)) = (start, end)
            && (e < s || (e - s).get_days() > MAX_WINDOW_DAYS)
        {
            v.push("plan.window_end", RuleError::new("window.range", format!("must be on or after window_start and at most {MAX_WINDOW_DAYS} days after it")));
        }
        let reason = enum_field(v, "plan.reason", raw.reason, &REASONS, true);
        let risk_grade = enum_field(v, "plan.risk_grade", raw.risk_grade, &GRADES, false);
        let assistance_reason = v.check(
            "plan.assistance_reason",
            validate::optional_text(&raw.assistance_reason, REASON),
        );
        Some(InspectionPlan {
            plan_id: plan_id?,
            enterprise: enterprise?,
            division: division?,
            items,
            window_start: start?,
            window_end: end?,
            reason: reason?,
            risk_grade,
            remote: raw.remote,
            assistance_reason: assistance_reason?,
            // The gateway gives the code after validation.
            verify_code: String::new(),
        })
    }

    fn record(
        &self,
        v: &mut Violations,
        raw: &proto::InspectionRecord,
    ) -> Option<InspectionRecord> {
        let plan_id = self.plan_id(v, "record.plan_id", &raw.plan_id);
        let enterprise = self.enterprise(v, "record.enterprise", &raw.enterprise);
        let date = day(v, "record.date", &raw.date, true);
        if date.is_some_and(|d| d > crate::domain::calendar::CHINA.to_datetime(self.now).date()) {
            v.push(
                "record.date",
                RuleError::new(
                    "date.future",
                    "an inspection is recorded after it took place",
                ),
            );
        }
        if raw.inspectors.is_empty() || raw.inspectors.len() > MAX_INSPECTORS {
            v.push(
                "record.inspectors",
                RuleError::new(
                    "inspectors.count",
                    format!("must name 1–{MAX_INSPECTORS} certificate numbers"),
                ),
            );
        }
        let mut inspectors = Vec::new();
        for (i, number) in raw.inspectors.iter().enumerate() {
            let field = format!("record.inspectors[{i}]");
            if let Some(number) = v.check(&field, CertificateNumber::parse(number)) {
                if inspectors.contains(&number) {
                    v.push(
                        field,
                        RuleError::new("inspectors.repeated", format!("{number} is named twice")),
                    );
                } else {
                    inspectors.push(number);
                }
            }
        }
        let items = items(v, "record.items", &raw.items);
        let result = match proto::InspectionResult::try_from(raw.result) {
            Ok(proto::InspectionResult::NoFinding) => Some(false),
            Ok(proto::InspectionResult::Finding) => Some(true),
            _ => {
                v.push(
                    "record.result",
                    RuleError::new("enum.unspecified", "must be NO_FINDING or FINDING"),
                );
                None
            }
        };
        let lead = raw.lead.as_ref().and_then(|l| {
            let producer = self.agency(v, "record.lead.producer", &l.producer);
            let event_id = v.check("record.lead.event_id", EventId::parse(&l.event_id));
            Some(EventKey {
                producer: producer?,
                event_id: event_id?,
            })
        });
        let remarks = v.check(
            "record.remarks",
            validate::optional_text(&raw.remarks, limits::SUMMARY),
        );
        Some(InspectionRecord {
            plan_id: plan_id?,
            enterprise: enterprise?,
            date: date?,
            inspectors,
            items,
            finding: result?,
            lead,
            remarks: remarks?,
        })
    }

    fn cancel(
        &self,
        v: &mut Violations,
        raw: &proto::InspectionCancel,
    ) -> Option<InspectionCancel> {
        let plan_id = self.plan_id(v, "cancel.plan_id", &raw.plan_id);
        let enterprise = self.enterprise(v, "cancel.enterprise", &raw.enterprise);
        let reason = v.check(
            "cancel.reason",
            validate::required_text(&raw.reason, REASON),
        );
        Some(InspectionCancel {
            plan_id: plan_id?,
            enterprise: enterprise?,
            reason: reason?,
        })
    }

    fn answer(&self, v: &mut Violations, raw: &proto::JointAnswer) -> Option<JointAnswer> {
        let plan_id = self.plan_id(v, "joint_answer.plan_id", &raw.plan_id);
        let enterprise = self.enterprise(v, "joint_answer.enterprise", &raw.enterprise);
        let reason = if raw.accept {
            validate::optional_text(&raw.reason, REASON)
        } else {
            validate::required_text(&raw.reason, REASON).map_err(|e| {
                RuleError::new(e.rule, format!("{} (a decline says why)", e.description))
            })
        };
        let reason = v.check("joint_answer.reason", reason);
        Some(JointAnswer {
            plan_id: plan_id?,
            enterprise: enterprise?,
            accept: raw.accept,
            reason: reason?,
        })
    }

    fn certificate(&self, v: &mut Violations, raw: &proto::Certificate) -> Option<Certificate> {
        let number = v.check("certificate.number", CertificateNumber::parse(&raw.number));
        let holder = self.subject(v, "certificate.holder", raw.holder.as_ref());
        if holder
            .as_ref()
            .is_some_and(|s| !matches!(s.id, SubjectId::Person(_)))
        {
            v.push(
                "certificate.holder.kind",
                RuleError::new("certificate.holder", "the holder is a person: PERSON"),
            );
        }
        let agency = self.agency(v, "certificate.agency", &raw.agency);
        if agency
            .as_ref()
            .and_then(|a| self.registry.get(a))
            .is_some_and(|a| a.kind != AgencyKind::Administrative)
        {
            v.push(
                "certificate.agency",
                RuleError::new(
                    "certificate.agency_kind",
                    "inspection certificates are for administrative agencies",
                ),
            );
        }
        if raw.domains.is_empty() {
            v.push(
                "certificate.domains",
                RuleError::new("required", "must name at least one domain"),
            );
        }
        let domains: Vec<Domain> = raw
            .domains
            .iter()
            .enumerate()
            .filter_map(|(i, d)| {
                enum_field(v, &format!("certificate.domains[{i}]"), *d, &DOMAINS, true)
            })
            .collect();
        let from = day(v, "certificate.valid_from", &raw.valid_from, true);
        let until = day(v, "certificate.valid_until", &raw.valid_until, true);
        if let (Some(f), Some(u)) = (from, until)
            && u < f
        {
            v.push(
                "certificate.valid_until",
                RuleError::new("validity.range", "must not be before valid_from"),
            );
        }
        let revoked_reason = if raw.revoked {
            validate::required_text(&raw.revoked_reason, REASON)
        } else {
            validate::optional_text(&raw.revoked_reason, REASON)
        };
        let revoked_reason = v.check("certificate.revoked_reason", revoked_reason);
        Some(Certificate {
            number: number?,
            holder: holder?,
            agency: agency?,
            domains,
            valid_from: from?,
            valid_until: until?,
            revoked: raw.revoked,
            revoked_reason: revoked_reason?,
        })
    }
}

/// A plan as the API shows it, with what counts against the caps.
pub(crate) fn inspection_view(entry: &InspectionEntry, counted: bool) -> proto::InspectionView {
    proto::InspectionView {
        agency: entry.agency.to_string(),
        plan: Some(codec::plan(&entry.plan)),
        state: match entry.state {
            PlanState::Planned => proto::InspectionState::Planned,
            PlanState::Done => proto::InspectionState::Done,
            PlanState::Cancelled => proto::InspectionState::Cancelled,
        } as i32,
        warnings: entry
            .warnings
            .iter()
            .chain(entry.records.iter().flat_map(|r| &r.warnings))
            .cloned()
            .collect(),
        records: entry
            .records
            .iter()
            .map(|r| codec::record(&r.record))
            .collect(),
        joint: entry.joint.clone().unwrap_or_default(),
        joint_accepted: entry.joint_accepted,
        counted,
        planned_at: Some(ts(entry.planned_at)),
    }
}

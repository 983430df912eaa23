//! Referrals, their steps and views, and alerts, between protobuf and the domain.

use super::*;
use crate::codec::tables::{ACTIONS, ALERT_KINDS, DOCUMENT_KINDS, PARTIES, STATES};
use crate::codec::to_proto::referral;
use crate::domain::ReferralRecord;
use crate::domain::referral::{self, Document, REQUIRED_DOCUMENTS, Referral, ReferralUpdate};
use crate::domain::{Action, AgencyKind, Alert, Party, ReferralKey, State};

/// Most documents in one transfer package.
const MAX_DOCUMENTS: usize = 50;

fn sha256_hex(raw: &str) -> Result<String, RuleError> {
    if raw.len() == 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(raw.to_owned())
    } else {
        Err(RuleError::new(
            "document.sha256",
            "must be 64 lower-case hex characters (SHA-256)",
        ))
    }
}

impl Validator<'_> {
    /// A transfer report as an envelope.
    pub(crate) fn refer(&self, req: &proto::ReferRequest) -> Result<Envelope, Vec<FieldViolation>> {
        let head = Head {
            event_id: &req.event_id,
            producer: &req.producer,
            producer_field: "producer",
            produced_at: req.produced_at.as_ref(),
            handling: req.handling,
        };
        let producer = AgencyId::parse(&req.producer).ok();
        self.envelope(head, "referral", req.referral.as_ref(), |this, v, raw| {
            this.referral_body(v, producer.as_ref(), raw)
                .map(Payload::Referral)
        })
    }

    fn referral_body(
        &self,
        v: &mut Violations,
        producer: Option<&AgencyId>,
        raw: &proto::Referral,
    ) -> Option<Referral> {
        let agency = producer.and_then(|p| self.registry.get(p));
        if agency.is_some_and(|a| a.kind != AgencyKind::Administrative) {
            v.push(
                "producer",
                RuleError::new(
                    "referral.agency_kind",
                    "only administrative agencies refer cases (Decree 310 Art. 3)",
                ),
            );
        }
        let referral_id = v.check("referral.referral_id", EventId::parse(&raw.referral_id));
        let police = self.agency(v, "referral.police", &raw.police).filter(|id| {
            let Some(police) = self.registry.get(id) else { return false };
            if police.kind != AgencyKind::Police {
                v.push("referral.police", RuleError::new("referral.police_kind", format!("{id} is not a police agency")));
                return false;
            }
            if agency.is_some_and(|a| a.division != police.division) {
                v.push("referral.police", RuleError::new("referral.police_level", "cases go to the police of the agency's own division and level (Decree 310 Art. 5)"));
                return false;
            }
            true
        });
        let case_number = v.check(
            "referral.case_number",
            validate::required_text(&raw.case_number, limits::CASE_NUMBER),
        );
        let subject = self.subject(v, "referral.subject", raw.subject.as_ref());
        let division = self.division(v, "referral.division", &raw.division);
        let domain = enum_field(v, "referral.domain", raw.domain, &DOMAINS, true);
        let offence_code = v.check(
            "referral.offence_code",
            OffenceCode::parse(&raw.offence_code),
        );
        let summary = v.check(
            "referral.summary",
            validate::required_text(&raw.summary, limits::SUMMARY),
        );
        let facts = fact_list(v, "referral.facts", &raw.facts);
        let documents = self.documents(v, &raw.documents);
        Some(Referral {
            referral_id: referral_id?,
            police: police?,
            case_number: case_number?,
            subject: subject?,
            division: division?,
            domain: domain?,
            offence_code: offence_code?,
            summary: summary?,
            facts,
            documents: documents?,
        })
    }

    fn documents(&self, v: &mut Violations, raw: &[proto::Document]) -> Option<Vec<Document>> {
        v.check(
            "referral.documents",
            validate::max_items(raw.len(), MAX_DOCUMENTS),
        )?;
        let mut out = Vec::with_capacity(raw.len());
        for (i, doc) in raw.iter().enumerate() {
            let field = format!("referral.documents[{i}]");
            let name = v.check(
                format!("{field}.name"),
                validate::required_text(&doc.name, limits::NAME),
            );
            let kind = enum_field(v, &format!("{field}.kind"), doc.kind, &DOCUMENT_KINDS, true);
            let sha256 = v.check(format!("{field}.sha256"), sha256_hex(&doc.sha256));
            if let (Some(name), Some(kind), Some(sha256)) = (name, kind, sha256) {
                out.push(Document { name, kind, sha256 });
            }
        }
        let missing: Vec<String> = REQUIRED_DOCUMENTS
            .iter()
            .filter(|kind| {
                !raw.iter().any(|d| {
                    to_domain(
                        &DOCUMENT_KINDS,
                        proto::DocumentKind::try_from(d.kind).unwrap_or_default(),
                    ) == Some(**kind)
                })
            })
            .map(|kind| format!("{:?}", to_proto(&DOCUMENT_KINDS, *kind)))
            .collect();
        if !missing.is_empty() {
            v.push(
                "referral.documents",
                RuleError::new(
                    "package.missing",
                    format!(
                        "the transfer package lacks {} (Decree 310 Art. 6)",
                        missing.join(", ")
                    ),
                ),
            );
            return None;
        }
        Some(out)
    }

    /// A step as an envelope (the actor is its producer).
    pub(crate) fn update(
        &self,
        req: &proto::UpdateReferralRequest,
    ) -> Result<Envelope, Vec<FieldViolation>> {
        let head = Head {
            event_id: &req.event_id,
            producer: &req.actor,
            producer_field: "actor",
            produced_at: req.produced_at.as_ref(),
            handling: req.handling,
        };
        self.envelope(head, "update", req.update.as_ref(), |this, v, raw| {
            this.update_body(v, raw).map(Payload::ReferralUpdate)
        })
    }

    fn update_body(
        &self,
        v: &mut Violations,
        raw: &proto::ReferralUpdate,
    ) -> Option<ReferralUpdate> {
        let agency = self.agency(v, "update.agency", &raw.agency);
        let id = v.check("update.referral_id", EventId::parse(&raw.referral_id));
        let action = enum_field(v, "update.action", raw.action, &ACTIONS, true);
        let reason = v.check(
            "update.reason",
            validate::optional_text(&raw.reason, limits::SUMMARY),
        );
        // A step that needs reasons without any is a malformed request, not a wrong state:
        // refused here with the field, before the state machine sees it.
        if let (Some(action), Some(given)) = (action, &reason)
            && given.trim().is_empty()
            && action.needs_reason()
        {
            v.push(
                "update.reason",
                RuleError::new(
                    "referral.reason_required",
                    format!("{action:?} must give its reasons"),
                ),
            );
        }
        let forward_to = match raw.forward_to.as_str() {
            "" => Some(None),
            target => self.agency(v, "update.forward_to", target).map(Some),
        };
        Some(ReferralUpdate {
            referral: ReferralKey {
                agency: agency?,
                id: id?,
            },
            action: action?,
            reason: reason?,
            forward_to: forward_to?,
        })
    }

    /// The referral key of a Get request.
    pub(crate) fn referral_key(
        &self,
        v: &mut Violations,
        agency: &str,
        id: &str,
    ) -> Option<ReferralKey> {
        let agency = v.check("agency", AgencyId::parse(agency));
        let id = v.check("referral_id", EventId::parse(id));
        Some(ReferralKey {
            agency: agency?,
            id: id?,
        })
    }
}

/// An optional state filter.
pub(crate) fn state_filter(v: &mut Violations, raw: i32) -> Option<State> {
    enum_field(v, "state", raw, &STATES, false)
}

/// An action as protobuf.
pub(crate) fn action(a: Action) -> proto::ReferralAction {
    to_proto(&ACTIONS, a)
}

/// A state as protobuf.
pub(crate) fn state(s: State) -> proto::ReferralState {
    to_proto(&STATES, s)
}

/// A party as protobuf.
pub(crate) fn party(p: Party) -> proto::Party {
    to_proto(&PARTIES, p)
}

/// A referral with its history, deadline and next steps.
pub(crate) fn referral_view(r: &ReferralRecord) -> proto::ReferralView {
    proto::ReferralView {
        agency: r.key.agency.to_string(),
        referral: Some(referral(&r.referral)),
        reported_at: Some(ts(r.reported_at)),
        state: state(r.state) as i32,
        police: r.police.to_string(),
        goods_handed_over: r.goods_handed_over,
        history: r
            .history
            .iter()
            .map(|s| proto::ReferralStep {
                action: action(s.action) as i32,
                actor: s.actor.to_string(),
                at: Some(ts(s.at)),
                state: state(s.to) as i32,
                reason: s.reason.clone(),
            })
            .collect(),
        deadline: r.deadline.as_ref().map(|d| proto::ReferralDeadline {
            step: d.step.clone(),
            party: party(d.party) as i32,
            agency: d.late.to_string(),
            limit: d.limit.to_string(),
            started: Some(ts(d.started)),
            due: Some(ts(d.due)),
            overdue: d.overdue,
            citation: d.citation.clone(),
        }),
        allowed: referral::allowed(r.state, r.goods_handed_over)
            .into_iter()
            .map(|t| proto::AllowedStep {
                action: action(t.action) as i32,
                party: party(t.party) as i32,
                reason_required: t.reason_required,
            })
            .collect(),
    }
}

/// An alert as protobuf.
pub(super) fn alert(a: &Alert) -> proto::Alert {
    proto::Alert {
        id: a.id,
        kind: to_proto(&ALERT_KINDS, a.kind) as i32,
        raised_at: Some(ts(a.raised_at)),
        rule_id: a.rule_id.clone(),
        title: a.title.clone(),
        citation: a.citation.clone(),
        facts: facts(&a.facts),
        subject: a.subject.as_ref().map(subject),
        division: a
            .division
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        events: a.events.iter().map(lead_ref).collect(),
        referral: a
            .referral
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        late_agency: a.late.as_ref().map(ToString::to_string).unwrap_or_default(),
        due: a.due.map(ts),
        detail: a.detail.clone(),
    }
}

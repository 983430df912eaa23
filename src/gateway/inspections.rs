//! `xiezhi.v1.Inspections`: publish plans, records, cancellations, answers to joint
//! proposals and (coordinators) certificates; check a certificate; list an enterprise's year.
//!
//! A plan gets its verification code (扫码入企) here, before it is published, so that the code
//! travels on the log and a rebuilt store knows it. Every publish waits (briefly) for the router
//! to apply the event, so that the Ack carries the checks the router found — an agency learns
//! before it goes that a plan exceeds a cap or names an unpublished item.

use std::sync::Arc;

use prost::Message as _;
use tonic::{Request, Response, Status};

use super::publisher::{check_size, incoming_traceparent, publish_applied};
use super::status::ApiError;
use super::{Shared, convert};
use crate::access::mask;
use crate::codec::inspection as codec;
use crate::domain::calendar::CHINA;
use crate::domain::inspection::checks;
use crate::domain::inspection::{InspectionEntry, PlanState};
use crate::domain::{Agency, AgencyKind, Envelope, Payload, RuleError, Uscc, Violations};
use crate::proto;
use crate::store::Store;

/// The inspections service.
pub(crate) struct InspectionsService {
    pub(crate) shared: Arc<Shared>,
    pub(crate) store: Arc<Store>,
}

impl InspectionsService {
    /// Refuses at once what the router would refuse: a plan id taken, a step on a plan that is
    /// not there. Retries of applied events are left to `publish` (answered as duplicates).
    fn precheck(&self, envelope: &Envelope) -> Result<(), ApiError> {
        if self.store.applied(&envelope.key())?.is_some() {
            return Ok(());
        }
        let Some(key) = envelope.plan_key() else {
            return Ok(());
        };
        let entry = self.store.inspection(&key)?;
        match (&envelope.payload, entry) {
            (Payload::InspectionPlan(_), Some(_)) => Err(ApiError::PlanExists(key.to_string())),
            (Payload::InspectionPlan(_), None) => Ok(()),
            (_, None) => Err(ApiError::NoPlan(key.to_string())),
            (Payload::InspectionRecord(_), Some(e)) if e.state == PlanState::Cancelled => Err(
                ApiError::StepRefused(format!("inspection plan {key} was cancelled")),
            ),
            (Payload::InspectionCancel(_), Some(e)) if e.state == PlanState::Done => Err(
                ApiError::StepRefused(format!("inspection plan {key} was carried out")),
            ),
            (Payload::JointAnswer(_), Some(e)) if e.joint.is_none() => Err(ApiError::StepRefused(
                format!("inspection plan {key} is in no joint proposal"),
            )),
            _ => Ok(()),
        }
    }

    /// The checks the router found for this event: the plan's own, or the record's.
    fn warnings(&self, envelope: &Envelope) -> Result<Vec<String>, ApiError> {
        let Some(key) = envelope.plan_key() else {
            return Ok(Vec::new());
        };
        let Some(entry) = self.store.inspection(&key)? else {
            return Ok(Vec::new());
        };
        Ok(match &envelope.payload {
            Payload::InspectionPlan(_) => entry.warnings,
            Payload::InspectionRecord(_) => entry
                .records
                .into_iter()
                .find(|r| r.event_id == envelope.event_id)
                .map(|r| r.warnings)
                .unwrap_or_default(),
            _ => Vec::new(),
        })
    }

    /// Whether `reader` may see the plan: its agency, and agencies whose jurisdiction covers
    /// the enterprise's division (coordinators above all); the operator sees everything.
    fn may_read(reader: Option<&Agency>, entry: &InspectionEntry) -> bool {
        reader.is_none_or(|r| r.id == entry.agency || r.division.covers(&entry.plan.division))
    }
}

#[tonic::async_trait]
impl proto::inspections_server::Inspections for InspectionsService {
    async fn publish(
        &self,
        request: Request<proto::PublishInspectionRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        let traceparent = incoming_traceparent(&request);
        let producer = self
            .shared
            .admit(&request, &request.get_ref().producer, "producer")?;
        let mut req = request.into_inner();
        req.producer = producer;
        check_size(&self.shared, req.encoded_len())?;
        let mut validated = self.shared.validator().inspection(&req);
        if let Ok(envelope) = &mut validated {
            if let Payload::InspectionPlan(plan) = &mut envelope.payload {
                plan.verify_code = self
                    .shared
                    .signer
                    .verify_code(envelope.producer.as_str(), plan.plan_id.as_str());
            }
            self.precheck(envelope)?;
        }
        let envelope = validated.as_ref().ok().cloned();
        let mut ack =
            publish_applied(&self.shared, &self.store, validated, traceparent.as_deref()).await?;
        if let Some(envelope) = envelope {
            ack.warnings.extend(self.warnings(&envelope)?);
        }
        Ok(Response::new(ack))
    }

    async fn check_certificate(
        &self,
        request: Request<proto::CheckCertificateRequest>,
    ) -> Result<Response<proto::CertificateStatus>, Status> {
        let reader = self.shared.reader(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let validator = self.shared.validator();
        let number = v.check(
            "number",
            crate::domain::inspection::CertificateNumber::parse(&req.number),
        );
        let agency = validator.agency(&mut v, "agency", &req.agency);
        let day = convert::day(&mut v, "day", &req.day, false).or_else(|| {
            req.day
                .is_empty()
                .then(|| CHINA.to_datetime(self.shared.clock.now()).date())
        });
        v.finish().map_err(ApiError::Invalid)?;
        let (number, agency, day) = number
            .zip(agency)
            .zip(day)
            .map(|((n, a), d)| (n, a, d))
            .expect("a request without violations parsed");
        let known = self
            .store
            .certificate(number.as_str())
            .map_err(ApiError::Store)?;
        let problem = checks::certificate_problem(known.as_ref(), &agency, day);
        let certificate = known.map(|entry| {
            let mut shown = codec::certificate(&entry.certificate);
            let need_to_know = reader
                .as_ref()
                .is_none_or(|r| r.id == entry.issuer || r.id == entry.certificate.agency);
            if !need_to_know {
                mask::certificate(&mut shown);
            }
            shown
        });
        Ok(Response::new(proto::CertificateStatus {
            valid: problem.is_none(),
            reason: problem
                .map(|why| {
                    format!(
                        "certificate.{}: {number} is {why} for {agency} on {day}",
                        why.replace(' ', "_")
                    )
                })
                .unwrap_or_default(),
            certificate,
        }))
    }

    async fn list_inspections(
        &self,
        request: Request<proto::ListInspectionsRequest>,
    ) -> Result<Response<proto::ListInspectionsResponse>, Status> {
        let reader = self.shared.reader(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let code = v.check("enterprise", Uscc::parse_format(&req.enterprise));
        let year = match req.year {
            0 => CHINA.to_datetime(self.shared.clock.now()).date().year(),
            y @ 2000..=2200 => y as i16,
            _ => {
                v.push(
                    "year",
                    RuleError::new("year.range", "0 (this year) or 2000–2200"),
                );
                0
            }
        };
        v.finish().map_err(ApiError::Invalid)?;
        let code = code.expect("a request without violations parsed");
        let entries = self
            .store
            .inspections_of(code.as_str(), year)
            .map_err(ApiError::Store)?;
        let policy = &self.shared.policy;
        let province = entries
            .first()
            .and_then(|e| policy.inspections.province(e.plan.division.as_str()));
        let (counted, cap) = match (province, entries.first()) {
            (Some(rules), Some(first)) => {
                let (all, _) = checks::tally(rules, &entries, &first.agency);
                let grade = entries
                    .iter()
                    .rev()
                    .find_map(|e| e.plan.risk_grade)
                    .unwrap_or(rules.default_grade);
                (all, rules.caps.get(&grade).copied().unwrap_or(0))
            }
            _ => (0, 0),
        };
        let inspections = entries
            .iter()
            .filter(|e| Self::may_read(reader.as_ref(), e))
            .map(|e| {
                let counted = province.is_some_and(|rules| checks::counts(rules, e));
                let mut view = convert::inspection_view(e, counted);
                // The code is the planning agency's to hand over; coordinators see it too.
                let own = reader
                    .as_ref()
                    .is_none_or(|r| r.id == e.agency || r.kind == AgencyKind::Coordinator);
                if !own && let Some(plan) = view.plan.as_mut() {
                    plan.verify_code.clear();
                }
                view
            })
            .collect();
        Ok(Response::new(proto::ListInspectionsResponse {
            inspections,
            counted,
            cap,
        }))
    }
}

//! `xiezhi.v1.Referrals`: refer a case, take a step, read referrals (filtered and masked for
//! the reader: parties, and police and procuratorate within their division, in full;
//! coordinators within theirs, masked).
//!
//! A step is checked against the referral's current state before it is published, so the caller
//! learns at once whether it is theirs to take; the router checks again when it applies it.

use std::sync::Arc;

use prost::Message as _;
use tonic::{Request, Response, Status};

use super::publisher::{check_size, incoming_traceparent, publish_applied};
use super::status::ApiError;
use super::{Shared, convert};
use crate::access::Access;
use crate::access::{Shown, mask, referral_access};
use crate::domain::ReferralRecord;
use crate::domain::{Agency, Payload, RuleError, Violations};
use crate::proto;
use crate::store::{ReferralFilter, Store};

/// Page size when the request leaves it 0.
const DEFAULT_PAGE: usize = 100;

/// The referrals service.
pub(crate) struct ReferralsService {
    pub(crate) shared: Arc<Shared>,
    pub(crate) store: Arc<Store>,
}

impl ReferralsService {
    /// Whether the event was not applied yet (a retry of an applied one is answered by
    /// `publish` as a duplicate, without checking the referral's state again).
    fn is_new(&self, envelope: &crate::domain::Envelope) -> Result<bool, ApiError> {
        Ok(self.store.applied(&envelope.key())?.is_none())
    }

    /// Publishes the step and waits for the router to apply it ([`publish_applied`]).
    async fn published(
        &self,
        validated: Result<crate::domain::Envelope, Vec<crate::domain::FieldViolation>>,
        traceparent: Option<String>,
    ) -> Result<Response<proto::Ack>, Status> {
        let ack =
            publish_applied(&self.shared, &self.store, validated, traceparent.as_deref()).await?;
        Ok(Response::new(ack))
    }

    /// A referral as `reader` may see it, or `None` if it may not.
    fn view(
        &self,
        reader: Option<&Agency>,
        record: &ReferralRecord,
        shown: &mut Shown,
    ) -> Option<proto::ReferralView> {
        let masked = match referral_access(reader, record, &self.shared.policy.registry) {
            Access::Denied => return None,
            Access::Masked => true,
            Access::Full => false,
        };
        let mut view = convert::referral_view(record);
        if masked {
            mask::referral_view(&mut view);
        }
        shown.referral(record, masked);
        Some(view)
    }
}

#[tonic::async_trait]
impl proto::referrals_server::Referrals for ReferralsService {
    async fn refer(
        &self,
        request: Request<proto::ReferRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        let traceparent = incoming_traceparent(&request);
        let producer = self
            .shared
            .admit(&request, &request.get_ref().producer, "producer")?;
        let mut req = request.into_inner();
        req.producer = producer;
        check_size(&self.shared, req.encoded_len())?;
        let validated = self.shared.validator().refer(&req);
        if let Ok(envelope) = &validated
            && self.is_new(envelope)?
            && let Some(key) = envelope.referral_key()
            && self
                .store
                .referral(&key)
                .map_err(ApiError::Store)?
                .is_some()
        {
            return Err(ApiError::ReferralExists(key.to_string()).into());
        }
        self.published(validated, traceparent).await
    }

    async fn update(
        &self,
        request: Request<proto::UpdateReferralRequest>,
    ) -> Result<Response<proto::Ack>, Status> {
        let traceparent = incoming_traceparent(&request);
        let actor = self
            .shared
            .admit(&request, &request.get_ref().actor, "actor")?;
        let mut req = request.into_inner();
        req.actor = actor;
        check_size(&self.shared, req.encoded_len())?;
        let validated = self.shared.validator().update(&req);
        // A retry of an applied step is answered by `publish`; a new step must be allowed now.
        if let Ok(envelope) = &validated
            && self.is_new(envelope)?
            && let Payload::ReferralUpdate(update) = &envelope.payload
        {
            let record = self
                .store
                .referral(&update.referral)
                .map_err(ApiError::Store)?
                .ok_or_else(|| ApiError::NoReferral(update.referral.to_string()))?;
            record
                .check(&envelope.producer, update, &self.shared.policy.registry)
                .map_err(|refusal| ApiError::StepRefused(refusal.to_string()))?;
        }
        self.published(validated, traceparent).await
    }

    async fn get(
        &self,
        request: Request<proto::GetReferralRequest>,
    ) -> Result<Response<proto::ReferralView>, Status> {
        let reader = self.shared.reader(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let key = self
            .shared
            .validator()
            .referral_key(&mut v, &req.agency, &req.referral_id);
        v.finish().map_err(ApiError::Invalid)?;
        let key = key.expect("a key without violations parsed");
        let record = self
            .store
            .referral(&key)
            .map_err(ApiError::Store)?
            .ok_or_else(|| ApiError::NoReferral(key.to_string()))?;
        let mut shown = Shown::new(reader.as_ref(), "referral");
        let view = match self.view(reader.as_ref(), &record, &mut shown) {
            Some(view) => view,
            None => {
                // Only an agency reader can be refused.
                let reader = reader.expect("the operator reads everything");
                return Err(self.shared.deny(&reader, &format!("referral {key}")).into());
            }
        };
        self.shared.audit_durably(shown.into_records()).await?;
        Ok(Response::new(view))
    }

    async fn list(
        &self,
        request: Request<proto::ListReferralsRequest>,
    ) -> Result<Response<proto::ListReferralsResponse>, Status> {
        let reader = self.shared.reader(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let validator = self.shared.validator();
        let state = convert::state_filter(&mut v, req.state);
        let party = (!req.party.is_empty())
            .then(|| validator.agency(&mut v, "party", &req.party))
            .flatten();
        if req.division_prefix.len() > 12
            || !req.division_prefix.bytes().all(|b| b.is_ascii_digit())
        {
            v.push(
                "division_prefix",
                RuleError::new("division.prefix", "must be up to 12 digits"),
            );
        }
        if req.page_size > 1_000 {
            v.push("page_size", RuleError::new("page_size.max", "at most 1000"));
        }
        v.finish().map_err(ApiError::Invalid)?;
        let filter = ReferralFilter {
            state,
            division_prefix: req.division_prefix,
            party,
            overdue: req.overdue,
        };
        let limit = if req.page_size == 0 {
            DEFAULT_PAGE
        } else {
            req.page_size as usize
        };
        let page = self
            .store
            .referrals(&filter, Some(&req.page_token), limit)
            .map_err(ApiError::Store)?;
        let mut shown = Shown::new(reader.as_ref(), "referrals");
        let referrals = page
            .items
            .iter()
            .filter_map(|record| self.view(reader.as_ref(), record, &mut shown))
            .collect();
        self.shared.audit_durably(shown.into_records()).await?;
        Ok(Response::new(proto::ListReferralsResponse {
            referrals,
            next_page_token: page.next_token.unwrap_or_default(),
        }))
    }
}

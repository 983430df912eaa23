//! Who is calling, and what they may see.
//!
//! With TLS the caller is the agency its client certificate names — a SAN URI
//! `xiezhi://agency/<id>`, or else the certificate's CN — and it must be in the registry. A
//! request field naming an agency (producer, actor, inbox owner) must be that agency: anything
//! else is spoofing, refused with PERMISSION_DENIED and audited. In `--insecure-dev` mode the
//! caller may name itself with `authorization: Bearer <dev token>` or an `x-xiezhi-agency`
//! header; without either, request fields are trusted and reads are answered as the operator.
//!
//! Reads are filtered and masked by `domain::access`; reads that show personal data in full
//! are audited.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};
use tonic::Request;
use tracing::warn;

use super::Shared;
use super::status::ApiError;
use crate::audit::Record;
use crate::domain::access::{self, Access, Item};
use crate::domain::{Agency, AgencyId, Alert, Registry, SubjectId};
use crate::domain::{ReferralRecord, StoredEvent};

/// How callers are identified.
pub enum Identity {
    /// Client certificates, less the revoked ones (SHA-256 of the DER).
    Tls(HashSet<[u8; 32]>),
    /// Development: tokens (token → agency), headers, or trust in request fields.
    Dev(HashMap<String, AgencyId>),
}

/// Why a client certificate identifies no caller.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CertificateRefusal {
    /// Its fingerprint is on the revocation list.
    #[error("this client certificate has been revoked")]
    Revoked([u8; 32]),
    /// It names no agency.
    #[error("the client certificate names no agency (SAN URI xiezhi://agency/<id> or CN)")]
    NoAgency,
    /// It names an agency the registry does not hold.
    #[error("certificate names {0}, which is not a registered agency")]
    Unregistered(String),
}

/// The registered agency a client certificate (DER) names, unless it is revoked — the one check
/// behind gRPC callers and console viewers alike.
pub(crate) fn certified_agency(
    der: &[u8],
    revoked: &HashSet<[u8; 32]>,
    registry: &Registry,
) -> Result<AgencyId, CertificateRefusal> {
    let fingerprint: [u8; 32] = Sha256::digest(der).into();
    if revoked.contains(&fingerprint) {
        return Err(CertificateRefusal::Revoked(fingerprint));
    }
    let named = agency_of_certificate(der).ok_or(CertificateRefusal::NoAgency)?;
    AgencyId::parse(&named)
        .ok()
        .filter(|id| registry.get(id).is_some())
        .ok_or(CertificateRefusal::Unregistered(named))
}

/// The agency a certificate names: SAN URI `xiezhi://agency/<id>`, else the subject CN.
pub(crate) fn agency_of_certificate(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::URI(uri) = name
                && let Some(id) = uri.strip_prefix("xiezhi://agency/")
            {
                return Some(id.to_owned());
            }
        }
    }
    cert.subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned)
}

impl Shared {
    /// The agency the transport or the dev credentials say the caller is.
    fn authenticated<T>(&self, request: &Request<T>) -> Result<Option<AgencyId>, ApiError> {
        match &self.identity {
            Identity::Tls(revoked) => {
                let certs = request.peer_certs().ok_or_else(|| {
                    ApiError::Unauthenticated("a client certificate is required".into())
                })?;
                let der = certs.first().ok_or_else(|| {
                    ApiError::Unauthenticated("a client certificate is required".into())
                })?;
                match certified_agency(der.as_ref(), revoked, &self.policy.registry) {
                    Ok(id) => Ok(Some(id)),
                    Err(CertificateRefusal::Revoked(fingerprint)) => {
                        warn!(fingerprint = %hex::encode(fingerprint), audit = true, "revoked certificate refused");
                        self.audit(vec![Record::new(
                            "unknown",
                            "denied revoked certificate",
                            format!("certificate/{}", hex::encode(fingerprint)),
                            "",
                        )]);
                        Err(ApiError::Unauthenticated(
                            CertificateRefusal::Revoked(fingerprint).to_string(),
                        ))
                    }
                    Err(refusal @ CertificateRefusal::NoAgency) => {
                        Err(ApiError::Unauthenticated(refusal.to_string()))
                    }
                    Err(refusal @ CertificateRefusal::Unregistered(_)) => {
                        Err(ApiError::PermissionDenied(refusal.to_string()))
                    }
                }
            }
            Identity::Dev(tokens) => {
                let metadata = request.metadata();
                if let Some(token) = metadata
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("Bearer "))
                {
                    return tokens.get(token).cloned().map(Some).ok_or_else(|| {
                        ApiError::Unauthenticated("unknown development token".into())
                    });
                }
                match metadata
                    .get("x-xiezhi-agency")
                    .and_then(|v| v.to_str().ok())
                {
                    Some(named) => AgencyId::parse(named).map(Some).map_err(|_| {
                        ApiError::Unauthenticated(format!(
                            "x-xiezhi-agency {named:?} is not an agency id"
                        ))
                    }),
                    None => Ok(None),
                }
            }
        }
    }

    /// The agency a request acts as, given the agency its `field` claims (may be empty when the
    /// transport says who the caller is). Spoofing is refused and audited.
    pub(crate) fn acting_as<T>(
        &self,
        request: &Request<T>,
        claimed: &str,
        field: &str,
    ) -> Result<String, ApiError> {
        self.act_as(self.authenticated(request)?, claimed, field)
    }

    /// The caller of a stream, established once for all its messages.
    pub(crate) fn caller<T>(&self, request: &Request<T>) -> Result<Option<AgencyId>, ApiError> {
        self.authenticated(request)
    }

    /// The agency one message acts as, for an authenticated `caller` (see
    /// [`Shared::acting_as`]), within that agency's rate.
    pub(crate) fn admit_as(
        &self,
        caller: Option<&AgencyId>,
        claimed: &str,
        field: &str,
    ) -> Result<String, ApiError> {
        let agency = self.act_as(caller.cloned(), claimed, field)?;
        self.limiter.take(&agency)?;
        Ok(agency)
    }

    fn act_as(
        &self,
        caller: Option<AgencyId>,
        claimed: &str,
        field: &str,
    ) -> Result<String, ApiError> {
        match caller {
            Some(caller) if claimed.is_empty() || claimed == caller.as_str() => {
                Ok(caller.to_string())
            }
            Some(caller) => {
                let reason = format!("{caller} may not act as {claimed} ({field})");
                self.audit_denial(caller.as_str(), field, &reason);
                Err(ApiError::PermissionDenied(reason))
            }
            None => Ok(claimed.to_owned()),
        }
    }

    /// Admits a publish call: the agency it acts as (see [`Shared::acting_as`]), within that
    /// agency's rate.
    pub(crate) fn admit<T>(
        &self,
        request: &Request<T>,
        claimed: &str,
        field: &str,
    ) -> Result<String, ApiError> {
        self.admit_as(self.authenticated(request)?.as_ref(), claimed, field)
    }

    /// The agency reading, or `None` for the operator in development mode.
    pub(crate) fn reader<T>(&self, request: &Request<T>) -> Result<Option<Agency>, ApiError> {
        let Some(id) = self.authenticated(request)? else {
            return Ok(None);
        };
        self.policy
            .registry
            .get(&id)
            .cloned()
            .map(Some)
            .ok_or_else(|| ApiError::PermissionDenied(format!("{id} is not a registered agency")))
    }

    /// Refuses (and audits) a read that is not the reader's.
    pub(crate) fn deny(&self, reader: &Agency, what: &str) -> ApiError {
        let reason = format!("{} may not read {what}", reader.id);
        self.audit_denial(reader.id.as_str(), what, &reason);
        ApiError::PermissionDenied(reason)
    }

    /// Records a refusal in the audit trail (the store's chain, or the log of a stateless
    /// gateway).
    pub(crate) fn audit_denial(&self, actor: &str, what: &str, reason: &str) {
        warn!(actor, what, reason, audit = true, "access denied");
        self.audit(vec![Record::new(actor, format!("denied {what}"), "", "")]);
    }

    /// Appends audit records where this process keeps the chain, and archives them. Durable
    /// with the store's next flush: for refusals, which show nothing.
    pub(crate) fn audit(&self, records: Vec<Record>) {
        let Some(store) = &self.store else {
            return;
        };
        match store.audit(records, self.clock.now()) {
            Ok(entries) => self.archive(entries),
            Err(err) => warn!(error = %crate::telemetry::chain(&err), "audit append failed"),
        }
    }

    /// Appends audit records and makes them durable before returning: a full read of personal
    /// data is shown only once its record would survive a crash. If that fails, the read fails
    /// (UNAVAILABLE) and nothing is shown.
    pub(crate) async fn audit_durably(&self, records: Vec<Record>) -> Result<(), ApiError> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        match store.audit_durably(records, self.clock.now()).await {
            Ok(entries) => {
                self.archive(entries);
                Ok(())
            }
            Err(err) => Err(ApiError::Unavailable(unaudited(&err))),
        }
    }

    /// Copies audit entries to the log's audit archive, in the background.
    fn archive(&self, entries: Vec<crate::audit::Entry>) {
        if !entries.is_empty() {
            let bus = self.bus.clone();
            tokio::spawn(async move { bus.archive(&entries).await });
        }
    }
}

/// Why a read whose audit record could not be made durable was refused (logged here, said to
/// the caller by the gateway and the console alike).
pub(crate) fn unaudited(err: &crate::store::StoreError) -> String {
    let cause = crate::telemetry::chain(err);
    warn!(error = %cause, "audit of a read failed; nothing shown");
    format!(
        "the read could not be recorded in the audit trail ({cause}); nothing was shown, try again"
    )
}

/// Full reads of personal data, collected during a call and audited at its end.
pub(crate) struct Shown {
    reader: String,
    action: &'static str,
    records: Vec<Record>,
}

impl Shown {
    /// Reads by `reader` (`None`: the development operator) in the call named `action`.
    pub(crate) fn new(reader: Option<&Agency>, action: &'static str) -> Self {
        Self {
            reader: reader.map_or_else(|| "operator".to_owned(), |r| r.id.to_string()),
            action,
            records: Vec::new(),
        }
    }

    /// An event was shown, masked or not.
    pub(crate) fn event(&mut self, event: &StoredEvent, masked: bool) {
        if !masked && event.is_personal() {
            self.push(
                event.envelope.key().to_string(),
                hex::encode(event.content_hash),
            );
        }
    }

    /// An alert was shown, masked or not.
    pub(crate) fn alert(&mut self, alert: &Alert, masked: bool) {
        if !masked
            && alert
                .subject
                .as_ref()
                .is_some_and(|s| matches!(s.id, SubjectId::Person(_)))
        {
            self.push(format!("alert/{}", alert.id), String::new());
        }
    }

    /// A referral was shown, masked or not.
    pub(crate) fn referral(&mut self, record: &ReferralRecord, masked: bool) {
        if !masked && matches!(record.referral.subject.id, SubjectId::Person(_)) {
            self.push(format!("referral/{}", record.key), String::new());
        }
    }

    fn push(&mut self, object: String, digest: String) {
        self.records.push(Record::new(
            self.reader.clone(),
            format!("read {}", self.action),
            object,
            digest,
        ));
    }

    /// Appends what was collected to the audit chain, durably, before the caller answers.
    pub(crate) async fn audit(self, shared: &Shared) -> Result<(), ApiError> {
        shared.audit_durably(self.records).await
    }

    /// What was collected, for callers outside the gateway (the console's pages).
    pub(crate) fn into_records(self) -> Vec<Record> {
        self.records
    }
}

/// What a reader may see of a referral.
pub(crate) fn referral_access(
    reader: Option<&Agency>,
    record: &ReferralRecord,
    registry: &Registry,
) -> Access {
    let Some(reader) = reader else {
        return Access::Full;
    };
    // Those who hear of its steps, the police it is addressed to, and whoever took a step
    // (police that passed it on).
    let mut parties = record.parties(registry);
    parties.push(record.police.clone());
    parties.extend(record.history.iter().map(|step| step.actor.clone()));
    let item = Item {
        parties: &parties,
        division: Some(&record.referral.division),
        handling: access::Handling::ShareWithinJurisdiction,
        referral: true,
    };
    access::access(reader, &item)
}

/// A token bucket per agency for publish calls.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// `rate` calls per second, `burst` at once.
    pub fn new(rate: u32, burst: u32) -> Self {
        Self {
            rate: f64::from(rate),
            burst: f64::from(burst),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one call from the agency's bucket, or refuses with RESOURCE_EXHAUSTED.
    pub(crate) fn take(&self, agency: &str) -> Result<(), ApiError> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let (tokens, last) = buckets
            .entry(agency.to_owned())
            .or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * self.rate).min(self.burst);
        *last = now;
        if *tokens < 1.0 {
            return Err(ApiError::RateLimited(format!(
                "{agency} exceeds {} publish calls per second (burst {})",
                self.rate, self.burst
            )));
        }
        *tokens -= 1.0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_refuses_beyond_the_burst() {
        let limiter = RateLimiter::new(1, 3);
        for _ in 0..3 {
            limiter.take("330106-SCJG").unwrap();
        }
        assert!(matches!(
            limiter.take("330106-SCJG"),
            Err(ApiError::RateLimited(_))
        ));
        limiter.take("330106-GA").expect("buckets are per agency");
    }
}

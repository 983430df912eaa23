//! Who is calling, and what they may see.
//!
//! With TLS the caller is the agency its client certificate names — a SAN URI
//! `xiezhi://agency/<id>`, or else the certificate's CN — and it must be in the registry. A
//! request field naming an agency (producer, actor, inbox owner) must be that agency: anything
//! else is spoofing, refused with PERMISSION_DENIED and audited. In `--insecure-dev` mode the
//! caller may name itself with `authorization: Bearer <dev token>` or an `x-xiezhi-agency`
//! header; without either, request fields are trusted and reads are answered as the operator.
//!
//! Reads are filtered and masked by [`crate::access`]; reads that show personal data in full
//! are audited.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

use tonic::Request;
use tracing::warn;

use super::Shared;
use super::status::ApiError;
use crate::access::{CertificateRefusal, certified_agency, unaudited};
use crate::audit::Record;
use crate::domain::{Agency, AgencyId};

/// How callers are identified.
pub enum Identity {
    /// Client certificates, less the revoked ones (SHA-256 of the DER).
    Tls(HashSet<[u8; 32]>),
    /// Development: tokens (token → agency), headers, or trust in request fields.
    Dev(HashMap<String, AgencyId>),
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

//! Who a client certificate names: the registered agency behind a gRPC caller or a console
//! viewer — its SAN URI `xiezhi://agency/<id>` or else its CN, checked against the revocation
//! list and the registry. One check for both doors.

use std::collections::HashSet;

use sha2::{Digest, Sha256};

use crate::domain::{AgencyId, Registry};

/// Why a client certificate identifies no caller.
#[derive(Debug, thiserror::Error)]
pub enum CertificateRefusal {
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
pub fn certified_agency(
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
pub fn agency_of_certificate(der: &[u8]) -> Option<String> {
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

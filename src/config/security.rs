//! `[security]`: how callers are identified (TLS with client certificates, or the development
//! switch), the receipt key, and the limits on what one caller may ask.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// A certificate fingerprint as written by `openssl x509 -fingerprint -sha256` (or plain hex).
pub fn fingerprint(text: &str) -> Option<[u8; 32]> {
    let digits: String = text.chars().filter(|c| *c != ':').collect();
    hex::decode(digits).ok()?.try_into().ok()
}

/// `[security]`: who the callers are, and how much they may ask.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Development only: plaintext gRPC, callers named by request fields, an `x-xiezhi-agency`
    /// header or `dev_tokens`. Off by default; `--insecure-dev` turns it on and logs a warning.
    pub insecure_dev: bool,
    /// The server's certificate chain (PEM). Required unless `insecure_dev`.
    pub tls_cert: PathBuf,
    /// The server's private key (PEM). Required unless `insecure_dev`.
    pub tls_key: PathBuf,
    /// The CA that issues agency client certificates (PEM). Required unless `insecure_dev`.
    pub client_ca: PathBuf,
    /// Development only: bearer tokens and the agency each stands for.
    pub dev_tokens: BTreeMap<String, String>,
    /// SHA-256 fingerprints (hex, colons allowed) of client certificates no longer accepted.
    pub revoked_certificates: Vec<String>,
    /// Ed25519 key (PKCS#8 DER) that signs publish receipts. Empty: `receipt-key.pk8` in the data
    /// directory, created on first start. Gateways behind one name must share one key.
    pub receipt_key: PathBuf,
    /// Publish calls (publish, refer, referral steps) per second one agency may make.
    pub publish_rate_per_sec: u32,
    /// How many publish calls an agency may make at once above the rate.
    pub publish_burst: u32,
    /// HTTP/2 streams one connection may have open (inbox subscriptions included).
    pub max_concurrent_streams: u32,
    /// Seconds a call may take before it is cut off with DEADLINE_EXCEEDED (streams excepted).
    pub request_timeout_secs: u64,
    /// Seconds a new connection has for its TLS handshake and its HTTP/2 preface.
    pub handshake_timeout_secs: u64,
    /// Seconds a connection may send nothing before it is closed; the server pings every
    /// HTTP/2 connection at a third of it, so live clients always answer in time.
    pub idle_timeout_secs: u64,
    /// Connections open at once on the gRPC listener.
    pub max_connections: usize,
    /// Connections open at once from one remote address.
    pub max_connections_per_address: usize,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        Self {
            insecure_dev: false,
            tls_cert: PathBuf::new(),
            tls_key: PathBuf::new(),
            client_ca: PathBuf::new(),
            dev_tokens: BTreeMap::new(),
            revoked_certificates: Vec::new(),
            receipt_key: PathBuf::new(),
            publish_rate_per_sec: 200,
            publish_burst: 400,
            max_concurrent_streams: 64,
            request_timeout_secs: 30,
            handshake_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 4_096,
            max_connections_per_address: 256,
        }
    }
}

fn invalid(key: &'static str, message: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        message: message.to_owned(),
    }
}

impl SecurityConfig {
    /// Checks the section; called by [`super::Config::validate`].
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !self.insecure_dev {
            for (key, path) in [
                ("security.tls_cert", &self.tls_cert),
                ("security.tls_key", &self.tls_key),
                ("security.client_ca", &self.client_ca),
            ] {
                if path.as_os_str().is_empty() {
                    return Err(invalid(
                        key,
                        "must be set: agencies connect with client certificates (`xiezhi certs dev` makes a development set), or start with --insecure-dev for development",
                    ));
                }
            }
            if !self.dev_tokens.is_empty() {
                return Err(invalid(
                    "security.dev_tokens",
                    "only work with --insecure-dev",
                ));
            }
        }
        if let Some((_, agency)) = self
            .dev_tokens
            .iter()
            .find(|(_, agency)| crate::domain::AgencyId::parse(agency).is_err())
        {
            return Err(invalid(
                "security.dev_tokens",
                &format!("{agency:?} is not an agency id"),
            ));
        }
        if let Some(bad) = self
            .revoked_certificates
            .iter()
            .find(|f| fingerprint(f).is_none())
        {
            return Err(invalid(
                "security.revoked_certificates",
                &format!("{bad:?} is not a SHA-256 fingerprint (64 hex digits, colons allowed)"),
            ));
        }
        if self.publish_rate_per_sec == 0 || self.publish_burst == 0 {
            return Err(invalid(
                "security.publish_rate_per_sec",
                "rate and burst must be at least 1",
            ));
        }
        if !(1..=10_000).contains(&self.max_concurrent_streams) {
            return Err(invalid(
                "security.max_concurrent_streams",
                "must be between 1 and 10000",
            ));
        }
        if !(1..=300).contains(&self.handshake_timeout_secs) {
            return Err(invalid(
                "security.handshake_timeout_secs",
                "must be between 1 and 300",
            ));
        }
        if !(3..=3_600).contains(&self.idle_timeout_secs) {
            return Err(invalid(
                "security.idle_timeout_secs",
                "must be between 3 and 3600",
            ));
        }
        if self.max_connections == 0 || self.max_connections_per_address == 0 {
            return Err(invalid(
                "security.max_connections",
                "max_connections and max_connections_per_address must be at least 1",
            ));
        }
        if !(1..=3_600).contains(&self.request_timeout_secs) {
            return Err(invalid(
                "security.request_timeout_secs",
                "must be between 1 and 3600",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> SecurityConfig {
        SecurityConfig {
            insecure_dev: true,
            ..SecurityConfig::default()
        }
    }

    #[test]
    fn fingerprints_are_read_as_openssl_prints_them() {
        let colons = ["AB"; 32].join(":");
        assert_eq!(fingerprint(&colons), Some([0xab; 32]));
        assert_eq!(fingerprint(&"ab".repeat(32)), Some([0xab; 32]));
        assert_eq!(fingerprint("ab:cd"), None, "too short");
        let config = SecurityConfig {
            revoked_certificates: vec!["not-a-fingerprint".into()],
            ..dev()
        };
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("security.revoked_certificates"), "{err}");
    }

    #[test]
    fn development_settings_need_the_development_switch() {
        let tokens = BTreeMap::from([("t".to_owned(), "330106-SCJG".to_owned())]);
        let config = SecurityConfig {
            dev_tokens: tokens.clone(),
            ..dev()
        };
        config.validate().unwrap();
        let err = SecurityConfig {
            insecure_dev: false,
            tls_cert: "s.pem".into(),
            tls_key: "k.pem".into(),
            client_ca: "ca.pem".into(),
            ..config
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(err.contains("security.dev_tokens"), "{err}");
        let bad = SecurityConfig {
            dev_tokens: BTreeMap::from([("t".to_owned(), "nobody".to_owned())]),
            ..dev()
        };
        assert!(
            bad.validate()
                .unwrap_err()
                .to_string()
                .contains("\"nobody\" is not an agency id")
        );
    }
}

//! `[bus.kafka]`: how to reach the Kafka brokers — addresses, topics, and how the connection
//! is secured (TLS to the brokers, SASL credentials). Secrets never sit in the configuration:
//! a SASL password is read from a file or an environment variable when a client is made, and
//! [`Secret`] keeps it out of every `Debug` print and log line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// `[bus.kafka]`: how to reach Kafka and how the topics are laid out (used when
/// `bus.kind = "kafka"`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]` of the brokers.
    pub bootstrap: String,
    /// The events topic, keyed by subject.
    pub events_topic: String,
    /// The dead-letter topic.
    pub dlq_topic: String,
    /// The audit topic: every audit entry, for retention off the router's machine.
    pub audit_topic: String,
    /// The decisions topic (one partition): the batches the writing router decided, from which
    /// every replica's store is materialised (`router.replicas`).
    pub decisions_topic: String,
    /// The acknowledgements topic (one partition, compacted by agency): inbox acknowledgements
    /// router replicas share (`router.replicas`).
    pub acks_topic: String,
    /// Partitions of the events topic when Xiezhi creates it. An existing topic with another
    /// count is refused (changing it would move subjects between partitions).
    pub partitions: u32,
    /// Replication factor of topics Xiezhi creates (3 in production).
    pub replication: u32,
    /// `min.insync.replicas` of topics Xiezhi creates (2 in production): with acks=all, an event
    /// is acknowledged only when this many replicas have it.
    pub min_insync_replicas: u32,
    /// How long a publish may wait for the brokers before it fails with UNAVAILABLE, in ms.
    /// Keep it below your clients' gRPC deadline.
    pub message_timeout_ms: u64,
    /// Static group membership id of this router (`group.instance.id`): a router restarted with
    /// the same id gets its partitions back at once instead of after a rebalance. `auto` (the
    /// default): derived from the host name and the data directory; empty or `none`: dynamic
    /// membership.
    pub instance_id: String,
    /// How the brokers are reached: `plaintext` (the default; one machine or a lab only),
    /// `ssl` (TLS), `sasl_ssl` (TLS and a SASL user — what an agency network needs) or
    /// `sasl_plaintext`.
    pub security_protocol: KafkaProtocol,
    /// Refuse to start unless the brokers are reached over TLS (`ssl` or `sasl_ssl`): set it
    /// wherever events cross a network, so a configuration mistake cannot send personal data
    /// in the clear.
    pub require_tls: bool,
    /// PEM file of the CA that signed the brokers' certificates (empty: the system's roots).
    pub ssl_ca: PathBuf,
    /// PEM certificate this client presents to brokers that require one (with `ssl_key`).
    pub ssl_cert: PathBuf,
    /// PEM private key of `ssl_cert` (unencrypted; protect the file, as for the gRPC key).
    pub ssl_key: PathBuf,
    /// `SCRAM-SHA-512` (the default; the password never crosses the wire) or `PLAIN` (only
    /// over TLS).
    pub sasl_mechanism: SaslMechanism,
    /// The SASL user of this process: one per role (gateway, router), so the brokers' ACLs give
    /// each only what it needs.
    pub sasl_username: String,
    /// A file holding the SASL password (one line; a Kubernetes or compose secret).
    pub sasl_password_file: PathBuf,
    /// The name of an environment variable holding the SASL password (instead of a file).
    pub sasl_password_env: String,
    /// Extra librdkafka settings for every client (e.g. `socket.keepalive.enable`). The
    /// security settings above are not accepted here, nor anything holding a password.
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap: "127.0.0.1:9092".to_owned(),
            events_topic: "xiezhi.events.v1".to_owned(),
            dlq_topic: "xiezhi.dlq.v1".to_owned(),
            audit_topic: "xiezhi.audit.v1".to_owned(),
            decisions_topic: "xiezhi.decisions.v1".to_owned(),
            acks_topic: "xiezhi.acks.v1".to_owned(),
            partitions: 12,
            replication: 1,
            min_insync_replicas: 1,
            message_timeout_ms: 10_000,
            instance_id: "auto".to_owned(),
            security_protocol: KafkaProtocol::Plaintext,
            require_tls: false,
            ssl_ca: PathBuf::new(),
            ssl_cert: PathBuf::new(),
            ssl_key: PathBuf::new(),
            sasl_mechanism: SaslMechanism::ScramSha512,
            sasl_username: String::new(),
            sasl_password_file: PathBuf::new(),
            sasl_password_env: String::new(),
            client: BTreeMap::new(),
        }
    }
}

/// librdkafka's `security.protocol`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KafkaProtocol {
    /// No TLS, no SASL.
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL without TLS (PLAIN would send the password in the clear: refused).
    SaslPlaintext,
    /// TLS and SASL.
    SaslSsl,
}

impl KafkaProtocol {
    /// librdkafka's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            KafkaProtocol::Plaintext => "plaintext",
            KafkaProtocol::Ssl => "ssl",
            KafkaProtocol::SaslPlaintext => "sasl_plaintext",
            KafkaProtocol::SaslSsl => "sasl_ssl",
        }
    }

    /// Whether the connection is encrypted.
    pub fn tls(self) -> bool {
        matches!(self, KafkaProtocol::Ssl | KafkaProtocol::SaslSsl)
    }

    /// Whether a SASL user logs in.
    pub fn sasl(self) -> bool {
        matches!(self, KafkaProtocol::SaslPlaintext | KafkaProtocol::SaslSsl)
    }
}

/// The SASL mechanisms Xiezhi supports (librdkafka built with OpenSSL has both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SaslMechanism {
    /// Salted challenge–response (RFC 5802/7677): the broker keeps only a salted hash.
    #[default]
    #[serde(rename = "SCRAM-SHA-512")]
    ScramSha512,
    /// The password itself, inside TLS.
    #[serde(rename = "PLAIN")]
    Plain,
}

impl SaslMechanism {
    /// librdkafka's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
            SaslMechanism::Plain => "PLAIN",
        }
    }
}

/// A secret read at run time. `Debug` and `Display` print `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one place that hands it to the Kafka client.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// librdkafka settings the typed keys own: set through `[bus.kafka]`, never `client`.
const OWNED: [&str; 8] = [
    "bootstrap.servers",
    "security.protocol",
    "ssl.ca.location",
    "ssl.certificate.location",
    "ssl.key.location",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
];

impl KafkaConfig {
    /// The SASL password, from the file or the variable configured. Read each time a client is
    /// made, so a rotated secret is picked up by the next client.
    pub fn sasl_password(&self) -> Result<Secret, ConfigError> {
        let invalid = |key, message: String| ConfigError::Invalid { key, message };
        let raw = if !self.sasl_password_file.as_os_str().is_empty() {
            std::fs::read_to_string(&self.sasl_password_file).map_err(|err| {
                invalid(
                    "bus.kafka.sasl_password_file",
                    format!("cannot read {}: {err}", self.sasl_password_file.display()),
                )
            })?
        } else {
            std::env::var(&self.sasl_password_env).map_err(|_| {
                invalid(
                    "bus.kafka.sasl_password_env",
                    format!(
                        "the environment variable {} is not set (or not UTF-8)",
                        self.sasl_password_env
                    ),
                )
            })?
        };
        // A secret file written by `echo` ends with a newline that is not part of the password.
        let password = raw.trim_end_matches(['\r', '\n']);
        if password.is_empty() {
            let key = if self.sasl_password_file.as_os_str().is_empty() {
                "bus.kafka.sasl_password_env"
            } else {
                "bus.kafka.sasl_password_file"
            };
            return Err(invalid(key, "the SASL password is empty".to_owned()));
        }
        Ok(Secret(password.to_owned()))
    }

    /// Checks that the security settings fit together; called by `Config::validate` when the
    /// log is Kafka.
    pub(super) fn validate_security(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_owned(),
        };
        let protocol = self.security_protocol;
        if self.require_tls && !protocol.tls() {
            return Err(invalid(
                "bus.kafka.security_protocol",
                "is not ssl or sasl_ssl but bus.kafka.require_tls is set: events (names, ID \
                 numbers, case facts) would cross the network unencrypted",
            ));
        }
        if self.require_tls
            && self.bootstrap.split(',').any(|broker| {
                let broker = broker.trim().to_ascii_lowercase();
                broker.starts_with("plaintext://") || broker.starts_with("sasl_plaintext://")
            })
        {
            return Err(invalid(
                "bus.kafka.bootstrap",
                "names a plaintext listener but bus.kafka.require_tls is set",
            ));
        }
        let set = |path: &PathBuf| !path.as_os_str().is_empty();
        if !protocol.tls() && (set(&self.ssl_ca) || set(&self.ssl_cert) || set(&self.ssl_key)) {
            return Err(invalid(
                "bus.kafka.security_protocol",
                "ssl_ca, ssl_cert or ssl_key is set but the protocol has no TLS: use ssl or sasl_ssl",
            ));
        }
        if set(&self.ssl_cert) != set(&self.ssl_key) {
            return Err(invalid(
                "bus.kafka.ssl_key",
                "ssl_cert and ssl_key go together: set both or neither",
            ));
        }
        let password_sources = usize::from(set(&self.sasl_password_file))
            + usize::from(!self.sasl_password_env.is_empty());
        if protocol.sasl() {
            if self.sasl_username.trim().is_empty() {
                return Err(invalid(
                    "bus.kafka.sasl_username",
                    "must name the SASL user when security_protocol is sasl_ssl or sasl_plaintext",
                ));
            }
            if password_sources != 1 {
                return Err(invalid(
                    "bus.kafka.sasl_password_file",
                    "set exactly one of sasl_password_file and sasl_password_env (the password itself \
                     is never written in the configuration)",
                ));
            }
            if protocol == KafkaProtocol::SaslPlaintext
                && self.sasl_mechanism == SaslMechanism::Plain
            {
                return Err(invalid(
                    "bus.kafka.sasl_mechanism",
                    "PLAIN over sasl_plaintext would send the password in the clear: use sasl_ssl or SCRAM-SHA-512",
                ));
            }
        } else if !self.sasl_username.is_empty() || password_sources > 0 {
            return Err(invalid(
                "bus.kafka.security_protocol",
                "SASL credentials are set but the protocol has no SASL: use sasl_ssl",
            ));
        }
        for key in self.client.keys() {
            let lower = key.to_ascii_lowercase();
            if OWNED.contains(&lower.as_str())
                || lower.contains("password")
                || lower.contains("jaas")
            {
                return Err(ConfigError::Invalid {
                    key: "bus.kafka.client",
                    message: format!(
                        "{key} is set by the typed [bus.kafka] keys (security_protocol, ssl_*, sasl_*), \
                         and secrets come from sasl_password_file or sasl_password_env"
                    ),
                });
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secure() -> KafkaConfig {
        KafkaConfig {
            security_protocol: KafkaProtocol::SaslSsl,
            require_tls: true,
            sasl_username: "router".into(),
            sasl_password_env: "XIEZHI_TEST_KAFKA_PASSWORD_UNSET".into(),
            ..KafkaConfig::default()
        }
    }

    fn refusal(config: &KafkaConfig) -> String {
        config.validate_security().unwrap_err().to_string()
    }

    #[test]
    fn a_secure_setup_is_accepted_and_plaintext_is_refused_when_tls_is_required() {
        secure().validate_security().unwrap();
        let plain = KafkaConfig {
            security_protocol: KafkaProtocol::Plaintext,
            sasl_username: String::new(),
            sasl_password_env: String::new(),
            ..secure()
        };
        assert!(refusal(&plain).contains("bus.kafka.security_protocol"));
        assert!(refusal(&plain).contains("unencrypted"));
        let sasl_only = KafkaConfig {
            security_protocol: KafkaProtocol::SaslPlaintext,
            ..secure()
        };
        assert!(refusal(&sasl_only).contains("require_tls"));
        let prefixed = KafkaConfig {
            bootstrap: "SASL_SSL://a:9094,PLAINTEXT://b:9092".into(),
            ..secure()
        };
        assert!(refusal(&prefixed).contains("bus.kafka.bootstrap"));
    }

    #[test]
    fn credentials_must_be_complete_and_come_from_a_file_or_a_variable() {
        let nobody = KafkaConfig {
            sasl_username: " ".into(),
            ..secure()
        };
        assert!(refusal(&nobody).contains("bus.kafka.sasl_username"));
        let no_password = KafkaConfig {
            sasl_password_env: String::new(),
            ..secure()
        };
        assert!(refusal(&no_password).contains("exactly one"));
        let both = KafkaConfig {
            sasl_password_file: "/run/secrets/kafka".into(),
            ..secure()
        };
        assert!(refusal(&both).contains("exactly one"));
        let mut inline = secure();
        inline
            .client
            .insert("sasl.password".into(), "hunter2".into());
        assert!(refusal(&inline).contains("bus.kafka.client"));
        let mut protocol = secure();
        protocol
            .client
            .insert("security.protocol".into(), "plaintext".into());
        assert!(refusal(&protocol).contains("typed"));
        let half_pair = KafkaConfig {
            ssl_cert: "client.pem".into(),
            ..secure()
        };
        assert!(refusal(&half_pair).contains("bus.kafka.ssl_key"));
        let stray = KafkaConfig {
            sasl_username: "router".into(),
            ..KafkaConfig::default()
        };
        assert!(refusal(&stray).contains("no SASL"));
        let clear = KafkaConfig {
            security_protocol: KafkaProtocol::SaslPlaintext,
            sasl_mechanism: SaslMechanism::Plain,
            require_tls: false,
            ..secure()
        };
        assert!(refusal(&clear).contains("in the clear"));
    }

    #[test]
    fn the_password_is_read_from_the_variable_named() {
        // PATH is always set: reading it needs no change to the test process's environment.
        let config = KafkaConfig {
            sasl_password_env: "PATH".into(),
            ..secure()
        };
        let expected = std::env::var("PATH").unwrap();
        assert_eq!(
            config.sasl_password().unwrap().expose(),
            expected.trim_end()
        );
        let unset = secure();
        let err = unset.sasl_password().unwrap_err().to_string();
        assert!(err.contains("bus.kafka.sasl_password_env"), "{err}");
    }

    #[test]
    fn the_password_is_read_from_its_file_without_the_newline_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("password");
        std::fs::write(&file, "s3cret-pw\n").unwrap();
        let config = KafkaConfig {
            sasl_password_file: file.clone(),
            sasl_password_env: String::new(),
            ..secure()
        };
        let password = config.sasl_password().unwrap();
        assert_eq!(password.expose(), "s3cret-pw");
        assert_eq!(format!("{password:?}"), "[redacted]");
        std::fs::write(&file, "\n").unwrap();
        assert!(
            config
                .sasl_password()
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
        let missing = KafkaConfig {
            sasl_password_file: dir.path().join("absent"),
            ..config
        };
        let err = missing.sasl_password().unwrap_err().to_string();
        assert!(
            err.contains("bus.kafka.sasl_password_file") && err.contains("absent"),
            "{err}"
        );
        let unset = secure().sasl_password().unwrap_err().to_string();
        assert!(
            unset.contains("XIEZHI_TEST_KAFKA_PASSWORD_UNSET"),
            "{unset}"
        );
    }
}

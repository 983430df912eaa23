//! Typed configuration, loaded once in layers: built-in defaults → TOML file → `XIEZHI_*`
//! environment → command-line flags → [`Config::validate`]. Unknown keys are errors that name
//! the key and where it came from. Each part of the program receives only its own section.
//!
//! Environment variables name a key by its section and field joined with a double underscore:
//! `XIEZHI_SERVER__GRPC_ADDR=0.0.0.0:50051`, `XIEZHI_VALIDATION__USCC_CHECKSUM=warn`. Values
//! are read as TOML (numbers, booleans) and otherwise as strings. Variables starting with
//! `XIEZHI_TEST_` belong to the test suite and are ignored here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::calendar::WorkCalendar;
use crate::domain::rules::{Discretion, RulesError, Thresholds};
use crate::domain::{Agency, AlertWindows, ChecksumPolicy, Policy, Registry, ValidationPolicy};

mod security;
pub use security::{SecurityConfig, fingerprint};

/// The sample registry of one city (Hangzhou: the city and three districts), built in so that
/// `xiezhi demo` and a first `xiezhi serve` work with no setup. Also at `deploy/registry.toml`.
pub const SAMPLE_REGISTRY: &str = include_str!("../../deploy/registry.toml");
/// The shipped prosecution thresholds (`rules/thresholds.toml`).
pub const BUILTIN_THRESHOLDS: &str = include_str!("../../rules/thresholds.toml");
/// The shipped discretion bands (`rules/discretion.toml`).
pub const BUILTIN_DISCRETION: &str = include_str!("../../rules/discretion.toml");

/// Everything configurable.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The gRPC server.
    pub server: ServerConfig,
    /// Where data lives.
    pub store: StoreConfig,
    /// The log.
    pub bus: BusConfig,
    /// The router.
    pub router: RouterSection,
    /// Validation policy.
    pub validation: ValidationConfig,
    /// The agency registry.
    pub registry: RegistryConfig,
    /// Rule files.
    pub rules: RulesConfig,
    /// The working-day calendar.
    pub calendar: CalendarConfig,
    /// Alert windows.
    pub alerts: AlertsConfig,
    /// Identity, transport security, receipts and limits.
    pub security: SecurityConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `[server]`: the gRPC and HTTP endpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on for gRPC (publish, inbox, query, health, reflection).
    pub grpc_addr: SocketAddr,
    /// Address to listen on for HTTP (`/healthz`, `/metrics`).
    pub http_addr: SocketAddr,
    /// Largest request accepted, in bytes; larger ones are refused with INVALID_ARGUMENT and
    /// nothing is stored. Default 1 MiB.
    pub max_request_bytes: usize,
    /// Seconds in-flight requests get to finish when shutting down.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_request_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
        }
    }
}

/// `[store]`: the data directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Directory of the sled database holding the embedded log and the router's store.
    pub data_dir: PathBuf,
    /// sled's page cache, MiB. sled's own default (1 GiB) made the broker's memory grow with
    /// the store; reads of recent events stay in this cache, older ones come from the OS's.
    pub cache_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            cache_mb: 64,
        }
    }
}

/// Which log implementation carries events.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusKind {
    /// The embedded sled log (one machine).
    #[default]
    Embedded,
    /// Apache Kafka (across machines).
    Kafka,
}

impl std::str::FromStr for BusKind {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        match raw {
            "embedded" => Ok(BusKind::Embedded),
            "kafka" => Ok(BusKind::Kafka),
            other => Err(format!("unknown bus {other:?}: embedded or kafka")),
        }
    }
}

/// `[bus]`: the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BusConfig {
    /// `embedded` (default: the log in the data directory) or `kafka`.
    pub kind: BusKind,
    /// Partitions of the embedded log; fixed once the log exists.
    pub partitions: u32,
    /// The Kafka log, when `kind = "kafka"`.
    pub kafka: KafkaConfig,
}

impl Default for BusConfig {
    fn default() -> Self {
        Self {
            kind: BusKind::Embedded,
            partitions: 8,
            kafka: KafkaConfig::default(),
        }
    }
}

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
    /// the same id gets its partitions back at once instead of after a rebalance. Empty: none.
    pub instance_id: String,
    /// Extra librdkafka settings for every client (e.g. `security.protocol`, `ssl.ca.location`).
    pub client: BTreeMap<String, String>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        Self {
            bootstrap: "127.0.0.1:9092".to_owned(),
            events_topic: "xiezhi.events.v1".to_owned(),
            dlq_topic: "xiezhi.dlq.v1".to_owned(),
            audit_topic: "xiezhi.audit.v1".to_owned(),
            partitions: 12,
            replication: 1,
            min_insync_replicas: 1,
            message_timeout_ms: 10_000,
            instance_id: String::new(),
            client: BTreeMap::new(),
        }
    }
}

/// `[router]`: applying the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterSection {
    /// Most records applied per store transaction.
    pub batch_max: usize,
    /// Consumer group of the router on the log. Routers sharing a group share the partitions.
    pub group: String,
    /// How often deadlines and 以罚代刑 watches are checked, in milliseconds.
    pub tick_ms: u64,
}

impl Default for RouterSection {
    fn default() -> Self {
        Self {
            batch_max: 1_000,
            group: "xiezhi-router".to_owned(),
            tick_ms: 30_000,
        }
    }
}

/// `[rules]`: where the rule files are. Relative paths are resolved against the config file's
/// directory; empty means the copy shipped in the binary (`rules/` of the source tree).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// Prosecution thresholds (立案追诉标准).
    pub thresholds: PathBuf,
    /// Discretion bands (裁量基准).
    pub discretion: PathBuf,
}

/// `[calendar]`: public holidays and make-up working days, from the State Council's yearly
/// notice (国务院办公厅关于部分节假日安排的通知). Weekends are non-working unless listed in
/// `workdays`. Add each year's notice when it is published.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CalendarConfig {
    /// Days off (放假), `YYYY-MM-DD`.
    pub holidays: Vec<jiff::civil::Date>,
    /// Weekend days worked (调休上班), `YYYY-MM-DD`.
    pub workdays: Vec<jiff::civil::Date>,
}

impl Default for CalendarConfig {
    /// The 2025 schedule, 国办发明电〔2024〕12号.
    fn default() -> Self {
        let range = |from: (i8, i8), to: (i8, i8)| {
            let start = jiff::civil::Date::constant(2025, from.0, from.1);
            let end = jiff::civil::Date::constant(2025, to.0, to.1);
            start
                .series(jiff::Span::new().days(1))
                .take_while(move |d| *d <= end)
        };
        let holidays = range((1, 1), (1, 1))
            .chain(range((1, 28), (2, 4)))
            .chain(range((4, 4), (4, 6)))
            .chain(range((5, 1), (5, 5)))
            .chain(range((5, 31), (6, 2)))
            .chain(range((10, 1), (10, 8)))
            .collect();
        let workdays = [(1, 26), (2, 8), (4, 27), (9, 28), (10, 11)]
            .into_iter()
            .map(|(m, d)| jiff::civil::Date::constant(2025, m, d))
            .collect();
        Self { holidays, workdays }
    }
}

/// `[alerts]`: windows of the alerts — the deployment's policy, not law.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertsConfig {
    /// Days after a penalty that meets a threshold within which a referral of the case must be
    /// recorded before the procuratorate is alerted (以罚代刑).
    pub referral_grace_days: u32,
    /// Days within which another agency's penalty for the same conduct counts as 多头受罚.
    pub duplicate_window_days: u32,
    /// Days over which small cases are added up (化整为零).
    pub split_window_days: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            referral_grace_days: 7,
            duplicate_window_days: 180,
            split_window_days: 365,
        }
    }
}

/// `[validation]`: what the gateway accepts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ValidationConfig {
    /// `reject` (default) or `warn`: what to do with a 统一社会信用代码 whose check character
    /// fails. `warn` accepts the event and flags it in the Ack and on the stored event.
    pub uscc_checksum: ChecksumPolicy,
    /// How many seconds ahead of the server clock a timestamp may be. Default 300.
    pub max_future_skew_secs: u32,
}

impl Default for ValidationConfig {
    fn default() -> Self {
        Self {
            uscc_checksum: ChecksumPolicy::Reject,
            max_future_skew_secs: 300,
        }
    }
}

impl ValidationConfig {
    /// The policy the gateway applies.
    pub fn policy(&self) -> ValidationPolicy {
        ValidationPolicy {
            uscc_checksum: self.uscc_checksum,
            max_future_skew: jiff::SignedDuration::from_secs(i64::from(self.max_future_skew_secs)),
        }
    }
}

/// `[registry]`: the agencies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// TOML file with `[[agency]]` entries (see `deploy/registry.toml`). Relative paths are
    /// resolved against the config file's directory. Empty: the built-in sample registry.
    pub file: PathBuf,
}

/// `[log]`: diagnostics.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `xiezhi=debug,info`; `RUST_LOG` overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".to_owned(),
        }
    }
}

/// Configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file or the environment does not match the schema (unknown key, wrong type).
    #[error("{origin}: {message}")]
    Parse {
        /// Where: a file path or "XIEZHI_* environment".
        origin: String,
        /// The parser's message, naming the key.
        message: String,
    },
    /// A value is out of range.
    #[error("config key {key}: {message}")]
    Invalid {
        /// Dotted key.
        key: &'static str,
        /// Why.
        message: String,
    },
    /// A rule file is not usable.
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// The registry file is not usable.
    #[error("registry {origin}: {message}")]
    Registry {
        /// File path or "built-in sample".
        origin: String,
        /// Why.
        message: String,
    },
}

/// The registry file's shape.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    #[serde(default)]
    agency: Vec<Agency>,
}

impl Config {
    /// Loads defaults, then `file` if given, then `XIEZHI_*` variables from `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = toml::Table::new();
        let mut base_dir = PathBuf::from(".");
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            table = toml::from_str(&text).map_err(|e| ConfigError::Parse {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?;
            // Check the file alone first, so its mistakes are reported against it.
            Self::from_table(table.clone(), &path.display().to_string())?;
            base_dir = path.parent().map(Path::to_owned).unwrap_or(base_dir);
        }
        let mut from_env: Vec<String> = Vec::new();
        for (name, value) in env {
            let Some(key) = name.strip_prefix("XIEZHI_") else {
                continue;
            };
            if key.starts_with("TEST_") {
                continue;
            }
            from_env.push(name.clone());
            let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
            insert(&mut table, &path, parse_env_value(&value)).map_err(|message| {
                ConfigError::Parse {
                    origin: format!("environment variable {name}"),
                    message,
                }
            })?;
        }
        let origin = if from_env.is_empty() {
            "config".to_owned()
        } else {
            format!("environment ({})", from_env.join(", "))
        };
        let mut config = Self::from_table(table, &origin)?;
        for path in [
            &mut config.registry.file,
            &mut config.rules.thresholds,
            &mut config.rules.discretion,
            &mut config.security.tls_cert,
            &mut config.security.tls_key,
            &mut config.security.client_ca,
            &mut config.security.receipt_key,
        ] {
            if !path.as_os_str().is_empty() && path.is_relative() {
                *path = base_dir.join(&*path);
            }
        }
        Ok(config)
    }

    fn from_table(table: toml::Table, origin: &str) -> Result<Self, ConfigError> {
        Self::deserialize(table).map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        })
    }

    /// Checks ranges; call after the last override.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key, message: &str| ConfigError::Invalid {
            key,
            message: message.to_owned(),
        };
        if !(1024..=64 * 1024 * 1024).contains(&self.server.max_request_bytes) {
            return Err(invalid(
                "server.max_request_bytes",
                "must be between 1 KiB and 64 MiB",
            ));
        }
        if !(1..=1024).contains(&self.bus.partitions) {
            return Err(invalid("bus.partitions", "must be between 1 and 1024"));
        }
        if !(8..=65_536).contains(&self.store.cache_mb) {
            return Err(invalid(
                "store.cache_mb",
                "must be between 8 and 65536 (MiB)",
            ));
        }
        if !(1..=10_000).contains(&self.router.batch_max) {
            return Err(invalid("router.batch_max", "must be between 1 and 10000"));
        }
        if self.validation.max_future_skew_secs > 86_400 {
            return Err(invalid(
                "validation.max_future_skew_secs",
                "must be at most 86400 (one day)",
            ));
        }
        let kafka = &self.bus.kafka;
        if self.bus.kind == BusKind::Kafka {
            if kafka.bootstrap.trim().is_empty() {
                return Err(invalid(
                    "bus.kafka.bootstrap",
                    "must name at least one broker",
                ));
            }
            if !(1..=10_000).contains(&kafka.partitions) {
                return Err(invalid(
                    "bus.kafka.partitions",
                    "must be between 1 and 10000",
                ));
            }
            if kafka.replication == 0
                || kafka.min_insync_replicas == 0
                || kafka.min_insync_replicas > kafka.replication
            {
                return Err(invalid(
                    "bus.kafka.min_insync_replicas",
                    "replication and min_insync_replicas must be ≥ 1, and min_insync_replicas ≤ replication",
                ));
            }
            if !(1_000..=300_000).contains(&kafka.message_timeout_ms) {
                return Err(invalid(
                    "bus.kafka.message_timeout_ms",
                    "must be between 1000 and 300000",
                ));
            }
        }
        self.security.validate()?;
        if !(10..=3_600_000).contains(&self.router.tick_ms) {
            return Err(invalid(
                "router.tick_ms",
                "must be between 10 ms and one hour",
            ));
        }
        if self.router.group.trim().is_empty() {
            return Err(invalid("router.group", "must not be empty"));
        }
        if self.store.data_dir.as_os_str().is_empty() {
            return Err(invalid("store.data_dir", "must not be empty"));
        }
        Ok(())
    }

    /// Reads the agency registry: the configured file, or the built-in sample.
    pub fn load_registry(&self) -> Result<Registry, ConfigError> {
        if self.registry.file.as_os_str().is_empty() {
            return parse_registry(SAMPLE_REGISTRY, "built-in sample");
        }
        let path = &self.registry.file;
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        parse_registry(&text, &path.display().to_string())
    }
}

impl Config {
    /// Loads everything the router decides with: registry, rules, calendar, windows.
    pub fn load_policy(&self) -> Result<Policy, ConfigError> {
        let rules_file =
            |path: &PathBuf, builtin: &'static str| -> Result<(String, String), ConfigError> {
                if path.as_os_str().is_empty() {
                    return Ok((builtin.to_owned(), "built-in".to_owned()));
                }
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                Ok((text, path.display().to_string()))
            };
        let (text, origin) = rules_file(&self.rules.thresholds, BUILTIN_THRESHOLDS)?;
        let thresholds = Thresholds::parse(&text, &origin)?;
        let (text, origin) = rules_file(&self.rules.discretion, BUILTIN_DISCRETION)?;
        let discretion = Discretion::parse(&text, &origin)?;
        let calendar = WorkCalendar::new(
            self.calendar.holidays.iter().copied(),
            self.calendar.workdays.iter().copied(),
        )
        .map_err(|e| ConfigError::Invalid {
            key: "calendar",
            message: e.to_string(),
        })?;
        let days = |n: u32| jiff::SignedDuration::from_hours(24 * i64::from(n));
        Ok(Policy {
            registry: self.load_registry()?,
            thresholds,
            discretion,
            calendar,
            windows: AlertWindows {
                referral_grace: days(self.alerts.referral_grace_days),
                duplicate_window: days(self.alerts.duplicate_window_days),
                split_window: days(self.alerts.split_window_days),
            },
        })
    }
}

/// Parses a registry file's text.
pub fn parse_registry(text: &str, origin: &str) -> Result<Registry, ConfigError> {
    let error = |message: String| ConfigError::Registry {
        origin: origin.to_owned(),
        message,
    };
    let file: RegistryFile = toml::from_str(text).map_err(|e| error(e.to_string()))?;
    if file.agency.is_empty() {
        return Err(error("no [[agency]] entries".to_owned()));
    }
    Registry::new(file.agency).map_err(|e| error(e.to_string()))
}

fn parse_env_value(raw: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_owned()))
}

fn insert(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("empty key".to_owned()),
        [key] => {
            table.insert(key.clone(), value);
            Ok(())
        }
        [section, rest @ ..] => {
            let entry = table
                .entry(section.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => insert(inner, rest, value),
                _ => Err(format!("{section} is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_sane() {
        let mut config = Config::load(None, env(&[])).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(
            err.contains("security.tls_cert"),
            "certificates by default: {err}"
        );
        config.security.insecure_dev = true;
        config.validate().unwrap();
        assert_eq!(config.server.grpc_addr.to_string(), "127.0.0.1:50051");
        assert_eq!(config.server.max_request_bytes, 1 << 20);
        assert_eq!(config.store.data_dir, PathBuf::from("./data"));
        assert!(config.load_registry().unwrap().len() >= 12);
    }

    #[test]
    fn the_example_config_equals_the_defaults_and_loads_its_registry() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/xiezhi.toml");
        let config = Config::load(Some(&path), env(&[])).unwrap();
        config.validate().unwrap();
        let mut expected = Config::default();
        let dir = path.parent().unwrap();
        expected.registry.file = dir.join("registry.toml");
        expected.security.tls_cert = dir.join("certs/server.pem");
        expected.security.tls_key = dir.join("certs/server-key.pem");
        expected.security.client_ca = dir.join("certs/ca.pem");
        assert_eq!(
            config, expected,
            "deploy/xiezhi.toml documents the defaults"
        );
        assert_eq!(config.load_registry().unwrap().len(), 15);
    }

    #[test]
    fn the_kafka_example_config_selects_kafka() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/xiezhi-kafka.toml");
        let config = Config::load(Some(&path), env(&[])).unwrap();
        config.validate().unwrap();
        assert_eq!(config.bus.kind, BusKind::Kafka);
        assert_eq!(config.bus.kafka.bootstrap, "127.0.0.1:9092");
        assert_eq!(config.load_registry().unwrap().len(), 15);
    }

    #[test]
    fn kafka_settings_are_checked() {
        let config = Config::load(
            None,
            env(&[
                ("XIEZHI_BUS__KIND", "kafka"),
                ("XIEZHI_BUS__KAFKA__REPLICATION", "1"),
                ("XIEZHI_BUS__KAFKA__MIN_INSYNC_REPLICAS", "2"),
            ]),
        )
        .unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("bus.kafka.min_insync_replicas"), "{err}");
    }

    #[test]
    fn file_then_env_override_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xiezhi.toml");
        std::fs::write(
            &path,
            "[server]\ngrpc_addr = \"127.0.0.1:6000\"\n[bus]\npartitions = 4\n[registry]\nfile = \"agencies.toml\"\n",
        )
        .unwrap();
        let config = Config::load(
            Some(&path),
            env(&[
                ("XIEZHI_BUS__PARTITIONS", "16"),
                ("XIEZHI_VALIDATION__USCC_CHECKSUM", "warn"),
                ("XIEZHI_TEST_KAFKA", "ignored"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(config.server.grpc_addr.port(), 6000);
        assert_eq!(config.bus.partitions, 16);
        assert_eq!(config.validation.uscc_checksum, ChecksumPolicy::Warn);
        assert_eq!(config.registry.file, dir.path().join("agencies.toml"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("xiezhi.toml");
        std::fs::write(&path, "[server]\ngrpc_adr = \"127.0.0.1:6000\"\n").unwrap();
        let err = Config::load(Some(&path), env(&[])).unwrap_err().to_string();
        assert!(
            err.contains("grpc_adr") && err.contains("xiezhi.toml"),
            "{err}"
        );

        let err = Config::load(None, env(&[("XIEZHI_SERVER__PORT", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("port") && err.contains("environment"), "{err}");
        let err = Config::load(None, env(&[("XIEZHI_NOPE", "1")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_the_key() {
        let config = Config::load(None, env(&[("XIEZHI_BUS__PARTITIONS", "0")])).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("bus.partitions"), "{err}");
        let config = Config::load(None, env(&[("XIEZHI_STORE__CACHE_MB", "4")])).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("store.cache_mb"), "{err}");
    }

    #[test]
    fn bad_registry_names_the_entry() {
        let text = "[[agency]]\nid = \"330106-GA\"\nname = \"x\"\nkind = \"police\"\ndivision = \"330102\"\n";
        let err = parse_registry(text, "test.toml").unwrap_err().to_string();
        assert!(
            err.contains("330106-GA") && err.contains("test.toml"),
            "{err}"
        );
        let err = parse_registry("[[agency]]\nid = \"bad\"\n", "t")
            .unwrap_err()
            .to_string();
        assert!(err.contains("agency.format") || err.contains("id"), "{err}");
    }
}

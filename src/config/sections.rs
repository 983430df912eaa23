//! The sections of the configuration, with their defaults: every field's `///` is its
//! documentation (`xiezhi.example.toml` mirrors them).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{KafkaConfig, SecurityConfig};
use crate::domain::{ChecksumPolicy, ValidationPolicy};

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
    /// Where enterprises reach the inspections' verification pages (扫码入企), e.g.
    /// `https://xiezhi.example.gov.cn`: the QR images encode `<public_url>/verify/<code>`.
    /// Empty: the address the request for the image came to (fine on one machine, wrong
    /// behind a proxy).
    pub public_url: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            grpc_addr: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_request_bytes: 1024 * 1024,
            shutdown_grace_secs: 10,
            public_url: String::new(),
        }
    }
}

/// `[store]`: the data directory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// The data directory: the embedded log (`log/`), the store (`store/`), the receipt key.
    pub data_dir: PathBuf,
    /// sled's page cache, MiB, as sled counts it (its nodes take several times that in
    /// memory). sled's own default (1 GiB) made the broker's memory grow with the store; 16
    /// kept the same throughput as 64 with 45 MB less RSS (docs/benchmarks.md). Older events
    /// are read through the OS's page cache.
    pub cache_mb: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            cache_mb: 16,
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
    /// Run as one of several interchangeable replicas (Kafka only; docs/kafka.md, "Replicas"):
    /// one replica, chosen by Kafka's consumer-group protocol, decides and writes its batches
    /// to the decisions topic; every replica's store is materialised from that topic.
    pub replicas: bool,
    /// Decided batches a replica may be behind the decisions topic and still report ready.
    pub ready_lag: u64,
}

impl Default for RouterSection {
    fn default() -> Self {
        Self {
            batch_max: 1_000,
            group: "xiezhi-router".to_owned(),
            tick_ms: 30_000,
            replicas: false,
            ready_lag: 20,
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
    /// Published inspection items and yearly caps (涉企行政检查).
    pub inspection_items: PathBuf,
    /// Hearing thresholds (较大数额) and the 法制审核 line (执法监督).
    pub procedure: PathBuf,
    /// Minor first offences not to be fined (首违不罚).
    pub exemptions: PathBuf,
    /// The division codes that exist (GB/T 2260; `rules/divisions.txt`'s format).
    pub divisions: PathBuf,
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
    /// Seconds an outcome waits for the lead it names before the coordinators are told it
    /// answers a lead that never arrived (a lead may still be on its way on another partition).
    pub outcome_lead_wait_secs: u32,
    /// Working days after a lead within which its answer counts as timely in the statistics
    /// (反馈及时率). The deployment's policy: local rules on 线索移交 set it (often 10–15).
    pub lead_answer_working_days: u32,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        Self {
            referral_grace_days: 7,
            duplicate_window_days: 180,
            split_window_days: 365,
            outcome_lead_wait_secs: 600,
            lead_answer_working_days: 15,
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

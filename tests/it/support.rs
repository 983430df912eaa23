//! Test harness: a real broker on 127.0.0.1:0 with a temp data dir, its gRPC clients, and
//! builders of valid requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Streaming;
use tonic::transport::Channel;
use tonic_types::StatusExt;
use xiezhi::app::{self, Role, Running};
use xiezhi::config::Config;
use xiezhi::domain::{Clock, SystemClock, Uscc};
use xiezhi::proto;
use xiezhi::proto::inbox_client::InboxClient;
use xiezhi::proto::publisher_client::PublisherClient;
use xiezhi::proto::query_client::QueryClient;
use xiezhi::store::Store;

/// Which log a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Log {
    /// The embedded sled log.
    Embedded,
    /// A real Apache Kafka broker.
    Kafka,
    /// The secured Kafka broker (TLS, SASL, ACLs), as the router's user.
    SecureKafka,
}

impl Log {
    /// Whether the log is a Kafka broker (appends are read back by the router later).
    pub fn is_kafka(self) -> bool {
        self != Log::Embedded
    }
}

/// Generates, for each named scenario `async fn name(log: Log)`, a module `name` with one test
/// per log: `name::embedded` and `name::kafka`.
#[macro_export]
macro_rules! on_both_logs {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test]
                async fn embedded() {
                    super::$name($crate::support::Log::Embedded).await;
                }

                #[tokio::test]
                async fn kafka() {
                    super::$name($crate::support::Log::Kafka).await;
                }
            }
        )*
    };
}

/// A broker for one test.
pub struct TestServer {
    running: Option<Running>,
    pub config: Config,
    _dir: Option<tempfile::TempDir>,
    pub channel: Channel,
}

impl TestServer {
    /// Starts a broker on `log` with default settings in a fresh temp dir.
    pub async fn start(log: Log) -> Self {
        Self::start_with(log, |_| {}).await
    }

    /// Starts a broker after `tune` adjusts the default test configuration.
    pub async fn start_with(log: Log, tune: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_clock(log, tune, Arc::new(SystemClock)).await
    }

    /// Starts a broker whose notion of "now" is `clock`.
    pub async fn start_with_clock(
        log: Log,
        tune: impl FnOnce(&mut Config),
        clock: Arc<dyn Clock>,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = test_config(log, dir.path());
        let mut config = config;
        tune(&mut config);
        let mut server = Self::boot(config, Role::All, clock).await;
        server._dir = Some(dir);
        server
    }

    /// Starts only the router role (Kafka): consumer, store, inbox and query.
    pub async fn start_router(tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(Log::Kafka, dir.path());
        tune(&mut config);
        let mut server = Self::boot(config, Role::Router, Arc::new(SystemClock)).await;
        server._dir = Some(dir);
        server
    }

    /// Starts `role` with `config` as it is (its data directory is the caller's).
    pub async fn start_as(config: Config, role: Role) -> Self {
        Self::boot(config, role, Arc::new(SystemClock)).await
    }

    /// [`TestServer::start_as`] with `clock` for "now".
    pub async fn start_as_with_clock(config: Config, role: Role, clock: Arc<dyn Clock>) -> Self {
        Self::boot(config, role, clock).await
    }

    /// Starts a broker with TLS and client certificates: a development CA, server and agency
    /// certificates (`xiezhi certs dev`) in `<dir>/certs` for the sample registry plus the
    /// agencies in `extra_registry` (TOML `[[agency]]` entries). Its default channel is the
    /// city coordinator's (330100-SFJ).
    pub async fn start_tls(extra_registry: &str, tune: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = test_config(Log::Embedded, dir.path());
        let registry_file = dir.path().join("registry.toml");
        let text = format!("{}\n{extra_registry}", xiezhi::config::SAMPLE_REGISTRY);
        std::fs::write(&registry_file, &text).unwrap();
        config.registry.file = registry_file;
        let registry = xiezhi::config::parse_registry(&text, "test").expect("test registry");
        let certs = dir.path().join("certs");
        xiezhi::gateway::tls::generate_dev(&certs, &registry, &[]).expect("dev certificates");
        config.security.insecure_dev = false;
        config.security.tls_cert = certs.join("server.pem");
        config.security.tls_key = certs.join("server-key.pem");
        config.security.client_ca = certs.join("ca.pem");
        tune(&mut config);
        let mut server = Self::boot(config, Role::All, Arc::new(SystemClock)).await;
        server._dir = Some(dir);
        server
    }

    /// Where a TLS broker's development certificates are.
    pub fn certs(&self) -> std::path::PathBuf {
        self.config
            .security
            .client_ca
            .parent()
            .expect("certificates in a directory")
            .to_owned()
    }

    /// A channel to a TLS broker, authenticated as `agency`.
    pub async fn channel_as(&self, agency: &str) -> Channel {
        tls_channel(self.running().grpc_addr(), &self.certs(), Some(agency))
            .await
            .unwrap_or_else(|err| panic!("connect as {agency}: {err:?}"))
    }

    async fn boot(config: Config, role: Role, clock: Arc<dyn Clock>) -> Self {
        let running = app::start(&config, role, clock)
            .await
            .expect("broker starts");
        let channel = if config.security.insecure_dev {
            Channel::from_shared(format!("http://{}", running.grpc_addr()))
                .unwrap()
                .connect()
                .await
                .expect("connect to broker")
        } else {
            let certs = config.security.client_ca.parent().unwrap();
            tls_channel(running.grpc_addr(), certs, Some("330100-SFJ"))
                .await
                .expect("connect to broker")
        };
        Self {
            running: Some(running),
            config,
            _dir: None,
            channel,
        }
    }

    /// Shuts down cleanly and starts again on the same data dir (a new port).
    pub async fn restart(mut self) -> Self {
        let dir = self._dir.take();
        self.running
            .take()
            .unwrap()
            .shutdown()
            .await
            .expect("clean shutdown");
        let mut server = Self::boot(self.config.clone(), Role::All, Arc::new(SystemClock)).await;
        server._dir = dir;
        server
    }

    /// Shuts down cleanly and hands over the data directory, which would otherwise be deleted.
    pub async fn stop_keeping_data(mut self) -> tempfile::TempDir {
        let dir = self
            ._dir
            .take()
            .expect("the server owns its data directory");
        self.running
            .take()
            .unwrap()
            .shutdown()
            .await
            .expect("clean shutdown");
        dir
    }

    /// Shuts down cleanly.
    pub async fn stop(mut self) {
        self.running
            .take()
            .unwrap()
            .shutdown()
            .await
            .expect("clean shutdown");
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().unwrap()
    }

    pub fn publisher(&self) -> PublisherClient<Channel> {
        PublisherClient::new(self.channel.clone())
    }

    pub fn inbox(&self) -> InboxClient<Channel> {
        InboxClient::new(self.channel.clone())
    }

    pub fn query(&self) -> QueryClient<Channel> {
        QueryClient::new(self.channel.clone())
    }

    /// The leads `request` lists (one page).
    pub async fn leads(&self, request: proto::ListLeadsRequest) -> Vec<proto::LeadSummary> {
        self.query()
            .list_leads(request)
            .await
            .expect("list leads")
            .into_inner()
            .leads
    }

    /// Events applied and durable, hence visible to readers.
    pub fn event_count(&self) -> usize {
        self.store().durable_event_count() as usize
    }

    pub fn store(&self) -> &Arc<Store> {
        self.running().store().expect("the test broker has a store")
    }

    /// Records on the log, all partitions.
    pub async fn log_records(&self) -> u64 {
        self.running()
            .bus()
            .end_offsets()
            .await
            .expect("end offsets")
            .iter()
            .sum()
    }

    /// Waits until the router has applied `n` events.
    pub async fn wait_for_events(&self, n: usize) {
        let start = Instant::now();
        wait_until(Duration::from_secs(60), || self.event_count() >= n).await;
        assert!(
            self.event_count() >= n,
            "router applied {} of {n} events in {:?}",
            self.event_count(),
            start.elapsed()
        );
    }

    /// A subject's timeline, all pages.
    pub async fn timeline(&self, subject: &proto::Subject) -> Vec<proto::StoredEvent> {
        let mut out = Vec::new();
        let mut token = String::new();
        loop {
            let page = self
                .query()
                .subject_timeline(proto::SubjectTimelineRequest {
                    kind: subject.kind,
                    id: subject.id.clone(),
                    page_size: 1_000,
                    page_token: token,
                })
                .await
                .expect("timeline")
                .into_inner();
            out.extend(page.events);
            if page.next_page_token.is_empty() {
                return out;
            }
            token = page.next_page_token;
        }
    }

    /// Opens an agency's inbox stream after `from` (None: after its acknowledged cursor).
    pub async fn subscribe(&self, agency: &str, from: Option<u64>) -> Streaming<proto::Delivery> {
        subscribe(&self.channel, agency, from).await
    }

    /// Reads an agency's inbox from `from` until `quiet` passes with no new delivery.
    pub async fn drain_inbox(
        &self,
        agency: &str,
        from: Option<u64>,
        quiet: Duration,
    ) -> Vec<proto::Delivery> {
        read_until_quiet(self.subscribe(agency, from).await, quiet).await
    }

    /// The agency's (acknowledged, latest) cursors, read through `Acknowledge(0)`.
    pub async fn cursors(&self, agency: &str) -> (u64, u64) {
        cursors(&self.channel, agency).await
    }

    /// The dead letters, once there are any (30 s at most).
    pub async fn wait_for_dead_letters(&self) -> Vec<xiezhi::bus::DeadLetter> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let letters = self
                .running()
                .bus()
                .dead_letters()
                .await
                .expect("dead letters");
            if !letters.is_empty() || Instant::now() > deadline {
                return letters;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The (acknowledged, latest) inbox cursors of `agency` at the broker behind `channel`.
pub async fn cursors(channel: &Channel, agency: &str) -> (u64, u64) {
    let state = InboxClient::new(channel.clone())
        .acknowledge(proto::AcknowledgeRequest {
            agency: agency.to_owned(),
            cursor: 0,
        })
        .await
        .expect("acknowledge")
        .into_inner();
    (state.acknowledged_cursor, state.latest_cursor)
}

/// Every lead's event id in the store behind `channel`, all pages (repeats kept).
pub async fn stored_leads(channel: &Channel) -> Vec<String> {
    let mut query = QueryClient::new(channel.clone());
    let mut ids = Vec::new();
    let mut token = String::new();
    loop {
        let page = query
            .list_leads(proto::ListLeadsRequest {
                page_size: 1000,
                page_token: token,
                ..Default::default()
            })
            .await
            .expect("list leads")
            .into_inner();
        ids.extend(
            page.leads
                .into_iter()
                .map(|l| l.lead.unwrap().event.unwrap().event_id),
        );
        if page.next_page_token.is_empty() {
            return ids;
        }
        token = page.next_page_token;
    }
}

/// Opens an agency's inbox stream on `channel`.
pub async fn subscribe(
    channel: &Channel,
    agency: &str,
    from: Option<u64>,
) -> Streaming<proto::Delivery> {
    InboxClient::new(channel.clone())
        .subscribe(proto::SubscribeRequest {
            agency: agency.to_owned(),
            from_cursor: from,
        })
        .await
        .expect("subscribe")
        .into_inner()
}

/// Everything a stream sends until `quiet` passes without a message.
pub async fn read_until_quiet(
    mut stream: Streaming<proto::Delivery>,
    quiet: Duration,
) -> Vec<proto::Delivery> {
    let mut out = Vec::new();
    while let Ok(Ok(Some(delivery))) = tokio::time::timeout(quiet, stream.message()).await {
        out.push(delivery);
    }
    out
}

/// The event a delivery carries (panics on an alert).
pub fn event_of(delivery: &proto::Delivery) -> &proto::Envelope {
    match &delivery.item {
        Some(proto::delivery::Item::Event(event)) => event,
        other => panic!("expected an event, got {other:?}"),
    }
}

/// The alert a delivery carries, if it carries one.
pub fn alert_of(delivery: &proto::Delivery) -> Option<&proto::Alert> {
    match &delivery.item {
        Some(proto::delivery::Item::Alert(alert)) => Some(alert),
        _ => None,
    }
}

/// The event ids of deliveries, in order.
pub fn event_ids(deliveries: &[proto::Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| event_of(d).event_id.clone())
        .collect()
}

/// The configuration tests start from: loopback on a free port, data in `dir`, and for Kafka
/// the test broker with topics of the test's own.
pub fn test_config(log: Log, dir: &std::path::Path) -> Config {
    let mut config = Config::default();
    config.store.data_dir = dir.join("data");
    config.server.grpc_addr = "127.0.0.1:0".parse().unwrap();
    config.server.http_addr = "127.0.0.1:0".parse().unwrap();
    config.server.shutdown_grace_secs = 5;
    // Plaintext and trusted request fields: the security tests turn TLS on themselves.
    config.security.insecure_dev = true;
    // The tests publish far faster than an agency would.
    config.security.publish_rate_per_sec = 1_000_000;
    config.security.publish_burst = 1_000_000;
    match log {
        Log::Embedded => {}
        Log::Kafka => crate::kafka::configure(&mut config, &crate::kafka::bootstrap()),
        Log::SecureKafka => crate::kafka_secure::configure(&mut config, "router"),
    }
    config
}

/// A TLS channel to `addr` trusting the CA in `certs`, presenting `agency`'s certificate (or
/// none).
pub async fn tls_channel(
    addr: std::net::SocketAddr,
    certs: &std::path::Path,
    agency: Option<&str>,
) -> Result<Channel, tonic::transport::Error> {
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let read = |name: &str| std::fs::read(certs.join(name)).unwrap();
    let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(read("ca.pem")));
    if let Some(agency) = agency {
        tls = tls.identity(Identity::from_pem(
            read(&format!("{agency}.pem")),
            read(&format!("{agency}-key.pem")),
        ));
    }
    Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

/// Polls `condition` every 20 ms until it holds or `limit` passes.
pub async fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !condition() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn now() -> prost_types::Timestamp {
    let now = jiff::Timestamp::now();
    prost_types::Timestamp {
        seconds: now.as_second(),
        nanos: 0,
    }
}

/// A valid credit code built from `n` (registered in division 330106).
pub fn org(n: u64) -> proto::Subject {
    let body = format!("91330106{n:09}");
    proto::Subject {
        kind: proto::SubjectKind::Organization as i32,
        id: format!("{body}{}", Uscc::check_char(&body).unwrap()),
        name: format!("杭州测试{n}有限公司"),
    }
}

/// A valid food/drug lead about `subject` in 西湖区 (330106), published by the city's
/// environment bureau: routing sends it to 330106-SCJG only. Its sales (10,000 yuan) stay below
/// the CL-140 prosecution threshold, so it raises no alert.
pub fn lead(event_id: &str, subject: proto::Subject) -> proto::PublishLeadRequest {
    proto::PublishLeadRequest {
        event_id: event_id.to_owned(),
        handling: 0,
        producer: "330100-STHJ".into(),
        produced_at: Some(now()),
        lead: Some(proto::Lead {
            subject: Some(subject),
            division: "330106".into(),
            domain: proto::Domain::FoodDrug as i32,
            offence_code: "CL-140".into(),
            summary: "现场检查发现销售不合格电线电缆".into(),
            facts: vec![proto::Fact {
                name: "sales_fen".into(),
                value: 1_000_000,
            }],
            observed_at: Some(now()),
            sensitivity: proto::Sensitivity::Internal as i32,
            target_agencies: vec![],
        }),
    }
}

/// A valid outcome answering `lead_of` (producer, event id).
pub fn outcome(
    event_id: &str,
    producer: &str,
    subject: proto::Subject,
    lead_of: Option<(&str, &str)>,
) -> proto::PublishOutcomeRequest {
    proto::PublishOutcomeRequest {
        event_id: event_id.to_owned(),
        handling: 0,
        producer: producer.to_owned(),
        produced_at: Some(now()),
        outcome: Some(proto::CaseOutcome {
            case_number: "杭西市监罚〔2026〕101号".into(),
            subject: Some(subject),
            division: "330106".into(),
            domain: proto::Domain::FoodDrug as i32,
            offence_code: "CL-140".into(),
            decision: proto::Decision::Penalty as i32,
            fine_fen: 12_000_000,
            confiscated_fen: 350_000,
            facts: vec![],
            decided_at: Some(now()),
            lead: lead_of.map(|(producer, event_id)| proto::LeadRef {
                producer: producer.into(),
                event_id: event_id.into(),
            }),
            legal_basis: "《中华人民共和国产品质量法》第五十条".into(),
            sensitivity: proto::Sensitivity::Public as i32,
            severity: 0,
            procedure: None,
            historic: false,
        }),
    }
}

/// The (field, rule) pairs of an INVALID_ARGUMENT status.
pub fn violations(status: &tonic::Status) -> Vec<(String, String)> {
    status
        .get_error_details()
        .bad_request()
        .map(|bad| {
            bad.field_violations
                .iter()
                .map(|v| {
                    let rule = v.description.split(':').next().unwrap_or("").to_owned();
                    (v.field.clone(), rule)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until the server closes `socket` (end of stream or an error), at most until `by`;
/// panics if it is still open then. Bytes the server sends first are read and dropped.
pub async fn closed_by_server(
    socket: &mut (impl tokio::io::AsyncRead + Unpin),
    by: std::time::Instant,
) {
    use tokio::io::AsyncReadExt;
    let mut buf = [0u8; 256];
    loop {
        let left = by.saturating_duration_since(std::time::Instant::now());
        match tokio::time::timeout(left, socket.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return,
            Ok(Ok(_)) => continue,
            Err(_) => panic!("a stalled connection was still open at its deadline"),
        }
    }
}

//! The secured Kafka: a real broker started by `deploy/kafka/kafka.sh secure` (SASL_SSL on
//! 127.0.0.1:9094, client certificates required, SCRAM users, ACLs per role). Each test gets
//! topics of its own, created and granted by `kafka.sh grant` as the admin user.
//!
//! Here: what the brokers refuse — no credentials, a wrong password, a certificate from another
//! CA, plaintext where TLS is required — and what the ACLs keep from the gateway's user. The
//! scenarios that also run here (publish, route, deliver, idempotency, restart, dead letters,
//! rebuild) are marked `on_secure_kafka!` beside their embedded and plaintext runs.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use xiezhi::app::{self, Role};
use xiezhi::config::{BusKind, Config, KafkaProtocol, SaslMechanism};
use xiezhi::domain::SystemClock;

use crate::support::{Log, TestServer, lead, org, test_config};

/// Generates, for each named scenario `async fn name(log: Log)`, a test
/// `on_secure_kafka::name` running it on the secured broker.
#[macro_export]
macro_rules! on_secure_kafka {
    ($($name:ident),* $(,)?) => {
        mod on_secure_kafka {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::support::Log::SecureKafka).await;
                }
            )*
        }
    };
}

/// Where `kafka.sh secure` keeps its CA, certificates and passwords.
pub fn secure_dir() -> PathBuf {
    static STARTED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    STARTED
        .get_or_init(|| {
            crate::kafka::script(&["secure"], &[])?;
            let base = std::env::var_os("XIEZHI_KAFKA_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/kafka"));
            Ok(base.join("run/secure"))
        })
        .clone()
        .unwrap_or_else(|why| panic!("the secured Kafka did not start: {why}"))
}

/// The SASL_SSL listener of the secured broker.
const SECURE_BOOTSTRAP: &str = "127.0.0.1:9094";

/// Points `config` at the secured broker as `user` (its certificate and password file), with
/// topics and a group of the test's own that `kafka.sh grant` created and granted.
pub fn configure(config: &mut Config, user: &str) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = secure_dir();
    let run = format!(
        "sec{}x{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    let kafka = &mut config.bus.kafka;
    config.bus.kind = BusKind::Kafka;
    kafka.bootstrap = SECURE_BOOTSTRAP.into();
    kafka.events_topic = format!("{run}.events");
    kafka.dlq_topic = format!("{run}.dlq");
    kafka.audit_topic = format!("{run}.audit");
    kafka.decisions_topic = format!("{run}.decisions");
    kafka.acks_topic = format!("{run}.acks");
    kafka.partitions = 4;
    config.router.group = format!("{run}.router");
    crate::kafka::script(
        &[
            "grant",
            &kafka.events_topic,
            &kafka.dlq_topic,
            &kafka.audit_topic,
            &config.router.group,
            "4",
            &kafka.decisions_topic,
            &kafka.acks_topic,
        ],
        &[],
    )
    .unwrap_or_else(|why| panic!("granting the test's topics failed: {why}"));
    kafka.require_tls = true;
    kafka.security_protocol = KafkaProtocol::SaslSsl;
    kafka.ssl_ca = dir.join("certs/ca.pem");
    kafka.ssl_cert = dir.join(format!("certs/{user}.pem"));
    kafka.ssl_key = dir.join(format!("certs/{user}.key"));
    kafka.sasl_mechanism = SaslMechanism::ScramSha512;
    kafka.sasl_username = user.into();
    kafka.sasl_password_file = dir.join(format!("secrets/{user}.password"));
}

/// A broker configuration on the secured Kafka as the router's user, changed by `tune`.
fn secure_config(dir: &std::path::Path, tune: impl FnOnce(&mut Config)) -> Config {
    let mut config = test_config(Log::SecureKafka, dir);
    tune(&mut config);
    config
}

/// Start-up with `config` fails; returns its message.
async fn refused(config: Config) -> String {
    match app::start(&config, Role::All, std::sync::Arc::new(SystemClock)).await {
        Ok(_) => panic!("the broker started with {:?}", config.bus.kafka),
        Err(err) => format!("{err:#}"),
    }
}

/// PLAIN over TLS (what brokers without SCRAM offer) carries events as SCRAM does.
#[tokio::test]
async fn a_plain_login_over_tls_publishes_and_routes() {
    let server = TestServer::start_with(Log::SecureKafka, |c| {
        c.bus.kafka.sasl_mechanism = SaslMechanism::Plain;
    })
    .await;
    server
        .publisher()
        .publish_lead(lead("sec-plain-1", org(2)))
        .await
        .expect("published over PLAIN");
    server.wait_for_events(1).await;
    server.stop().await;
}

#[tokio::test]
async fn a_client_without_a_sasl_login_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    // TLS with a good certificate, but no SASL user: the listener wants a login first.
    let config = secure_config(dir.path(), |c| {
        c.bus.kafka.security_protocol = KafkaProtocol::Ssl;
        c.bus.kafka.sasl_username.clear();
        c.bus.kafka.sasl_password_file = PathBuf::new();
    });
    let message = refused(config).await;
    assert!(message.contains("127.0.0.1:9094 (ssl)"), "{message}");
}

#[tokio::test]
async fn a_wrong_password_is_refused_at_once_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let wrong = dir.path().join("wrong.password");
    std::fs::write(&wrong, "not-the-password\n").unwrap();
    let config = secure_config(dir.path(), |c| c.bus.kafka.sasl_password_file = wrong);
    let started = std::time::Instant::now();
    let message = refused(config).await;
    assert!(
        message.contains("connection to the brokers at 127.0.0.1:9094 (sasl_ssl) failed"),
        "{message}"
    );
    assert!(message.contains("Authentication"), "{message}");
    assert!(
        !message.contains("not-the-password"),
        "the password leaked: {message}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(14),
        "waited for the probe to time out"
    );
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certs = secure_dir().join("certs");
    // The rogue certificate says CN=rogue and comes from a CA the broker does not trust; the
    // password is the router's own.
    let config = secure_config(dir.path(), |c| {
        c.bus.kafka.ssl_cert = certs.join("rogue.pem");
        c.bus.kafka.ssl_key = certs.join("rogue.key");
    });
    let message = refused(config).await;
    assert!(
        message.contains("connection to the brokers at 127.0.0.1:9094 (sasl_ssl) failed"),
        "{message}"
    );
}

#[tokio::test]
async fn a_broker_whose_certificate_we_do_not_trust_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let certs = secure_dir().join("certs");
    let config = secure_config(dir.path(), |c| {
        c.bus.kafka.ssl_ca = certs.join("rogue-ca.pem")
    });
    let message = refused(config).await;
    assert!(
        message.contains("connection to the brokers at 127.0.0.1:9094 (sasl_ssl) failed"),
        "{message}"
    );
    assert!(message.to_lowercase().contains("certificate"), "{message}");
}

#[tokio::test]
async fn plaintext_is_refused_before_connecting_when_tls_is_required() {
    let dir = tempfile::tempdir().unwrap();
    let config = secure_config(dir.path(), |c| {
        c.bus.kafka.security_protocol = KafkaProtocol::Plaintext;
    });
    let message = refused(config).await;
    assert!(message.contains("bus.kafka.require_tls"), "{message}");
}

/// The gateway's user may append events but not read them: whoever holds a gateway's password
/// cannot read the agencies' personal data off the log.
#[tokio::test]
async fn the_gateway_user_may_publish_but_not_read_the_events() {
    let dir = tempfile::tempdir().unwrap();
    let config = secure_config(dir.path(), |_| {});
    let router = TestServer::start_as(config.clone(), Role::Router).await;
    let gateway_dir = tempfile::tempdir().unwrap();
    let mut gateway_config = config.clone();
    gateway_config.store.data_dir = gateway_dir.path().join("data");
    let kafka = &mut gateway_config.bus.kafka;
    let certs = secure_dir();
    kafka.sasl_username = "gateway".into();
    kafka.sasl_password_file = certs.join("secrets/gateway.password");
    kafka.ssl_cert = certs.join("certs/gateway.pem");
    kafka.ssl_key = certs.join("certs/gateway.key");
    let kafka = gateway_config.bus.kafka.clone();
    let gateway = TestServer::start_as(gateway_config, Role::Gateway).await;
    gateway
        .publisher()
        .publish_lead(lead("sec-gw-1", org(1)))
        .await
        .expect("the gateway's user may append events");
    router.wait_for_events(1).await;

    // The same user, reading the topic the way any Kafka client would.
    let password = std::fs::read_to_string(&kafka.sasl_password_file).unwrap();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", SECURE_BOOTSTRAP)
        .set("security.protocol", "sasl_ssl")
        .set("ssl.ca.location", kafka.ssl_ca.to_str().unwrap())
        .set("ssl.certificate.location", kafka.ssl_cert.to_str().unwrap())
        .set("ssl.key.location", kafka.ssl_key.to_str().unwrap())
        .set("sasl.mechanism", "SCRAM-SHA-512")
        .set("sasl.username", "gateway")
        .set("sasl.password", password.trim())
        .set("group.id", "a-gateway-trying-to-read")
        .create()
        .unwrap();
    let mut partitions = TopicPartitionList::new();
    partitions
        .add_partition_offset(&kafka.events_topic, 0, Offset::Beginning)
        .unwrap();
    consumer.assign(&partitions).unwrap();
    let mut refusal = None;
    for _ in 0..50 {
        match consumer.poll(Duration::from_millis(200)) {
            Some(Err(err)) => {
                refusal = err.rdkafka_error_code();
                break;
            }
            Some(Ok(message)) => panic!("the gateway's user read an event: {message:?}"),
            None => {}
        }
    }
    assert!(
        matches!(
            refusal,
            Some(
                RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::GroupAuthorizationFailed
            )
        ),
        "{refusal:?}"
    );
    gateway.stop().await;
    router.stop().await;
}

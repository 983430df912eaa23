//! The real Apache Kafka the suite runs against: the broker at `XIEZHI_TEST_KAFKA` if one
//! answers there, otherwise a single node on 127.0.0.1:9092 through `deploy/kafka/kafka.sh
//! start`, which starts one or joins the one it already runs, and stops it once no test
//! process that asked for it is left. Never skipped:
//! without Java or Maven the tests fail and say what to install.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use xiezhi::config::{BusKind, Config};

/// Bootstrap address of the test broker, starting one if needed.
pub fn bootstrap() -> String {
    static BROKER: OnceLock<Result<String, String>> = OnceLock::new();
    BROKER
        .get_or_init(|| {
            if let Ok(addr) = std::env::var("XIEZHI_TEST_KAFKA")
                && reachable(&addr)
            {
                return Ok(addr);
            }
            let addr =
                std::env::var("XIEZHI_TEST_KAFKA").unwrap_or_else(|_| "127.0.0.1:9092".into());
            // Through the script even when a broker it started answers: this process then
            // becomes one of its owners, so a suite that ran before and is exiting cannot stop
            // it under this one.
            match start_single(&addr) {
                Ok(()) => Ok(addr),
                Err(_) if reachable(&addr) => Ok(addr),
                Err(why) => Err(why),
            }
        })
        .clone()
        .unwrap_or_else(|why| panic!("{why}"))
}

fn reachable(addr: &str) -> bool {
    let Some(socket) = addr.to_socket_addrs().ok().and_then(|mut a| a.next()) else {
        return false;
    };
    TcpStream::connect_timeout(&socket, Duration::from_millis(500)).is_ok()
}

/// Runs `deploy/kafka/kafka.sh ARGS --until-pid <this process>` with `env` set for it.
pub fn script(args: &[&str], env: &[(&str, String)]) -> Result<(), String> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kafka/kafka.sh");
    let output = Command::new("bash")
        .arg(&script)
        .args(args)
        .args(["--until-pid", &std::process::id().to_string()])
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "{} {} failed — the Kafka tests need Java 17+ and Maven (Debian: apt-get install -y \
         openjdk-17-jdk-headless maven) and access to Maven Central:\n{}",
        script.display(),
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    ))
}

fn start_single(addr: &str) -> Result<(), String> {
    let port = addr
        .parse::<SocketAddr>()
        .map_err(|_| format!("XIEZHI_TEST_KAFKA={addr} is not host:port of a loopback broker"))?
        .port();
    script(&["start"], &[("KAFKA_PORT", port.to_string())])
        .map_err(|why| format!("no Kafka answers at {addr}, and starting one failed: {why}"))
}

/// Points `config` at the test broker with topics and a consumer group of its own, so tests
/// running side by side never see each other's events.
pub fn configure(config: &mut Config, bootstrap: &str) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let run = format!("it{}x{n}", std::process::id());
    config.bus.kind = BusKind::Kafka;
    config.bus.kafka.bootstrap = bootstrap.to_owned();
    config.bus.kafka.events_topic = format!("{run}.events");
    config.bus.kafka.dlq_topic = format!("{run}.dlq");
    config.bus.kafka.audit_topic = format!("{run}.audit");
    config.bus.kafka.decisions_topic = format!("{run}.decisions");
    config.bus.kafka.acks_topic = format!("{run}.acks");
    config.bus.kafka.partitions = 4;
    config.router.group = format!("{run}.router");
}

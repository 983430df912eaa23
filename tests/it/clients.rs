//! The client examples an agency's team copies, run as they would run them against a broker
//! over mutual TLS with the agency's certificate: the Python example (`examples/python`) and the
//! Java one (`examples/java`, built by its Maven wrapper), both with stubs generated from
//! `proto/` — publish, inbox, acknowledge, resume, field violations, and for Python
//! PublishStream. Never skipped: without the Python environment or Java the test fails and
//! says how to get them (`./test.sh` does).

use std::path::{Path, PathBuf};
use std::process::Command;

use xiezhi::proto::publisher_client::PublisherClient;

use crate::cli::{run_async, text};
use crate::support::{TestServer, lead, org};

fn python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pyenv/bin/python");
    assert!(
        python.exists(),
        "{} not found: the Python client test needs the example's packages — run ./test.sh, \
         or: python3 -m venv target/pyenv && target/pyenv/bin/pip install -r \
         examples/python/requirements.txt (apt-get install -y python3-venv first on Debian)",
        python.display()
    );
    python
}

/// The JSON line of `step` in the flow's output.
fn step(out: &str, name: &str) -> serde_json::Value {
    out.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["step"] == name)
        .unwrap_or_else(|| panic!("no {name} step in:\n{out}"))
}

/// A TLS broker with two leads waiting in 330106-SCJG's inbox.
async fn broker_with_an_inbox() -> TestServer {
    let server = TestServer::start_tls("", |_| {}).await;
    let mut other = PublisherClient::new(server.channel_as("330100-STHJ").await);
    for n in 0..2 {
        let mut request = lead(&format!("for-client-{n}"), org(90 + n));
        request.producer.clear();
        other.publish_lead(request).await.unwrap();
    }
    server.wait_for_events(2).await;
    server
}

/// The flow's target and certificate arguments for 330106-SCJG.
fn connection(server: &TestServer) -> [String; 4] {
    let certs = server.certs();
    let path = |name: &str| certs.join(name).display().to_string();
    [
        format!("127.0.0.1:{}", server.running().grpc_addr().port()),
        path("ca.pem"),
        path("330106-SCJG.pem"),
        path("330106-SCJG-key.pem"),
    ]
}

/// What both examples' flows must have printed.
fn check_flow(stdout: &str) {
    assert_eq!(step(stdout, "lead")["signed"], true, "{stdout}");
    assert_eq!(step(stdout, "inbox")["cursors"], serde_json::json!([1, 2]));
    assert_eq!(step(stdout, "acknowledged")["cursor"], 1);
    assert_eq!(
        step(stdout, "resumed")["cursors"],
        serde_json::json!([2]),
        "resumes after the acknowledged cursor"
    );
    let refused = step(stdout, "refused");
    assert_eq!(refused["code"], "INVALID_ARGUMENT");
    assert_eq!(refused["violations"][0][0], "lead.subject.id");
    assert!(
        refused["violations"][0][1]
            .as_str()
            .unwrap()
            .starts_with("uscc.checksum")
    );
}

#[tokio::test]
async fn the_python_example_publishes_reads_resumes_and_streams_over_mtls() {
    let python = python();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/python");
    let server = broker_with_an_inbox().await;
    let out = run_async({
        let mut command = Command::new(&python);
        command.arg(examples.join("generate.py"));
        command
    })
    .await;
    assert!(out.status.success(), "generate.py: {}", text(&out.stderr));
    let [target, ca, cert, key] = connection(&server);
    let mut command = Command::new(&python);
    command
        .arg(examples.join("flow.py"))
        .args([
            "--target", &target, "--ca", &ca, "--cert", &cert, "--key", &key,
        ])
        .args(["--run", "it"]);
    let out = run_async(command).await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "flow.py:\n{stdout}\n{}",
        text(&out.stderr)
    );
    check_flow(&stdout);
    assert_eq!(step(&stdout, "stream")["acked"], 5);
    // The broker holds what the example published: its lead, outcome and five streamed leads.
    server.wait_for_events(2 + 2 + 5).await;
    assert_eq!(server.event_count(), 9);
    server.stop().await;
}

#[tokio::test]
async fn the_java_example_builds_from_the_proto_and_runs_over_mtls() {
    let java = Command::new("java").arg("-version").output();
    assert!(
        java.is_ok_and(|o| o.status.success()),
        "java not found: the Java client test needs Java 17 (apt-get install -y openjdk-17-jdk-headless)"
    );
    let project = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/java");
    // The Maven wrapper fetches Maven 3.9 (the protobuf plugin needs it) from Maven Central.
    let mut build = Command::new(project.join("mvnw"));
    build
        .args(["-q", "-B", "-f"])
        .arg(project.join("pom.xml"))
        .arg("package");
    let out = run_async(build).await;
    assert!(
        out.status.success(),
        "examples/java: mvnw package failed (Maven Central reachable?):\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let server = broker_with_an_inbox().await;
    let [target, ca, cert, key] = connection(&server);
    let mut command = Command::new("java");
    command
        .arg("-jar")
        .arg(project.join("target/xiezhi-example-java.jar"))
        .args([&target, &ca, &cert, &key, "it"]);
    let out = run_async(command).await;
    let stdout = text(&out.stdout);
    assert!(
        out.status.success(),
        "the Java flow:\n{stdout}\n{}",
        text(&out.stderr)
    );
    check_flow(&stdout);
    server.wait_for_events(2 + 2).await;
    assert_eq!(server.event_count(), 4);
    server.stop().await;
}

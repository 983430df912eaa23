//! The `xiezhi` binary: `--help`, `publish --json`, `demo`, and `serve` killed with SIGKILL
//! while publishers are busy — every acknowledged event survives, none is applied twice.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use xiezhi::proto;
use xiezhi::proto::publisher_client::PublisherClient;

use crate::process::{Proc, xiezhi};
use crate::support::{
    Log, TestServer, alert_of, event_ids, event_of, lead, org, read_until_quiet, stored_leads,
    subscribe,
};

pub(crate) fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy/examples")
        .join(name)
}

fn run(command: &mut Command) -> Output {
    command.output().expect("the xiezhi binary runs")
}

/// Runs the binary off the async runtime, so an in-process broker keeps serving meanwhile.
pub(crate) async fn run_async(mut command: Command) -> Output {
    tokio::task::spawn_blocking(move || run(&mut command))
        .await
        .unwrap()
}

pub(crate) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let out = run(xiezhi().arg("--help"));
    assert!(out.status.success());
    let help = text(&out.stdout);
    for command in ["serve", "demo", "publish"] {
        assert!(
            help.contains(command),
            "{command} missing from --help:\n{help}"
        );
    }
}

/// The JSON block after the README's grpcurl `PublishLead` call: its sample Ack.
fn readme_sample_ack() -> serde_json::Value {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let after = &readme[readme
        .find("xiezhi.v1.Publisher/PublishLead")
        .expect("the sample call")..];
    let block = &after[after.find("```json\n").expect("a JSON block") + 8..];
    let block = &block[..block.find("```").expect("its end")];
    serde_json::from_str(block).unwrap_or_else(|err| panic!("README sample Ack: {err}\n{block}"))
}

/// Every field path of a JSON value (`receipt.keyId`, …).
fn field_paths(value: &serde_json::Value) -> std::collections::BTreeSet<String> {
    let mut out = std::collections::BTreeSet::new();
    if let serde_json::Value::Object(map) = value {
        for (key, inner) in map {
            out.insert(key.clone());
            out.extend(field_paths(inner).into_iter().map(|p| format!("{key}.{p}")));
        }
    }
    out
}

#[tokio::test]
async fn publish_json_sends_the_example_events() {
    let server = TestServer::start(Log::Embedded).await;
    let endpoint = format!("http://{}", server.running().grpc_addr());
    for file in ["lead.json", "outcome.json", "inspection-plan.json"] {
        let mut command = xiezhi();
        command
            .args(["publish", "--server", &endpoint, "--json"])
            .arg(example(file));
        let out = run_async(command).await;
        assert!(out.status.success(), "{file}: {}", text(&out.stderr));
        let ack = text(&out.stdout);
        assert!(
            ack.contains("\"eventId\"") && ack.contains("\"position\""),
            "{ack}"
        );
        if file == "lead.json" {
            // The README's sample Ack has exactly the fields a real one has.
            let printed: serde_json::Value = serde_json::from_str(&ack).expect("Ack JSON");
            assert_eq!(
                field_paths(&readme_sample_ack()),
                field_paths(&printed),
                "{ack}"
            );
        }
    }
    server.wait_for_events(3).await;
    // The lead went to the police it names; its sales (62,000 yuan) reach the CL-140
    // threshold, so the police of the division also get a possible-crime alert.
    let police = server
        .drain_inbox("330106-GA", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(police.len(), 2, "{police:?}");
    assert_eq!(event_of(&police[0]).event_id, "lead-2026-0001");
    let alert = alert_of(&police[1]).expect("an alert");
    assert_eq!(alert.kind, xiezhi::proto::AlertKind::PossibleCrime as i32);
    assert_eq!(alert.rule_id, "CL-140");

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.json");
    std::fs::write(
        &bad,
        std::fs::read_to_string(example("lead.json"))
            .unwrap()
            .replace("330106\"", "3301060\""),
    )
    .unwrap();
    let mut command = xiezhi();
    command
        .args(["publish", "--server", &endpoint, "--json"])
        .arg(&bad);
    let out = run_async(command).await;
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("lead.division") && err.contains("division.format"),
        "{err}"
    );

    std::fs::write(&bad, "{\"eventId\": ").unwrap();
    let mut command = xiezhi();
    command
        .args(["publish", "--server", &endpoint, "--json"])
        .arg(&bad);
    let out = run_async(command).await;
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad.json"),
        "{}",
        text(&out.stderr)
    );
    server.stop().await;
}

#[test]
fn demo_runs_simulated_agencies_and_exits_cleanly() {
    let out = run(xiezhi().args([
        "demo",
        "--duration",
        "3",
        "--rate",
        "8",
        "--grpc-addr",
        "127.0.0.1:0",
        "--http-addr",
        "127.0.0.1:0",
    ]));
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", text(&out.stderr));
    assert!(
        stdout.contains("publish ") && stdout.contains(" lead "),
        "{stdout}"
    );
    assert!(stdout.contains("deliver "), "{stdout}");
    assert!(stdout.contains("console http://127.0.0.1:"), "{stdout}");
    assert!(stdout.contains("events stored"), "{stdout}");
}

#[tokio::test]
async fn sigkill_during_publishing_loses_no_acknowledged_event_and_applies_none_twice() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let data_arg = data.display().to_string();
    let (mut serve, channel) = Proc::start(
        &["serve", "--insecure-dev", "--data-dir", &data_arg],
        None,
        &log,
    )
    .await;

    let acked = Arc::new(Mutex::new(Vec::<proto::PublishLeadRequest>::new()));
    let mut publishers = tokio::task::JoinSet::new();
    for p in 0..4u64 {
        let mut client = PublisherClient::new(channel.clone());
        let acked = acked.clone();
        publishers.spawn(async move {
            for i in 0.. {
                let request = lead(&format!("k-{p}-{i}"), org(p * 100_000 + i % 50));
                match client.publish_lead(request.clone()).await {
                    Ok(_) => acked.lock().unwrap().push(request),
                    Err(_) => return, // the server is gone
                }
            }
        });
    }
    // Let the publishers get going, then kill the broker mid-stream.
    let deadline = Instant::now() + Duration::from_secs(30);
    while acked.lock().unwrap().len() < 400 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    serve.kill();
    while publishers.join_next().await.is_some() {}
    let requests: Vec<proto::PublishLeadRequest> = acked.lock().unwrap().clone();
    let acked: Vec<String> = requests.iter().map(|r| r.event_id.clone()).collect();
    assert!(
        acked.len() >= 400,
        "publishers acknowledged only {}",
        acked.len()
    );

    let channel = serve.restart().await;
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stored = stored_leads(&channel).await;
    while stored.len() < acked.len() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        stored = stored_leads(&channel).await;
    }
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "an event was applied twice");
    let missing: Vec<&String> = acked.iter().filter(|id| !unique.contains(id)).collect();
    assert!(
        missing.is_empty(),
        "{} acknowledged events lost, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );

    // Each stored lead was delivered to the responsible agency exactly once.
    let stream = subscribe(&channel, "330106-SCJG", Some(0)).await;
    let delivered = event_ids(&read_until_quiet(stream, Duration::from_millis(500)).await);
    let unique_delivered: BTreeSet<&String> = delivered.iter().collect();
    assert_eq!(
        delivered.len(),
        stored.len(),
        "deliveries match stored leads"
    );
    assert_eq!(
        unique_delivered.len(),
        delivered.len(),
        "a lead was delivered twice"
    );

    // Clients retrying acknowledged requests after the crash get duplicates, not new events.
    let mut client = PublisherClient::new(channel.clone());
    for request in requests.iter().take(20) {
        let ack = client
            .publish_lead(request.clone())
            .await
            .unwrap()
            .into_inner();
        assert!(ack.duplicate, "{} was appended again", request.event_id);
    }
}

/// `xiezhi log tail` prints the log's records as JSON lines: position, time, hash, encoding and
/// the event in proto3 JSON; `--count` counts back from each partition's end.
#[tokio::test]
async fn log_tail_prints_the_records_as_json_lines() {
    let server = TestServer::start(Log::Embedded).await;
    for n in 0..3 {
        server
            .publisher()
            .publish_lead(lead(&format!("tail-{n}"), org(3)))
            .await
            .unwrap();
    }
    server.wait_for_events(3).await;
    let data = server.config.store.data_dir.clone();
    let _dir = server.stop_keeping_data().await;
    let tail = |count: &str| {
        let mut command = xiezhi();
        command
            .args(["log", "tail", "--count", count, "--data-dir"])
            .arg(&data)
            .env_remove("XIEZHI_SECURITY__INSECURE_DEV");
        command
    };
    let out = run_async(tail("10")).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let ids: Vec<&str> = lines
        .iter()
        .map(|l| l["event"]["eventId"].as_str().unwrap())
        .collect();
    // One subject, one partition, in publish order.
    assert_eq!(ids, ["tail-0", "tail-1", "tail-2"]);
    assert_eq!(lines[0]["encoding"], "protobuf");
    assert_eq!(lines[0]["event"]["lead"]["subject"]["id"], org(3).id);
    assert_eq!(lines[0]["contentSha256"].as_str().unwrap().len(), 64);
    let out = run_async(tail("1")).await;
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );
}

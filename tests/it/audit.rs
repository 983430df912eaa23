//! The audit chain and the signed receipts end to end: `xiezhi audit verify` names the entry an
//! altered byte or a removed entry breaks; a receipt verifies with the broker's public key and a
//! forged one does not; on Kafka the chain is archived to the audit topic.

use std::time::Duration;

use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use xiezhi::gateway::receipt::{self, ReceiptError, ReceiptSigner};
use xiezhi::store::Store;

use crate::cli::{run_async, text};
use crate::process::xiezhi;
use crate::support::{Log, TestServer, lead, org};

async fn audit_verify(data: &std::path::Path) -> (bool, String) {
    let mut command = xiezhi();
    command.args(["audit", "verify", "--data-dir"]).arg(data);
    let out = run_async(command).await;
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

#[tokio::test]
async fn audit_verify_names_the_entry_an_altered_byte_or_a_removal_breaks() {
    let server = TestServer::start(Log::Embedded).await;
    let mut publisher = server.publisher();
    for n in 1..=5 {
        publisher
            .publish_lead(lead(&format!("a-{n}"), org(n)))
            .await
            .unwrap();
    }
    server.wait_for_events(5).await;
    let dir = server.stop_keeping_data().await;
    let data = dir.path().join("data");

    let (ok, said) = audit_verify(&data).await;
    assert!(ok, "{said}");
    assert!(said.contains("audit chain intact: 5 entries"), "{said}");

    // The events of entries 3 and 4 (the router applies partitions in its own order, so not
    // necessarily the third and fourth publishes).
    let (third, fourth) = {
        let entries = Store::open(&data).unwrap().audit_entries().unwrap();
        let key = |object: &str| {
            let (producer, id) = object.split_once('/').unwrap();
            xiezhi::domain::EventKey {
                producer: xiezhi::domain::AgencyId::parse(producer).unwrap(),
                event_id: xiezhi::domain::EventId::parse(id).unwrap(),
            }
        };
        (key(&entries[2].object), key(&entries[3].object))
    };
    // One byte of entry 3's event record changed below the broker.
    let original = {
        let store = Store::open(&data).unwrap();
        let (tree, record) = store.tamper_event(&third).unwrap();
        let raw = tree.get(&record).unwrap().unwrap().to_vec();
        let id = third.event_id.as_str().as_bytes();
        let at = raw
            .windows(id.len())
            .position(|w| w == id)
            .expect("the record holds the event id");
        let mut altered = raw.clone();
        altered[at + 2] = b'9';
        tree.insert(&record, altered).unwrap();
        tree.flush().unwrap();
        raw
    };
    let (ok, said) = audit_verify(&data).await;
    assert!(!ok, "a tampered chain verified: {said}");
    assert!(
        said.contains("audit entry 3") && said.contains("altered"),
        "{said}"
    );

    // Entry 3 put back, entry 4 removed.
    {
        let store = Store::open(&data).unwrap();
        let (tree, record) = store.tamper_event(&third).unwrap();
        tree.insert(&record, original).unwrap();
        let (tree, record) = store.tamper_event(&fourth).unwrap();
        tree.remove(&record).unwrap();
        tree.flush().unwrap();
    }
    let (ok, said) = audit_verify(&data).await;
    assert!(!ok, "a chain with a gap verified: {said}");
    assert!(
        said.contains("audit entry 4") && said.contains("removed"),
        "{said}"
    );
}

#[tokio::test]
async fn a_receipt_verifies_with_the_brokers_key_and_a_forged_one_does_not() {
    let server = TestServer::start(Log::Embedded).await;
    let ack = server
        .publisher()
        .publish_lead(lead("rc-1", org(1)))
        .await
        .unwrap()
        .into_inner();
    let data = &server.config.store.data_dir;
    let key = ReceiptSigner::load(&data.join("receipt-key.pk8")).unwrap();
    receipt::verify(&ack, key.public_key()).expect("the broker's receipt verifies");
    let signed = ack.receipt.clone().unwrap();
    assert_eq!(signed.producer, "330100-STHJ");
    assert_eq!(signed.key_id, receipt::key_id(key.public_key()));

    let mut forged = ack.clone();
    forged.receipt.as_mut().unwrap().signature[0] ^= 1;
    assert!(matches!(
        receipt::verify(&forged, key.public_key()),
        Err(ReceiptError::Invalid)
    ));
    let mut other_content = ack.clone();
    other_content.receipt.as_mut().unwrap().content_sha256[0] ^= 1;
    assert!(receipt::verify(&other_content, key.public_key()).is_err());
    let mut moved = ack.clone();
    moved.position.as_mut().unwrap().offset += 1;
    assert!(receipt::verify(&moved, key.public_key()).is_err());

    // A retry is answered with a receipt for the same content.
    let again = server
        .publisher()
        .publish_lead(lead("rc-1", org(1)))
        .await
        .unwrap()
        .into_inner();
    assert!(again.duplicate);
    receipt::verify(&again, key.public_key()).unwrap();
    assert_eq!(again.receipt.unwrap().content_sha256, signed.content_sha256);

    // The same through the CLI.
    let mut command = xiezhi();
    command
        .args(["receipt", "public-key", "--data-dir"])
        .arg(data);
    let out = run_async(command).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let public_key = text(&out.stdout).trim().to_owned();
    assert_eq!(public_key, hex::encode(key.public_key()));
    let dir = tempfile::tempdir().unwrap();
    for (name, ack, valid) in [("ack.json", &ack, true), ("forged.json", &forged, false)] {
        let file = dir.path().join(name);
        std::fs::write(&file, xiezhi::sim::client::to_json("xiezhi.v1.Ack", ack)).unwrap();
        let mut command = xiezhi();
        command
            .args(["receipt", "verify", "--public-key", &public_key, "--ack"])
            .arg(&file);
        let out = run_async(command).await;
        assert_eq!(out.status.success(), valid, "{name}: {}", text(&out.stderr));
        if valid {
            assert!(
                text(&out.stdout).contains("receipt valid: 330100-STHJ event rc-1"),
                "{}",
                text(&out.stdout)
            );
        } else {
            assert!(
                text(&out.stderr).contains("does not verify"),
                "{}",
                text(&out.stderr)
            );
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn on_kafka_the_audit_chain_is_archived_to_the_audit_topic() {
    let server = TestServer::start(Log::Kafka).await;
    let mut publisher = server.publisher();
    for n in 1..=3 {
        publisher
            .publish_lead(lead(&format!("k-{n}"), org(n)))
            .await
            .unwrap();
    }
    server.wait_for_events(3).await;
    let local: Vec<xiezhi::audit::Entry> = server.store().audit_entries().unwrap();
    assert_eq!(local.len(), 3, "{local:?}");

    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", &server.config.bus.kafka.bootstrap)
        .set("group.id", "audit-reader")
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer
        .subscribe(&[&server.config.bus.kafka.audit_topic])
        .unwrap();
    let mut archived = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while archived.len() < local.len() && std::time::Instant::now() < deadline {
        if let Some(message) = consumer.poll(Duration::from_millis(200)) {
            let message = message.unwrap();
            let entry: xiezhi::audit::Entry =
                serde_json::from_slice(message.payload().unwrap()).unwrap();
            assert_eq!(message.key(), Some(entry.seq.to_string().as_bytes()));
            archived.push(entry);
        }
    }
    archived.sort_by_key(|e| e.seq);
    assert_eq!(
        archived, local,
        "the topic holds the chain as the store does"
    );
    server.stop().await;
}

/// A full read of personal data is on the audit chain, durably, before it is answered: a
/// broker killed (SIGKILL) the moment a timeline about a person arrives still holds the read.
#[tokio::test]
async fn a_full_read_is_audited_durably_before_it_is_answered() {
    use xiezhi::proto::publisher_client::PublisherClient;
    use xiezhi::proto::query_client::QueryClient;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data_arg = data.display().to_string();
    let (mut serve, channel) = crate::process::Proc::start(
        &["serve", "--insecure-dev", "--data-dir", &data_arg],
        None,
        &dir.path().join("serve.log"),
    )
    .await;
    let person = crate::security::person();
    PublisherClient::new(channel.clone())
        .publish_lead(lead("read-1", person.clone()))
        .await
        .unwrap();
    let mut query = QueryClient::new(channel);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        // The development operator reads in full.
        let timeline = query
            .subject_timeline(xiezhi::proto::SubjectTimelineRequest {
                kind: person.kind,
                id: person.id.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        if !timeline.events.is_empty() {
            serve.kill();
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the lead was never applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let store = Store::open(&data).unwrap();
    let reads: Vec<xiezhi::audit::Entry> = store
        .audit_entries()
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "read timeline")
        .collect();
    assert_eq!(reads.len(), 1, "the answered read survives the kill");
    assert!(reads[0].object.ends_with("/read-1"), "{:?}", reads[0]);
}

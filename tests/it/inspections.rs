//! 涉企行政检查 through the gRPC API: joint proposals, certificate checks raised to the right
//! coordinator and not to others, the checks in the Ack, validation, masking of certificate
//! holders. The public verification page is in `verify.rs`.

use std::time::Duration;

use tonic::Code;
use tonic::transport::Channel;
use xiezhi::proto;
use xiezhi::proto::inspections_client::InspectionsClient;
use xiezhi::proto::publish_inspection_request::Body;

use crate::support::{Log, TestServer, alert_of, event_of, now, org, violations};

pub(crate) const SCJG: &str = "330106-SCJG";
pub(crate) const STHJ: &str = "330100-STHJ";
pub(crate) const SFJ: &str = "330100-SFJ";
/// A coordinator of another city: hears nothing of Hangzhou's inspections.
pub(crate) const NINGBO: &str = "330200-SFJ";
pub(crate) const HOLDER_ID: &str = "11010519491231002X";

/// Starts a broker whose registry also has Ningbo's coordinator.
pub(crate) async fn start(log: Log) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.toml");
    let text = format!(
        "{}\n[[agency]]\nid = \"{NINGBO}\"\nname = \"宁波市司法局\"\nkind = \"coordinator\"\ndivision = \"330200\"\n",
        xiezhi::config::SAMPLE_REGISTRY
    );
    std::fs::write(&file, text).unwrap();
    let server = TestServer::start_with(log, |c| c.registry.file = file.clone()).await;
    // The registry was read at start; the file may go.
    drop(dir);
    server
}

pub(crate) fn client(server: &TestServer) -> InspectionsClient<Channel> {
    InspectionsClient::new(server.channel.clone())
}

pub(crate) fn request(
    event_id: &str,
    producer: &str,
    body: Body,
) -> proto::PublishInspectionRequest {
    proto::PublishInspectionRequest {
        event_id: event_id.into(),
        producer: producer.into(),
        produced_at: Some(now()),
        body: Some(body),
    }
}

pub(crate) fn plan(plan_id: &str, n: u64, items: &[&str], from: &str, to: &str) -> Body {
    Body::Plan(proto::InspectionPlan {
        plan_id: plan_id.into(),
        enterprise: Some(org(n)),
        division: "330106".into(),
        items: items.iter().map(|s| (*s).into()).collect(),
        window_start: from.into(),
        window_end: to.into(),
        reason: proto::InspectionReason::Random as i32,
        ..Default::default()
    })
}

pub(crate) fn record(plan_id: &str, n: u64, inspectors: &[&str]) -> Body {
    Body::Record(proto::InspectionRecord {
        plan_id: plan_id.into(),
        enterprise: org(n).id,
        date: "2026-11-20".into(),
        inspectors: inspectors.iter().map(|s| (*s).into()).collect(),
        items: vec!["SCJG-SP-01".into()],
        result: proto::InspectionResult::NoFinding as i32,
        ..Default::default()
    })
}

pub(crate) fn certificate(number: &str) -> Body {
    Body::Certificate(proto::Certificate {
        number: number.into(),
        holder: Some(proto::Subject {
            kind: proto::SubjectKind::Person as i32,
            id: HOLDER_ID.into(),
            name: "张三".into(),
        }),
        agency: SCJG.into(),
        domains: vec![proto::Domain::MarketRegulation as i32],
        valid_from: "2025-01-01".into(),
        valid_until: "2027-12-31".into(),
        ..Default::default()
    })
}

pub(crate) async fn publish(
    server: &TestServer,
    event_id: &str,
    producer: &str,
    body: Body,
) -> proto::Ack {
    client(server)
        .publish(request(event_id, producer, body))
        .await
        .unwrap_or_else(|s| panic!("{event_id}: {s:?}"))
        .into_inner()
}

/// The alerts in `agency`'s inbox, by rule id.
async fn alerts(server: &TestServer, agency: &str) -> Vec<String> {
    server
        .drain_inbox(agency, Some(0), Duration::from_millis(700))
        .await
        .iter()
        .filter_map(|d| alert_of(d).map(|a| a.rule_id.clone()))
        .collect()
}

/// Reads as `agency` (development mode names the reader in a header).
pub(crate) fn as_agency<T>(agency: &str, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-xiezhi-agency", agency.parse().unwrap());
    request
}

async fn two_agencies_plans_produce_one_joint_proposal(log: Log) {
    let server = start(log).await;
    let ack = publish(
        &server,
        "p-1",
        SCJG,
        plan("scjg-1", 1, &["SCJG-SP-01"], "2026-11-10", "2026-11-20"),
    )
    .await;
    assert!(ack.warnings.is_empty(), "{:?}", ack.warnings);
    publish(
        &server,
        "p-2",
        STHJ,
        plan("sthj-1", 1, &["STHJ-PW-01"], "2026-11-25", "2026-11-28"),
    )
    .await;
    for agency in [SCJG, STHJ, SFJ] {
        assert_eq!(
            alerts(&server, agency).await,
            ["inspection.joint"],
            "{agency}"
        );
    }
    assert!(alerts(&server, NINGBO).await.is_empty());
    let answer = |plan_id: &str| {
        Body::JointAnswer(proto::JointAnswer {
            plan_id: plan_id.into(),
            enterprise: org(1).id,
            accept: true,
            reason: String::new(),
        })
    };
    publish(&server, "a-1", SCJG, answer("scjg-1")).await;
    publish(&server, "a-2", STHJ, answer("sthj-1")).await;
    let year = client(&server)
        .list_inspections(proto::ListInspectionsRequest {
            enterprise: org(1).id,
            year: 2026,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(year.inspections.len(), 2);
    assert_eq!(
        (year.counted, year.cap),
        (1, 3),
        "an accepted joint inspection counts once"
    );
    let joint = &year.inspections[0].joint;
    assert!(joint.starts_with("J-") && year.inspections.iter().all(|i| &i.joint == joint));
    // The answer reached the other agency.
    let delivered = server
        .drain_inbox(STHJ, Some(0), Duration::from_millis(500))
        .await;
    assert!(
        delivered
            .iter()
            .any(|d| alert_of(d).is_none() && event_of(d).event_id == "a-1")
    );
    server.stop().await;
}

async fn an_uncertified_inspector_alerts_the_coordinator_of_that_division_only(log: Log) {
    let server = start(log).await;
    publish(&server, "c-1", SFJ, certificate("ZJ-0001")).await;
    publish(
        &server,
        "p-1",
        SCJG,
        plan("scjg-1", 2, &["SCJG-SP-01"], "2026-11-10", "2026-11-20"),
    )
    .await;
    let ack = publish(
        &server,
        "r-1",
        SCJG,
        record("scjg-1", 2, &["ZJ-0001", "ZJ-9999"]),
    )
    .await;
    assert_eq!(
        ack.warnings,
        ["inspection.certificate_invalid: certificate ZJ-9999 is unknown"]
    );
    assert_eq!(
        alerts(&server, SFJ).await,
        ["inspection.certificate_invalid"]
    );
    assert!(
        alerts(&server, NINGBO).await.is_empty(),
        "not another city's coordinator"
    );
    assert!(alerts(&server, SCJG).await.is_empty());
    // A plan naming an item that is not published is warned at plan time, before the visit.
    let ack = publish(
        &server,
        "p-2",
        SCJG,
        plan("scjg-2", 2, &["XX-1"], "2026-12-10", "2026-12-11"),
    )
    .await;
    assert_eq!(ack.warnings.len(), 1);
    assert!(
        ack.warnings[0].starts_with("inspection.item_unpublished: XX-1"),
        "{:?}",
        ack.warnings
    );
    // Certificates are checked as the registry would.
    let status = client(&server)
        .check_certificate(as_agency(
            STHJ,
            proto::CheckCertificateRequest {
                number: "ZJ-0001".into(),
                agency: SCJG.into(),
                day: "2028-01-01".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !status.valid && status.reason.starts_with("certificate.expired"),
        "{status:?}"
    );
    let holder = status.certificate.unwrap().holder.unwrap();
    assert!(
        holder.name == "张*" && !holder.id.contains("19491231"),
        "masked for another agency: {holder:?}"
    );
    server.stop().await;
}

async fn inspection_events_are_validated(log: Log) {
    let server = start(log).await;
    let mut bad = plan("p", 6, &[], "2026-11-20", "2026-11-10");
    if let Body::Plan(p) = &mut bad {
        p.enterprise = Some(proto::Subject {
            kind: proto::SubjectKind::Person as i32,
            id: HOLDER_ID.into(),
            name: "张三".into(),
        });
    }
    let status = client(&server)
        .publish(request("bad-1", SCJG, bad))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    let fields: Vec<String> = violations(&status).into_iter().map(|(f, _)| f).collect();
    for field in ["plan.enterprise.kind", "plan.items", "plan.window_end"] {
        assert!(fields.iter().any(|f| f == field), "{field}: {fields:?}");
    }
    let status = client(&server)
        .publish(request("bad-2", SCJG, certificate("Z1")))
        .await
        .unwrap_err();
    let rules = violations(&status);
    assert!(
        rules
            .iter()
            .any(|(f, r)| f == "producer" && r == "inspection.agency_kind"),
        "{rules:?}"
    );
    assert!(
        rules.iter().any(|(f, _)| f == "certificate.number"),
        "{rules:?}"
    );
    let status = client(&server)
        .publish(request(
            "bad-3",
            SCJG,
            record("nope", 6, &["ZJ-0001", "ZJ-0002"]),
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    // Sent as it was the first time: a retry is the same request (`request` stamps the time).
    let first = request(
        "p-1",
        SCJG,
        plan("scjg-1", 6, &["SCJG-SP-01"], "2026-11-10", "2026-11-20"),
    );
    client(&server).publish(first.clone()).await.unwrap();
    let again = client(&server)
        .publish(request(
            "p-2",
            SCJG,
            plan("scjg-1", 6, &["SCJG-SP-01"], "2026-11-10", "2026-11-20"),
        ))
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::AlreadyExists);
    // A retry of the same plan is a duplicate with the same code.
    let retry = client(&server).publish(first).await.unwrap().into_inner();
    assert!(retry.duplicate);
    server.stop().await;
}

crate::on_both_logs!(
    two_agencies_plans_produce_one_joint_proposal,
    an_uncertified_inspector_alerts_the_coordinator_of_that_division_only,
    inspection_events_are_validated,
);

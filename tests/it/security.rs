//! Issue 5 over real TLS: who the caller is comes from its client certificate; an agency acts
//! only as itself; reads are confined to the reader's parties and jurisdiction and masked for
//! supervisors; handling codes narrow both; every refusal and every full read of personal data
//! lands in the audit chain.

use std::time::Duration;

use sha2::Digest as _;

use tonic::Code;
use tonic::transport::Channel;
use xiezhi::proto;
use xiezhi::proto::inbox_client::InboxClient;
use xiezhi::proto::publisher_client::PublisherClient;
use xiezhi::proto::query_client::QueryClient;
use xiezhi::proto::referrals_client::ReferralsClient;

use crate::referrals::{refer, step};
use crate::support::{TestServer, alert_of, event_of, lead, read_until_quiet, tls_channel};

/// Coordinators at every level around 西湖区, and outside it, added to the sample registry.
pub const LEVELS: &str = r#"
[[agency]]
id = "330000-SFT"
name = "浙江省司法厅"
kind = "coordinator"
division = "330000"

[[agency]]
id = "310000-SFJ"
name = "上海市司法局"
kind = "coordinator"
division = "310000"

[[agency]]
id = "330106-SFJ"
name = "西湖区司法局"
kind = "coordinator"
division = "330106"

[[agency]]
id = "330102-SFJ"
name = "上城区司法局"
kind = "coordinator"
division = "330102"
"#;

const PERSON_ID: &str = "11010519491231002X";
const MASKED_ID: &str = "110105********002X";

/// 张三, a natural person.
pub fn person() -> proto::Subject {
    proto::Subject {
        kind: proto::SubjectKind::Person as i32,
        id: PERSON_ID.into(),
        name: "张三".into(),
    }
}

/// The subject of the first event in `events`.
fn subject_of(event: &proto::Envelope) -> proto::Subject {
    match event.payload.as_ref().unwrap() {
        proto::envelope::Payload::Lead(lead) => lead.subject.clone().unwrap(),
        proto::envelope::Payload::CaseOutcome(outcome) => outcome.subject.clone().unwrap(),
        proto::envelope::Payload::Referral(referral) => referral.subject.clone().unwrap(),
        proto::envelope::Payload::InspectionPlan(plan) => plan.enterprise.clone().unwrap(),
        other => panic!("{other:?} has no subject"),
    }
}

/// What `channel`'s agency sees of the stored leads and of 张三's timeline.
async fn reads(channel: &Channel) -> (Vec<proto::Envelope>, Vec<proto::Envelope>) {
    let mut query = QueryClient::new(channel.clone());
    let leads = query
        .list_leads(proto::ListLeadsRequest::default())
        .await
        .expect("list leads")
        .into_inner()
        .leads
        .into_iter()
        .map(|l| l.lead.unwrap().event.unwrap())
        .collect();
    let timeline = query
        .subject_timeline(proto::SubjectTimelineRequest {
            kind: proto::SubjectKind::Person as i32,
            id: PERSON_ID.into(),
            ..Default::default()
        })
        .await
        .expect("timeline")
        .into_inner()
        .events
        .into_iter()
        .map(|e| e.event.unwrap())
        .collect();
    (leads, timeline)
}

/// Publishes `request` as `agency`, leaving the producer to the certificate.
async fn publish_as(server: &TestServer, agency: &str, mut request: proto::PublishLeadRequest) {
    request.producer.clear();
    PublisherClient::new(server.channel_as(agency).await)
        .publish_lead(request)
        .await
        .unwrap_or_else(|status| panic!("{agency} publishes: {status:?}"));
}

/// The audit chain's entries, in order.
pub fn audit_entries(server: &TestServer) -> Vec<xiezhi::audit::Entry> {
    server.store().audit_entries().unwrap()
}

#[tokio::test]
async fn serve_refuses_to_start_without_certificates_and_names_the_setting() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::support::test_config(crate::support::Log::Embedded, dir.path());
    config.security.insecure_dev = false;
    let err = xiezhi::app::start(
        &config,
        xiezhi::app::Role::All,
        std::sync::Arc::new(xiezhi::domain::SystemClock),
    )
    .await
    .err()
    .expect("no certificates, no start")
    .to_string();
    assert!(
        err.contains("security.tls_cert") && err.contains("--insecure-dev"),
        "{err}"
    );

    config.security.tls_cert = dir.path().join("absent.pem");
    config.security.tls_key = dir.path().join("absent-key.pem");
    config.security.client_ca = dir.path().join("ca.pem");
    let err = xiezhi::app::start(
        &config,
        xiezhi::app::Role::All,
        std::sync::Arc::new(xiezhi::domain::SystemClock),
    )
    .await
    .err()
    .expect("missing files, no start")
    .to_string();
    assert!(
        err.contains("absent.pem"),
        "the missing file is named: {err}"
    );
}

#[tokio::test]
async fn tls_without_a_client_certificate_or_with_a_foreign_one_is_refused() {
    let server = TestServer::start_tls("", |_| {}).await;
    let addr = server.running().grpc_addr();
    // No client certificate: the handshake (or the first call on it) fails.
    let anonymous = match tls_channel(addr, &server.certs(), None).await {
        Ok(channel) => PublisherClient::new(channel)
            .publish_lead(lead("anon-1", person()))
            .await
            .map(|_| ()),
        Err(err) => Err(tonic::Status::unavailable(format!("{err:?}"))),
    };
    assert!(
        anonymous.is_err(),
        "a call without a client certificate was answered"
    );

    // A certificate from another CA, naming a registered agency.
    let foreign = tempfile::tempdir().unwrap();
    let registry = server.running().registry().clone();
    xiezhi::gateway::tls::generate_dev(foreign.path(), &registry, &[]).unwrap();
    use tonic::transport::{Certificate, ClientTlsConfig, Identity};
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(
            std::fs::read(server.certs().join("ca.pem")).unwrap(),
        ))
        .identity(Identity::from_pem(
            std::fs::read(foreign.path().join("330100-STHJ.pem")).unwrap(),
            std::fs::read(foreign.path().join("330100-STHJ-key.pem")).unwrap(),
        ));
    let forged = match Channel::from_shared(format!("https://{addr}"))
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
    {
        Ok(channel) => PublisherClient::new(channel)
            .publish_lead(lead("forged-1", person()))
            .await
            .map(|_| ()),
        Err(err) => Err(tonic::Status::unavailable(format!("{err:?}"))),
    };
    assert!(forged.is_err(), "a certificate of another CA was accepted");

    // Plaintext to a TLS server does not get through either.
    let plain = Channel::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await;
    if let Ok(channel) = plain {
        assert!(
            PublisherClient::new(channel)
                .publish_lead(lead("plain-1", person()))
                .await
                .is_err()
        );
    }
    assert_eq!(server.log_records().await, 0, "nothing reached the log");
    server.stop().await;
}

#[tokio::test]
async fn an_agency_acts_only_as_itself_and_spoofing_is_refused_and_audited() {
    let server = TestServer::start_tls("", |_| {}).await;
    let scjg = server.channel_as("330106-SCJG").await;
    let mut publisher = PublisherClient::new(scjg.clone());

    // Publishing as the environment bureau with the market regulator's certificate.
    let status = publisher
        .publish_lead(lead("spoof-1", person()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert!(
        status
            .message()
            .contains("330106-SCJG may not act as 330100-STHJ"),
        "{}",
        status.message()
    );

    // Reading or acknowledging someone else's inbox.
    let mut inbox = InboxClient::new(scjg.clone());
    let status = inbox
        .subscribe(proto::SubscribeRequest {
            agency: "330100-STHJ".into(),
            from_cursor: Some(0),
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = inbox
        .acknowledge(proto::AcknowledgeRequest {
            agency: "330100-STHJ".into(),
            cursor: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");

    // Referring for another agency, and taking the police's step as the agency.
    let at = jiff::Timestamp::now();
    let mut referrals = ReferralsClient::new(server.channel_as("330106-GA").await);
    let status = referrals
        .refer(refer("ref-spoof", "R-1", "杭西市监〔2026〕1号", at))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    let status = ReferralsClient::new(scjg.clone())
        .update(step(
            "st-spoof",
            "330106-GA",
            "R-1",
            proto::ReferralAction::Receive,
            "",
            at,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{status:?}");
    assert_eq!(
        server.log_records().await,
        0,
        "no spoofed event reached the log"
    );

    // Without a producer field, the certificate's agency publishes.
    let mut own = lead("own-1", person());
    own.producer.clear();
    let ack = publisher.publish_lead(own).await.unwrap().into_inner();
    assert_eq!(ack.receipt.unwrap().producer, "330106-SCJG");
    server.wait_for_events(1).await;
    let (leads, _) = reads(&scjg).await;
    assert_eq!(leads[0].producer, "330106-SCJG");

    let denials: Vec<_> = audit_entries(&server)
        .into_iter()
        .filter(|e| e.action.starts_with("denied"))
        .map(|e| (e.actor, e.action))
        .collect();
    assert_eq!(denials.len(), 5, "{denials:?}");
    assert!(
        denials.contains(&("330106-SCJG".into(), "denied producer".into())),
        "{denials:?}"
    );
    assert!(
        denials.contains(&("330106-GA".into(), "denied producer".into())),
        "{denials:?}"
    );
    assert!(
        denials.contains(&("330106-SCJG".into(), "denied actor".into())),
        "{denials:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn reads_are_confined_to_parties_and_jurisdiction_at_every_level_and_masked_for_supervisors()
{
    let server = TestServer::start_tls(LEVELS, |_| {}).await;
    // The city environment bureau reports a food lead in 西湖区 about 张三: it goes to 西湖区's
    // market regulator.
    publish_as(&server, "330100-STHJ", lead("p-1", person())).await;
    server.wait_for_events(1).await;

    // None: sees nothing; Some(masked).
    let expectations = [
        ("330100-STHJ", Some(false), "the producer"),
        ("330106-SCJG", Some(false), "the recipient"),
        ("330106-SFJ", Some(true), "the county coordinator"),
        ("330100-SFJ", Some(true), "the city coordinator"),
        ("330000-SFT", Some(true), "the provincial coordinator"),
        ("330102-SFJ", None, "another county's coordinator"),
        ("310000-SFJ", None, "another province's coordinator"),
        (
            "330106-RSJ",
            None,
            "an agency of the county that is no party",
        ),
        ("330106-GA", None, "police, for a lead that is no referral"),
    ];
    for (agency, expected, who) in expectations {
        let (leads, timeline) = reads(&server.channel_as(agency).await).await;
        match expected {
            None => {
                assert!(leads.is_empty(), "{who} ({agency}) listed {leads:?}");
                assert!(timeline.is_empty(), "{who} ({agency}) read the timeline");
            }
            Some(masked) => {
                assert_eq!(leads.len(), 1, "{who} ({agency})");
                assert_eq!(timeline.len(), 1, "{who} ({agency})");
                for event in [&leads[0], &timeline[0]] {
                    let subject = subject_of(event);
                    let (id, name) = if masked {
                        (MASKED_ID, "张*")
                    } else {
                        (PERSON_ID, "张三")
                    };
                    assert_eq!(
                        (subject.id.as_str(), subject.name.as_str()),
                        (id, name),
                        "{who} ({agency})"
                    );
                }
            }
        }
    }

    // Full reads of 张三's data are audited — the parties' — and the masked ones are not.
    let readers: Vec<String> = audit_entries(&server)
        .into_iter()
        .filter(|e| e.action.starts_with("read") && e.object == "330100-STHJ/p-1")
        .map(|e| format!("{} {}", e.actor, e.action))
        .collect();
    assert_eq!(
        readers,
        [
            "330100-STHJ read leads",
            "330100-STHJ read timeline",
            "330106-SCJG read leads",
            "330106-SCJG read timeline"
        ]
    );

    // Penalty reports: supervisors over their own subtree only.
    for (agency, prefix, allowed) in [
        ("330100-SFJ", "3301", true),
        ("330100-SFJ", "330106", true),
        ("330100-SFJ", "33", false),
        ("330106-SFJ", "3301", false),
        ("330106-JCY", "330106", true),
        ("330106-SCJG", "330106", false),
        // No prefix: the caller's own jurisdiction, for a district coordinator too.
        ("330106-SFJ", "", true),
        ("330100-SFJ", "", true),
        ("330106-SCJG", "", false),
    ] {
        let result = QueryClient::new(server.channel_as(agency).await)
            .penalty_report(proto::PenaltyReportRequest {
                offence_code: "CL-140".into(),
                division_prefix: prefix.into(),
                ..Default::default()
            })
            .await;
        match (allowed, result) {
            (true, Ok(_)) => {}
            (false, Err(status)) => {
                assert_eq!(status.code(), Code::PermissionDenied, "{agency} {prefix}")
            }
            (allowed, other) => {
                panic!("{agency} over {prefix:?}: expected allowed={allowed}, got {other:?}")
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn handling_codes_narrow_who_reads_and_who_receives() {
    let server = TestServer::start_tls(LEVELS, |_| {}).await;
    let mut parties_only = lead("h-parties", person());
    parties_only.handling = proto::HandlingCode::PartiesOnly as i32;
    publish_as(&server, "330100-STHJ", parties_only).await;
    // No onward sharing: to the agency named only, not to the market regulator responsible.
    let mut private = lead("h-private", person());
    private.handling = proto::HandlingCode::NoOnwardSharing as i32;
    private.lead.as_mut().unwrap().target_agencies = vec!["330106-RSJ".into()];
    publish_as(&server, "330100-STHJ", private).await;
    // Naming nobody under NO_ONWARD_SHARING would send it nowhere: refused.
    let mut nowhere = lead("h-nowhere", person());
    nowhere.producer.clear();
    nowhere.handling = proto::HandlingCode::NoOnwardSharing as i32;
    let status = PublisherClient::new(server.channel_as("330100-STHJ").await)
        .publish_lead(nowhere)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        crate::support::violations(&status).contains(&(
            "lead.target_agencies".into(),
            "handling.no_onward_sharing".into()
        )),
        "{status:?}"
    );
    server.wait_for_events(2).await;

    let ids = |events: &[proto::Envelope]| {
        events
            .iter()
            .map(|e| e.event_id.clone())
            .collect::<Vec<_>>()
    };
    let (city, _) = reads(&server.channel_as("330100-SFJ").await).await;
    assert!(
        city.is_empty(),
        "supervisors do not read parties-only events: {:?}",
        ids(&city)
    );
    let (scjg, _) = reads(&server.channel_as("330106-SCJG").await).await;
    assert_eq!(
        ids(&scjg),
        ["h-parties"],
        "the responsible agency got the first only"
    );
    let (rsj, _) = reads(&server.channel_as("330106-RSJ").await).await;
    assert_eq!(ids(&rsj), ["h-private"]);
    let inbox = read_until_quiet(
        crate::support::subscribe(
            &server.channel_as("330106-SCJG").await,
            "330106-SCJG",
            Some(0),
        )
        .await,
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(
        inbox
            .iter()
            .map(|d| event_of(d).event_id.clone())
            .collect::<Vec<_>>(),
        ["h-parties"]
    );
    server.stop().await;
}

#[tokio::test]
async fn referrals_are_read_by_parties_and_by_police_and_procuratorate_within_their_division() {
    let server = TestServer::start_tls(LEVELS, |_| {}).await;
    let mut request = refer(
        "ref-p1",
        "R-P1",
        "杭西市监〔2026〕7号",
        jiff::Timestamp::now(),
    );
    request.producer.clear();
    request.referral.as_mut().unwrap().subject = Some(person());
    request.referral.as_mut().unwrap().summary = "张三销售伪劣产品六万元".into();
    ReferralsClient::new(server.channel_as("330106-SCJG").await)
        .refer(request)
        .await
        .unwrap();

    let get = proto::GetReferralRequest {
        agency: "330106-SCJG".into(),
        referral_id: "R-P1".into(),
    };
    // (agency, None = refused, Some(masked))
    for (agency, expected) in [
        ("330106-SCJG", Some(false)),
        ("330106-GA", Some(false)),
        ("330106-JCY", Some(false)),
        ("330100-JCY", Some(false)),
        ("330100-GA", Some(false)),
        ("330100-SFJ", Some(true)),
        ("330106-SFJ", Some(true)),
        ("330102-GA", None),
        ("330102-SFJ", None),
        ("310000-SFJ", None),
        ("330106-RSJ", None),
    ] {
        let mut client = ReferralsClient::new(server.channel_as(agency).await);
        let got = client.get(get.clone()).await;
        let listed = client
            .list(proto::ListReferralsRequest::default())
            .await
            .unwrap()
            .into_inner()
            .referrals;
        match expected {
            None => {
                let status = got.expect_err(agency);
                assert_eq!(
                    status.code(),
                    Code::PermissionDenied,
                    "{agency}: {status:?}"
                );
                assert!(listed.is_empty(), "{agency} listed it");
            }
            Some(masked) => {
                let view = got
                    .unwrap_or_else(|s| panic!("{agency}: {s:?}"))
                    .into_inner();
                assert_eq!(listed.len(), 1, "{agency}");
                let referral = view.referral.unwrap();
                let subject = referral.subject.unwrap();
                if masked {
                    assert_eq!(
                        (subject.id.as_str(), subject.name.as_str()),
                        (MASKED_ID, "张*"),
                        "{agency}"
                    );
                    assert_eq!(
                        referral.summary, "张*销售伪劣产品六万元",
                        "{agency}: free text too"
                    );
                } else {
                    assert_eq!(
                        (subject.id.as_str(), subject.name.as_str()),
                        (PERSON_ID, "张三"),
                        "{agency}"
                    );
                }
            }
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn alerts_about_a_person_are_masked_for_recipients_who_are_not_parties() {
    let server = TestServer::start_tls(LEVELS, |_| {}).await;
    // Sales of 62,000 yuan reach the CL-140 threshold: the producer and 西湖区's police are
    // alerted; the police are no party to the lead.
    let mut request = lead("crime-1", person());
    request.lead.as_mut().unwrap().facts[0].value = 6_200_000;
    publish_as(&server, "330100-STHJ", request).await;
    server.wait_for_events(1).await;

    let alert_for = |agency: &'static str| {
        let server = &server;
        async move {
            let channel = server.channel_as(agency).await;
            let deliveries = read_until_quiet(
                crate::support::subscribe(&channel, agency, Some(0)).await,
                Duration::from_millis(300),
            )
            .await;
            deliveries
                .iter()
                .find_map(alert_of)
                .cloned()
                .unwrap_or_else(|| panic!("{agency} got no alert: {deliveries:?}"))
        }
    };
    let police = alert_for("330106-GA").await;
    assert_eq!(police.kind, proto::AlertKind::PossibleCrime as i32);
    let subject = police.subject.unwrap();
    assert_eq!(
        (subject.id.as_str(), subject.name.as_str()),
        (MASKED_ID, "张*")
    );
    let producer = alert_for("330100-STHJ").await;
    assert_eq!(
        producer.subject.unwrap().id,
        PERSON_ID,
        "the producer is a party"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_revoked_certificate_is_refused_and_the_others_still_work() {
    let server = TestServer::start_tls("", |config| {
        let certs = config.security.client_ca.parent().unwrap().to_owned();
        let pem = std::fs::read(certs.join("330106-RSJ.pem")).unwrap();
        let der = x509_parser::pem::parse_x509_pem(&pem).unwrap().1.contents;
        let fingerprint: Vec<String> = sha2::Sha256::digest(&der)
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        // As `openssl x509 -fingerprint -sha256` prints it.
        config.security.revoked_certificates = vec![fingerprint.join(":")];
    })
    .await;
    let status = PublisherClient::new(server.channel_as("330106-RSJ").await)
        .publish_lead(lead("revoked-1", person()))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(status.message().contains("revoked"), "{status:?}");
    // The console's pages on the same listener refuse the certificate too.
    let (status, page) = crate::pages::https_get(server.channel_as("330106-RSJ").await, "/").await;
    assert_eq!(status, 403, "{page}");
    assert!(page.contains("revoked"), "{page}");
    let (status, page) = crate::pages::https_get(server.channel_as("330100-SFJ").await, "/").await;
    assert_eq!(
        status, 200,
        "a coordinator's certificate still opens the console: {page}"
    );
    publish_as(&server, "330100-STHJ", lead("fine-1", person())).await;
    server.wait_for_events(1).await;
    assert!(
        audit_entries(&server)
            .iter()
            .any(|e| e.action == "denied revoked certificate")
    );
    server.stop().await;
}

#[tokio::test]
async fn the_publish_command_speaks_tls_with_an_agency_certificate() {
    let server = TestServer::start_tls("", |_| {}).await;
    let endpoint = format!("https://{}", server.running().grpc_addr());
    let certs = server.certs();
    let publish_as = |agency: &str| {
        let mut command = crate::process::xiezhi();
        command
            .args(["publish", "--server", &endpoint, "--json"])
            .arg(crate::cli::example("lead.json"))
            .arg("--ca")
            .arg(certs.join("ca.pem"))
            .arg("--cert")
            .arg(certs.join(format!("{agency}.pem")))
            .arg("--key")
            .arg(certs.join(format!("{agency}-key.pem")));
        command
    };
    // The example's producer is 330100-STHJ: another agency's certificate may not send it.
    let out = crate::cli::run_async(publish_as("330106-SCJG")).await;
    assert!(!out.status.success());
    let err = crate::cli::text(&out.stderr);
    assert!(
        err.contains("PermissionDenied") && err.contains("may not act as 330100-STHJ"),
        "{err}"
    );
    let out = crate::cli::run_async(publish_as("330100-STHJ")).await;
    assert!(out.status.success(), "{}", crate::cli::text(&out.stderr));
    assert!(
        crate::cli::text(&out.stdout).contains("\"receipt\""),
        "the Ack carries its receipt"
    );
    server.wait_for_events(1).await;
    server.stop().await;
}

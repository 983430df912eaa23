//! 行刑衔接 through the gRPC API: referrals moved by their parties, statutory deadlines that
//! fire once against a fake clock, and the alerts the rules raise — 以罚代刑, 多头受罚,
//! 化整为零, discretion deviations — plus the penalty report.

use std::sync::Arc;
use std::time::Duration;

use jiff::SignedDuration;
use tonic::Code;
use xiezhi::domain::ManualClock;
use xiezhi::proto;
use xiezhi::proto::referrals_client::ReferralsClient;

use crate::support::{Log, TestServer, alert_of, event_of, org, outcome, violations};

fn ts(at: jiff::Timestamp) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: at.as_second(),
        nanos: 0,
    })
}

fn document(kind: proto::DocumentKind, name: &str) -> proto::Document {
    proto::Document {
        name: name.into(),
        kind: kind as i32,
        sha256: "ab".repeat(32),
    }
}

pub(crate) fn refer(
    event_id: &str,
    referral_id: &str,
    case_number: &str,
    at: jiff::Timestamp,
) -> proto::ReferRequest {
    proto::ReferRequest {
        event_id: event_id.into(),
        handling: 0,
        producer: "330106-SCJG".into(),
        produced_at: ts(at),
        referral: Some(proto::Referral {
            referral_id: referral_id.into(),
            police: "330106-GA".into(),
            case_number: case_number.into(),
            subject: Some(org(77)),
            division: "330106".into(),
            domain: proto::Domain::MarketRegulation as i32,
            offence_code: "CL-140".into(),
            summary: "销售金额达六万元, 涉嫌生产、销售伪劣产品罪".into(),
            facts: vec![proto::Fact {
                name: "sales_fen".into(),
                value: 6_000_000,
            }],
            documents: vec![
                document(proto::DocumentKind::TransferLetter, "涉嫌犯罪案件移送书"),
                document(proto::DocumentKind::InvestigationReport, "调查报告"),
                document(proto::DocumentKind::ItemsList, "涉案物品清单"),
            ],
        }),
    }
}

pub(crate) fn step(
    event_id: &str,
    actor: &str,
    referral_id: &str,
    action: proto::ReferralAction,
    reason: &str,
    at: jiff::Timestamp,
) -> proto::UpdateReferralRequest {
    proto::UpdateReferralRequest {
        event_id: event_id.into(),
        handling: 0,
        actor: actor.into(),
        produced_at: ts(at),
        update: Some(proto::ReferralUpdate {
            agency: "330106-SCJG".into(),
            referral_id: referral_id.into(),
            action: action as i32,
            reason: reason.into(),
            forward_to: String::new(),
        }),
    }
}

/// Sends a step that must be refused with FAILED_PRECONDITION mentioning `why`.
async fn refused(
    referrals: &mut ReferralsClient<tonic::transport::Channel>,
    request: proto::UpdateReferralRequest,
    why: &str,
) {
    let status = referrals.update(request).await.unwrap_err();
    assert_eq!(status.code(), Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains(why), "{}", status.message());
}

async fn view(server: &TestServer, referral_id: &str) -> proto::ReferralView {
    ReferralsClient::new(server.channel.clone())
        .get(proto::GetReferralRequest {
            agency: "330106-SCJG".into(),
            referral_id: referral_id.into(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Waits until the referral reaches `state` in the router's store.
pub(crate) async fn wait_for_state(
    server: &TestServer,
    referral_id: &str,
    state: proto::ReferralState,
) -> proto::ReferralView {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = ReferralsClient::new(server.channel.clone())
            .get(proto::GetReferralRequest {
                agency: "330106-SCJG".into(),
                referral_id: referral_id.into(),
            })
            .await;
        if let Ok(view) = found {
            let view = view.into_inner();
            if view.state == state as i32 {
                return view;
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{referral_id} never reached {state:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The alerts in an agency's inbox.
pub(crate) async fn alerts(server: &TestServer, agency: &str) -> Vec<proto::Alert> {
    server
        .drain_inbox(agency, Some(0), Duration::from_millis(300))
        .await
        .iter()
        .filter_map(|d| alert_of(d).cloned())
        .collect()
}

/// Waits until `agency` has an alert of `kind`; returns all its alerts of that kind.
pub(crate) async fn wait_for_alert(
    server: &TestServer,
    agency: &str,
    kind: proto::AlertKind,
) -> Vec<proto::Alert> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found: Vec<_> = alerts(server, agency)
            .await
            .into_iter()
            .filter(|a| a.kind == kind as i32)
            .collect();
        if !found.is_empty() {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{agency} never got a {kind:?} alert"
        );
    }
}

async fn referral_moves_only_by_the_party_whose_turn_it_is(log: Log) {
    let server = TestServer::start(log).await;
    let mut referrals = ReferralsClient::new(server.channel.clone());
    let now = jiff::Timestamp::now();
    referrals
        .refer(refer("ref-1", "r-1", "杭西市监案〔2026〕1号", now))
        .await
        .unwrap();
    let reported = wait_for_state(&server, "r-1", proto::ReferralState::Reported).await;
    let deadline = reported.deadline.unwrap();
    assert_eq!(
        (
            deadline.step.as_str(),
            deadline.agency.as_str(),
            deadline.limit.as_str()
        ),
        ("decree310.art5.decide", "330106-SCJG", "3 days")
    );

    // Not the police's turn, not a step of this state, not a party at all, no reason given.
    let attempt =
        |actor: &str, action, reason: &str| step("s-0", actor, "r-1", action, reason, now);
    refused(
        &mut referrals,
        attempt("330106-GA", proto::ReferralAction::Approve, ""),
        "for the Agency",
    )
    .await;
    refused(
        &mut referrals,
        attempt("330106-GA", proto::ReferralAction::Receive, ""),
        "Receive is not allowed in state Reported; allowed next steps: Approve by the Agency",
    )
    .await;
    refused(
        &mut referrals,
        attempt("330102-SCJG", proto::ReferralAction::Approve, ""),
        "not a party",
    )
    .await;
    // A step that needs reasons without any is a malformed request: INVALID_ARGUMENT with the
    // field, not FAILED_PRECONDITION (kept for a wrong party or state).
    let status = referrals
        .update(attempt("330106-SCJG", proto::ReferralAction::Refuse, ""))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(
        violations(&status),
        [(
            "update.reason".to_owned(),
            "referral.reason_required".to_owned()
        )],
        "{status:?}"
    );
    let status = referrals
        .update(step(
            "s-0",
            "330106-SCJG",
            "nope",
            proto::ReferralAction::Approve,
            "",
            now,
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound);

    // The police hear of the case only once it is transferred to them.
    referrals
        .update(step(
            "s-1",
            "330106-SCJG",
            "r-1",
            proto::ReferralAction::Approve,
            "",
            now,
        ))
        .await
        .unwrap();
    wait_for_state(&server, "r-1", proto::ReferralState::Approved).await;
    assert!(
        server
            .drain_inbox("330106-GA", Some(0), Duration::from_millis(200))
            .await
            .is_empty()
    );
    referrals
        .update(step(
            "s-2",
            "330106-SCJG",
            "r-1",
            proto::ReferralAction::Transfer,
            "",
            now,
        ))
        .await
        .unwrap();
    wait_for_state(&server, "r-1", proto::ReferralState::Transferred).await;
    let police = server
        .drain_inbox("330106-GA", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(police.len(), 1);
    assert_eq!(police[0].reason, proto::DeliveryReason::Referral as i32);
    assert!(matches!(
        event_of(&police[0]).payload,
        Some(proto::envelope::Payload::ReferralUpdate(_))
    ));

    // Forwarded to the competent police, who take it from there.
    let mut forward = step(
        "s-3",
        "330106-GA",
        "r-1",
        proto::ReferralAction::Forward,
        "属地管辖",
        now,
    );
    forward.update.as_mut().unwrap().forward_to = "330102-GA".into();
    referrals.update(forward).await.unwrap();
    let forwarded = wait_for_state(&server, "r-1", proto::ReferralState::Transferred).await;
    let forwarded = if forwarded.police == "330102-GA" {
        forwarded
    } else {
        view(&server, "r-1").await
    };
    assert_eq!(forwarded.police, "330102-GA");
    referrals
        .update(step(
            "s-4",
            "330102-GA",
            "r-1",
            proto::ReferralAction::Receive,
            "",
            now,
        ))
        .await
        .unwrap();
    referrals
        .update(step(
            "s-5",
            "330102-GA",
            "r-1",
            proto::ReferralAction::File,
            "",
            now,
        ))
        .await
        .unwrap();
    let filed = wait_for_state(&server, "r-1", proto::ReferralState::Filed).await;
    assert_eq!(filed.history.len(), 5);
    assert_eq!(filed.deadline.unwrap().step, "decree310.art12.goods");
    let allowed: Vec<i32> = filed.allowed.iter().map(|a| a.action).collect();
    assert!(allowed.contains(&(proto::ReferralAction::Prosecute as i32)));

    // The procuratorate of the division saw every step.
    let procuratorate = server
        .drain_inbox("330106-JCY", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(procuratorate.len(), 6, "the report and five steps");

    let listed = referrals
        .list(proto::ListReferralsRequest {
            party: "330102-GA".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .referrals;
    assert_eq!(listed.len(), 1);
    let status = referrals
        .refer(refer("ref-2", "r-1", "另一案", now))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    server.stop().await;
}

async fn transfer_reports_are_validated(log: Log) {
    let server = TestServer::start(log).await;
    let mut referrals = ReferralsClient::new(server.channel.clone());
    let now = jiff::Timestamp::now();
    type Mutation = Box<dyn Fn(&mut proto::ReferRequest)>;
    let cases: Vec<(&str, Mutation, &str, &str)> = vec![
        (
            "package without items list",
            Box::new(|r| {
                r.referral.as_mut().unwrap().documents.pop();
            }),
            "referral.documents",
            "package.missing",
        ),
        (
            "bad digest",
            Box::new(|r| r.referral.as_mut().unwrap().documents[0].sha256 = "XYZ".into()),
            "referral.documents[0].sha256",
            "document.sha256",
        ),
        (
            "police of another level",
            Box::new(|r| r.referral.as_mut().unwrap().police = "330100-GA".into()),
            "referral.police",
            "referral.police_level",
        ),
        (
            "not police",
            Box::new(|r| r.referral.as_mut().unwrap().police = "330106-JCY".into()),
            "referral.police",
            "referral.police_kind",
        ),
        (
            "police referring",
            Box::new(|r| {
                r.producer = "330106-GA".into();
                r.referral.as_mut().unwrap().police = "330106-GA".into();
            }),
            "producer",
            "referral.agency_kind",
        ),
        (
            "no case number",
            Box::new(|r| r.referral.as_mut().unwrap().case_number.clear()),
            "referral.case_number",
            "required",
        ),
    ];
    for (what, mutate, field, rule) in cases {
        let mut request = refer("bad", "r-bad", "案号", now);
        mutate(&mut request);
        let status = referrals.refer(request).await.expect_err(what);
        assert_eq!(status.code(), Code::InvalidArgument, "{what}");
        assert!(
            violations(&status)
                .iter()
                .any(|(f, r)| f == field && r == rule),
            "{what}: {:?}",
            violations(&status)
        );
    }
    assert_eq!(server.log_records().await, 0);
    server.stop().await;
}

async fn a_missed_deadline_alerts_once_and_the_referral_is_listed_overdue(log: Log) {
    // Friday 19 September 2025, 10:00 in Hangzhou (a past date: Kafka refuses future stamps).
    let start: jiff::Timestamp = "2025-09-19T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::start_with_clock(log, |c| c.router.tick_ms = 50, clock.clone()).await;
    let mut referrals = ReferralsClient::new(server.channel.clone());
    referrals
        .refer(refer("ref-1", "r-late", "杭西市监案〔2025〕9号", start))
        .await
        .unwrap();
    let reported = wait_for_state(&server, "r-late", proto::ReferralState::Reported).await;
    let due = reported.deadline.unwrap().due.unwrap();
    assert_eq!(
        due.seconds,
        "2025-09-22T16:00:00Z"
            .parse::<jiff::Timestamp>()
            .unwrap()
            .as_second(),
        "3 days: 24:00 CST Monday"
    );

    clock.advance(SignedDuration::from_hours(4 * 24));
    for agency in ["330106-SCJG", "330106-JCY", "330100-SFJ"] {
        let overdue = wait_for_alert(&server, agency, proto::AlertKind::Overdue).await;
        assert_eq!(overdue.len(), 1, "{agency}");
        assert_eq!(overdue[0].late_agency, "330106-SCJG");
        assert_eq!(overdue[0].rule_id, "decree310.art5.decide");
        assert!(
            overdue[0]
                .citation
                .contains("国务院令第310号（2020年修订）第5条")
        );
    }
    let listed = referrals
        .list(proto::ListReferralsRequest {
            overdue: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .referrals;
    assert_eq!(listed.len(), 1);
    // Many ticks later, still one alert.
    clock.advance(SignedDuration::from_hours(24));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let overdue: Vec<_> = alerts(&server, "330106-SCJG")
        .await
        .into_iter()
        .filter(|a| a.kind == proto::AlertKind::Overdue as i32)
        .collect();
    assert_eq!(overdue.len(), 1, "fired once, not on every tick");
    // The late step clears it from the overdue list.
    referrals
        .update(step(
            "s-1",
            "330106-SCJG",
            "r-late",
            proto::ReferralAction::Approve,
            "",
            clock_now(&clock),
        ))
        .await
        .unwrap();
    wait_for_state(&server, "r-late", proto::ReferralState::Approved).await;
    let listed = referrals
        .list(proto::ListReferralsRequest {
            overdue: true,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .referrals;
    assert!(listed.is_empty());
    server.stop().await;
}

fn clock_now(clock: &ManualClock) -> jiff::Timestamp {
    xiezhi::domain::Clock::now(clock)
}

fn penalty(
    event_id: &str,
    producer: &str,
    case_number: &str,
    subject: proto::Subject,
    facts: &[(&str, i64)],
    decided: jiff::Timestamp,
) -> proto::PublishOutcomeRequest {
    let mut request = outcome(event_id, producer, subject, None);
    request.produced_at = ts(decided);
    let body = request.outcome.as_mut().unwrap();
    body.case_number = case_number.into();
    body.decided_at = ts(decided);
    body.domain = proto::Domain::MarketRegulation as i32;
    body.facts = facts
        .iter()
        .map(|(n, v)| proto::Fact {
            name: (*n).into(),
            value: *v,
        })
        .collect();
    request
}

async fn a_penalty_instead_of_a_referral_alerts_the_procuratorate(log: Log) {
    let start: jiff::Timestamp = "2025-09-19T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let server = TestServer::start_with_clock(log, |c| c.router.tick_ms = 50, clock.clone()).await;
    let mut publisher = server.publisher();
    // Case A: sales of 60,000 yuan fined, never referred. Case B: same, referred in time.
    publisher
        .publish_outcome(penalty(
            "pen-a",
            "330106-SCJG",
            "案A",
            org(80),
            &[("sales_fen", 6_000_000)],
            start,
        ))
        .await
        .unwrap();
    publisher
        .publish_outcome(penalty(
            "pen-b",
            "330106-SCJG",
            "案B",
            org(81),
            &[("sales_fen", 6_000_000)],
            start,
        ))
        .await
        .unwrap();
    let mut referral = refer("ref-b", "r-b", "案B", start);
    referral.referral.as_mut().unwrap().subject = Some(org(81));
    ReferralsClient::new(server.channel.clone())
        .refer(referral)
        .await
        .unwrap();
    wait_for_state(&server, "r-b", proto::ReferralState::Reported).await;
    // Nothing before the 7-day grace period ends.
    clock.advance(SignedDuration::from_hours(6 * 24));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        alerts(&server, "330106-JCY")
            .await
            .iter()
            .all(|a| a.kind != proto::AlertKind::PenaltyInsteadOfReferral as i32)
    );
    clock.advance(SignedDuration::from_hours(2 * 24));
    let found = wait_for_alert(
        &server,
        "330106-JCY",
        proto::AlertKind::PenaltyInsteadOfReferral,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let found_again: Vec<_> = alerts(&server, "330106-JCY")
        .await
        .into_iter()
        .filter(|a| a.kind == proto::AlertKind::PenaltyInsteadOfReferral as i32)
        .collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found_again.len(), 1, "once, and not for the referred case");
    assert_eq!(found[0].events[0].event_id, "pen-a");
    assert_eq!(found[0].rule_id, "CL-140");
    assert!(
        found[0]
            .facts
            .iter()
            .any(|f| f.name == "sales_fen" && f.value == 6_000_000)
    );
    server.stop().await;
}

async fn duplicate_penalties_and_split_cases_alert_the_coordinators(log: Log) {
    let server = TestServer::start(log).await;
    let mut publisher = server.publisher();
    let now = jiff::Timestamp::now();
    // 多头受罚: the district and the city regulator fine one company for one conduct.
    publisher
        .publish_outcome(penalty(
            "dup-1",
            "330106-SCJG",
            "西湖案1",
            org(90),
            &[("sales_fen", 100_000)],
            now,
        ))
        .await
        .unwrap();
    publisher
        .publish_outcome(penalty(
            "dup-2",
            "330100-SCJG",
            "杭州案1",
            org(90),
            &[("sales_fen", 100_000)],
            now,
        ))
        .await
        .unwrap();
    // 化整为零: three cases of 20,000 yuan each; together 60,000 meets the 50,000 threshold.
    for i in 0..3 {
        publisher
            .publish_outcome(penalty(
                &format!("split-{i}"),
                "330106-SCJG",
                &format!("拆分案{i}"),
                org(91),
                &[("sales_fen", 2_000_000)],
                now,
            ))
            .await
            .unwrap();
    }
    server.wait_for_events(5).await;
    let duplicate = wait_for_alert(&server, "330100-SFJ", proto::AlertKind::DuplicatePenalty).await;
    assert_eq!(duplicate.len(), 1);
    let ids: Vec<&str> = duplicate[0]
        .events
        .iter()
        .map(|e| e.event_id.as_str())
        .collect();
    assert_eq!(ids, ["dup-1", "dup-2"]);
    let split = wait_for_alert(&server, "330100-SFJ", proto::AlertKind::SplitCase).await;
    assert_eq!(
        split.len(),
        1,
        "reported once, when the sum first meets the threshold"
    );
    assert_eq!(split[0].events.len(), 3);
    assert_eq!(
        split[0]
            .facts
            .iter()
            .find(|f| f.name == "sales_fen")
            .unwrap()
            .value,
        6_000_000
    );
    server.stop().await;
}

async fn fines_outside_the_band_alert_and_show_in_the_penalty_report(log: Log) {
    let server = TestServer::start(log).await;
    let mut publisher = server.publisher();
    let now = jiff::Timestamp::now();
    // Goods worth 10,000 yuan, graded 一般: the band is 1–2× the goods value.
    for (i, fine) in [1_000_000i64, 1_500_000, 3_000_000].into_iter().enumerate() {
        let mut request = penalty(
            &format!("band-{i}"),
            "330106-SCJG",
            &format!("裁量案{i}"),
            org(95 + i as u64),
            &[("goods_value_fen", 1_000_000)],
            now,
        );
        let body = request.outcome.as_mut().unwrap();
        body.fine_fen = fine;
        body.severity = proto::Severity::General as i32;
        publisher.publish_outcome(request).await.unwrap();
    }
    server.wait_for_events(3).await;
    let deviations =
        wait_for_alert(&server, "330100-SFJ", proto::AlertKind::DiscretionDeviation).await;
    assert_eq!(deviations.len(), 1);
    assert_eq!(deviations[0].events[0].event_id, "band-2");
    let report = server
        .query()
        .penalty_report(proto::PenaltyReportRequest {
            offence_code: "CL-140".into(),
            division_prefix: "3301".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.agencies.len(), 1);
    let row = &report.agencies[0];
    assert_eq!(
        (
            row.agency.as_str(),
            row.count,
            row.min_fine_fen,
            row.median_fine_fen,
            row.max_fine_fen,
            row.outside_band
        ),
        ("330106-SCJG", 3, 1_000_000, 1_500_000, 3_000_000, 1)
    );
    assert!((row.outside_band_share - 1.0 / 3.0).abs() < 1e-9);
    server.stop().await;
}

crate::on_both_logs!(
    referral_moves_only_by_the_party_whose_turn_it_is,
    transfer_reports_are_validated,
    a_missed_deadline_alerts_once_and_the_referral_is_listed_overdue,
    a_penalty_instead_of_a_referral_alerts_the_procuratorate,
    duplicate_penalties_and_split_cases_alert_the_coordinators,
    fines_outside_the_band_alert_and_show_in_the_penalty_report,
);

crate::on_secure_kafka!(referral_moves_only_by_the_party_whose_turn_it_is);

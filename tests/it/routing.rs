//! A lead reaches exactly its recipients; outcomes flow back; timelines and lists show it all.

use std::collections::BTreeMap;
use std::time::Duration;

use xiezhi::proto;

use crate::support::{
    Log, TestServer, event_of, lead, now, org, outcome, read_until_quiet, subscribe,
};

/// Every agency's deliveries, read concurrently from cursor 0.
async fn all_inboxes(server: &TestServer) -> BTreeMap<String, Vec<proto::Delivery>> {
    let mut tasks = tokio::task::JoinSet::new();
    for agency in server.running().registry().iter() {
        let id = agency.id.to_string();
        let channel = server.channel.clone();
        tasks.spawn(async move {
            let stream = subscribe(&channel, &id, Some(0)).await;
            let got = read_until_quiet(stream, Duration::from_millis(400)).await;
            (id, got)
        });
    }
    let mut out = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (id, got) = joined.unwrap();
        out.insert(id, got);
    }
    out
}

async fn lead_reaches_its_recipients_and_no_one_else(log: Log) {
    let server = TestServer::start(log).await;
    let subject = org(1);
    let mut request = lead("lead-1", subject.clone());
    request.lead.as_mut().unwrap().target_agencies = vec!["330106-GA".into()];
    let ack = server
        .publisher()
        .publish_lead(request)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(ack.event_id, "lead-1");
    assert!(!ack.duplicate && ack.warnings.is_empty());
    server.wait_for_events(1).await;

    let timeline = server.timeline(&subject).await;
    assert_eq!(timeline.len(), 1);
    let stored = &timeline[0];
    assert_eq!(stored.event.as_ref().unwrap().event_id, "lead-1");
    assert_eq!(
        stored.event.as_ref().unwrap().kind,
        proto::EventKind::Lead as i32
    );
    assert_eq!(stored.position, ack.position);
    assert_eq!(stored.delivered_to, ["330106-GA", "330106-SCJG"]);

    let inboxes = all_inboxes(&server).await;
    for (agency, deliveries) in &inboxes {
        let expected = match agency.as_str() {
            "330106-GA" => Some(proto::DeliveryReason::ExplicitTarget),
            "330106-SCJG" => Some(proto::DeliveryReason::ResponsibleAgency),
            _ => None,
        };
        match expected {
            Some(reason) => {
                assert_eq!(deliveries.len(), 1, "{agency}");
                assert_eq!(deliveries[0].cursor, 1);
                assert_eq!(deliveries[0].reason, reason as i32, "{agency}");
                assert_eq!(event_of(&deliveries[0]).event_id, "lead-1");
            }
            None => assert!(deliveries.is_empty(), "{agency} received {deliveries:?}"),
        }
    }
    server.stop().await;
}

async fn outcome_feeds_back_to_the_lead_producer_and_closes_the_lead(log: Log) {
    let server = TestServer::start(log).await;
    let subject = org(2);
    server
        .publisher()
        .publish_lead(lead("lead-2", subject.clone()))
        .await
        .unwrap();
    server
        .publisher()
        .publish_outcome(outcome(
            "out-2",
            "330106-SCJG",
            subject.clone(),
            Some(("330100-STHJ", "lead-2")),
        ))
        .await
        .unwrap();
    server.wait_for_events(2).await;

    let feedback = server
        .drain_inbox("330100-STHJ", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(feedback.len(), 1);
    assert_eq!(
        feedback[0].reason,
        proto::DeliveryReason::LeadFeedback as i32
    );
    assert_eq!(event_of(&feedback[0]).event_id, "out-2");

    let timeline = server.timeline(&subject).await;
    let ids: Vec<_> = timeline
        .iter()
        .map(|e| e.event.as_ref().unwrap().event_id.as_str())
        .collect();
    assert_eq!(ids, ["lead-2", "out-2"], "timeline in log order");

    let leads = server
        .leads(proto::ListLeadsRequest {
            division_prefix: "3301".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].status, proto::LeadStatus::Closed as i32);
    assert_eq!(leads[0].closed_by.as_ref().unwrap().event_id, "out-2");
    server.stop().await;
}

async fn unassigned_lead_goes_to_the_coordinator(log: Log) {
    let server = TestServer::start(log).await;
    let mut request = lead("tax-1", org(3));
    // 330106-RSJ is the only labour agency and it serves 西湖区; a labour lead in 滨江区 has
    // nobody responsible.
    let body = request.lead.as_mut().unwrap();
    body.domain = proto::Domain::LabourSecurity as i32;
    body.division = "330108".into();
    server.publisher().publish_lead(request).await.unwrap();
    server.wait_for_events(1).await;
    let got = server
        .drain_inbox("330100-SFJ", Some(0), Duration::from_millis(300))
        .await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].reason, proto::DeliveryReason::Unassigned as i32);
    let leads = server
        .leads(proto::ListLeadsRequest {
            status: proto::LeadStatus::Unassigned as i32,
            ..Default::default()
        })
        .await;
    assert_eq!(leads.len(), 1);
    server.stop().await;
}

async fn list_leads_filters_and_pages(log: Log) {
    let server = TestServer::start(log).await;
    let mut publisher = server.publisher();
    for i in 0..25u64 {
        let mut request = lead(&format!("l-{i}"), org(100 + i));
        let body = request.lead.as_mut().unwrap();
        if i % 5 == 0 {
            body.division = "330102".into();
        }
        if i % 2 == 0 {
            body.domain = proto::Domain::MarketRegulation as i32;
        }
        publisher.publish_lead(request).await.unwrap();
    }
    server.wait_for_events(25).await;
    let mut query = server.query();

    let in_xihu = query
        .list_leads(proto::ListLeadsRequest {
            division_prefix: "330106".into(),
            page_size: 1000,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(in_xihu.leads.len(), 20);
    assert!(in_xihu.next_page_token.is_empty());

    let market_in_xihu = query
        .list_leads(proto::ListLeadsRequest {
            division_prefix: "330106".into(),
            domain: proto::Domain::MarketRegulation as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Even i in 0..25 not divisible by 5: 2,4,6,8,12,14,16,18,22,24.
    assert_eq!(market_in_xihu.leads.len(), 10);

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = query
            .list_leads(proto::ListLeadsRequest {
                page_size: 7,
                page_token: token,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert!(page.leads.len() <= 7);
        seen.extend(
            page.leads
                .into_iter()
                .map(|l| l.lead.unwrap().event.unwrap().event_id),
        );
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25, "pages cover every lead once");

    let future = query
        .list_leads(proto::ListLeadsRequest {
            produced_from: Some(prost_types::Timestamp {
                seconds: now().seconds + 3600,
                nanos: 0,
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(future.leads.is_empty());

    let err = query
        .list_leads(proto::ListLeadsRequest {
            page_token: "zz".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    assert_eq!(
        crate::support::violations(&err),
        [("page_token".to_owned(), "page_token.invalid".to_owned())]
    );
    server.stop().await;
}

/// Only an agency a lead went to answers it: another district's market regulator is refused,
/// naming the lead and who may answer; the responsible agency closes it.
async fn only_an_agency_the_lead_went_to_may_close_it(log: Log) {
    let server = TestServer::start(log).await;
    let subject = org(41);
    server
        .publisher()
        .publish_lead(lead("rights-lead", subject.clone()))
        .await
        .unwrap();
    server.wait_for_events(1).await;
    let stranger = outcome(
        "rights-x",
        "330102-SCJG",
        subject.clone(),
        Some(("330100-STHJ", "rights-lead")),
    );
    let status = server
        .publisher()
        .publish_outcome(stranger)
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::PermissionDenied, "{status:?}");
    assert!(
        status
            .message()
            .contains("330102-SCJG may not answer lead 330100-STHJ/rights-lead")
            && status.message().contains("330106-SCJG"),
        "{}",
        status.message()
    );
    server
        .publisher()
        .publish_outcome(outcome(
            "rights-ok",
            "330106-SCJG",
            subject,
            Some(("330100-STHJ", "rights-lead")),
        ))
        .await
        .expect("the responsible agency answers");
    server.wait_for_events(2).await;
    let leads = server.leads(proto::ListLeadsRequest::default()).await;
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].status, proto::LeadStatus::Closed as i32);
    assert_eq!(leads[0].closed_by.as_ref().unwrap().event_id, "rights-ok");
    server.stop().await;
}

/// An outcome naming a lead that never arrives is reported to the coordinators once its wait
/// (`alerts.outcome_lead_wait_secs`) is over, not before.
async fn an_answer_to_a_lead_that_never_arrives_is_reported_after_the_wait(log: Log) {
    let clock = std::sync::Arc::new(xiezhi::domain::ManualClock::new(jiff::Timestamp::now()));
    let server = TestServer::start_with_clock(
        log,
        |c| {
            c.router.tick_ms = 50;
            c.alerts.outcome_lead_wait_secs = 120;
        },
        clock.clone(),
    )
    .await;
    server
        .publisher()
        .publish_outcome(outcome(
            "orphan-1",
            "330106-SCJG",
            org(42),
            Some(("330100-STHJ", "ghost-lead")),
        ))
        .await
        .expect("an answer to an unknown lead is accepted");
    server.wait_for_events(1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let early = crate::referrals::alerts(&server, "330100-SFJ").await;
    assert!(
        early
            .iter()
            .all(|a| a.kind != proto::AlertKind::OutcomeWithoutLead as i32),
        "not before the wait: {early:?}"
    );
    clock.advance(jiff::SignedDuration::from_secs(121));
    let alerts = crate::referrals::wait_for_alert(
        &server,
        "330100-SFJ",
        proto::AlertKind::OutcomeWithoutLead,
    )
    .await;
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0]
            .detail
            .contains("330106-SCJG/orphan-1 答复线索 330100-STHJ/ghost-lead"),
        "{}",
        alerts[0].detail
    );
    server.stop().await;
}

crate::on_both_logs!(
    an_answer_to_a_lead_that_never_arrives_is_reported_after_the_wait,
    only_an_agency_the_lead_went_to_may_close_it,
    lead_reaches_its_recipients_and_no_one_else,
    outcome_feeds_back_to_the_lead_producer_and_closes_the_lead,
    unassigned_lead_goes_to_the_coordinator,
    list_leads_filters_and_pages,
);

crate::on_secure_kafka!(
    lead_reaches_its_recipients_and_no_one_else,
    outcome_feeds_back_to_the_lead_producer_and_closes_the_lead,
);

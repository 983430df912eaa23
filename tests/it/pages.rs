//! Console pages over HTTP: the subject file (一企一档) and the leads board, filtered to the
//! viewer's jurisdiction and masked for its role.

use crate::console::get;
use crate::security::{LEVELS, person};
use crate::support::{Log, TestServer, lead, org, outcome};

/// A development broker whose registry has coordinators at every level (security::LEVELS).
pub(crate) async fn server_with_levels() -> (TestServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("registry.toml");
    std::fs::write(
        &file,
        format!("{}\n{LEVELS}", xiezhi::config::SAMPLE_REGISTRY),
    )
    .unwrap();
    let server = TestServer::start_with(Log::Embedded, |config| {
        config.registry.file = file.clone();
    })
    .await;
    (server, dir)
}

#[tokio::test]
async fn the_subject_file_shows_every_agency_within_the_viewers_jurisdiction_masked_by_role() {
    let (server, _dir) = server_with_levels().await;
    let mut publisher = server.publisher();
    publisher
        .publish_lead(lead("file-1", org(5)))
        .await
        .unwrap();
    publisher
        .publish_outcome(outcome(
            "file-2",
            "330106-SCJG",
            org(5),
            Some(("330100-STHJ", "file-1")),
        ))
        .await
        .unwrap();
    publisher
        .publish_lead(lead("file-3", person()))
        .await
        .unwrap();
    // A penalty for it decided a month ago: published late, which raises a 双公示 alert.
    let mut late = outcome("file-4", "330106-SCJG", org(5), None);
    late.outcome.as_mut().unwrap().decided_at = Some(prost_types::Timestamp {
        seconds: jiff::Timestamp::now().as_second() - 30 * 86_400,
        nanos: 0,
    });
    publisher.publish_outcome(late).await.unwrap();
    server.wait_for_events(4).await;
    let http = server.running().http_addr();

    let (status, page) = get(http, &format!("/subject?id={}&as=330106-SFJ", org(5).id)).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("一企一档"));
    assert!(
        page.contains("杭州市生态环境局") && page.contains("西湖区市场监督管理局"),
        "events of both agencies, by name: {page}"
    );
    assert!(page.contains("3 条"), "{page}");
    assert!(
        page.contains("<h2>预警</h2>") && page.contains("公示逾期"),
        "alerts about the subject inline: {page}"
    );

    // Another district's coordinator sees nothing of it.
    let (status, page) = get(http, &format!("/subject?id={}&as=330102-SFJ", org(5).id)).await;
    assert_eq!(status, 200);
    assert!(
        !page.contains("330100-STHJ") && !page.contains("late_disclosure"),
        "{page}"
    );
    assert!(page.contains("没有可显示的记录"));

    // A coordinator sees a person's file masked; a party in full.
    let (_, page) = get(http, &format!("/subject?id={}&as=330106-SFJ", person().id)).await;
    assert!(page.contains("张*") && !page.contains("张三"), "{page}");
    let (_, page) = get(http, &format!("/subject?id={}&as=330100-STHJ", person().id)).await;
    assert!(page.contains("张三"), "{page}");
    // Only the full read is on the audit chain, as the party's.
    let reads: Vec<_> = crate::security::audit_entries(&server)
        .into_iter()
        .filter(|e| e.action == "read console subject")
        .collect();
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0].actor, "330100-STHJ");
    assert!(reads[0].object.ends_with("/file-3"), "{:?}", reads[0]);

    let (status, body) = get(http, "/subject?id=12345&as=330106-SFJ").await;
    assert_eq!(status, 400);
    assert!(body.contains("id: 12345"), "{body}");
    let (status, body) = get(http, &format!("/subject?id={}&as=999999-XX", org(5).id)).await;
    assert_eq!(status, 400);
    assert!(body.contains("not a registered agency"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn the_leads_board_filters_by_division_and_keeps_to_the_viewers_jurisdiction() {
    let (server, _dir) = server_with_levels().await;
    let mut publisher = server.publisher();
    publisher
        .publish_lead(lead("board-1", org(11)))
        .await
        .unwrap();
    let mut elsewhere = lead("board-2", org(12));
    elsewhere.lead.as_mut().unwrap().division = "330102".into();
    publisher.publish_lead(elsewhere).await.unwrap();
    server.wait_for_events(2).await;
    let http = server.running().http_addr();

    let (status, page) = get(http, "/leads?as=330100-SFJ").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&org(11).name) && page.contains(&org(12).name),
        "{page}"
    );
    let (_, page) = get(http, "/leads?as=330100-SFJ&division=330102").await;
    assert!(
        !page.contains(&org(11).name) && page.contains(&org(12).name),
        "{page}"
    );
    let (_, page) = get(http, "/leads?as=330100-SFJ&status=closed").await;
    assert!(page.contains("共 0 条"), "{page}");
    for (query, rows) in [
        ("domain=food_drug", 2),
        ("domain=tax", 0),
        ("agency=330100-STHJ", 2),
        ("agency=330106-SCJG", 0),
        ("from=2000-01-01", 2),
        ("to=2000-01-01", 0),
    ] {
        let (status, page) = get(http, &format!("/leads?as=330100-SFJ&{query}")).await;
        assert_eq!(status, 200, "{query}: {page}");
        assert!(page.contains(&format!("共 {rows} 条")), "{query}: {page}");
    }
    for (query, field) in [
        ("domain=bogus", "domain: bogus"),
        ("from=yesterday", "from: yesterday"),
    ] {
        let (status, body) = get(http, &format!("/leads?as=330100-SFJ&{query}")).await;
        assert_eq!(status, 400, "{query}");
        assert!(body.contains(field), "{body}");
    }

    // The county coordinator sees its county only, and may not widen the view.
    let (_, page) = get(http, "/leads?as=330106-SFJ").await;
    assert!(
        page.contains(&org(11).name) && !page.contains(&org(12).name),
        "{page}"
    );
    let (status, body) = get(http, "/leads?as=330106-SFJ&division=3301").await;
    assert_eq!(status, 403, "{body}");
    // Police do not survey leads.
    let (status, _) = get(http, "/leads?as=330106-GA").await;
    assert_eq!(status, 403);
    let (status, body) = get(http, "/leads?as=330100-SFJ&status=maybe").await;
    assert_eq!(status, 400);
    assert!(body.contains("status: maybe"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn without_development_mode_the_pages_are_refused() {
    let server = TestServer::start_tls("", |_| {}).await;
    let (status, body) = get(server.running().http_addr(), "/leads?as=330100-SFJ").await;
    assert_eq!(status, 403);
    assert!(
        body.contains("client certificate") && body.contains("https://"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_overview_counts_the_jurisdiction_charts_its_days_and_lists_alerts() {
    let (server, _dir) = server_with_levels().await;
    let mut publisher = server.publisher();
    publisher.publish_lead(lead("ov-1", org(21))).await.unwrap();
    publisher.publish_lead(lead("ov-2", org(22))).await.unwrap();
    let mut late = outcome("ov-3", "330106-SCJG", org(23), None);
    late.outcome.as_mut().unwrap().decided_at = Some(prost_types::Timestamp {
        seconds: jiff::Timestamp::now().as_second() - 30 * 86_400,
        nanos: 0,
    });
    publisher.publish_outcome(late).await.unwrap();
    server.wait_for_events(3).await;
    let http = server.running().http_addr();

    let (status, page) = get(http, "/?as=330100-SFJ").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("执法协同总览"));
    assert!(page.contains(&card(2, "线索 · 办理中")), "{page}");
    assert!(page.contains(&card(1, "处理结果（30日）")), "{page}");
    assert!(
        page.contains("data-chart=") && page.contains("食品药品"),
        "{page}"
    );
    assert!(
        page.contains("按机关") && page.contains("330100-STHJ"),
        "the per-agency chart names its agencies: {page}"
    );
    assert!(
        page.contains("公示逾期") && !page.contains("late_disclosure"),
        "the 双公示 alert is listed: {page}"
    );
    assert!(page.contains("第四十八条"));

    // Another district sees none of it; police get no overview.
    let (_, page) = get(http, "/?as=330102-SFJ").await;
    assert!(
        page.contains(&card(0, "线索 · 办理中")) && !page.contains("公示逾期"),
        "{page}"
    );
    let (status, _) = get(http, "/?as=330106-GA").await;
    assert_eq!(status, 403);
    server.stop().await;
}

/// The referral pipeline shows each referral in its state's column with the time left, red
/// once overdue; the alerts page lists the overdue alert with its rule; the penalty report
/// compares agencies.
#[tokio::test]
async fn the_referral_pipeline_marks_overdue_cases_and_the_alerts_page_lists_them() {
    use std::sync::Arc;

    use xiezhi::domain::ManualClock;
    use xiezhi::proto::referrals_client::ReferralsClient;

    let start: jiff::Timestamp = "2025-09-19T02:00:00Z".parse().unwrap();
    let clock = Arc::new(ManualClock::new(start));
    let server =
        TestServer::start_with_clock(Log::Embedded, |c| c.router.tick_ms = 50, clock.clone()).await;
    ReferralsClient::new(server.channel.clone())
        .refer(crate::referrals::refer(
            "pipe-1",
            "r-pipe",
            "杭西市监案〔2025〕7号",
            start,
        ))
        .await
        .unwrap();
    crate::referrals::wait_for_state(&server, "r-pipe", xiezhi::proto::ReferralState::Reported)
        .await;
    let http = server.running().http_addr();
    let (status, page) = get(http, "/referrals?as=330100-SFJ").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("已报告") && !page.contains("Reported") && page.contains("r-pipe"),
        "{page}"
    );
    assert!(
        page.contains("剩余") && !page.contains("deadline overdue"),
        "{page}"
    );

    clock.advance(jiff::SignedDuration::from_hours(4 * 24));
    crate::referrals::wait_for_alert(&server, "330100-SFJ", xiezhi::proto::AlertKind::Overdue)
        .await;
    let (_, page) = get(http, "/referrals?as=330100-SFJ").await;
    assert!(
        page.contains("deadline overdue") && page.contains("逾期"),
        "{page}"
    );
    assert!(
        page.contains("330106-SCJG"),
        "the party it waits on: {page}"
    );

    let (status, page) = get(http, "/alerts?as=330100-SFJ").await;
    assert_eq!(status, 200);
    assert!(
        page.contains(">逾期<")
            && !page.contains(">overdue<")
            && page.contains("国务院令第310号（2020年修订）第5条"),
        "{page}"
    );
    let (status, _) = get(http, "/alerts?as=330106-GA").await;
    assert_eq!(status, 403);

    let (status, page) = get(http, "/penalties?as=330100-SFJ&offence=CL-140").await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("处罚一致性"));
    let (status, body) = get(http, "/penalties?as=330100-SFJ&offence=bad%20code").await;
    assert_eq!(status, 400, "{body}");
    server.stop().await;
}

/// GET `path` over HTTPS on the gateway's TLS listener, with `channel`'s client certificate.
pub async fn https_get(channel: tonic::transport::Channel, path: &str) -> (u16, String) {
    use http_body_util::BodyExt as _;
    use tower::ServiceExt as _;
    let request = http::Request::get(format!("https://127.0.0.1{path}"))
        .body(tonic::body::Body::empty())
        .unwrap();
    let response = channel.oneshot(request).await.expect("HTTPS request");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// In production the console is on the gateway's TLS listener and the viewer is the agency
/// its client certificate names: jurisdiction follows the certificate, `?as=` cannot change it,
/// and the plain HTTP port serves no pages.
#[tokio::test]
async fn over_tls_the_viewer_is_the_agency_of_the_client_certificate() {
    let server = TestServer::start_tls(LEVELS, |_| {}).await;
    let mut publisher = xiezhi::proto::publisher_client::PublisherClient::new(
        server.channel_as("330100-STHJ").await,
    );
    let mut here = lead("tls-1", org(51));
    here.producer.clear();
    publisher.publish_lead(here).await.unwrap();
    let mut there = lead("tls-2", org(52));
    there.producer.clear();
    there.lead.as_mut().unwrap().division = "330102".into();
    publisher.publish_lead(there).await.unwrap();
    server.wait_for_events(2).await;

    let county = server.channel_as("330106-SFJ").await;
    let (status, page) = https_get(county.clone(), "/leads").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains(&org(51).name) && !page.contains(&org(52).name),
        "{page}"
    );
    let (status, body) = https_get(county, "/leads?as=330100-SFJ").await;
    assert_eq!(status, 403);
    assert!(
        body.contains("330106-SFJ may not view as 330100-SFJ"),
        "{body}"
    );
    let (status, page) = https_get(server.channel_as("330100-SFJ").await, "/").await;
    assert_eq!(status, 200);
    assert!(page.contains(&card(2, "线索 · 办理中")), "{page}");
    // gRPC still works beside the pages on the same listener (the publishes above), and the
    // plain HTTP port keeps to operations and the public feed.
    let (status, _) = get(server.running().http_addr(), "/leads").await;
    assert_eq!(status, 403);
    let (status, _) = get(server.running().http_addr(), "/healthz").await;
    assert_eq!(status, 200);
    server.stop().await;
}

/// An overview card as the page renders it: its number, then its label.
fn card(n: i64, label: &str) -> String {
    format!("<div class=\"n\">{n}</div><div class=\"l\">{label}</div>")
}

//! The console's statistics, exports, referral file and assets over HTTP: counts from the
//! router's counters for the viewer's jurisdiction only, exports with the page's rows, the
//! referral file for its parties and supervisors only.

use xiezhi::proto::referrals_client::ReferralsClient;

use crate::console::get;
use crate::pages::server_with_levels;
use crate::support::{lead, org, outcome};

#[tokio::test]
async fn statistics_count_the_jurisdiction_and_refuse_others() {
    let (server, _dir) = server_with_levels().await;
    let mut publisher = server.publisher();
    publisher.publish_lead(lead("st-1", org(71))).await.unwrap();
    publisher
        .publish_outcome(outcome(
            "st-2",
            "330106-SCJG",
            org(71),
            Some(("330100-STHJ", "st-1")),
        ))
        .await
        .unwrap();
    server.wait_for_events(2).await;
    let http = server.running().http_addr();

    let (status, page) = get(http, "/stats?as=330100-SFJ").await;
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("统计分析") && page.contains("反馈及时率"),
        "{page}"
    );
    // The city coordinator sees the lead received and answered on time, and a total row.
    assert!(page.contains("合计"), "{page}");
    assert!(page.contains("100.0%"), "answered in time: {page}");
    // Another district's coordinator sees none of it; police get no statistics.
    let (status, page) = get(http, "/stats?as=330102-SFJ").await;
    assert_eq!(status, 200);
    assert!(page.contains("共 0 条"), "{page}");
    let (status, _) = get(http, "/stats?as=330106-GA").await;
    assert_eq!(status, 403);
    let (status, body) = get(http, "/stats?as=330100-SFJ&month=2026-13").await;
    assert_eq!(status, 400);
    assert!(body.contains("month: 2026-13"), "{body}");

    // The export holds the page's rows.
    let (status, csv) = get(http, "/stats?as=330100-SFJ&format=csv").await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("\u{feff}机关,接收线索"), "{csv}");
    assert!(csv.contains("合计"), "{csv}");
    let (status, csv) = get(http, "/leads?as=330100-SFJ&format=csv").await;
    assert_eq!(status, 200);
    assert!(csv.contains(&org(71).name), "{csv}");
    // The 案卷评查 report exports too; police get neither.
    let (status, csv) = get(http, "/procedure?as=330100-SFJ&format=csv").await;
    assert_eq!(status, 200);
    assert!(csv.starts_with("\u{feff}机关,月份,决定"), "{csv}");
    let (status, _) = get(http, "/procedure?as=330106-GA&format=csv").await;
    assert_eq!(status, 403);
    server.stop().await;
}

#[tokio::test]
async fn the_referral_file_is_for_its_parties_and_supervisors() {
    let (server, _dir) = server_with_levels().await;
    ReferralsClient::new(server.channel.clone())
        .refer(crate::referrals::refer(
            "rf-1",
            "r-file",
            "杭西市监案〔2026〕9号",
            jiff::Timestamp::now(),
        ))
        .await
        .unwrap();
    crate::referrals::wait_for_state(&server, "r-file", xiezhi::proto::ReferralState::Reported)
        .await;
    let http = server.running().http_addr();
    let path = "/referrals/file?key=330106-SCJG/r-file";
    for viewer in ["330100-SFJ", "330106-SCJG", "330106-JCY"] {
        let (status, page) = get(http, &format!("{path}&as={viewer}")).await;
        assert_eq!(status, 200, "{viewer}: {page}");
        assert!(
            page.contains("杭西市监案〔2026〕9号") && page.contains("已报告"),
            "{page}"
        );
        assert!(
            page.contains("办理经过") && page.contains("SHA-256"),
            "{page}"
        );
    }
    let (status, body) = get(http, &format!("{path}&as=330102-SFJ")).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = get(http, "/referrals/file?key=nonsense&as=330100-SFJ").await;
    assert_eq!(status, 400);
    assert!(body.contains("key: nonsense"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn assets_are_served_from_the_binary_under_hashed_names() {
    let (server, _dir) = server_with_levels().await;
    let http = server.running().http_addr();
    let (_, page) = get(http, "/?as=330100-SFJ").await;
    let css = page
        .split("href=\"/assets/")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page links its stylesheet");
    assert!(
        css.starts_with("console.") && css.ends_with(".css"),
        "{css}"
    );
    let (status, body) = get(http, &format!("/assets/{css}")).await;
    assert_eq!(status, 200);
    assert!(body.contains("@media print"), "{body}");
    let (status, licence) = get(http, "/assets/echarts-LICENSE.txt").await;
    assert_eq!(status, 200);
    assert!(licence.contains("Apache License"), "{licence}");
    let (status, _) = get(http, "/assets/echarts.js").await;
    assert_eq!(status, 404);
    server.stop().await;
}

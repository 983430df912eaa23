//! 扫码入企 from outside: the public verification page shows a registered inspection without
//! personal data, refuses unknown codes and says when a plan was cancelled; another district's
//! agency sees neither plans nor codes; a complaint from the page reaches the coordinator's
//! inbox (and not the agency complained about), five an hour per address.

use std::time::Duration;

use xiezhi::proto;
use xiezhi::proto::publish_inspection_request::Body;

use crate::console::get;
use crate::inspections::{
    HOLDER_ID, SCJG, SFJ, as_agency, certificate, client, plan, publish, record, start,
};
use crate::support::{Log, alert_of, event_of, org};

/// The verification code of enterprise `n`'s first plan this year, read as `reader` (the
/// planning agency or, with `None`, the operator).
async fn code_of(server: &crate::support::TestServer, reader: Option<&str>, n: u64) -> String {
    let request = proto::ListInspectionsRequest {
        enterprise: org(n).id,
        year: 2026,
    };
    let request = match reader {
        Some(agency) => as_agency(agency, request),
        None => tonic::Request::new(request),
    };
    let year = client(server)
        .list_inspections(request)
        .await
        .unwrap()
        .into_inner();
    year.inspections[0]
        .plan
        .as_ref()
        .unwrap()
        .verify_code
        .clone()
}

async fn the_verify_page_shows_a_registered_inspection_without_personal_data(log: Log) {
    let server = start(log).await;
    publish(&server, "c-1", SFJ, certificate("ZJ-0001")).await;
    publish(&server, "c-2", SFJ, certificate("ZJ-0002")).await;
    publish(
        &server,
        "p-1",
        SCJG,
        plan("scjg-1", 3, &["SCJG-SP-01"], "2026-11-10", "2026-11-20"),
    )
    .await;
    publish(
        &server,
        "r-1",
        SCJG,
        record("scjg-1", 3, &["ZJ-0001", "ZJ-0002"]),
    )
    .await;
    let code = code_of(&server, Some(SCJG), 3).await;
    assert_eq!(code.len(), 20);
    let http = server.running().http_addr();
    let (status, page) = get(http, &format!("/verify/{code}")).await;
    assert_eq!(status, 200, "{page}");
    for shown in [
        "西湖区市场监督管理局",
        "SCJG-SP-01",
        "食品安全法",
        "ZJ-0001",
        "张*",
        "已实施",
        "2026-11-10",
    ] {
        assert!(page.contains(shown), "{shown} missing: {page}");
    }
    assert!(
        !page.contains("张三") && !page.contains(HOLDER_ID),
        "personal data on a public page"
    );
    let (status, page) = get(http, "/verify/23456789ABCDEFGHJKLM").await;
    assert_eq!(status, 404);
    assert!(page.contains("未查到此检查"), "{page}");
    let (status, _) = get(http, "/verify/%3Cscript%3E").await;
    assert_eq!(status, 404);
    // A cancelled plan's code says so.
    publish(
        &server,
        "p-2",
        SCJG,
        plan("scjg-2", 4, &["SCJG-SP-01"], "2026-12-10", "2026-12-11"),
    )
    .await;
    let cancel = Body::Cancel(proto::InspectionCancel {
        plan_id: "scjg-2".into(),
        enterprise: org(4).id,
        reason: "企业已停业".into(),
    });
    publish(&server, "x-2", SCJG, cancel).await;
    let code = code_of(&server, None, 4).await;
    let (status, page) = get(http, &format!("/verify/{code}")).await;
    assert_eq!(status, 200);
    assert!(page.contains("已取消"), "{page}");
    // Another district's agency does not see the plans (nor their codes).
    let other = client(&server)
        .list_inspections(as_agency(
            "330102-SCJG",
            proto::ListInspectionsRequest {
                enterprise: org(4).id,
                year: 2026,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(other.inspections.is_empty());
    server.stop().await;
}

/// Posts the complaint form; the status and body.
async fn complain(http: std::net::SocketAddr, code: &str, text: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let body = format!(
        "text={}",
        text.bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>()
    );
    let mut stream = tokio::net::TcpStream::connect(http).await.unwrap();
    let request = format!(
        "POST /verify/{code}/complaint HTTP/1.1\r\nHost: {http}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn a_complaint_from_the_page_reaches_the_coordinators_inbox(log: Log) {
    let server = start(log).await;
    publish(
        &server,
        "p-1",
        SCJG,
        plan("scjg-1", 5, &["SCJG-SP-01"], "2026-11-10", "2026-11-20"),
    )
    .await;
    let code = code_of(&server, None, 5).await;
    let http = server.running().http_addr();
    let (status, page) = complain(http, &code, "检查人员未出示执法证").await;
    assert_eq!(status, 200, "{page}");
    let delivered = server
        .drain_inbox(SFJ, Some(0), Duration::from_millis(1_500))
        .await;
    let complaint = delivered
        .iter()
        .filter(|d| alert_of(d).is_none())
        .map(event_of)
        .find(|e| e.event_id.starts_with("complaint-"))
        .expect("the complaint in the coordinator's inbox");
    let Some(proto::envelope::Payload::Lead(lead)) = &complaint.payload else {
        panic!("{complaint:?}");
    };
    assert_eq!(lead.offence_code, "INSPECTION-COMPLAINT");
    assert!(lead.summary.contains("检查人员未出示执法证") && lead.summary.contains("scjg-1"));
    let at_agency = server
        .drain_inbox(SCJG, Some(0), Duration::from_millis(500))
        .await;
    assert!(
        at_agency
            .iter()
            .all(|d| alert_of(d).is_some() || !event_of(d).event_id.starts_with("complaint-")),
        "the agency complained about does not receive it"
    );
    // Five an hour from one address; the sixth is refused.
    for _ in 0..4 {
        assert_eq!(complain(http, &code, "再次投诉").await.0, 200);
    }
    let (status, page) = complain(http, &code, "第六次").await;
    assert_eq!(status, 429, "{page}");
    assert_eq!(complain(http, &code, "").await.0, 400);
    server.stop().await;
}

crate::on_both_logs!(
    the_verify_page_shows_a_registered_inspection_without_personal_data,
    a_complaint_from_the_page_reaches_the_coordinators_inbox,
);

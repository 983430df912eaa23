//! 执法监督 through the API: a penalty decision's procedure checked as it arrives — faults
//! reach the coordinators of the agency's division and no one else, an outcome without a record
//! is accepted and counted as not recorded — and the 案卷评查 report's figures for a known set.

use std::time::Duration;

use jiff::ToSpan as _;
use xiezhi::proto;
use xiezhi::proto::query_client::QueryClient;

use crate::inspections::{SCJG, SFJ, certificate, publish, start};
use crate::support::{Log, TestServer, alert_of, org, outcome};

const NINGBO: &str = "330200-SFJ";

fn today() -> jiff::civil::Date {
    xiezhi::domain::calendar::CHINA
        .to_datetime(jiff::Timestamp::now())
        .date()
}

/// A complete, faultless record of a decision made today for a fine of 12万 yuan (a hearing
/// kind for an organisation, and over the review line).
pub(crate) fn clean() -> proto::Procedure {
    let day = |n: i64| today().saturating_sub(n.days()).to_string();
    proto::Procedure {
        filed_on: day(30),
        violation_on: day(40),
        officers: vec!["ZJ-0001".into(), "ZJ-0002".into()],
        notified_on: day(10),
        proposed_fine_fen: Some(12_000_000),
        hearing_offered: true,
        review: Some(proto::LegalReview {
            reviewer: "西湖区市场监管局法制科".into(),
            reviewed_on: day(2),
            passed: true,
        }),
        party_present: true,
        ..Default::default()
    }
}

pub(crate) async fn decide(
    server: &TestServer,
    event_id: &str,
    n: u64,
    procedure: Option<proto::Procedure>,
) {
    let mut request = outcome(event_id, SCJG, org(n), None);
    request.outcome.as_mut().unwrap().procedure = procedure;
    server
        .publisher()
        .publish_outcome(request)
        .await
        .unwrap_or_else(|s| panic!("{event_id}: {s:?}"));
}

async fn procedure_alerts(server: &TestServer, agency: &str) -> Vec<String> {
    server
        .drain_inbox(agency, Some(0), Duration::from_millis(800))
        .await
        .iter()
        .filter_map(alert_of)
        .filter(|a| a.kind == proto::AlertKind::ProcedureIrregular as i32)
        .map(|a| a.rule_id.clone())
        .collect()
}

pub(crate) async fn certified(server: &TestServer) {
    publish(server, "c-1", SFJ, certificate("ZJ-0001")).await;
    publish(server, "c-2", SFJ, certificate("ZJ-0002")).await;
}

async fn faults_reach_the_coordinators_of_the_agencys_division_only(log: Log) {
    let server = start(log).await;
    certified(&server).await;
    let mut no_notice = clean();
    no_notice.notified_on.clear();
    decide(&server, "o-1", 11, Some(no_notice)).await;
    server.wait_for_events(3).await;
    assert_eq!(
        procedure_alerts(&server, SFJ).await,
        ["procedure.art44_notice"]
    );
    assert!(procedure_alerts(&server, NINGBO).await.is_empty());
    assert!(procedure_alerts(&server, SCJG).await.is_empty());
    let alert = server
        .drain_inbox(SFJ, Some(0), Duration::from_millis(300))
        .await
        .iter()
        .filter_map(alert_of)
        .find(|a| a.rule_id == "procedure.art44_notice")
        .cloned()
        .unwrap();
    assert!(
        alert.citation.contains("第44条") && alert.citation.contains("2021-07-15"),
        "{alert:?}"
    );
    assert!(
        alert.detail.contains("杭西市监罚〔2026〕101号"),
        "the case is the evidence: {alert:?}"
    );
    server.stop().await;
}

async fn the_report_counts_a_known_set_and_outcomes_without_a_record(log: Log) {
    let server = start(log).await;
    certified(&server).await;
    // Not recorded (an older client): accepted, counted, no alert.
    decide(&server, "o-1", 21, None).await;
    // Complete and clean.
    decide(&server, "o-2", 22, Some(clean())).await;
    // Complete, but the hearing rights were not told (Art. 63).
    let mut no_hearing = clean();
    no_hearing.hearing_offered = false;
    decide(&server, "o-3", 23, Some(no_hearing)).await;
    // Incomplete: the party was absent and no service is recorded (Art. 61).
    let mut unserved = clean();
    unserved.party_present = false;
    decide(&server, "o-4", 24, Some(unserved)).await;
    server.wait_for_events(6).await;
    let mut alerts = procedure_alerts(&server, SFJ).await;
    alerts.sort();
    assert_eq!(
        alerts,
        ["procedure.art61_service", "procedure.art63_hearing"]
    );
    let report = QueryClient::new(server.channel.clone())
        .procedure_report(proto::ProcedureReportRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.scores.len(), 1, "{report:?}");
    let score = &report.scores[0];
    assert_eq!(score.agency, SCJG);
    assert_eq!(
        score.month,
        format!("{}-{:02}", today().year(), today().month())
    );
    assert_eq!(
        (
            score.decisions,
            score.recorded,
            score.complete,
            score.passing
        ),
        (4, 3, 2, 1)
    );
    assert_eq!((score.complete_pct, score.passing_pct), (50, 25));
    let clustering = &report.clustering[0];
    assert_eq!(
        (clustering.agency.as_str(), clustering.decisions),
        (SCJG, 4)
    );
    assert_eq!(clustering.total_fen, 4 * 12_000_000);
    assert!(!clustering.flagged, "four decisions are too few to flag");
    // A district agency may not read the city's report.
    let mut request = tonic::Request::new(proto::ProcedureReportRequest::default());
    request
        .metadata_mut()
        .insert("x-xiezhi-agency", SCJG.parse().unwrap());
    let refused = QueryClient::new(server.channel.clone())
        .procedure_report(request)
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied);
    server.stop().await;
}

crate::on_both_logs!(
    faults_reach_the_coordinators_of_the_agencys_division_only,
    the_report_counts_a_known_set_and_outcomes_without_a_record,
);

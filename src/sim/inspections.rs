//! The demo's inspections (涉企行政检查), so the console's page has data: the city's 司法局
//! publishes its officers' certificates (one of them revoked), two agencies plan visits to one
//! enterprise in the same fortnight (a joint inspection, which both accept), an inspection is
//! recorded with an unknown certificate, and a district agency plans outside its territory
//! an item it has not published.

use jiff::ToSpan as _;
use tonic::transport::Channel;

use super::client::ClientError;
use crate::codec::to_proto::ts;
use crate::domain::calendar::CHINA;
use crate::domain::{AgencyKind, Registry, Uscc};
use crate::proto;
use crate::proto::inspections_client::InspectionsClient;
use crate::proto::publish_inspection_request::Body;

const COORDINATOR: &str = "330100-SFJ";

fn enterprise(n: u64, name: &str) -> proto::Subject {
    let body = format!("91330106{n:09}");
    let check = Uscc::check_char(&body)
        .map(String::from)
        .unwrap_or_default();
    proto::Subject {
        kind: proto::SubjectKind::Organization as i32,
        id: format!("{body}{check}"),
        name: name.into(),
    }
}

fn certificate(number: &str, agency: &str, domain: i32, revoked: bool) -> Body {
    Body::Certificate(proto::Certificate {
        number: number.into(),
        holder: Some(proto::Subject {
            kind: proto::SubjectKind::Person as i32,
            id: "11010519491231002X".into(),
            name: "张执法".into(),
        }),
        agency: agency.into(),
        domains: vec![domain],
        valid_from: "2025-01-01".into(),
        valid_until: "2028-12-31".into(),
        revoked,
        revoked_reason: if revoked {
            "调离执法岗位".into()
        } else {
            String::new()
        },
    })
}

fn plan(
    id: &str,
    who: &proto::Subject,
    items: &[&str],
    from: jiff::civil::Date,
    days: i64,
) -> Body {
    Body::Plan(proto::InspectionPlan {
        plan_id: id.into(),
        enterprise: Some(who.clone()),
        division: "330106".into(),
        items: items.iter().map(|s| (*s).into()).collect(),
        window_start: from.to_string(),
        window_end: from.saturating_add(days.days()).to_string(),
        reason: proto::InspectionReason::Random as i32,
        ..Default::default()
    })
}

/// Publishes the demo's inspections, and two officers' certificates for every administrative
/// agency of `registry` (`super::procedure::officers`); `run` makes the ids unique to this run.
pub async fn seed(channel: Channel, run: &str, registry: &Registry) -> Result<(), ClientError> {
    let mut client = InspectionsClient::new(channel);
    let today = CHINA.to_datetime(jiff::Timestamp::now()).date();
    let a = enterprise(880_001, "杭州示范食品有限公司");
    let b = enterprise(880_002, "杭州示范化工有限公司");
    let mut steps: Vec<(&str, Body)> = Vec::new();
    for agency in registry
        .iter()
        .filter(|a| a.kind == AgencyKind::Administrative)
    {
        let domain = agency
            .domains
            .first()
            .map_or(proto::Domain::MarketRegulation as i32, |d| {
                crate::codec::tables::number(&crate::codec::tables::DOMAINS, *d)
            });
        for number in super::procedure::officers(agency.id.as_str()) {
            steps.push((
                COORDINATOR,
                certificate(&number, agency.id.as_str(), domain, false),
            ));
        }
    }
    steps.extend([
        (
            COORDINATOR,
            certificate(
                "ZJ-SCJG-0001",
                "330106-SCJG",
                proto::Domain::MarketRegulation as i32,
                false,
            ),
        ),
        (
            COORDINATOR,
            certificate(
                "ZJ-SCJG-0002",
                "330106-SCJG",
                proto::Domain::MarketRegulation as i32,
                false,
            ),
        ),
        (
            COORDINATOR,
            certificate(
                "ZJ-STHJ-0001",
                "330100-STHJ",
                proto::Domain::EcologyEnvironment as i32,
                false,
            ),
        ),
        (
            COORDINATOR,
            certificate(
                "ZJ-STHJ-0002",
                "330100-STHJ",
                proto::Domain::EcologyEnvironment as i32,
                true,
            ),
        ),
        (
            "330106-SCJG",
            plan(
                &format!("{run}-scjg-a"),
                &a,
                &["SCJG-SP-01"],
                today.saturating_add(3.days()),
                7,
            ),
        ),
        (
            "330100-STHJ",
            plan(
                &format!("{run}-sthj-a"),
                &a,
                &["STHJ-PW-01", "STHJ-GF-01"],
                today.saturating_add(5.days()),
                7,
            ),
        ),
        (
            "330106-SCJG",
            Body::JointAnswer(proto::JointAnswer {
                plan_id: format!("{run}-scjg-a"),
                enterprise: a.id.clone(),
                accept: true,
                reason: String::new(),
            }),
        ),
        (
            "330100-STHJ",
            Body::JointAnswer(proto::JointAnswer {
                plan_id: format!("{run}-sthj-a"),
                enterprise: a.id.clone(),
                accept: true,
                reason: String::new(),
            }),
        ),
        (
            "330106-SCJG",
            plan(
                &format!("{run}-scjg-b"),
                &b,
                &["SCJG-TS-01"],
                today.saturating_sub(4.days()),
                4,
            ),
        ),
        (
            "330106-SCJG",
            Body::Record(proto::InspectionRecord {
                plan_id: format!("{run}-scjg-b"),
                enterprise: b.id.clone(),
                date: today.to_string(),
                inspectors: vec!["ZJ-SCJG-0001".into(), "ZJ-SCJG-0099".into()],
                items: vec!["SCJG-TS-01".into()],
                result: proto::InspectionResult::NoFinding as i32,
                ..Default::default()
            }),
        ),
        (
            "330102-YJGL",
            plan(
                &format!("{run}-yjgl-b"),
                &b,
                &["YJGL-AQ-01", "YJGL-XX-09"],
                today.saturating_add(20.days()),
                2,
            ),
        ),
    ]);
    for (n, (producer, body)) in steps.into_iter().enumerate() {
        let ack = client
            .publish(proto::PublishInspectionRequest {
                event_id: format!("demo-{run}-inspect-{n:02}"),
                producer: producer.into(),
                produced_at: Some(ts(jiff::Timestamp::now())),
                body: Some(body),
            })
            .await?
            .into_inner();
        println!(
            "inspect  {producer:<12} #{n:<2} {}",
            if ack.warnings.is_empty() {
                "ok".to_owned()
            } else {
                ack.warnings.join("; ")
            }
        );
    }
    Ok(())
}

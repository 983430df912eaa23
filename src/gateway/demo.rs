//! `xiezhi demo`: simulated agencies of one city talking to a running gateway over gRPC, the way
//! real agency systems would. Administrative agencies and police publish leads at a steady rate;
//! every agency subscribes to its inbox; an agency that receives a lead it is responsible for
//! answers it with a case outcome, which flows back to the lead's producer (线索反馈). Each step
//! is printed as it happens.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::client::ClientError;
use super::convert::{domain_to_proto, ts};
use crate::domain::{Agency, AgencyKind, Domain, Registry, ResidentId, Uscc};
use crate::proto;
use crate::proto::publisher_client::PublisherClient;

/// Counts of what the demo did.
#[derive(Debug, Default)]
pub struct DemoStats {
    /// Leads published.
    pub leads: AtomicU64,
    /// Outcomes published.
    pub outcomes: AtomicU64,
    /// Deliveries received by all agencies.
    pub deliveries: AtomicU64,
}

/// A small deterministic generator (xorshift64*): the demo needs variety, not cryptography.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A kind of case the simulated agencies find: domain, offence, what was found, one fact.
struct Scenario {
    domain: Domain,
    offence: &'static str,
    summary: &'static str,
    fact: &'static str,
    /// Fact value range (low, high).
    range: (i64, i64),
}

const SCENARIOS: [Scenario; 8] = [
    Scenario {
        domain: Domain::FoodDrug,
        offence: "CL-143",
        summary: "抽检发现熟食制品中亚硝酸盐严重超标",
        fact: "sales_fen",
        range: (500_000, 20_000_000),
    },
    Scenario {
        domain: Domain::EcologyEnvironment,
        offence: "CL-338",
        summary: "夜间通过暗管排放含铅废水，疑似逃避监管",
        fact: "hazardous_waste_kg",
        range: (200, 6_000),
    },
    Scenario {
        domain: Domain::WorkSafety,
        offence: "CL-134",
        summary: "有限空间作业未审批，发生一般生产安全事故",
        fact: "direct_loss_fen",
        range: (1_000_000, 150_000_000),
    },
    Scenario {
        domain: Domain::LabourSecurity,
        offence: "CL-276-1",
        summary: "拖欠农民工工资，经责令支付后仍未支付",
        fact: "unpaid_wages_fen",
        range: (1_000_000, 40_000_000),
    },
    Scenario {
        domain: Domain::MarketRegulation,
        offence: "CL-213",
        summary: "销售假冒注册商标的运动鞋",
        fact: "sales_fen",
        range: (800_000, 30_000_000),
    },
    Scenario {
        domain: Domain::Tax,
        offence: "CL-201",
        summary: "隐匿收入、虚假申报，疑似逃避缴纳税款",
        fact: "evaded_tax_fen",
        range: (2_000_000, 90_000_000),
    },
    Scenario {
        domain: Domain::NaturalResources,
        offence: "CL-342",
        summary: "未经批准占用耕地建设厂房",
        fact: "arable_land_mu_x100",
        range: (150, 2_500),
    },
    Scenario {
        domain: Domain::FoodDrug,
        offence: "CL-141",
        summary: "网络销售未经批准进口的药品",
        fact: "sales_fen",
        range: (100_000, 5_000_000),
    },
];

const ORG_NAMES: [&str; 10] = [
    "杭州某某食品有限公司",
    "杭州某某化工有限公司",
    "杭州某某建筑劳务有限公司",
    "杭州某某鞋业商行",
    "杭州某某贸易有限公司",
    "杭州某某餐饮管理有限公司",
    "杭州某某电子科技有限公司",
    "杭州某某药房",
    "杭州某某物流有限公司",
    "杭州某某农业开发有限公司",
];
const PERSON_NAMES: [&str; 4] = ["张某", "李某", "王某", "陈某"];

/// A subject pool: organisations with valid credit codes in the city's districts, some persons.
fn subjects(rng: &mut Rng, divisions: &[String]) -> Vec<proto::Subject> {
    let mut out = Vec::new();
    for (i, name) in ORG_NAMES.iter().enumerate() {
        let division = &divisions[i % divisions.len()];
        let body = format!("91{division}{:09}", rng.next() % 1_000_000_000);
        // The body is 17 characters of digits: a check character always exists.
        let check = Uscc::check_char(&body).expect("17 digits have a check character");
        out.push(proto::Subject {
            kind: proto::SubjectKind::Organization as i32,
            id: format!("{body}{check}"),
            name: (*name).to_owned(),
        });
    }
    for name in PERSON_NAMES {
        let division = rng.pick(divisions);
        // Try sequence numbers until the check character is a digit or X that GB 11643 accepts:
        // every body has exactly one, so the first attempt succeeds.
        let body = format!(
            "{division}1975{:02}{:02}{:03}",
            1 + rng.below(12),
            1 + rng.below(28),
            rng.below(1000)
        );
        let id = "10X98765432"
            .chars()
            .map(|c| format!("{body}{c}"))
            .find(|candidate| ResidentId::parse(candidate).is_ok())
            .expect("one check character fits");
        out.push(proto::Subject {
            kind: proto::SubjectKind::Person as i32,
            id,
            name: name.to_owned(),
        });
    }
    out
}

/// Fen as yuan with thousands separators: 12345600 → ¥123,456.00.
fn yuan(fen: i64) -> String {
    let digits = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("¥{grouped}.{:02}", fen % 100)
}

fn short(subject: &proto::Subject) -> String {
    if subject.kind == proto::SubjectKind::Person as i32 {
        format!("{}({}…)", subject.name, &subject.id[..6])
    } else {
        format!("{}({})", subject.name, subject.id)
    }
}

/// The demo's shared state.
struct Demo {
    channel: Channel,
    run_id: String,
    counter: AtomicU64,
    stats: Arc<DemoStats>,
    rng: Mutex<Rng>,
    stop: CancellationToken,
}

impl Demo {
    fn next_id(&self) -> String {
        format!(
            "demo-{}-{:06}",
            self.run_id,
            self.counter.fetch_add(1, Ordering::Relaxed)
        )
    }

    async fn publish_lead(
        &self,
        producer: &Agency,
        subject: &proto::Subject,
        divisions: &[String],
    ) -> Result<(), ClientError> {
        let (scenario, value, division) = {
            let mut rng = self.rng.lock().await;
            // Agencies pass on what they find outside their own remit.
            let foreign: Vec<&Scenario> = SCENARIOS
                .iter()
                .filter(|s| !producer.domains.contains(&s.domain))
                .collect();
            let scenario = *rng.pick(&foreign);
            let (low, high) = scenario.range;
            let value = low + (rng.next() % (high - low) as u64) as i64;
            (scenario, value, rng.pick(divisions).clone())
        };
        let event_id = self.next_id();
        let request = proto::PublishLeadRequest {
            event_id: event_id.clone(),
            producer: producer.id.to_string(),
            produced_at: Some(ts(jiff::Timestamp::now())),
            handling: proto::HandlingCode::ShareWithinJurisdiction as i32,
            lead: Some(proto::Lead {
                subject: Some(subject.clone()),
                division,
                domain: domain_to_proto(scenario.domain) as i32,
                offence_code: scenario.offence.to_owned(),
                summary: scenario.summary.to_owned(),
                facts: vec![proto::Fact {
                    name: scenario.fact.to_owned(),
                    value,
                }],
                observed_at: Some(ts(jiff::Timestamp::now())),
                sensitivity: proto::Sensitivity::Internal as i32,
                target_agencies: vec![],
            }),
        };
        let ack = PublisherClient::new(self.channel.clone())
            .publish_lead(request)
            .await?
            .into_inner();
        self.stats.leads.fetch_add(1, Ordering::Relaxed);
        let position = ack.position.unwrap_or_default();
        println!(
            "publish  {:<12} lead     {event_id}  {} {:<9} {}  → ack p{}@{}",
            producer.id,
            scenario.domain.label(),
            scenario.offence,
            short(subject),
            position.partition,
            position.offset
        );
        Ok(())
    }

    async fn answer(&self, agency: &Agency, delivery: &proto::Delivery) -> Result<(), ClientError> {
        let Some(proto::delivery::Item::Event(event)) = &delivery.item else {
            return Ok(());
        };
        let Some(proto::envelope::Payload::Lead(lead)) = &event.payload else {
            return Ok(());
        };
        let fine = {
            let mut rng = self.rng.lock().await;
            if rng.below(10) < 3 {
                return Ok(()); // not every lead is decided while the demo runs
            }
            10_000 * (1 + rng.below(2_000) as i64)
        };
        let event_id = self.next_id();
        let request = proto::PublishOutcomeRequest {
            handling: proto::HandlingCode::ShareWithinJurisdiction as i32,
            event_id: event_id.clone(),
            producer: agency.id.to_string(),
            produced_at: Some(ts(jiff::Timestamp::now())),
            outcome: Some(proto::CaseOutcome {
                case_number: format!(
                    "杭{}罚〔2026〕{}号",
                    agency.id.division(),
                    self.counter.load(Ordering::Relaxed)
                ),
                subject: lead.subject.clone(),
                division: lead.division.clone(),
                domain: lead.domain,
                offence_code: lead.offence_code.clone(),
                decision: proto::Decision::Penalty as i32,
                fine_fen: fine,
                confiscated_fen: 0,
                facts: lead.facts.clone(),
                decided_at: Some(ts(jiff::Timestamp::now())),
                lead: Some(proto::LeadRef {
                    producer: event.producer.clone(),
                    event_id: event.event_id.clone(),
                }),
                legal_basis: "《中华人民共和国行政处罚法》".to_owned(),
                severity: proto::Severity::General as i32,
                sensitivity: proto::Sensitivity::Public as i32,
            }),
        };
        PublisherClient::new(self.channel.clone())
            .publish_outcome(request)
            .await?;
        self.stats.outcomes.fetch_add(1, Ordering::Relaxed);
        println!(
            "publish  {:<12} outcome  {event_id}  罚款 {} answers {}/{}",
            agency.id,
            yuan(fine),
            event.producer,
            event.event_id
        );
        Ok(())
    }

    /// One agency's inbox: print each delivery, answer leads it is responsible for, acknowledge.
    async fn inbox(self: Arc<Self>, agency: Agency) -> Result<(), ClientError> {
        let mut client = proto::inbox_client::InboxClient::new(self.channel.clone());
        let mut stream = client
            .subscribe(proto::SubscribeRequest {
                agency: agency.id.to_string(),
                from_cursor: None,
            })
            .await?
            .into_inner();
        loop {
            let message = tokio::select! {
                () = self.stop.cancelled() => return Ok(()),
                message = stream.message() => message,
            };
            let Some(delivery) = message? else {
                return Ok(());
            };
            self.stats.deliveries.fetch_add(1, Ordering::Relaxed);
            let reason = proto::DeliveryReason::try_from(delivery.reason)
                .map(|r| {
                    r.as_str_name()
                        .trim_start_matches("DELIVERY_REASON_")
                        .to_ascii_lowercase()
                })
                .unwrap_or_default();
            match &delivery.item {
                Some(proto::delivery::Item::Event(event)) => {
                    let kind = if matches!(event.payload, Some(proto::envelope::Payload::Lead(_))) {
                        "lead"
                    } else {
                        "outcome"
                    };
                    println!(
                        "deliver  {:<12} #{:<5} {kind:<8} {}/{}  ({reason})",
                        agency.id, delivery.cursor, event.producer, event.event_id
                    );
                }
                Some(proto::delivery::Item::Alert(alert)) => {
                    let kind = proto::AlertKind::try_from(alert.kind)
                        .map(|k| {
                            k.as_str_name()
                                .trim_start_matches("ALERT_KIND_")
                                .to_ascii_lowercase()
                        })
                        .unwrap_or_default();
                    println!(
                        "alert    {:<12} #{:<5} {kind}  {}  {}",
                        agency.id, delivery.cursor, alert.title, alert.detail
                    );
                }
                None => {}
            }
            if delivery.reason == proto::DeliveryReason::ResponsibleAgency as i32 {
                self.answer(&agency, &delivery).await?;
            }
            client
                .acknowledge(proto::AcknowledgeRequest {
                    agency: agency.id.to_string(),
                    cursor: delivery.cursor,
                })
                .await?;
        }
    }
}

/// Runs simulated agencies against the gateway on `channel` until `stop` is cancelled,
/// publishing about `rate` leads per second.
pub async fn run(
    channel: Channel,
    registry: &Registry,
    rate: f64,
    stop: CancellationToken,
) -> Result<Arc<DemoStats>, ClientError> {
    let seed = jiff::Timestamp::now().as_nanosecond() as u64 | 1;
    let mut rng = Rng(seed);
    let mut divisions: Vec<String> = registry
        .iter()
        .filter(|a| a.division.jurisdiction_prefix().len() == 6)
        .map(|a| a.division.as_str().to_owned())
        .collect();
    divisions.sort();
    divisions.dedup();
    if divisions.is_empty() {
        divisions = registry
            .iter()
            .map(|a| a.division.county().to_owned())
            .collect();
    }
    let pool = subjects(&mut rng, &divisions);
    let producers: Vec<Agency> = registry
        .iter()
        .filter(|a| matches!(a.kind, AgencyKind::Administrative | AgencyKind::Police))
        .cloned()
        .collect();
    let demo = Arc::new(Demo {
        channel,
        run_id: format!("{:x}", seed % 0x1_0000_0000),
        counter: AtomicU64::new(1),
        stats: Arc::new(DemoStats::default()),
        rng: Mutex::new(rng),
        stop: stop.clone(),
    });
    let mut inboxes = tokio::task::JoinSet::new();
    for agency in registry.iter().cloned() {
        inboxes.spawn(demo.clone().inbox(agency));
    }
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(0.01)));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let (producer, subject) = {
            let mut rng = demo.rng.lock().await;
            (rng.pick(&producers).clone(), rng.pick(&pool).clone())
        };
        if let Err(err) = demo.publish_lead(&producer, &subject, &divisions).await {
            eprintln!("demo: publish failed: {err}");
        }
    }
    while let Some(joined) = inboxes.join_next().await {
        if let Ok(Err(err)) = joined {
            eprintln!("demo: inbox stream ended: {err}");
        }
    }
    Ok(demo.stats.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_groups_thousands() {
        assert_eq!(yuan(12_345_600), "¥123,456.00");
        assert_eq!(yuan(99), "¥0.99");
        assert_eq!(yuan(100_000), "¥1,000.00");
    }

    #[test]
    fn generated_subjects_are_valid() {
        let mut rng = Rng(42);
        for s in subjects(&mut rng, &["330106".to_owned()]) {
            if s.kind == proto::SubjectKind::Organization as i32 {
                assert!(Uscc::parse(&s.id).is_ok(), "{}", s.id);
            } else {
                assert!(ResidentId::parse(&s.id).is_ok(), "{}", s.id);
            }
        }
    }
}

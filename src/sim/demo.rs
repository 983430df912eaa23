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
use super::workload::{self, Rng};
use crate::codec::to_proto::ts;
use crate::domain::{Agency, AgencyKind, Registry};
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

/// Fen as yuan: 12345600 → ¥123,456.00.
fn yuan(fen: i64) -> String {
    format!("¥{}", crate::domain::money::yuan(fen))
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
    registry: Registry,
    /// The leads published, by event id: what a referral of one needs.
    published: Mutex<std::collections::HashMap<String, proto::Lead>>,
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
        let event_id = self.next_id();
        let (request, scenario) = {
            let mut rng = self.rng.lock().await;
            workload::lead(&mut rng, &event_id, producer, subject, divisions)
        };
        if let Some(lead) = &request.lead {
            self.published
                .lock()
                .await
                .insert(event_id.clone(), lead.clone());
        }
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
        // The past month's leads were answered (or not) in their time (`history.rs`).
        let day_old = jiff::Timestamp::now().as_second() - 86_400;
        if event
            .produced_at
            .as_ref()
            .is_some_and(|t| t.seconds < day_old)
        {
            return Ok(());
        }
        let today = crate::domain::calendar::CHINA
            .to_datetime(jiff::Timestamp::now())
            .date();
        let (fine, procedure) = {
            let mut rng = self.rng.lock().await;
            if rng.below(10) < 3 {
                return Ok(()); // not every lead is decided while the demo runs
            }
            let fine = 10_000 * (1 + rng.below(2_000) as i64);
            let record = super::procedure::record(&mut rng, agency.id.as_str(), today, fine);
            (fine, record)
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
                procedure,
                historic: false,
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

    /// An agency told that its lead meets a prosecution threshold refers the case to the
    /// nearest police (移送), as Decree 310 requires.
    async fn refer(&self, agency: &Agency, alert: &proto::Alert) -> Result<(), ClientError> {
        let Some(lead_ref) = alert.events.first() else {
            return Ok(());
        };
        let Some(lead) = self.published.lock().await.remove(&lead_ref.event_id) else {
            return Ok(());
        };
        // Decree 310 Art. 5: to the police of the agency's own division and level.
        let Some(police) = self
            .registry
            .nearest_of_kind(&agency.division, AgencyKind::Police)
            .first()
            .map(|p| p.id.to_string())
        else {
            return Ok(());
        };
        let referral_id = self.next_id();
        let document = |kind: proto::DocumentKind, name: &str| proto::Document {
            name: name.to_owned(),
            kind: kind as i32,
            sha256: "0".repeat(64),
        };
        let request = proto::ReferRequest {
            event_id: self.next_id(),
            producer: agency.id.to_string(),
            produced_at: Some(ts(jiff::Timestamp::now())),
            handling: proto::HandlingCode::ShareWithinJurisdiction as i32,
            referral: Some(proto::Referral {
                referral_id: referral_id.clone(),
                police: police.clone(),
                case_number: format!("杭{}移〔2026〕{}号", agency.id.division(), referral_id),
                subject: lead.subject.clone(),
                division: lead.division.clone(),
                domain: lead.domain,
                offence_code: lead.offence_code.clone(),
                summary: lead.summary.clone(),
                facts: lead.facts.clone(),
                documents: vec![
                    document(proto::DocumentKind::TransferLetter, "涉嫌犯罪案件移送书"),
                    document(
                        proto::DocumentKind::InvestigationReport,
                        "涉嫌犯罪案件调查报告",
                    ),
                    document(proto::DocumentKind::ItemsList, "涉案物品清单"),
                ],
            }),
        };
        proto::referrals_client::ReferralsClient::new(self.channel.clone())
            .refer(request)
            .await?;
        println!(
            "refer    {:<12} case {referral_id} → {police}  ({})",
            agency.id, alert.title
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
                    let kind = match event.payload {
                        Some(proto::envelope::Payload::Lead(_)) => "lead",
                        Some(proto::envelope::Payload::CaseOutcome(_)) => "outcome",
                        Some(proto::envelope::Payload::Referral(_)) => "referral",
                        Some(proto::envelope::Payload::ReferralUpdate(_)) => "step",
                        Some(proto::envelope::Payload::Certificate(_)) => "cert",
                        Some(_) => "inspect",
                        None => "event",
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
                    if alert.kind == proto::AlertKind::PossibleCrime as i32
                        && agency.kind == AgencyKind::Administrative
                        && alert
                            .events
                            .first()
                            .is_some_and(|e| e.producer == agency.id.as_str())
                        && let Err(err) = self.refer(&agency, alert).await
                    {
                        eprintln!("demo: referral by {} failed: {err}", agency.id);
                    }
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
    let mut rng = Rng::new(seed);
    let divisions = workload::divisions(registry);
    let pool = workload::subjects(&mut rng, &divisions, 14);
    let producers = workload::producers(registry);
    let demo = Arc::new(Demo {
        channel,
        run_id: format!("{:x}", seed % 0x1_0000_0000),
        counter: AtomicU64::new(1),
        stats: Arc::new(DemoStats::default()),
        rng: Mutex::new(rng),
        stop: stop.clone(),
        registry: registry.clone(),
        published: Mutex::new(std::collections::HashMap::new()),
    });
    let mut inboxes = tokio::task::JoinSet::new();
    for agency in registry.iter().cloned() {
        inboxes.spawn(demo.clone().inbox(agency));
    }
    // The past month, published beside the live traffic (and cut short by a short run).
    let history = tokio::spawn({
        let (channel, run_id) = (demo.channel.clone(), demo.run_id.clone());
        let (registry, stop) = (registry.clone(), stop.clone());
        async move {
            let now = jiff::Timestamp::now();
            tokio::select! {
                () = stop.cancelled() => {}
                seeded = super::history::seed(channel, &run_id, &registry, 30, now) => match seeded {
                    Ok(h) => println!(
                        "history  the past 30 days: {} leads ({} answered), {} other penalty decisions",
                        h.leads, h.answered, h.outcomes
                    ),
                    Err(err) => eprintln!("demo: history failed: {err}"),
                },
            }
        }
    });
    // Inspections need the sample registry's agencies; another registry's demo goes without.
    if registry.iter().any(|a| a.id.as_str() == "330100-SFJ")
        && let Err(err) =
            super::inspections::seed(demo.channel.clone(), &demo.run_id, registry).await
    {
        eprintln!("demo: inspections failed: {err}");
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
    history.abort();
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
}

//! The load `xiezhi bench` drives: N gRPC clients, each on its own connection like N agency
//! systems, publishing [`workload`] leads and outcomes (unary calls or one `PublishStream`
//! each) at a fixed rate or flat out, for a duration or a count, while subscribers on every
//! agency's inbox time each event from publish to delivery.
//!
//! At a fixed rate, events are scheduled on a timetable and latency runs from the scheduled
//! send time, so a slow answer also charges the sends it delayed (no coordinated omission).
//! The first answer on each connection or stream and the first delivery on each subscription
//! are warm-up (HTTP/2 windows, stream set-up): they count towards throughput, but their
//! latencies are not recorded.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

use super::client::{ClientError, connect};
use super::workload::{self, Rng};
use crate::domain::{Agency, Registry};
use crate::proto;
use crate::proto::publish_stream_request::Event;
use crate::proto::publisher_client::PublisherClient;

/// How the load is offered, the same in every phase of a bench run.
#[derive(Clone, Debug)]
pub struct Shape {
    /// Concurrent clients, each on its own connection.
    pub clients: usize,
    /// Stop after this long…
    pub duration: Option<Duration>,
    /// …or after this many events, whichever comes first.
    pub count: Option<u64>,
    /// One `PublishStream` per client instead of unary calls.
    pub stream: bool,
    /// Distinct subjects the events are about.
    pub subjects: usize,
}

/// What load to offer.
#[derive(Clone, Debug)]
pub struct LoadSpec {
    /// The broker's gRPC endpoint, `http://host:port`.
    pub endpoint: String,
    /// Clients, length, transport and subjects.
    pub shape: Shape,
    /// Events per second over all clients; `None` for flat out.
    pub rate: Option<f64>,
    /// Subscribe to every inbox and time deliveries.
    pub deliveries: bool,
    /// Prefix of the event ids, unique per run.
    pub run_id: String,
}

/// What the load saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Events acknowledged as durable (not duplicates).
    pub acked: u64,
    /// Events refused.
    pub refused: u64,
    /// The first refusal, in words.
    pub first_error: Option<String>,
    /// From the first send to the last answer.
    pub elapsed: Duration,
    /// Publish latencies (send → ack), microseconds, sorted.
    pub publish_us: Vec<u32>,
    /// Publish → delivered latencies on the inbox streams, microseconds, sorted.
    pub delivered_us: Vec<u32>,
    /// Encoded size of the acknowledged requests, bytes.
    pub request_bytes: u64,
}

impl LoadResult {
    /// Acknowledged events per second.
    pub fn rate(&self) -> f64 {
        self.acked as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The `q` quantile (0–1) of sorted microsecond samples, in milliseconds.
pub fn quantile_ms(sorted_us: &[u32], q: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((sorted_us.len() as f64 * q).ceil() as usize).clamp(1, sorted_us.len());
    Some(f64::from(sorted_us[rank - 1]) / 1000.0)
}

/// Live counts, for a progress line.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events acknowledged so far.
    pub acked: AtomicU64,
    /// Deliveries of this run's events seen so far.
    pub delivered: AtomicU64,
}

/// What every client shares.
struct Plan {
    spec: LoadSpec,
    producers: Vec<Agency>,
    divisions: Vec<String>,
    subjects: Vec<proto::Subject>,
    issued: AtomicU64,
    deadline: Option<Instant>,
    start: Instant,
    counters: Arc<Counters>,
}

/// One client's tally.
#[derive(Default)]
struct Tally {
    /// Past the first answer.
    warm: bool,
    acked: u64,
    refused: u64,
    first_error: Option<String>,
    latencies: Vec<u32>,
    bytes: u64,
}

impl Tally {
    fn answer(&mut self, plan: &Plan, sent: Instant, result: Result<(), String>, bytes: usize) {
        if self.warm {
            self.latencies
                .push(sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
        }
        self.warm = true;
        match result {
            Ok(()) => {
                self.acked += 1;
                self.bytes += bytes as u64;
                plan.counters.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err(why) => {
                self.refused += 1;
                self.first_error.get_or_insert(why);
            }
        }
    }
}

impl Plan {
    /// The next event of client `client` and when it is due, or `None` when the run is over.
    fn next(&self, rng: &mut Rng, client: usize, sent: &mut u64) -> Option<(Event, Instant)> {
        let n = self.issued.fetch_add(1, Ordering::Relaxed);
        if self.spec.shape.count.is_some_and(|count| n >= count)
            || self.deadline.is_some_and(|d| Instant::now() >= d)
        {
            return None;
        }
        let due = match self.spec.rate {
            Some(rate) => {
                let per_client = rate / self.spec.shape.clients as f64;
                self.start + Duration::from_secs_f64(*sent as f64 / per_client.max(1e-9))
            }
            None => Instant::now(),
        };
        *sent += 1;
        let event_id = format!("{}-{client}-{sent}", self.spec.run_id);
        let subject = rng.pick(&self.subjects).clone();
        let producer = rng.pick(&self.producers);
        // One event in five is a penalty decision from a case system, the rest are leads.
        let event = if rng.below(5) == 0 {
            Event::Outcome(workload::outcome(rng, &event_id, producer, &subject, n))
        } else {
            Event::Lead(workload::lead(rng, &event_id, producer, &subject, &self.divisions).0)
        };
        Some((event, due))
    }
}

/// Stamps the event as produced now — when it is sent, not when it was drawn, which at a fixed
/// rate is up to one interval earlier.
fn stamp(event: &mut Event) {
    let now = Some(crate::codec::to_proto::ts(jiff::Timestamp::now()));
    match event {
        Event::Lead(r) => r.produced_at = now,
        Event::Outcome(r) => r.produced_at = now,
    }
}

fn encoded_len(event: &Event) -> usize {
    match event {
        Event::Lead(r) => r.encoded_len(),
        Event::Outcome(r) => r.encoded_len(),
    }
}

/// Waits until `due`, and not at all when it has passed. tokio's timer rounds a deadline up to
/// its next millisecond tick, so sleeping until a moment already past holds the event for up to
/// a millisecond: flat out (every event due now) that capped each client at about one event per
/// millisecond — the no-op stream ceiling of 6,700/s with 8 clients was this, not gRPC.
async fn wait_until(due: Instant) {
    if due > Instant::now() {
        tokio::time::sleep_until(due.into()).await;
    }
}

async fn unary_client(plan: Arc<Plan>, channel: Channel, client: usize) -> Tally {
    let mut publisher = PublisherClient::new(channel);
    let mut rng = Rng::new(plan.start.elapsed().as_nanos() as u64 ^ (client as u64) << 40);
    let mut tally = Tally::default();
    let mut sent = 0;
    while let Some((mut event, due)) = plan.next(&mut rng, client, &mut sent) {
        wait_until(due).await;
        stamp(&mut event);
        let bytes = encoded_len(&event);
        let answer = match event {
            Event::Lead(r) => publisher.publish_lead(r).await,
            Event::Outcome(r) => publisher.publish_outcome(r).await,
        };
        let result = answer
            .map(drop)
            .map_err(|status| ClientError::Status(status).to_string());
        tally.answer(&plan, due, result, bytes);
    }
    tally
}

/// Events one streaming client keeps in flight: the server's window.
const STREAM_AHEAD: usize = crate::gateway::STREAM_WINDOW;

async fn stream_client(plan: Arc<Plan>, channel: Channel, client: usize) -> Tally {
    let mut tally = Tally::default();
    let (tx, rx) = mpsc::channel(STREAM_AHEAD);
    let pending = Arc::new(Mutex::new(VecDeque::<(Instant, usize)>::new()));
    let sender = {
        let plan = plan.clone();
        let pending = pending.clone();
        tokio::spawn(async move {
            let mut rng = Rng::new(plan.start.elapsed().as_nanos() as u64 ^ (client as u64) << 40);
            let mut sent = 0;
            while let Some((mut event, due)) = plan.next(&mut rng, client, &mut sent) {
                wait_until(due).await;
                stamp(&mut event);
                let bytes = encoded_len(&event);
                pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push_back((due, bytes));
                let request = proto::PublishStreamRequest { event: Some(event) };
                if tx.send(request).await.is_err() {
                    return;
                }
            }
        })
    };
    let mut answers = match PublisherClient::new(channel)
        .publish_stream(ReceiverStream::new(rx))
        .await
    {
        Ok(response) => response.into_inner(),
        Err(status) => {
            tally.refused += 1;
            tally.first_error = Some(ClientError::Status(status).to_string());
            sender.abort();
            return tally;
        }
    };
    loop {
        let answer = match answers.message().await {
            Ok(Some(answer)) => answer,
            Ok(None) => break,
            Err(status) => {
                tally.refused += 1;
                tally
                    .first_error
                    .get_or_insert(ClientError::Status(status).to_string());
                break;
            }
        };
        let Some((due, bytes)) = pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
        else {
            break;
        };
        let result = match answer.result {
            Some(proto::publish_stream_response::Result::Ack(_)) => Ok(()),
            Some(proto::publish_stream_response::Result::Error(e)) => Err(e.message),
            None => Err("an answer without a result".into()),
        };
        tally.answer(&plan, due, result, bytes);
    }
    sender.abort();
    tally
}

/// Times this run's events from their `produced_at` to their arrival in `agency`'s inbox.
async fn subscriber(
    channel: Channel,
    agency: String,
    run_id: String,
    counters: Arc<Counters>,
    stop: CancellationToken,
) -> Result<Vec<u32>, ClientError> {
    let latest = proto::inbox_client::InboxClient::new(channel.clone())
        .acknowledge(proto::AcknowledgeRequest {
            agency: agency.clone(),
            cursor: 0,
        })
        .await?
        .into_inner()
        .latest_cursor;
    let mut stream = proto::inbox_client::InboxClient::new(channel)
        .subscribe(proto::SubscribeRequest {
            agency,
            from_cursor: Some(latest),
        })
        .await?
        .into_inner();
    let mut latencies = Vec::new();
    let mut warm = false;
    loop {
        let message = tokio::select! {
            () = stop.cancelled() => break,
            message = stream.message() => message,
        };
        let Some(delivery) = message? else {
            break;
        };
        let Some(proto::delivery::Item::Event(event)) = delivery.item else {
            continue;
        };
        if !event.event_id.starts_with(&run_id) {
            continue;
        }
        if let Some(produced) = event.produced_at {
            let now = jiff::Timestamp::now();
            let produced = jiff::Timestamp::new(produced.seconds, produced.nanos).unwrap_or(now);
            counters.delivered.fetch_add(1, Ordering::Relaxed);
            if warm {
                let us = now.duration_since(produced).as_micros().max(0);
                latencies.push(us.min(i128::from(u32::MAX)) as u32);
            }
            warm = true;
        }
    }
    Ok(latencies)
}

/// Offers `spec`'s load to the broker and reports what it saw; `counters` move while it runs.
pub async fn run(
    spec: &LoadSpec,
    registry: &Registry,
    counters: Arc<Counters>,
) -> Result<LoadResult, ClientError> {
    let mut rng = Rng::new(jiff::Timestamp::now().as_nanosecond() as u64);
    let divisions = workload::divisions(registry);
    let mut channels = Vec::new();
    for _ in 0..spec.shape.clients.max(1) {
        channels.push(connect(&spec.endpoint, None).await?);
    }
    let stop_subscribers = CancellationToken::new();
    let mut subscribers = JoinSet::new();
    if spec.deliveries {
        let channel = connect(&spec.endpoint, None).await?;
        for agency in registry.iter() {
            subscribers.spawn(subscriber(
                channel.clone(),
                agency.id.to_string(),
                spec.run_id.clone(),
                counters.clone(),
                stop_subscribers.clone(),
            ));
        }
        // Let the subscriptions open before the first event is published.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let start = Instant::now();
    let plan = Arc::new(Plan {
        spec: spec.clone(),
        producers: workload::producers(registry),
        subjects: workload::subjects(&mut rng, &divisions, spec.shape.subjects),
        divisions,
        issued: AtomicU64::new(0),
        deadline: spec.shape.duration.map(|d| start + d),
        start,
        counters: counters.clone(),
    });
    let mut clients = JoinSet::new();
    for (client, channel) in channels.into_iter().enumerate() {
        if spec.shape.stream {
            clients.spawn(stream_client(plan.clone(), channel, client));
        } else {
            clients.spawn(unary_client(plan.clone(), channel, client));
        }
    }
    let mut result = LoadResult::default();
    while let Some(joined) = clients.join_next().await {
        let Ok(tally) = joined else { continue };
        result.acked += tally.acked;
        result.refused += tally.refused;
        result.request_bytes += tally.bytes;
        result.publish_us.extend(tally.latencies);
        if result.first_error.is_none() {
            result.first_error = tally.first_error;
        }
    }
    result.elapsed = start.elapsed();
    result.publish_us.sort_unstable();
    if spec.deliveries {
        drain(&counters, &stop_subscribers).await;
        while let Some(joined) = subscribers.join_next().await {
            if let Ok(Ok(latencies)) = joined {
                result.delivered_us.extend(latencies);
            }
        }
        result.delivered_us.sort_unstable();
    }
    Ok(result)
}

/// Waits until deliveries stop arriving, then stops the subscribers. The quiet period only
/// counts once a delivery has arrived: on Kafka the first one can trail the last
/// acknowledgement by more than a second (consumer poll, router batch, offset commit), and
/// stopping before it came left the delivered-latency figures empty. 60 s at most.
async fn drain(counters: &Counters, stop: &CancellationToken) {
    // Tokio's clock, so the test can run it on paused time.
    use tokio::time::Instant;
    const QUIET: Duration = Duration::from_secs(2);
    let limit = Instant::now() + Duration::from_secs(60);
    let mut seen = counters.delivered.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    while Instant::now() < limit {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let now = counters.delivered.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            last_change = Instant::now();
        } else if seen > 0 && last_change.elapsed() >= QUIET {
            break;
        }
    }
    stop.cancel();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_sample_at_or_above_the_rank() {
        let samples: Vec<u32> = (1..=1000).map(|ms| ms * 1000).collect();
        assert_eq!(quantile_ms(&samples, 0.5), Some(500.0));
        assert_eq!(quantile_ms(&samples, 0.99), Some(990.0));
        assert_eq!(quantile_ms(&samples, 0.999), Some(999.0));
        assert_eq!(quantile_ms(&samples, 1.0), Some(1000.0));
        assert_eq!(quantile_ms(&[], 0.5), None);
    }

    #[tokio::test(start_paused = true)]
    async fn draining_waits_for_a_late_first_delivery_then_for_quiet() {
        let counters = Arc::new(Counters::default());
        let stop = CancellationToken::new();
        let late = {
            let counters = counters.clone();
            tokio::spawn(async move {
                // The first delivery 5 s after the last publish (a slow Kafka poll), then one
                // more a second later.
                tokio::time::sleep(Duration::from_secs(5)).await;
                counters.delivered.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
                counters.delivered.fetch_add(1, Ordering::Relaxed);
            })
        };
        let started = tokio::time::Instant::now();
        drain(&counters, &stop).await;
        late.await.unwrap();
        assert!(stop.is_cancelled());
        assert_eq!(counters.delivered.load(Ordering::Relaxed), 2);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(8), "stopped after {waited:?}");
        assert!(waited < Duration::from_secs(9), "stopped after {waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn draining_gives_up_after_a_minute_without_deliveries() {
        let counters = Counters::default();
        let stop = CancellationToken::new();
        let started = tokio::time::Instant::now();
        drain(&counters, &stop).await;
        assert!(stop.is_cancelled());
        assert!(started.elapsed() >= Duration::from_secs(60));
    }
}

//! The broker's counters for `/metrics` (Prometheus text format): events published and applied,
//! requests refused and why, alerts raised, publish latency, the router's batch latency. One set per process, counted where
//! the thing happens (gateway, router, the status mapping) and rendered by the console, which
//! adds the gauges it reads at scrape time (router lag).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Upper bounds of the publish latency histogram, seconds.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
];

/// A latency histogram with [`LATENCY_BUCKETS`].
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; LATENCY_BUCKETS.len()],
    count: AtomicU64,
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, took: Duration) {
        let seconds = took.as_secs_f64();
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            if seconds <= bound {
                bucket.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bucket, bound) in self.buckets.iter().zip(LATENCY_BUCKETS) {
            let _ = writeln!(
                out,
                "{name}_bucket{{le=\"{bound}\"}} {}",
                bucket.load(Ordering::Relaxed)
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_us.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {sum}\n{name}_count {count}");
    }
}

/// Counters keyed by their label values.
#[derive(Default)]
struct Family(Mutex<BTreeMap<Vec<String>, u64>>);

impl Family {
    fn add(&self, labels: &[&str], n: u64) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Every publish counts here: find the existing series without building a key (a family
        // holds a few dozen series at most); allocate only for a new one.
        if let Some((_, count)) = map.iter_mut().find(|(key, _)| key.iter().eq(labels)) {
            *count += n;
        } else {
            map.insert(labels.iter().map(|l| (*l).to_owned()).collect(), n);
        }
    }

    fn snapshot(&self) -> BTreeMap<Vec<String>, u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What the process has counted.
#[derive(Default)]
pub struct Metrics {
    published: Family,
    applied: Family,
    rejected: Family,
    alerts: Family,
    publish_latency: Histogram,
    batch_latency: Histogram,
    batch_records: AtomicU64,
}

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    static METRICS: OnceLock<Metrics> = OnceLock::new();
    METRICS.get_or_init(Metrics::default)
}

/// A gauge read at scrape time: name, help, and (labels, value) samples.
pub struct Gauge {
    /// Metric name.
    pub name: &'static str,
    /// What it measures.
    pub help: &'static str,
    /// Label name.
    pub label: &'static str,
    /// (label value, value).
    pub samples: Vec<(String, f64)>,
}

/// Prometheus label values escape backslash, quote and newline.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, help: &str, labels: &[&str], values: &Family) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    for (values, n) in values.snapshot() {
        let pairs: Vec<String> = labels
            .iter()
            .zip(&values)
            .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
            .collect();
        let _ = writeln!(out, "{name}{{{}}} {n}", pairs.join(","));
    }
}

impl Metrics {
    /// Puts every series whose labels are known in advance at 0 — events published and applied
    /// by kind on `bus`, alerts by kind — so that rates and alerts on them work from the first
    /// scrape (Prometheus' advice for counters). Refusals are labelled by the rule broken, an
    /// open set: each appears with its first refusal.
    pub fn start(&self, bus: &str) {
        for kind in crate::domain::EventKind::ALL {
            self.published.add(&[kind.name(), bus], 0);
            self.applied.add(&[kind.name(), bus], 0);
        }
        for kind in crate::domain::AlertKind::ALL {
            self.alerts.add(&[kind.name()], 0);
        }
    }

    /// An event appended to the log (`kind` lead, outcome, referral…; `bus` embedded or kafka).
    pub fn published(&self, kind: &str, bus: &str, took: Duration) {
        self.published.add(&[kind, bus], 1);
        self.publish_latency.observe(took);
    }

    /// A batch of `records` the router decided, applied and made durable in `took`.
    pub fn batch(&self, records: usize, took: Duration) {
        self.batch_latency.observe(took);
        self.batch_records
            .fetch_add(records as u64, Ordering::Relaxed);
    }

    /// Events applied to the store by the router, from `bus`.
    pub fn applied(&self, kind: &str, bus: &str, n: u64) {
        self.applied.add(&[kind, bus], n);
    }

    /// A refused request: `reason` is the rule broken or the status code.
    pub fn rejected(&self, reason: &str) {
        self.rejected.add(&[reason], 1);
    }

    /// An alert raised.
    pub fn alert(&self, kind: &str) {
        self.alerts.add(&[kind], 1);
    }

    /// The metrics in Prometheus text format, with `gauges` read by the caller.
    pub fn render(&self, gauges: &[Gauge]) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "xiezhi_events_published_total",
            "Events appended to the log and acknowledged, by kind and bus.",
            &["kind", "bus"],
            &self.published,
        );
        family(
            &mut out,
            "xiezhi_events_applied_total",
            "Events applied to the store by the router, by kind and bus.",
            &["kind", "bus"],
            &self.applied,
        );
        family(
            &mut out,
            "xiezhi_requests_rejected_total",
            "Requests refused, by the rule broken or the gRPC status.",
            &["reason"],
            &self.rejected,
        );
        family(
            &mut out,
            "xiezhi_alerts_raised_total",
            "Alerts raised, by kind.",
            &["kind"],
            &self.alerts,
        );
        self.publish_latency.render(
            &mut out,
            "xiezhi_publish_latency_seconds",
            "From a valid publish request to its acknowledgement.",
        );
        self.batch_latency.render(
            &mut out,
            "xiezhi_router_batch_seconds",
            "From a batch of log records read to its writes applied and flushed in the store.",
        );
        let name = "xiezhi_router_batch_records_total";
        let _ = writeln!(
            out,
            "# HELP {name} Log records in the batches the router applied.\n# TYPE {name} counter\n{name} {}",
            self.batch_records.load(Ordering::Relaxed)
        );
        for gauge in gauges {
            let _ = writeln!(
                out,
                "# HELP {} {}\n# TYPE {} gauge",
                gauge.name, gauge.help, gauge.name
            );
            for (label, value) in &gauge.samples {
                let _ = writeln!(
                    out,
                    "{}{{{}=\"{}\"}} {value}",
                    gauge.name,
                    gauge.label,
                    escape(label)
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_with_known_labels_are_present_at_zero_from_start() {
        let m = Metrics::default();
        m.start("kafka");
        let text = m.render(&[]);
        for kind in ["lead", "case_outcome", "referral", "referral_update"] {
            for family in ["published", "applied"] {
                let series =
                    format!("xiezhi_events_{family}_total{{kind=\"{kind}\",bus=\"kafka\"}} 0");
                assert!(text.contains(&series), "{series} missing:\n{text}");
            }
        }
        assert!(text.contains("xiezhi_alerts_raised_total{kind=\"late_disclosure\"} 0"));
        m.published("lead", "kafka", Duration::from_millis(1));
        m.start("kafka");
        assert!(
            m.render(&[])
                .contains("xiezhi_events_published_total{kind=\"lead\",bus=\"kafka\"} 1")
        );
    }

    #[test]
    fn counters_and_histogram_render_in_prometheus_text() {
        let m = Metrics::default();
        m.published("lead", "embedded", Duration::from_millis(3));
        m.published("lead", "embedded", Duration::from_millis(30));
        m.rejected("uscc.checksum");
        let text = m.render(&[Gauge {
            name: "xiezhi_router_lag_records",
            help: "lag",
            label: "partition",
            samples: vec![("0".into(), 5.0)],
        }]);
        assert!(text.contains("xiezhi_events_published_total{kind=\"lead\",bus=\"embedded\"} 2"));
        assert!(text.contains("xiezhi_requests_rejected_total{reason=\"uscc.checksum\"} 1"));
        assert!(text.contains("xiezhi_publish_latency_seconds_bucket{le=\"0.005\"} 1"));
        assert!(text.contains("xiezhi_publish_latency_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("xiezhi_publish_latency_seconds_count 2"));
        assert!(text.contains("xiezhi_router_lag_records{partition=\"0\"} 5"));
        assert!(text.contains("# TYPE xiezhi_publish_latency_seconds histogram"));
    }
}

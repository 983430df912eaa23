//! A short run of `xiezhi bench` on each bus: it produces every figure, with its ceiling where
//! one applies, and the sweep chart. No timing is asserted — figures are for docs/benchmarks.md.

use crate::cli::{run_async, text};
use crate::process::xiezhi;

/// Runs `xiezhi bench ARGS --json --quiet` from the repository root and returns the report.
async fn bench(args: &[&str]) -> serde_json::Value {
    let mut command = xiezhi();
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("bench")
        .args(args)
        .args(["--json", "--quiet"]);
    let out = run_async(command).await;
    assert!(
        out.status.success(),
        "xiezhi bench failed:\n{}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", text(&out.stdout)))
}

/// Every figure has a value, and each one with a target has what the target is judged on.
fn assert_complete(report: &serde_json::Value, expected_ceilings: &[&str]) {
    let figures = report["figures"].as_array().expect("figures");
    let names: Vec<&str> = figures.iter().filter_map(|f| f["name"].as_str()).collect();
    for name in [
        "publish: events/s acknowledged",
        "publish latency p50, flat out",
        "publish latency p99, flat out",
        "publish latency p99.9, flat out",
        "publish latency p99, half rate",
        "publish→delivered p50, half rate",
        "publish→delivered p99, half rate",
        "router apply (rebuild from the log)",
        "broker peak RSS",
        "disk per stored event",
        "disk per stored event: the store",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    for figure in figures {
        assert!(
            figure["value"].as_f64().is_some_and(|v| v > 0.0),
            "no value: {figure}"
        );
    }
    let ceilings: Vec<&str> = figures
        .iter()
        .filter_map(|f| f["ceiling"]["name"].as_str())
        .collect();
    for ceiling in expected_ceilings {
        assert!(
            ceilings.contains(ceiling),
            "ceiling {ceiling} missing from {ceilings:?}"
        );
    }
}

#[tokio::test]
async fn bench_on_the_embedded_bus_reports_every_figure_against_its_ceiling() {
    let dir = tempfile::tempdir().unwrap();
    let chart = dir.path().join("sweep.svg");
    let report = bench(&[
        "--count",
        "300",
        "--clients",
        "4",
        "--subjects",
        "1000",
        "--baseline",
        "--chart",
        chart.to_str().unwrap(),
    ])
    .await;
    assert_complete(
        &report,
        &[
            "no-op gRPC",
            "sled, the store's own writes raw",
            "encoded event",
        ],
    );
    let names: Vec<&str> = report["figures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["name"].as_str())
        .collect();
    assert!(
        names.contains(&"disk per stored event: the log"),
        "the embedded log's own disk: {names:?}"
    );
    assert_eq!(report["sweep"].as_array().map(Vec::len), Some(7));
    let svg = std::fs::read_to_string(&chart).expect("the chart is written");
    assert_eq!(svg.matches("<circle").count(), 14, "7 points in 2 panels");
}

#[tokio::test]
async fn bench_on_kafka_streams_and_measures_rdkafka_and_producer_performance() {
    let bootstrap = crate::kafka::bootstrap();
    let report = bench(&[
        "--kafka-bootstrap",
        &bootstrap,
        "--stream",
        "--count",
        "300",
        "--clients",
        "2",
        "--subjects",
        "1000",
        "--baseline",
    ])
    .await;
    assert_complete(
        &report,
        &[
            "Kafka ProducerPerformance",
            "raw rdkafka, same producer settings",
            "no-op gRPC",
            "sled, the store's own writes raw",
        ],
    );
    let setup = report["setup"].to_string();
    assert!(setup.contains("PublishStream"), "{setup}");
}

//! `xiezhi log tail`: the log's records as JSON, one object per line, for operators — where each
//! sits, when it was logged, its content hash and encoding, and the event in proto3 JSON. Reads
//! the embedded log of a stopped broker, or the Kafka topic (the broker may run). The records
//! are printed in full: this is a tool for whoever may read the data directory or the topic.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Subcommand;

use super::ServerArgs;

#[derive(Subcommand)]
pub(crate) enum LogCommand {
    /// Print the last records of each partition as JSON lines; with --follow, keep printing
    /// new ones (Kafka; the embedded log can only be read while its broker is stopped).
    Tail {
        #[command(flatten)]
        server: ServerArgs,
        /// Records per partition, counted back from its end.
        #[arg(long, default_value_t = 10)]
        count: u64,
        /// Only this partition.
        #[arg(long)]
        partition: Option<u32>,
        /// Keep printing records as they are appended.
        #[arg(long)]
        follow: bool,
    },
}

pub(super) async fn log(command: LogCommand) -> anyhow::Result<()> {
    let LogCommand::Tail {
        mut server,
        count,
        partition,
        follow,
    } = command;
    // A reader serves no one: the transport's certificate settings do not apply.
    server.insecure_dev = true;
    let config = server.load()?;
    xiezhi::telemetry::init("warn");
    let bus = xiezhi::app::open_log(&config).await.with_context(|| {
        format!(
            "opening the log (an embedded log can be read only while its broker is stopped: {})",
            config.store.data_dir.display()
        )
    })?;
    let ends = bus.end_offsets().await?;
    let wanted = |p: u32| partition.is_none_or(|only| only == p);
    let starts: Vec<u64> = ends.iter().map(|end| end.saturating_sub(count)).collect();
    let mut left: u64 = (0..ends.len() as u32)
        .filter(|p| wanted(*p))
        .map(|p| ends[p as usize] - starts[p as usize])
        .sum();
    let start_at = starts.clone();
    let group = format!("xiezhi-log-tail-{}", std::process::id());
    let mut consumer = bus
        .consumer(
            &group,
            Arc::new(move |p| start_at.get(p as usize).copied().unwrap_or(0)),
        )
        .await?;
    while follow || left > 0 {
        let polled = tokio::time::timeout(Duration::from_secs(30), consumer.poll(500)).await;
        let Ok(records) = polled else {
            anyhow::ensure!(
                follow,
                "the log stopped answering with {left} records to go"
            );
            continue;
        };
        for record in records? {
            let p = record.position.partition;
            if record.position.offset < starts[p as usize] {
                continue;
            }
            if record.position.offset < ends[p as usize] {
                left = left.saturating_sub(u64::from(wanted(p)));
            }
            if !wanted(p) {
                continue;
            }
            let line = match xiezhi::codec::log::decode(&record.payload)
                .and_then(|entry| xiezhi::codec::json::record(record.position, &entry))
            {
                Ok(json) => json,
                Err(err) => serde_json::json!({
                    "partition": p,
                    "offset": record.position.offset,
                    "error": xiezhi::telemetry::chain(&err),
                    "payloadHex": hex::encode(&record.payload),
                }),
            };
            println!("{line}");
        }
    }
    bus.close().await;
    Ok(())
}

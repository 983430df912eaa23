//! `xiezhi import`: an agency's ledger of past penalty decisions (行政处罚决定公示 台账, CSV or
//! XLSX) published as historic case outcomes through `PublishStream`, so that repeat-offence
//! rules, 多头受罚 and the reports do not start blind.
//!
//! Rows are read on their own thread into a bounded channel ([`ledger`]), converted
//! ([`row`]), and streamed over a few streams with a bounded number in flight; memory grows with
//! the file only by 8 bytes a row (to find a 决定书文号 twice).
//! Each row's event id is derived from the agency and its 决定书文号, so a rerun publishes only
//! what is missing (the rest is acknowledged as duplicate). A row that cannot be converted, or
//! that the gateway refuses, is written to the error report (`row,column,rule,value`) next to
//! the input, and nothing of it is published. Rows over the agency's publish rate are sent
//! again after a pause.

pub mod ledger;
mod progress;
pub mod row;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Channel;

use crate::proto;
use crate::proto::publish_stream_request::Event;
use ledger::Item;
use row::{Columns, Mapping};

/// Streams an import publishes over. Measured on 2 cores (docs/benchmarks.md): 4 streams gave
/// 13,700 rows/s, 16 gave 16,100, 32 gave 18,400 — as many as `xiezhi bench` uses.
const STREAMS: usize = 32;
/// Requests in flight on one stream at most.
const WINDOW: usize = 128;
/// The pause before sending again what the broker refused for its rate or a busy log.
const BACKOFF: Duration = Duration::from_millis(100);

/// An import that cannot go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The file is not a readable ledger.
    #[error("{0}")]
    Format(String),
    /// The report cannot be written.
    #[error("error report {path}: {source}")]
    Report {
        /// The report file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The broker could not be reached or ended the stream.
    #[error("the broker: {0}")]
    Broker(String),
}

/// What to import, as whom.
pub struct Options {
    /// The ledger.
    pub file: PathBuf,
    /// XLSX: the sheet (default: the first).
    pub sheet: Option<String>,
    /// The publishing agency (its own decisions).
    pub agency: String,
    /// Its division (the default for rows without one).
    pub division: String,
    /// Its domain (`xiezhi.v1.Domain` number).
    pub domain: i32,
    /// The header table.
    pub mapping: Mapping,
}

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Data rows read.
    pub rows: u64,
    /// Published now.
    pub published: u64,
    /// Published by an earlier run (acknowledged as duplicate).
    pub already: u64,
    /// In the error report.
    pub refused: u64,
    /// The report, if any row was refused or a column was unknown.
    pub report: Option<PathBuf>,
}

/// The report next to `input`: `<input>.errors.csv`.
pub fn report_path(input: &Path) -> PathBuf {
    let mut name = input.as_os_str().to_owned();
    name.push(".errors.csv");
    PathBuf::from(name)
}

struct Report {
    path: PathBuf,
    writer: Option<csv::Writer<std::fs::File>>,
}

impl Report {
    fn add(&mut self, row: u64, column: &str, rule: &str, value: &str) -> Result<(), ImportError> {
        let error = |e: csv::Error| ImportError::Report {
            path: self.path.clone(),
            source: std::io::Error::other(e.to_string()),
        };
        if self.writer.is_none() {
            let mut writer = csv::Writer::from_path(&self.path).map_err(error)?;
            writer
                .write_record(["row", "column", "rule", "value"])
                .map_err(error)?;
            self.writer = Some(writer);
        }
        if let Some(writer) = self.writer.as_mut() {
            writer
                .write_record([row.to_string().as_str(), column, rule, value])
                .map_err(error)?;
        }
        Ok(())
    }

    fn finish(mut self) -> Result<Option<PathBuf>, ImportError> {
        match self.writer.take() {
            Some(mut writer) => {
                writer
                    .flush()
                    .map(|()| Some(self.path.clone()))
                    .map_err(|source| ImportError::Report {
                        path: self.path,
                        source,
                    })
            }
            None => {
                // An earlier run's report would mislead.
                let _ = std::fs::remove_file(&self.path);
                Ok(None)
            }
        }
    }
}

/// The event id of `agency`'s decision `case_number`: the same on every run.
pub fn event_id(agency: &str, case_number: &str) -> String {
    let digest = Sha256::digest(format!("{agency}\n{case_number}"));
    format!("ledger-{}", &hex::encode(digest)[..24])
}

/// A row on its way: its number, its cells and the request (kept to send again or report).
struct Pending {
    row: u64,
    cells: Vec<String>,
    request: proto::PublishOutcomeRequest,
}

/// What became of one row on a stream.
enum Outcome {
    /// Stored now.
    Published,
    /// Stored by an earlier run.
    Already,
    /// Refused by the gateway.
    Refused(Box<Pending>, proto::PublishError),
}

/// One `PublishStream`: sends the rows it is given, at most [`WINDOW`] in flight, sends again
/// what the broker refused for its rate, and reports each row's outcome.
async fn stream_worker(
    channel: Channel,
    mut rows: mpsc::Receiver<Pending>,
    results: mpsc::UnboundedSender<Outcome>,
) -> Result<(), ImportError> {
    let (tx, rx) = mpsc::channel::<proto::PublishStreamRequest>(WINDOW);
    let mut responses = proto::publisher_client::PublisherClient::new(channel)
        .publish_stream(ReceiverStream::new(rx))
        .await
        .map_err(|s| ImportError::Broker(crate::sim::client::describe_status(&s)))?
        .into_inner();
    let mut in_flight: HashMap<u64, Pending> = HashMap::new();
    let mut retry: Vec<Pending> = Vec::new();
    let mut next_seq = 0u64;
    let mut open = true;
    let mut resume_at: Option<Instant> = None;
    loop {
        // Paused after a refusal for the rate: answers still come in; nothing goes out until
        // the pause ends (and with nothing in flight, wait for it).
        if resume_at.is_some_and(|at| Instant::now() < at) && in_flight.is_empty() {
            tokio::time::sleep_until(resume_at.unwrap_or_else(Instant::now)).await;
        }
        let paused = resume_at.is_some_and(|at| Instant::now() < at);
        // Send while the window has room: retries first, then new rows.
        while !paused && in_flight.len() < WINDOW && (open || !retry.is_empty()) {
            let pending = match retry.pop() {
                Some(p) => p,
                None => match rows.recv().await {
                    Some(p) => p,
                    None => {
                        open = false;
                        continue;
                    }
                },
            };
            let request = pending.request.clone();
            tx.send(proto::PublishStreamRequest {
                event: Some(Event::Outcome(request)),
            })
            .await
            .map_err(|_| ImportError::Broker("the stream closed".into()))?;
            in_flight.insert(next_seq, pending);
            next_seq += 1;
        }
        if in_flight.is_empty() && !open && retry.is_empty() {
            return Ok(());
        }
        if in_flight.is_empty() {
            continue;
        }
        let answer = responses
            .message()
            .await
            .map_err(|s| ImportError::Broker(crate::sim::client::describe_status(&s)))?
            .ok_or_else(|| ImportError::Broker("the stream ended early".into()))?;
        let Some(pending) = in_flight.remove(&answer.sequence) else {
            continue;
        };
        let outcome = match answer.result {
            Some(proto::publish_stream_response::Result::Ack(ack)) if ack.duplicate => {
                Outcome::Already
            }
            Some(proto::publish_stream_response::Result::Ack(_)) => Outcome::Published,
            Some(proto::publish_stream_response::Result::Error(e)) if matches!(e.code, 8 | 14) => {
                // Over the agency's rate, or the log busy: the same request again, after a pause.
                if resume_at.is_none_or(|at| Instant::now() >= at) {
                    resume_at = Some(Instant::now() + BACKOFF);
                }
                retry.push(pending);
                continue;
            }
            Some(proto::publish_stream_response::Result::Error(e)) => {
                Outcome::Refused(Box::new(pending), e)
            }
            None => continue,
        };
        // The receiver lives as long as the import.
        let _ = results.send(outcome);
    }
}

/// Imports `options.file` through `channel`, over [`STREAMS`] streams.
pub async fn run(channel: Channel, options: Options) -> Result<Summary, ImportError> {
    let rows = ledger::open(&options.file, options.sheet.clone())?;
    let mut report = Report {
        path: report_path(&options.file),
        writer: None,
    };
    let (rows_tx, mut rows_rx) = mpsc::channel::<Item>(64);
    // The reading thread's std channel, bridged to async.
    tokio::task::spawn_blocking(move || {
        for item in rows {
            if rows_tx.blocking_send(item).is_err() {
                break;
            }
        }
    });
    let columns = match rows_rx.recv().await {
        Some(Item::Header(header)) => {
            let (columns, unknown) = Columns::find(&options.mapping, header)
                .map_err(|why| ImportError::Format(format!("{}: {why}", options.file.display())))?;
            for name in unknown {
                report.add(
                    1,
                    &name,
                    "column.unknown",
                    "ignored: not in the header table",
                )?;
            }
            columns
        }
        Some(Item::Failed(why)) => return Err(ImportError::Format(why)),
        Some(Item::Row(..)) | None => {
            return Err(ImportError::Format(format!(
                "{}: no header row",
                options.file.display()
            )));
        }
    };
    let size = std::fs::metadata(&options.file)
        .map(|m| m.len())
        .unwrap_or(0);
    let mut progress = progress::Progress::new(size);
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let mut workers = Vec::with_capacity(STREAMS);
    let mut senders = Vec::with_capacity(STREAMS);
    for _ in 0..STREAMS {
        let (tx, rx) = mpsc::channel(WINDOW);
        senders.push(tx);
        workers.push(tokio::spawn(stream_worker(
            channel.clone(),
            rx,
            results_tx.clone(),
        )));
    }
    drop(results_tx);
    let mut summary = Summary::default();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut next = 0usize;
    loop {
        while let Ok(outcome) = results.try_recv() {
            tally(&mut summary, &mut report, &columns, outcome)?;
        }
        match rows_rx.recv().await {
            Some(Item::Row(n, cells, at)) => {
                summary.rows += 1;
                progress.row(summary.rows, at);
                match convert(&options, &columns, &mut seen, n, cells, &mut report)? {
                    Some(pending) => {
                        // Round robin over the streams; a full one holds the reader back.
                        if senders[next % STREAMS].send(pending).await.is_err() {
                            break;
                        }
                        next += 1;
                    }
                    None => summary.refused += 1,
                }
            }
            Some(Item::Failed(why)) => return Err(ImportError::Format(why)),
            Some(Item::Header(_)) | None => break,
        }
    }
    drop(senders);
    while let Some(outcome) = results.recv().await {
        tally(&mut summary, &mut report, &columns, outcome)?;
    }
    for worker in workers {
        worker
            .await
            .map_err(|e| ImportError::Broker(format!("a stream task failed: {e}")))??;
    }
    progress.done(&summary);
    summary.report = report.finish()?;
    Ok(summary)
}

/// Counts one row's outcome (and reports a refusal).
fn tally(
    summary: &mut Summary,
    report: &mut Report,
    columns: &Columns,
    outcome: Outcome,
) -> Result<(), ImportError> {
    match outcome {
        Outcome::Published => summary.published += 1,
        Outcome::Already => summary.already += 1,
        Outcome::Refused(pending, error) => {
            summary.refused += 1;
            refused(report, columns, &pending, &error)?;
        }
    }
    Ok(())
}

/// A row as a request, or `None` when it went to the report.
fn convert(
    options: &Options,
    columns: &Columns,
    seen: &mut HashSet<u64>,
    n: u64,
    cells: Vec<String>,
    report: &mut Report,
) -> Result<Option<Pending>, ImportError> {
    let outcome = match row::outcome(
        columns,
        &options.mapping,
        &cells,
        &options.division,
        options.domain,
    ) {
        Ok((outcome, _)) => outcome,
        Err(errors) => {
            for e in errors {
                report.add(n, &columns.header_of(e.field), e.rule, &e.value)?;
            }
            return Ok(None);
        }
    };
    // 8 bytes of the case number's SHA-256: a million rows take a few MB, and a false
    // duplicate among them is a chance of about 1 in 10^7.
    let digest = Sha256::digest(outcome.case_number.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    let key = u64::from_be_bytes(first);
    if !outcome.case_number.is_empty() && !seen.insert(key) {
        report.add(
            n,
            &columns.header_of("case_number"),
            "ledger.duplicate",
            &outcome.case_number,
        )?;
        return Ok(None);
    }
    let request = proto::PublishOutcomeRequest {
        event_id: event_id(&options.agency, &outcome.case_number),
        producer: options.agency.clone(),
        // The decision's own time, not now: a rerun sends the same content, so the gateway
        // acknowledges it as a duplicate instead of refusing a changed event.
        produced_at: outcome.decided_at,
        handling: 0,
        outcome: Some(outcome),
    };
    Ok(Some(Pending {
        row: n,
        cells,
        request,
    }))
}

/// The gateway's reasons for refusing a row, one line per field, under the column it came from.
fn refused(
    report: &mut Report,
    columns: &Columns,
    pending: &Pending,
    e: &proto::PublishError,
) -> Result<(), ImportError> {
    let field_of = |path: &str| match path {
        "outcome.case_number" => "case_number",
        "outcome.subject.name" => "party_name",
        p if p.starts_with("outcome.subject") => "party_id",
        "outcome.offence_code" => "offence",
        "outcome.fine_fen" => "fine",
        "outcome.decided_at" => "decided_on",
        "outcome.legal_basis" => "legal_basis",
        "outcome.division" => "division",
        _ => "",
    };
    if e.violations.is_empty() {
        let rule = if e.code == 6 {
            "ledger.changed"
        } else {
            "refused"
        };
        return report.add(pending.row, "", rule, &e.message);
    }
    for v in &e.violations {
        let field = field_of(&v.field);
        let column = if field.is_empty() {
            v.field.clone()
        } else {
            columns.header_of(field)
        };
        let value = if field.is_empty() {
            String::new()
        } else {
            columns.cell(&pending.cells, field).to_owned()
        };
        report.add(pending.row, &column, &v.rule, &value)?;
    }
    Ok(())
}

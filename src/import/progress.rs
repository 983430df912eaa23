//! Import progress: a bar with rows, rate and ETA on a terminal (indicatif; for CSV the ETA
//! comes from the bytes read), plain lines every five seconds otherwise (logs, CI).

use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use super::Summary;

/// Progress of one import.
pub(super) struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    /// For a file of `bytes` (0: unknown).
    pub(super) fn new(bytes: u64) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(bytes.max(1));
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {percent:>3}%  {msg}  elapsed {elapsed}  ETA {eta}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Self {
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    fn rate(&self, rows: u64) -> f64 {
        rows as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    /// `rows` read so far, the last ending `at` bytes into the file (0: unknown, as for XLSX:
    /// then the bar shows rows and rate without an ETA).
    pub(super) fn row(&mut self, rows: u64, at: u64) {
        if let Some(bar) = &self.bar {
            if rows.is_multiple_of(256) {
                bar.set_message(format!("{rows} rows, {:.0} rows/s", self.rate(rows)));
                bar.set_position(at);
            }
        } else if self.last_line.elapsed() >= Duration::from_secs(5) {
            self.last_line = Instant::now();
            eprintln!("import: {rows} rows read ({:.0} rows/s)", self.rate(rows));
        }
    }

    /// The end.
    pub(super) fn done(&mut self, summary: &Summary) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
        eprintln!(
            "import: {} rows in {:.1} s ({:.0} rows/s): {} published, {} already there, {} refused",
            summary.rows,
            self.started.elapsed().as_secs_f64(),
            self.rate(summary.rows),
            summary.published,
            summary.already,
            summary.refused
        );
    }
}

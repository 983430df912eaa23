//! What a benchmark run found: each figure with the ceiling measured beside it in the same run,
//! the ratio, and the target it is held to — as a table for people or JSON for programs.

use serde::Serialize;

/// One measured figure.
#[derive(Clone, Debug, Serialize)]
pub struct Figure {
    /// What was measured.
    pub name: String,
    /// The value; `None` if it could not be measured in this run (see `note`).
    pub value: Option<f64>,
    /// Its unit.
    pub unit: &'static str,
    /// What it is measured against.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ceiling: Option<Ceiling>,
    /// The target, in words (`≥ 50% of ceiling`, `≤ 10 ms`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// Whether the target was met; `None` when there is no target or it does not apply.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub met: Option<bool>,
    /// Anything a reader needs to read the figure right.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A ceiling and the figure's ratio to it.
#[derive(Clone, Debug, Serialize)]
pub struct Ceiling {
    /// What the ceiling is.
    pub name: String,
    /// Its value, in the figure's unit.
    pub value: f64,
    /// figure ÷ ceiling.
    pub ratio: f64,
}

impl Figure {
    /// A figure without ceiling or target.
    pub fn plain(name: impl Into<String>, value: Option<f64>, unit: &'static str) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            ceiling: None,
            target: None,
            met: None,
            note: None,
        }
    }

    /// Sets the ceiling (if measured) and the ratio to it.
    pub fn against(mut self, name: impl Into<String>, ceiling: Option<f64>) -> Self {
        if let (Some(value), Some(ceiling)) = (self.value, ceiling) {
            self.ceiling = Some(Ceiling {
                name: name.into(),
                value: ceiling,
                ratio: value / ceiling.max(1e-9),
            });
        }
        self
    }

    /// The ratio to the ceiling must reach `min` (0–1).
    pub fn at_least_ratio(mut self, min: f64) -> Self {
        self.target = Some(format!("≥ {:.0}% of ceiling", min * 100.0));
        self.met = self.ceiling.as_ref().map(|c| c.ratio >= min);
        self
    }

    /// The value must be at most `max`.
    pub fn at_most(mut self, max: f64) -> Self {
        self.target = Some(format!("≤ {} {}", number(max), self.unit));
        self.met = self.value.map(|v| v <= max);
        self
    }

    /// The value must be at least `min`.
    pub fn at_least(mut self, min: f64) -> Self {
        self.target = Some(format!("≥ {} {}", number(min), self.unit));
        self.met = self.value.map(|v| v >= min);
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }
}

/// One point of an offered-load sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SweepPoint {
    /// Events per second offered.
    pub offered: f64,
    /// Events per second acknowledged.
    pub achieved: f64,
    /// Publish latency p50, ms.
    pub p50_ms: f64,
    /// Publish latency p99, ms.
    pub p99_ms: f64,
}

/// Everything a run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The machine and the settings of the run.
    pub setup: Vec<(String, String)>,
    /// The figures.
    pub figures: Vec<Figure>,
    /// Throughput and latency against offered load (`--sweep`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sweep: Vec<SweepPoint>,
}

/// 1234567.8 → "1,234,568"; small values keep two significant decimals.
pub fn number(value: f64) -> String {
    if value.abs() < 100.0 {
        let text = format!("{value:.2}");
        return text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    let digits = format!("{:.0}", value.abs());
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if value < 0.0 {
        format!("-{grouped}")
    } else {
        grouped
    }
}

impl Report {
    /// The report as a table.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (key, value) in &self.setup {
            out.push_str(&format!("{key:<22} {value}\n"));
        }
        out.push('\n');
        let rows: Vec<[String; 5]> = self
            .figures
            .iter()
            .map(|f| {
                let value = f
                    .value
                    .map_or("—".to_owned(), |v| format!("{} {}", number(v), f.unit));
                let ceiling = f.ceiling.as_ref().map_or(String::new(), |c| {
                    format!("{} {} ({})", number(c.value), f.unit, c.name)
                });
                let ratio = f
                    .ceiling
                    .as_ref()
                    .map_or(String::new(), |c| format!("{:.0}%", c.ratio * 100.0));
                let target = match (&f.target, f.met) {
                    (Some(t), Some(true)) => format!("{t}  met"),
                    (Some(t), Some(false)) => format!("{t}  MISSED"),
                    (Some(t), None) => format!("{t}  n/a"),
                    (None, _) => String::new(),
                };
                [f.name.clone(), value, ceiling, ratio, target]
            })
            .collect();
        let header = ["figure", "value", "ceiling", "ratio", "target"].map(str::to_owned);
        let width = |i: usize| {
            rows.iter()
                .chain(std::iter::once(&header))
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths = [width(0), width(1), width(2), width(3)];
        for row in std::iter::once(&header).chain(rows.iter()) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                line.push_str(cell);
                if i < 4 {
                    let pad = widths[i] - cell.chars().count() + 2;
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        for f in self.figures.iter().filter(|f| f.note.is_some()) {
            out.push_str(&format!(
                "\n* {}: {}",
                f.name,
                f.note.as_deref().unwrap_or("")
            ));
        }
        if !self.sweep.is_empty() {
            out.push_str("\n\noffered/s  achieved/s  p50 ms  p99 ms\n");
            for p in &self.sweep {
                out.push_str(&format!(
                    "{:>9}  {:>10}  {:>6.2}  {:>6.2}\n",
                    number(p.offered),
                    number(p.achieved),
                    p.p50_ms,
                    p.p99_ms
                ));
            }
        }
        out
    }

    /// The report as JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_and_targets_follow_the_ceiling() {
        let f = Figure::plain("publish", Some(600.0), "events/s")
            .against("no-op gRPC", Some(1000.0))
            .at_least_ratio(0.5);
        assert_eq!(f.ceiling.as_ref().unwrap().ratio, 0.6);
        assert_eq!(f.met, Some(true));
        let f = Figure::plain("publish", Some(600.0), "events/s")
            .against("no-op gRPC", None)
            .at_least_ratio(0.5);
        assert_eq!(
            f.met, None,
            "no ceiling measured: the target cannot be judged"
        );
        let f = Figure::plain("p99", Some(12.5), "ms").at_most(10.0);
        assert_eq!(f.met, Some(false));
        assert_eq!(f.target.as_deref(), Some("≤ 10 ms"));
    }

    #[test]
    fn numbers_are_grouped_and_small_ones_keep_decimals() {
        assert_eq!(number(1_234_567.8), "1,234,568");
        assert_eq!(number(4.25), "4.25");
        assert_eq!(number(10.0), "10");
        assert_eq!(number(250.0), "250");
    }

    #[test]
    fn the_table_marks_missed_targets() {
        let report = Report {
            setup: vec![("bus".into(), "embedded".into())],
            figures: vec![Figure::plain("p99", Some(12.5), "ms").at_most(10.0)],
            sweep: vec![],
        };
        let text = report.text();
        assert!(text.contains("MISSED"), "{text}");
        assert!(report.json().contains("\"met\": false"));
    }
}

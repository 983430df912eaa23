//! Chart data for the console's Apache ECharts charts: the server counts, the page carries the
//! numbers as JSON in a `data-chart` attribute, and `assets/console.js` draws them — so a chart
//! is testable here, and readable without its script (the `aria-label` and the boards it links).

use maud::{Markup, html};
use serde::Serialize;

/// One series: a name for the legend, the key a click puts in the link, a value per category.
#[derive(Debug, Serialize)]
pub(super) struct Series {
    pub(super) name: String,
    pub(super) key: String,
    pub(super) data: Vec<i64>,
}

/// A bar chart.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct Chart {
    /// Labels along the category axis.
    pub(super) categories: Vec<String>,
    /// What a click puts for `{category}` in `href` (its own text: a query fragment or a key).
    pub(super) category_keys: Vec<String>,
    pub(super) series: Vec<Series>,
    /// The board a click opens, with `{series}` and `{category}` to fill in.
    pub(super) href: String,
    /// Series stacked on one bar per category.
    pub(super) stack: bool,
    /// Bars along the vertical axis (for long category labels).
    #[serde(skip)]
    pub(super) horizontal: bool,
}

impl Chart {
    /// The chart's element; `label` names it for screen readers. A chart with no data says so
    /// in words instead.
    pub(super) fn render(&self, label: &str) -> Markup {
        if self.series.iter().all(|s| s.data.iter().all(|v| *v == 0)) {
            return html! { p.muted { "暂无数据" } };
        }
        let mut spec = serde_json::to_value(self).unwrap_or_default();
        if self.horizontal {
            spec["kind"] = "hbar".into();
        }
        html! {
            div.chart role="img" aria-label=(label) data-chart=(spec.to_string()) {}
        }
    }
}

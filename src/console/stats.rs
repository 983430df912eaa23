//! 统计分析 (`/stats?month=YYYY-MM`): for the viewer's jurisdiction and one month, per agency —
//! leads received and answered, 反馈及时率 (answers within the configured working days, of all
//! answers), 办结率 (answers of leads received), outcomes, possible-crime alerts, referrals and
//! 移送率 (referrals of possible-crime alerts), 以罚代刑 alerts — then penalties by offence
//! (`part=penalties`) and a twelve-month trend. The page is the monthly report: it prints on A4,
//! and each table exports to XLSX or CSV. Read from the router's monthly counters.

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use maud::html;

use super::boards::jurisdiction;
use super::charts::{Chart, Series};
use super::frame::as_query;
use super::labels::agency_name;
use super::pages::Refusal;
use super::table::{Cell, Output, Table, TableQuery};
use crate::domain::calendar::CHINA;
use crate::domain::stats::Measure;
use crate::domain::{Agency, AgencyId, Registry};
use crate::store::{Count, Period, Store};

/// `/stats` options.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct StatsQuery {
    /// `YYYY-MM` (default: this month, China time).
    month: Option<String>,
    /// `penalties` for the penalties-by-offence table (its export).
    part: Option<String>,
}

/// The first day of the month asked for.
fn month_of(raw: Option<&str>, now: Timestamp) -> Result<Date, Refusal> {
    match raw.filter(|m| !m.is_empty()) {
        None => Ok(CHINA.to_datetime(now).date().first_of_month()),
        Some(text) => format!("{text}-01")
            .parse::<Date>()
            .map_err(|_| Refusal::BadRequest(format!("month: {text} is not a month (YYYY-MM)"))),
    }
}

/// Per agency, per measure.
fn per_agency(counts: &[Count]) -> BTreeMap<String, BTreeMap<Measure, i64>> {
    let mut out: BTreeMap<String, BTreeMap<Measure, i64>> = BTreeMap::new();
    for c in counts {
        if !matches!(
            c.measure,
            Measure::LeadsReceived
                | Measure::LeadsAnswered
                | Measure::LeadsAnsweredOnTime
                | Measure::Outcomes
                | Measure::CrimeAlerts
                | Measure::Referrals
                | Measure::Substitutions
        ) {
            continue;
        }
        *out.entry(c.dimension.clone())
            .or_default()
            .entry(c.measure)
            .or_default() += c.value;
    }
    out
}

fn agency_label(registry: &Registry, dim: &str) -> String {
    if dim.is_empty() {
        return "（无主管机关）".into();
    }
    AgencyId::parse(dim).map_or_else(|_| dim.to_owned(), |id| agency_name(registry, &id))
}

/// The agencies table.
fn agencies(registry: &Registry, counts: &[Count]) -> Table {
    let mut table = Table {
        columns: vec![
            "机关",
            "接收线索",
            "已反馈",
            "按时反馈",
            "反馈及时率",
            "办结率",
            "处理结果",
            "涉嫌犯罪预警",
            "移送",
            "移送率",
            "以罚代刑预警",
        ],
        rows: Vec::new(),
    };
    let rows = per_agency(counts);
    let mut total: BTreeMap<Measure, i64> = BTreeMap::new();
    let add_row = |name: String, id: &str, m: &BTreeMap<Measure, i64>| {
        let get = |k: Measure| m.get(&k).copied().unwrap_or(0);
        let cells = vec![
            Cell::text(&name),
            Cell::int(get(Measure::LeadsReceived)),
            Cell::int(get(Measure::LeadsAnswered)),
            Cell::int(get(Measure::LeadsAnsweredOnTime)),
            Cell::share(
                get(Measure::LeadsAnsweredOnTime),
                get(Measure::LeadsAnswered),
            ),
            Cell::share(get(Measure::LeadsAnswered), get(Measure::LeadsReceived)),
            Cell::int(get(Measure::Outcomes)),
            Cell::int(get(Measure::CrimeAlerts)),
            Cell::int(get(Measure::Referrals)),
            Cell::share(get(Measure::Referrals), get(Measure::CrimeAlerts)),
            Cell::int(get(Measure::Substitutions)),
        ];
        (cells, format!("{name} {id}"))
    };
    for (id, m) in &rows {
        for (k, v) in m {
            *total.entry(*k).or_default() += v;
        }
        table.rows.push(add_row(agency_label(registry, id), id, m));
    }
    if !rows.is_empty() {
        table.rows.push(add_row("合计".into(), "", &total));
    }
    table
}

/// Penalties by offence and agency.
fn penalties(registry: &Registry, counts: &[Count]) -> Table {
    let mut sums: BTreeMap<&str, (i64, i64)> = BTreeMap::new();
    for c in counts {
        match c.measure {
            Measure::Penalties => sums.entry(&c.dimension).or_default().0 += c.value,
            Measure::PenaltyFen => sums.entry(&c.dimension).or_default().1 += c.value,
            _ => {}
        }
    }
    let mut table = Table {
        columns: vec!["违法行为", "机关", "罚款件数", "罚款总额", "平均罚款"],
        rows: Vec::new(),
    };
    for (dim, (n, fen)) in sums {
        let (agency, offence) = dim.split_once('/').unwrap_or((dim, ""));
        let name = agency_label(registry, agency);
        table.rows.push((
            vec![
                Cell::text(offence),
                Cell::text(&name),
                Cell::int(n),
                Cell::fen(fen),
                Cell::fen(if n > 0 { fen / n } else { 0 }),
            ],
            format!("{offence} {name} {agency}"),
        ));
    }
    table
}

/// Twelve months up to `month`: leads received, answered, possible-crime alerts, referrals.
fn trend(store: &Store, prefix: &str, month: Date, q: &str) -> Result<Chart, Refusal> {
    let first = month.checked_sub(11.months()).unwrap_or(month);
    let counts = store.counts(prefix, Period::Month(first), Period::Month(month))?;
    let months: Vec<Date> = (0..12)
        .filter_map(|n| first.checked_add(n.months()).ok())
        .collect();
    let measures = [
        (Measure::LeadsReceived, "接收线索"),
        (Measure::LeadsAnswered, "已反馈"),
        (Measure::CrimeAlerts, "涉嫌犯罪预警"),
        (Measure::Referrals, "移送"),
    ];
    let series = measures
        .iter()
        .map(|(measure, name)| Series {
            name: (*name).to_owned(),
            key: String::new(),
            data: months
                .iter()
                .map(|m| {
                    let period = m.strftime("%Y%m").to_string();
                    counts
                        .iter()
                        .filter(|c| c.measure == *measure && c.period == period)
                        .map(|c| c.value)
                        .sum()
                })
                .collect(),
        })
        .collect();
    let amp = q.replacen('?', "&", 1);
    Ok(Chart {
        categories: months
            .iter()
            .map(|m| m.strftime("%Y-%m").to_string())
            .collect(),
        category_keys: months
            .iter()
            .map(|m| m.strftime("%Y-%m").to_string())
            .collect(),
        series,
        href: format!("/stats?month={{category}}{amp}"),
        stack: false,
        horizontal: false,
    })
}

/// The statistics page, or one of its tables exported.
pub(super) fn page(
    store: &Store,
    registry: &Registry,
    viewer: Option<&Agency>,
    query: &StatsQuery,
    table_query: &TableQuery,
    now: Timestamp,
) -> Result<Output, Refusal> {
    let prefix = jurisdiction(viewer)?;
    let month = month_of(query.month.as_deref(), now)?;
    let counts = store.counts(&prefix, Period::Month(month), Period::Month(month))?;
    let label = month.strftime("%Y年%m月").to_string();
    let scope = if prefix.is_empty() {
        "全部辖区".to_owned()
    } else {
        prefix.clone()
    };
    let q = as_query(viewer);
    if query.part.as_deref() == Some("penalties") {
        return Ok(penalties(registry, &counts).respond(
            &format!("罚款统计 {label}"),
            &format!("罚款统计-{}", month.strftime("%Y-%m")),
            table_query,
            viewer,
            html! {},
            html! {},
        ));
    }
    let chart = trend(store, &prefix, month, &q)?;
    let by_offence = penalties(registry, &counts);
    let offences: BTreeSet<String> = by_offence
        .rows
        .iter()
        .map(|(cells, _)| cells[0].text.clone())
        .collect();
    let amp = q.replacen('?', "&", 1);
    let before = html! {
        p.muted { "辖区：" (scope) "　统计月份：" (label) "（北京时间）　反馈及时率＝按时反馈÷已反馈；办结率＝已反馈÷接收线索；移送率＝移送÷涉嫌犯罪预警" }
        form.filters {
            label for="month" { "月份" }
            input #month name="month" type="month" value=(month.strftime("%Y-%m"));
            @if let Some(v) = viewer { input type="hidden" name="as" value=(v.id.as_str()); }
            button { "查看" }
        }
        div.panel { h2 { "近十二个月" } (chart.render("近十二个月线索、反馈、预警与移送")) }
        h2 { "各机关" }
    };
    let after = html! {
        h2 { "罚款（按违法行为）" }
        p.muted { (offences.len()) " 种违法行为，" (by_offence.rows.len()) " 行。"
            a href=(format!("/stats?month={}&part=penalties{amp}", month.strftime("%Y-%m"))) { "查看与导出" } }
        div.tablewrap tabindex="0" { table {
            thead { tr { @for c in &by_offence.columns { th { (c) } } } }
            tbody { @for (cells, _) in by_offence.rows.iter().take(50) {
                tr { @for cell in cells { td { (cell.text) } } }
            } }
        } }
    };
    Ok(agencies(registry, &counts).respond(
        &format!("统计分析 · {label}"),
        &format!("统计分析-{}", month.strftime("%Y-%m")),
        table_query,
        viewer,
        before,
        after,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(measure: Measure, dim: &str, value: i64) -> Count {
        Count {
            period: "202611".into(),
            measure,
            dimension: dim.into(),
            value,
        }
    }

    #[test]
    fn rates_are_shares_of_their_bases_and_a_total_row_sums_the_agencies() {
        let registry = Registry::default();
        let counts = [
            count(Measure::LeadsReceived, "330106-SCJG", 10),
            count(Measure::LeadsAnswered, "330106-SCJG", 8),
            count(Measure::LeadsAnsweredOnTime, "330106-SCJG", 6),
            count(Measure::CrimeAlerts, "330106-SCJG", 4),
            count(Measure::Referrals, "330106-SCJG", 1),
            count(Measure::LeadsReceived, "330106-STHJ", 5),
        ];
        let table = agencies(&registry, &counts);
        let first = &table.rows[0].0;
        assert_eq!(first[4].text, "75.0%"); // 6 of 8 answered in time
        assert_eq!(first[5].text, "80.0%"); // 8 of 10 received answered
        assert_eq!(first[9].text, "25.0%"); // 1 referral of 4 crime alerts
        let total = &table.rows[2].0;
        assert_eq!(
            (total[0].text.as_str(), total[1].text.as_str()),
            ("合计", "15")
        );
        // No answers at all: no rate, not 0%.
        assert_eq!(table.rows[1].0[4].text, "—");
    }

    #[test]
    fn penalties_group_by_offence_and_agency_with_money_in_yuan() {
        let counts = [
            count(Measure::Penalties, "330106-SCJG/CL-140", 2),
            count(Measure::PenaltyFen, "330106-SCJG/CL-140", 4_180_000),
        ];
        let table = penalties(&Registry::default(), &counts);
        let row = &table.rows[0].0;
        assert_eq!(row[0].text, "CL-140");
        assert_eq!(row[3].text, "¥41,800.00");
        assert_eq!(row[4].text, "¥20,900.00");
    }
}

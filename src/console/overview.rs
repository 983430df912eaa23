//! The overview page (`/`): for the viewer's jurisdiction, leads by status, referrals by state
//! and overdue, outcomes and alerts of the last 30 days, charts of events per day by domain and
//! by agency, referrals by state and alerts by kind (each bar opens the board it counts), the
//! live alert feed and the latest alerts. Everything counted comes from the router's counters
//! (`store::Store::counts`): no event is scanned, whatever the store holds.

use std::collections::BTreeMap;

use jiff::civil::Date;
use jiff::{Timestamp, ToSpan};
use maud::{Markup, html};

use super::boards::jurisdiction;
use super::charts::{Chart, Series};
use super::frame::{as_query, frame};
use super::labels;
use super::pages::Refusal;
use crate::domain::calendar::CHINA;
use crate::domain::stats::{Measure, dim_of};
use crate::domain::{Agency, AlertKind, Domain, LeadStatus, Registry};
use crate::store::{Count, Period, Store};

/// Days the charts cover.
const DAYS: i64 = 30;

/// Shows alerts from `/live` as they are raised.
const LIVE_SCRIPT: &str = "new EventSource('/live' + location.search).addEventListener('alert', (e) => {\
  const a = JSON.parse(e.data);\
  const li = document.createElement('li');\
  li.textContent = a.raised_at + ' ' + a.label + ' ' + a.title;\
  if (a.kind === 'overdue') li.className = 'overdue';\
  document.getElementById('live').prepend(li);\
});";

/// Sums of one measure's counters by dimension.
fn by_dim(counts: &[Count], measure: Measure) -> BTreeMap<String, i64> {
    let mut out = BTreeMap::new();
    for c in counts.iter().filter(|c| c.measure == measure) {
        *out.entry(c.dimension.clone()).or_default() += c.value;
    }
    out
}

/// The last [`DAYS`] China-time days, oldest first.
fn days(now: Timestamp) -> Vec<Date> {
    let today = CHINA.to_datetime(now).date();
    (0..DAYS)
        .rev()
        .filter_map(|n| today.checked_sub(n.days()).ok())
        .collect()
}

/// A stacked daily chart of `measure`, one series per dimension (labelled by `label`); a
/// click opens `href` with the series key and the day's `from=…&to=…`.
fn daily(
    counts: &[Count],
    measure: Measure,
    days: &[Date],
    label: impl Fn(&str) -> (String, String),
    href: String,
) -> Chart {
    let mut series: BTreeMap<String, Series> = BTreeMap::new();
    for c in counts
        .iter()
        .filter(|c| c.measure == measure && c.value != 0)
    {
        let Some(index) = days
            .iter()
            .position(|d| d.strftime("%Y%m%d").to_string() == c.period)
        else {
            continue;
        };
        let (name, key) = label(&c.dimension);
        let entry = series.entry(c.dimension.clone()).or_insert_with(|| Series {
            name,
            key,
            data: vec![0; days.len()],
        });
        entry.data[index] += c.value;
    }
    Chart {
        categories: days
            .iter()
            .map(|d| d.strftime("%m-%d").to_string())
            .collect(),
        category_keys: days
            .iter()
            .map(|d| {
                let next = d.tomorrow().unwrap_or(*d);
                format!("from={d}&to={next}")
            })
            .collect(),
        series: series.into_values().collect(),
        href,
        stack: true,
        horizontal: false,
    }
}

/// A single-series horizontal chart of `values` (key, label, value), a click opening `href`
/// with the key.
fn ranked(name: &str, values: Vec<(String, String, i64)>, href: String) -> Chart {
    Chart {
        categories: values.iter().map(|(_, l, _)| l.clone()).collect(),
        category_keys: values.iter().map(|(k, _, _)| k.clone()).collect(),
        series: vec![Series {
            name: name.to_owned(),
            key: String::new(),
            data: values.iter().map(|(_, _, v)| *v).collect(),
        }],
        href,
        stack: false,
        horizontal: true,
    }
}

/// The overview for `viewer` (coordinators, procuratorates, or the development operator).
pub(super) fn overview(
    store: &Store,
    registry: &Registry,
    viewer: Option<&Agency>,
    now: Timestamp,
) -> Result<String, Refusal> {
    let prefix = jurisdiction(viewer)?;
    let days = days(now);
    let (first, last) = (days[0], days[days.len() - 1]);
    let standing = store.counts(&prefix, Period::Standing, Period::Standing)?;
    let daily_counts = store.counts(&prefix, Period::Day(first), Period::Day(last))?;
    let leads = by_dim(&standing, Measure::LeadsByStatus);
    let lead = |s: LeadStatus| leads.get(&dim_of(s)).copied().unwrap_or(0);
    let overdue = by_dim(&standing, Measure::ReferralsOverdue)
        .values()
        .sum::<i64>();
    let outcomes: i64 = by_dim(&daily_counts, Measure::Outcomes).values().sum();
    let alerts_by_kind = by_dim(&daily_counts, Measure::AlertsByKind);
    let q = as_query(viewer);
    let amp = q.replacen('?', "&", 1);

    let by_domain = daily(
        &daily_counts,
        Measure::EventsByDomain,
        &days,
        |dim| {
            let domain = Domain::ALL.into_iter().find(|d| dim_of(*d) == dim);
            domain.map_or((dim.to_owned(), String::new()), |d| {
                (d.label().to_owned(), labels::domain_key(d))
            })
        },
        format!("/leads?domain={{series}}&{{category}}{amp}"),
    );
    let by_agency = daily(
        &daily_counts,
        Measure::EventsByAgency,
        &days,
        |dim| {
            let name = crate::domain::AgencyId::parse(dim)
                .map_or_else(|_| dim.to_owned(), |id| labels::agency_name(registry, &id));
            (name, dim.to_owned())
        },
        format!("/leads?agency={{series}}&{{category}}{amp}"),
    );
    let referral_counts = by_dim(&standing, Measure::ReferralsByState);
    let states: Vec<(String, String, i64)> = labels::STATES
        .iter()
        .filter_map(|s| {
            let n = referral_counts.get(&dim_of(*s)).copied().unwrap_or(0);
            (n > 0).then(|| (dim_of(*s), labels::state(*s).to_owned(), n))
        })
        .collect();
    let in_flow: i64 = states.iter().map(|(_, _, n)| n).sum();
    let kinds: Vec<(String, String, i64)> = AlertKind::ALL
        .iter()
        .filter_map(|k| {
            let n = alerts_by_kind.get(&dim_of(*k)).copied().unwrap_or(0);
            (n > 0).then(|| (dim_of(*k), labels::alert_kind(*k).to_owned(), n))
        })
        .collect();
    let alerts_total: i64 = kinds.iter().map(|(_, _, n)| n).sum();
    let latest = store.latest_alerts(&prefix, 20)?;
    let scope = if prefix.is_empty() {
        "全部".to_owned()
    } else {
        prefix.clone()
    };

    let card = |label: &str, n: i64, href: String, bad: bool| -> Markup {
        html! {
            a.card.bad[bad && n > 0] href=(href) style="text-decoration:none;color:inherit" {
                div.n { (n) }
                div.l { (label) }
            }
        }
    };
    let body = html! {
        p.muted { "辖区：" (scope) "　统计截至 " (CHINA.to_datetime(now).strftime("%Y-%m-%d %H:%M")) "（北京时间）" }
        div.cards {
            (card("线索 · 办理中", lead(LeadStatus::Open), format!("/leads?status=open{amp}"), false))
            (card("线索 · 无主管机关", lead(LeadStatus::Unassigned), format!("/leads?status=unassigned{amp}"), true))
            (card("线索 · 已办结", lead(LeadStatus::Closed), format!("/leads?status=closed{amp}"), false))
            (card("移送案件", in_flow, format!("/referrals{q}"), false))
            (card("移送 · 逾期", overdue, format!("/referrals?overdue=1{amp}"), true))
            (card("处理结果（30日）", outcomes, format!("/stats{q}"), false))
            (card("预警（30日）", alerts_total, format!("/alerts{q}"), false))
        }
        div.grid2 {
            div.panel { h2 { "每日事件（30日，按领域）" } (by_domain.render("每日事件按领域")) }
            div.panel { h2 { "每日事件（30日，按机关）" } (by_agency.render("每日事件按机关")) }
            div.panel { h2 { "移送案件（按状态）" }
                (ranked("移送案件", states, format!("/referrals?state={{category}}{amp}")).render("移送案件按状态")) }
            div.panel { h2 { "预警（30日，按类别）" }
                (ranked("预警", kinds, format!("/alerts?kind={{category}}{amp}")).render("预警按类别")) }
        }
        div.panel {
            h2 { "实时预警" }
            ul #live .live tabindex="0" aria-live="polite" {}
            script { (maud::PreEscaped(LIVE_SCRIPT)) }
        }
        div.panel {
            h2 { "最新预警" }
            div.tablewrap tabindex="0" { table {
                thead { tr { th { "时间" } th { "类别" } th { "规则" } th { "依据" } } }
                tbody { @for a in &latest {
                    tr {
                        td { (CHINA.to_datetime(a.raised_at).strftime("%Y-%m-%d %H:%M")) }
                        td { (labels::alert_kind(a.kind)) }
                        td { (a.title) }
                        td { (a.citation) }
                    }
                } }
            } }
        }
    };
    Ok(frame("执法协同总览", body, viewer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_daily_chart_puts_each_counter_on_its_day_and_links_the_day() {
        let now: Timestamp = "2026-11-27T04:00:00Z".parse().unwrap();
        let days = days(now);
        let count = |period: &str, dim: &str, value| Count {
            period: period.into(),
            measure: Measure::EventsByDomain,
            dimension: dim.into(),
            value,
        };
        let counts = [
            count("20261127", "Tax", 3),
            count("20261120", "Tax", 2),
            count("20261127", "FoodDrug", 1),
        ];
        let chart = daily(
            &counts,
            Measure::EventsByDomain,
            &days,
            |d| (d.to_owned(), d.to_lowercase()),
            "/leads?domain={series}&{category}".into(),
        );
        assert_eq!(chart.series.len(), 2);
        let tax = chart.series.iter().find(|s| s.name == "Tax").unwrap();
        assert_eq!(tax.data.iter().sum::<i64>(), 5);
        assert_eq!(tax.data[29], 3);
        assert_eq!(chart.category_keys[29], "from=2026-11-27&to=2026-11-28");
    }
}

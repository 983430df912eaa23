//! The overview page (`/`): for the viewer's jurisdiction, leads by status, outcomes, referrals
//! by state and overdue, the latest alerts with their rules, and a chart of events per day by
//! domain over the last 30 days (SVG drawn here).

use std::collections::BTreeMap;

use jiff::{Timestamp, ToSpan};

use super::pages::{Refusal, page};
use super::public::html_escape;
use crate::access::{Access, event_access, may_survey};
use crate::domain::StoredEvent;
use crate::domain::calendar::CHINA;
use crate::domain::{Agency, Domain, LeadStatus, Payload};
use crate::store::{LeadFilter, ReferralFilter, Store};

/// Shows alerts from `/live` as they are raised (the page's only script).
const LIVE_SCRIPT: &str = "<script>\
new EventSource('/live' + location.search).addEventListener('alert', (e) => {\
  const a = JSON.parse(e.data);\
  const li = document.createElement('li');\
  li.textContent = a.raised_at + ' ' + a.label + ' ' + a.title;\
  if (a.kind === 'overdue') li.className = 'overdue';\
  document.getElementById('live').prepend(li);\
});</script>";

/// Events the chart reads, newest first: a bound on the page's cost.
const CHART_EVENTS: u64 = 50_000;
/// Rows counted for leads and referrals.
const COUNT_LIMIT: usize = 100_000;
/// Days the chart covers.
const DAYS: i64 = 30;

/// Events per (China-time day, key).
type PerDay<K> = BTreeMap<(jiff::civil::Date, K), u64>;

/// Events per day by domain and by publishing agency.
struct Daily {
    by_domain: PerDay<Domain>,
    by_agency: PerDay<String>,
    outcomes: u64,
}

fn domain_of(event: &StoredEvent) -> Option<Domain> {
    match &event.envelope.payload {
        Payload::Lead(lead) => Some(lead.domain),
        Payload::CaseOutcome(outcome) => Some(outcome.domain),
        _ => None,
    }
}

/// Events per China-time day by domain and by agency over the last [`DAYS`], within `prefix`
/// and visible to the viewer; and how many of them were outcomes.
fn per_day(
    store: &Store,
    viewer: Option<&Agency>,
    prefix: &str,
    now: Timestamp,
) -> Result<Daily, Refusal> {
    let since = now.checked_sub((DAYS * 24).hours()).unwrap_or(now);
    let after = store.durable_seq().saturating_sub(CHART_EVENTS);
    let mut daily = Daily {
        by_domain: BTreeMap::new(),
        by_agency: BTreeMap::new(),
        outcomes: 0,
    };
    for event in store.events_after(after, CHART_EVENTS as usize)? {
        let within = event
            .envelope
            .division()
            .is_some_and(|d| d.as_str().starts_with(prefix));
        if event.logged_at < since || !within || event_access(viewer, &event) == Access::Denied {
            continue;
        }
        daily.outcomes += u64::from(matches!(event.envelope.payload, Payload::CaseOutcome(_)));
        let day = CHINA.to_datetime(event.logged_at).date();
        *daily
            .by_agency
            .entry((day, event.envelope.producer.to_string()))
            .or_default() += 1;
        if let Some(domain) = domain_of(&event) {
            *daily.by_domain.entry((day, domain)).or_default() += 1;
        }
    }
    Ok(daily)
}

/// Stacked bars: one per day, one colour per domain.
fn chart<K: Ord + Clone>(
    counts: &PerDay<K>,
    keys: &[(K, String)],
    today: jiff::civil::Date,
) -> String {
    const COLOURS: [&str; 12] = [
        "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
        "#bcbd22", "#17becf", "#393b79", "#637939",
    ];
    let days: Vec<jiff::civil::Date> = (0..DAYS)
        .rev()
        .filter_map(|n| today.checked_sub(n.days()).ok())
        .collect();
    let total = |day: jiff::civil::Date| -> u64 {
        keys.iter()
            .filter_map(|(k, _)| counts.get(&(day, k.clone())))
            .sum()
    };
    let max = days.iter().map(|d| total(*d)).max().unwrap_or(0).max(1) as f64;
    let (width, height, bar) = (720.0, 200.0, 20.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" \
         font-family=\"sans-serif\" font-size=\"11\" role=\"img\" aria-label=\"每日事件数\">",
        height + 60.0
    );
    for (i, day) in days.iter().enumerate() {
        let x = 40.0 + i as f64 * (bar + 2.0);
        let mut y = height;
        for (c, (key, label)) in keys.iter().enumerate() {
            let n = counts.get(&(*day, key.clone())).copied().unwrap_or(0);
            if n == 0 {
                continue;
            }
            let h = n as f64 / max * (height - 10.0);
            y -= h;
            svg.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{}\">\
                 <title>{} {} {n}</title></rect>",
                COLOURS[c % COLOURS.len()],
                day,
                html_escape(label)
            ));
        }
        if i % 5 == 0 {
            svg.push_str(&format!(
                "<text x=\"{x:.1}\" y=\"{}\">{}</text>",
                height + 14.0,
                day.strftime("%m-%d")
            ));
        }
    }
    svg.push_str(&format!(
        "<text x=\"0\" y=\"12\">{max}</text><text x=\"0\" y=\"{height}\">0</text>"
    ));
    let mut x = 40.0;
    for (c, (key, label)) in keys.iter().enumerate() {
        if counts.keys().any(|(_, k)| k == key) {
            svg.push_str(&format!(
                "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/>\
                 <text x=\"{}\" y=\"{}\">{}</text>",
                height + 30.0,
                COLOURS[c % COLOURS.len()],
                x + 14.0,
                height + 39.0,
                html_escape(label)
            ));
            x += 90.0;
        }
    }
    svg.push_str("</svg>");
    svg
}

/// The overview for `viewer` (coordinators, procuratorates, or the development operator).
pub(super) fn overview(
    store: &Store,
    viewer: Option<&Agency>,
    now: Timestamp,
) -> Result<String, Refusal> {
    let prefix = viewer.map_or(String::new(), |v| {
        v.division.jurisdiction_prefix().to_owned()
    });
    if let Some(viewer) = viewer
        && !may_survey(viewer, &prefix)
    {
        return Err(Refusal::Forbidden(format!(
            "{} is not a coordinator or procuratorate: use the agency's inbox",
            viewer.id
        )));
    }
    let filter = LeadFilter {
        division_prefix: prefix.clone(),
        ..LeadFilter::default()
    };
    let mut leads: BTreeMap<&str, u64> = BTreeMap::new();
    for (_, row) in store.list_leads(&filter, None, COUNT_LIMIT)?.items {
        let label = match row.status {
            LeadStatus::Open => "办理中",
            LeadStatus::Unassigned => "无主管机关",
            LeadStatus::Closed => "已办结",
        };
        *leads.entry(label).or_default() += 1;
    }
    let referral_filter = ReferralFilter {
        state: None,
        division_prefix: prefix.clone(),
        party: None,
        overdue: false,
    };
    let mut referrals: BTreeMap<String, u64> = BTreeMap::new();
    for record in store.referrals(&referral_filter, None, COUNT_LIMIT)?.items {
        *referrals
            .entry(super::labels::state(record.state).to_owned())
            .or_default() += 1;
    }
    let overdue = store
        .referrals(
            &ReferralFilter {
                overdue: true,
                ..referral_filter
            },
            None,
            COUNT_LIMIT,
        )?
        .items
        .len();
    let alerts = store.latest_alerts(&prefix, 20)?;
    let daily = per_day(store, viewer, &prefix, now)?;
    let outcomes = daily.outcomes;
    let today = CHINA.to_datetime(now).date();
    let domains: Vec<(Domain, String)> = Domain::ALL
        .iter()
        .map(|d| (*d, d.label().to_owned()))
        .collect();
    let mut agencies: Vec<String> = daily.by_agency.keys().map(|(_, a)| a.clone()).collect();
    agencies.sort();
    agencies.dedup();
    let agencies: Vec<(String, String)> = agencies.into_iter().map(|a| (a.clone(), a)).collect();

    let list = |counts: &BTreeMap<String, u64>| {
        counts
            .iter()
            .map(|(k, n)| format!("<li>{} {n}</li>", html_escape(k)))
            .collect::<String>()
    };
    let leads: BTreeMap<String, u64> = leads.into_iter().map(|(k, n)| (k.to_owned(), n)).collect();
    let alert_rows: String = alerts
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                CHINA.to_datetime(a.raised_at).strftime("%Y-%m-%d %H:%M"),
                super::labels::alert_kind(a.kind),
                html_escape(&a.title),
                html_escape(&a.citation)
            )
        })
        .collect();
    let scope = if prefix.is_empty() {
        "全部".to_owned()
    } else {
        prefix.clone()
    };
    let body = format!(
        "<p>辖区：{}</p><h2>线索</h2><ul>{}</ul><p>处理结果（30日内）：{outcomes}</p>\
         <h2>移送</h2><ul>{}</ul><p class=\"overdue\">逾期：{overdue}</p>\
         <h2>每日事件（30日，按领域）</h2>{}<h2>每日事件（30日，按机关）</h2>{}\
         <h2>实时预警</h2><ul id=\"live\"></ul>{LIVE_SCRIPT}\
         <h2>最新预警</h2><table><thead><tr><th>时间</th><th>类别</th><th>规则</th><th>依据</th></tr>\
         </thead><tbody>{alert_rows}</tbody></table>",
        html_escape(&scope),
        list(&leads),
        list(&referrals),
        chart(&daily.by_domain, &domains, today),
        chart(&daily.by_agency, &agencies, today),
    );
    Ok(page("执法协同总览", &body, viewer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chart_has_a_bar_segment_per_day_and_domain_counted() {
        let today = jiff::civil::date(2026, 11, 27);
        let mut counts = BTreeMap::new();
        counts.insert((today, Domain::Tax), 3);
        counts.insert((today, Domain::FoodDrug), 1);
        counts.insert((jiff::civil::date(2026, 11, 20), Domain::Tax), 2);
        let keys: Vec<(Domain, String)> = Domain::ALL
            .iter()
            .map(|d| (*d, d.label().to_owned()))
            .collect();
        let svg = chart(&counts, &keys, today);
        assert_eq!(svg.matches("<title>").count(), 3);
        assert!(svg.contains("税务") && svg.contains("食品药品"));
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
    }
}

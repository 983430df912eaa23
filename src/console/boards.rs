//! The referral pipeline (`/referrals`: a column per state, each card with its running
//! deadline, red when overdue, and the party it waits on), the alerts list (`/alerts`) and the
//! penalty consistency report (`/penalties`, 同案不同罚) — for coordinators and procuratorates, in
//! their jurisdiction.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::labels;
use super::pages::Refusal;
use super::table::{Cell, Output, Table, TableQuery};
use crate::access::{mask_name, may_survey};
use crate::domain::calendar::CHINA;
use crate::domain::{Agency, OffenceCode, SubjectId};
use crate::store::{ReferralFilter, ReportFilter, Store};

/// The viewer's jurisdiction prefix, if it may survey it.
pub(super) fn jurisdiction(viewer: Option<&Agency>) -> Result<String, Refusal> {
    let prefix = viewer.map_or(String::new(), |v| {
        v.division.jurisdiction_prefix().to_owned()
    });
    match viewer {
        Some(viewer) if !may_survey(viewer, &prefix) => Err(Refusal::Forbidden(format!(
            "{} is not a coordinator or procuratorate",
            viewer.id
        ))),
        _ => Ok(prefix),
    }
}

fn cst(t: Timestamp) -> String {
    CHINA.to_datetime(t).strftime("%m-%d %H:%M").to_string()
}

/// Time left until `due`, or how late, in hours or days.
fn left(due: Timestamp, now: Timestamp) -> String {
    let seconds = due.as_second() - now.as_second();
    let (sign, s) = if seconds < 0 {
        ("逾期 ", -seconds)
    } else {
        ("剩余 ", seconds)
    };
    if s >= 86_400 {
        format!("{sign}{} 天", s / 86_400)
    } else {
        format!("{sign}{} 小时", s / 3_600)
    }
}

/// `/referrals` options.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct ReferralQuery {
    /// A state, by its name (as the overview's chart links it).
    state: Option<String>,
    /// `1`: only those whose running deadline passed.
    overdue: Option<String>,
}

/// The referral pipeline: a column per state, each card linking to the referral's file; or,
/// exported, the same referrals as a table.
pub(super) fn referrals(
    store: &Store,
    registry: &crate::domain::Registry,
    viewer: Option<&Agency>,
    query: &ReferralQuery,
    table_query: &TableQuery,
    now: Timestamp,
) -> Result<Output, Refusal> {
    let prefix = jurisdiction(viewer)?;
    let state = match query.state.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(name) => Some(
            labels::STATES
                .into_iter()
                .find(|s| crate::domain::stats::dim_of(*s) == name)
                .ok_or_else(|| {
                    Refusal::BadRequest(format!("state: {name} is not a referral state"))
                })?,
        ),
    };
    let filter = ReferralFilter {
        state,
        division_prefix: prefix,
        party: None,
        overdue: query.overdue.as_deref() == Some("1"),
    };
    let q = super::frame::as_query(viewer).replacen('?', "&", 1);
    let mut table = Table {
        columns: vec![
            "移送编号",
            "案号",
            "当事人",
            "移送机关",
            "公安机关",
            "状态",
            "期限",
            "截止",
        ],
        rows: Vec::new(),
    };
    // By state, in the flow's order; each column headed by its Chinese label.
    let mut columns: BTreeMap<crate::domain::State, Vec<maud::Markup>> = BTreeMap::new();
    for record in store.referrals(&filter, None, 10_000)?.items {
        let subject = &record.referral.subject;
        let who = match &subject.id {
            SubjectId::Person(_) => mask_name(&subject.name),
            SubjectId::Organization(_) => subject.name.clone(),
        };
        let key = record.key.to_string();
        let file = format!("/referrals/file?key={key}{q}");
        let late = record.deadline.as_ref().is_some_and(|d| d.due < now);
        let agency = labels::agency_name(registry, &record.key.agency);
        let police = labels::agency_name(registry, &record.police);
        let card = maud::html! {
            div.card {
                a href=(file) { b { (record.referral.case_number) } } br;
                (who) br;
                small.muted { (agency) " → " (police) }
                @if let Some(d) = &record.deadline {
                    div.deadline.overdue[late] {
                        (labels::step(&d.step)) "：" (left(d.due, now)) "（" (labels::party(d.party)) "，" (cst(d.due)) "）"
                        br; small { (d.citation) }
                    }
                }
            }
        };
        columns.entry(record.state).or_default().push(card);
        let deadline = record.deadline.as_ref();
        let mut remaining = Cell::text(deadline.map_or(String::new(), |d| left(d.due, now)));
        if late {
            remaining = remaining.tone("bad");
        }
        table.rows.push((
            vec![
                Cell::text(&key).link(file.clone()),
                Cell::text(&record.referral.case_number),
                Cell::text(&who),
                Cell::text(agency),
                Cell::text(police),
                Cell::text(labels::state(record.state)),
                Cell::text(deadline.map_or("", |d| labels::step(&d.step))),
                remaining,
            ],
            format!("{key} {} {who}", record.referral.case_number),
        ));
    }
    if table_query.format.is_some() {
        return Ok(table.respond(
            "移送案件",
            "移送案件",
            table_query,
            viewer,
            maud::html! {},
            maud::html! {},
        ));
    }
    let body = maud::html! {
        div.toolbar {
            @if state.is_some() || filter.overdue { a href=(format!("/referrals{}", super::frame::as_query(viewer))) { "显示全部" } }
            a.button href=(table_query.with("format", "xlsx")) download { "导出 Excel" }
            a.button href=(table_query.with("format", "csv")) download { "导出 CSV" }
        }
        @if columns.is_empty() {
            p { "辖区内没有移送案件。" }
        } @else {
            div.cols tabindex="0" { @for (state, cards) in &columns {
                div.col { h2 { (labels::state(*state)) " " span.muted { (cards.len()) } } @for card in cards { (card) } }
            } }
        }
    };
    Ok(Output::Html(super::frame::frame("移送流程", body, viewer)))
}

/// `/alerts` options.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct AlertQuery {
    /// An alert kind, by its name (as the overview's chart links it).
    kind: Option<String>,
}

/// The latest alerts in the jurisdiction, with rule, source and the evidence they cite; or
/// exported.
pub(super) fn alerts(
    store: &Store,
    viewer: Option<&Agency>,
    query: &AlertQuery,
    table_query: &TableQuery,
) -> Result<Output, Refusal> {
    let prefix = jurisdiction(viewer)?;
    let kind = match query.kind.as_deref().filter(|k| !k.is_empty()) {
        None => None,
        Some(name) => Some(
            crate::domain::AlertKind::ALL
                .into_iter()
                .find(|k| crate::domain::stats::dim_of(*k) == name)
                .ok_or_else(|| Refusal::BadRequest(format!("kind: {name} is not an alert kind")))?,
        ),
    };
    let as_param = viewer.map_or(String::new(), |v| format!("&as={}", v.id));
    let mut table = Table {
        columns: vec!["时间", "类别", "规则", "依据", "说明", "证据"],
        rows: Vec::new(),
    };
    for a in store.latest_alerts(&prefix, 1_000)? {
        if kind.is_some_and(|k| k != a.kind) {
            continue;
        }
        // Evidence: the subject's file (organisations; a person's file is opened by id).
        let evidence = match a.subject.as_ref().map(|s| &s.id) {
            Some(SubjectId::Organization(code)) => {
                Cell::text("档案").link(format!("/subject?id={code}{as_param}"))
            }
            _ => Cell::text(""),
        };
        let search = format!(
            "{} {} {}",
            a.title,
            a.detail,
            a.subject.as_ref().map_or("", |s| s.name.as_str())
        );
        let mut label = Cell::text(labels::alert_kind(a.kind));
        if a.kind == crate::domain::AlertKind::Overdue {
            label = label.tone("bad");
        }
        table.rows.push((
            vec![
                Cell::text(cst(a.raised_at)),
                label,
                Cell::text(&a.title),
                Cell::text(&a.citation),
                Cell::text(&a.detail),
                evidence,
            ],
            search,
        ));
    }
    let chosen = query.kind.clone().unwrap_or_default();
    let filters = maud::html! {
        form.filters {
            label for="kind" { "类别" }
            select #kind name="kind" {
                option value="" { "全部类别" }
                @for k in crate::domain::AlertKind::ALL {
                    @let value = crate::domain::stats::dim_of(k);
                    option value=(value) selected[chosen == value] { (labels::alert_kind(k)) }
                }
            }
            @if let Some(v) = viewer { input type="hidden" name="as" value=(v.id.as_str()); }
            button { "筛选" }
        }
    };
    Ok(table.respond("预警", "预警", table_query, viewer, filters, maud::html! {}))
}

/// The per-agency penalty report for one offence (同案不同罚); or exported.
pub(super) fn penalties(
    store: &Store,
    registry: &crate::domain::Registry,
    viewer: Option<&Agency>,
    offence: Option<&str>,
    table_query: &TableQuery,
) -> Result<Output, Refusal> {
    let prefix = jurisdiction(viewer)?;
    let form = maud::html! {
        form.filters {
            label for="offence" { "违法行为代码" }
            input #offence name="offence" value=(offence.unwrap_or_default()) placeholder="如 CL-140";
            @if let Some(v) = viewer { input type="hidden" name="as" value=(v.id.as_str()); }
            button { "查询" }
        }
    };
    let Some(offence) = offence.filter(|o| !o.is_empty()) else {
        return Ok(Output::Html(super::frame::frame(
            "处罚一致性",
            form,
            viewer,
        )));
    };
    let code = OffenceCode::parse(offence)
        .map_err(|e| Refusal::BadRequest(format!("offence: {}", e.description)))?;
    let mut table = Table {
        columns: vec!["机关", "件数", "最低", "中位", "最高", "超出裁量基准"],
        rows: Vec::new(),
    };
    for r in store.penalty_report(&ReportFilter {
        offence: code,
        division_prefix: prefix,
        from: None,
        before: None,
    })? {
        let name = labels::agency_name(registry, &r.agency);
        let mut outside = Cell::share((r.outside_share * 1000.0).round() as i64, 1000);
        if r.outside_share > 0.0 {
            outside = outside.tone("warn");
        }
        table.rows.push((
            vec![
                Cell::text(&name),
                Cell::int(r.count as i64),
                Cell::fen(r.min_fen),
                Cell::fen(r.median_fen),
                Cell::fen(r.max_fen),
                outside,
            ],
            format!("{name} {}", r.agency),
        ));
    }
    Ok(table.respond(
        &format!("处罚一致性 · {offence}"),
        &format!("处罚一致性-{offence}"),
        table_query,
        viewer,
        form,
        maud::html! {},
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_in_days_or_hours_and_says_when_late() {
        let now = Timestamp::constant(1_795_000_000, 0);
        let at = |s: i64| Timestamp::constant(1_795_000_000 + s, 0);
        assert_eq!(left(at(3 * 86_400 + 10), now), "剩余 3 天");
        assert_eq!(left(at(5 * 3_600), now), "剩余 5 小时");
        assert_eq!(left(at(-2 * 86_400), now), "逾期 2 天");
    }
}

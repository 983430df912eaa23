//! The coordinators' procedure page (`/procedure`, 执法监督): per agency and month the 案卷评查
//! score — penalty decisions, with a procedural record, complete, passing every check — the
//! 罚没指标 signal (fines bunched at month ends, flagged rows red), and the latest procedure
//! alerts with their articles — in the viewer's jurisdiction.

use jiff::Timestamp;

use maud::html;

use super::frame::frame;
use super::pages::Refusal;
use super::table::{Cell, Output, Table, TableQuery};
use crate::domain::calendar::CHINA;
use crate::domain::money::yuan;
use crate::domain::procedure::quota;
use crate::domain::{Agency, AlertKind, Policy};
use crate::store::Store;

/// The page, for coordinators and procuratorates in their jurisdiction (the operator: all).
pub(super) fn page_html(
    store: &Store,
    policy: &Policy,
    viewer: Option<&Agency>,
    table_query: &TableQuery,
    now: Timestamp,
) -> Result<Output, Refusal> {
    let prefix = super::boards::jurisdiction(viewer)?;
    let today = CHINA.to_datetime(now).date();
    let to = today.year() as u32 * 100 + today.month() as u32;
    let name = |id: &crate::domain::AgencyId| {
        policy
            .registry
            .get(id)
            .map_or(id.to_string(), |a| a.name.clone())
    };
    let scores = store.procedure_scores(&prefix, to - 100, to)?;
    if table_query.format.is_some() {
        // The export: the 案卷评查 scores, one row per agency and month.
        let mut table = Table {
            columns: vec![
                "机关",
                "月份",
                "决定",
                "有程序记录",
                "记录完整",
                "全部合规",
                "完整率",
                "合规率",
            ],
            rows: Vec::new(),
        };
        for s in &scores {
            let agency = s.agency.as_ref().map_or(String::new(), name);
            let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
            table.rows.push((
                vec![
                    Cell::text(&agency),
                    Cell::text(format!("{}-{:02}", s.month / 100, s.month % 100)),
                    Cell::int(n(s.decisions)),
                    Cell::int(n(s.recorded)),
                    Cell::int(n(s.complete)),
                    Cell::int(n(s.passing)),
                    Cell::share(n(s.complete), n(s.decisions)),
                    Cell::share(n(s.passing), n(s.decisions)),
                ],
                agency,
            ));
        }
        return Ok(table.respond(
            "案卷评查",
            "案卷评查",
            table_query,
            viewer,
            html! {},
            html! {},
        ));
    }
    let since = today
        .checked_sub(jiff::ToSpan::days(
            quota::RECENT_DAYS + quota::BASELINE_DAYS + 1,
        ))
        .unwrap_or(today);
    let clustering = quota::clustering(&store.fines(&prefix, since, today)?, today);
    let alerts: Vec<_> = store
        .latest_alerts(&prefix, 500)?
        .into_iter()
        .filter(|a| a.kind == AlertKind::ProcedureIrregular)
        .take(100)
        .collect();
    let or_dash = |p: Option<u32>| p.map_or("—".to_owned(), |p| format!("{p}%"));
    let body = html! {
        div.toolbar {
            a.button href=(table_query.with("format", "xlsx")) download { "导出 Excel" }
            a.button href=(table_query.with("format", "csv")) download { "导出 CSV" }
            button.noprint type="button" onclick="window.print()" { "打印" }
        }
        h2 { "案卷评查（近十二个月，处罚决定）" }
        div.tablewrap tabindex="0" { table {
            thead { tr { th { "机关" } th { "月份" } th.num { "决定" } th.num { "有程序记录" } th.num { "记录完整" } th.num { "全部合规" } } }
            tbody { @for s in &scores {
                tr {
                    td { (s.agency.as_ref().map_or(String::new(), name)) }
                    td { (s.month / 100) "-" (format!("{:02}", s.month % 100)) }
                    td.num { (s.decisions) }
                    td.num { (s.recorded) }
                    td.num { (s.complete) "（" (s.complete_pct()) "%）" }
                    td.num { (s.passing) "（" (s.passing_pct()) "%）" }
                }
            } }
        } }
        h2 { "罚没集中度（近90日，月末五日罚没金额占比）" }
        p.muted { "均匀分布约为16%；决定不少于10件、占比不低于40%且不低于同级平均两倍的机关标红。" }
        div.tablewrap tabindex="0" { table {
            thead { tr { th { "机关" } th.num { "决定" } th.num { "罚没金额" } th.num { "月末占比" } th.num { "上一年度" } th.num { "其他机关" } th { "提示" } } }
            tbody { @for c in &clustering {
                tr {
                    td { (name(&c.agency)) }
                    td.num { (c.decisions) }
                    td.num { "¥" (yuan(c.total_fen)) }
                    td.num { (c.end_share_pct) "%" }
                    td.num { (or_dash(c.baseline_pct)) }
                    td.num { (or_dash(c.peers_pct)) }
                    td { @if c.flagged { span.status.bad { "疑似罚没指标" } } }
                }
            } }
        } }
        h2 { "程序预警" }
        div.tablewrap tabindex="0" { table {
            thead { tr { th { "时间" } th { "规则" } th { "名称" } th { "依据" } th { "说明" } } }
            tbody { @for a in &alerts {
                tr {
                    td { (CHINA.to_datetime(a.raised_at).strftime("%m-%d %H:%M")) }
                    td { (a.rule_id) }
                    td { (a.title) }
                    td { (a.citation) }
                    td { (a.detail) }
                }
            } }
        } }
    };
    Ok(Output::Html(frame("执法监督", body, viewer)))
}

//! The coordinators' procedure page (`/procedure`, 执法监督): per agency and month the 案卷评查
//! score — penalty decisions, with a procedural record, complete, passing every check — the
//! 罚没指标 signal (fines bunched at month ends, flagged rows red), and the latest procedure
//! alerts with their articles — in the viewer's jurisdiction.

use jiff::Timestamp;

use maud::html;

use super::frame::frame;
use super::pages::Refusal;
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
    now: Timestamp,
) -> Result<String, Refusal> {
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
    Ok(frame("执法监督", body, viewer))
}

//! The coordinators' procedure page (`/procedure`, 执法监督): per agency and month the 案卷评查
//! score — penalty decisions, with a procedural record, complete, passing every check — the
//! 罚没指标 signal (fines bunched at month ends, flagged rows red), and the latest procedure
//! alerts with their articles — in the viewer's jurisdiction.

use jiff::Timestamp;

use super::pages::{Refusal, page};
use super::public::html_escape;
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
    let scores: String = store
        .procedure_scores(&prefix, to - 100, to)?
        .iter()
        .map(|s| {
            let agency = s.agency.as_ref().map_or(String::new(), name);
            format!(
                "<tr><td>{}</td><td>{}-{:02}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{} ({}%)</td><td class=\"num\">{} ({}%)</td></tr>",
                html_escape(&agency),
                s.month / 100,
                s.month % 100,
                s.decisions,
                s.recorded,
                s.complete,
                s.complete_pct(),
                s.passing,
                s.passing_pct()
            )
        })
        .collect();
    let clustering: String = quota::clustering(&store.fines(&prefix)?, today)
        .iter()
        .map(|c| {
            let or_dash = |p: Option<u32>| p.map_or("—".to_owned(), |p| format!("{p}%"));
            format!(
                "<tr{}><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}%</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                if c.flagged { " class=\"overdue\"" } else { "" },
                html_escape(&name(&c.agency)),
                c.decisions,
                yuan(c.total_fen),
                c.end_share_pct,
                or_dash(c.baseline_pct),
                or_dash(c.peers_pct),
                if c.flagged { "疑似罚没指标" } else { "" }
            )
        })
        .collect();
    let alerts: String = store
        .latest_alerts(&prefix, 500)?
        .iter()
        .filter(|a| a.kind == AlertKind::ProcedureIrregular)
        .take(100)
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                CHINA.to_datetime(a.raised_at).strftime("%m-%d %H:%M"),
                html_escape(&a.rule_id),
                html_escape(&a.title),
                html_escape(&a.citation),
                html_escape(&a.detail)
            )
        })
        .collect();
    let body = format!(
        "<h2>案卷评查（近十二个月，处罚决定）</h2><table><thead><tr><th>机关</th><th>月份</th><th>决定</th>\
         <th>有程序记录</th><th>记录完整</th><th>全部合规</th></tr></thead><tbody>{scores}</tbody></table>\
         <h2>罚没集中度（近90日，月末五日罚没金额占比）</h2><p>均匀分布约为16%；决定不少于10件、占比不低于40%且不低于同级平均两倍的机关标红。</p>\
         <table><thead><tr><th>机关</th><th>决定</th><th>罚没金额（元）</th><th>月末占比</th><th>上一年度</th>\
         <th>其他机关</th><th></th></tr></thead><tbody>{clustering}</tbody></table>\
         <h2>程序预警</h2><table><thead><tr><th>时间</th><th>规则</th><th>名称</th><th>依据</th><th>说明</th></tr>\
         </thead><tbody>{alerts}</tbody></table>"
    );
    Ok(page("执法监督", &body, viewer))
}

//! The coordinators' inspections page (`/inspections`, 涉企行政检查): this year's inspections
//! per enterprise against its cap, per-agency counts, joint-inspection proposals and their
//! answers, the alerts the checks raised, and each plan with its verification code and QR
//! image — in the viewer's jurisdiction.

use std::collections::BTreeMap;

use jiff::Timestamp;

use maud::html;

use super::frame::frame;
use super::pages::Refusal;
use crate::domain::calendar::CHINA;
use crate::domain::inspection::checks;
use crate::domain::inspection::{InspectionEntry, PlanState};
use crate::domain::{Agency, AlertKind, Policy, SubjectId};
use crate::store::Store;

fn state(entry: &InspectionEntry) -> &'static str {
    match entry.state {
        PlanState::Planned => "待实施",
        PlanState::Done => "已实施",
        PlanState::Cancelled => "已取消",
    }
}

fn code_of(entry: &InspectionEntry) -> &str {
    match &entry.plan.enterprise.id {
        SubjectId::Organization(code) => code.as_str(),
        SubjectId::Person(_) => "",
    }
}

/// The page, for coordinators and procuratorates in their jurisdiction (the operator: all).
pub(super) fn page_html(
    store: &Store,
    policy: &Policy,
    viewer: Option<&Agency>,
    now: Timestamp,
) -> Result<String, Refusal> {
    let prefix = super::boards::jurisdiction(viewer)?;
    let year = CHINA.to_datetime(now).date().year();
    let as_param = viewer.map_or(String::new(), |v| format!("&as={}", v.id));
    let plans: Vec<InspectionEntry> = store
        .inspections()?
        .into_iter()
        .filter(|e| {
            e.plan.division.as_str().starts_with(&prefix) && e.plan.window_start.year() == year
        })
        .collect();
    let mut by_enterprise: BTreeMap<&str, Vec<InspectionEntry>> = BTreeMap::new();
    for entry in &plans {
        by_enterprise
            .entry(code_of(entry))
            .or_default()
            .push(entry.clone());
    }
    // Per enterprise: inspections counted this year against its cap.
    let enterprises: Vec<(&str, &InspectionEntry, String, String, bool, usize)> = by_enterprise
        .iter()
        .map(|(code, year_plans)| {
            let first = &year_plans[0];
            let (counted, cap) = match policy.inspections.province(first.plan.division.as_str()) {
                Some(rules) => {
                    let grade = year_plans
                        .iter()
                        .rev()
                        .find_map(|e| e.plan.risk_grade)
                        .unwrap_or(rules.default_grade);
                    let (all, _) = checks::tally(rules, year_plans, &first.agency);
                    (
                        all.to_string(),
                        rules
                            .caps
                            .get(&grade)
                            .map_or("—".into(), ToString::to_string),
                    )
                }
                None => ("—".into(), "—".into()),
            };
            let over = counted.parse::<u32>().ok() > cap.parse::<u32>().ok();
            (*code, first, counted, cap, over, year_plans.len())
        })
        .collect();
    let mut per_agency: BTreeMap<String, [usize; 4]> = BTreeMap::new();
    for entry in &plans {
        let row = per_agency.entry(entry.agency.to_string()).or_default();
        row[0] += 1;
        match entry.state {
            PlanState::Done => row[1] += 1,
            PlanState::Cancelled => row[2] += 1,
            PlanState::Planned => {}
        }
        let records: usize = entry.records.iter().map(|r| r.warnings.len()).sum();
        row[3] += entry.warnings.len() + records;
    }
    let name = |id: &str| {
        crate::domain::AgencyId::parse(id)
            .ok()
            .and_then(|a| policy.registry.get(&a).map(|a| a.name.clone()))
            .unwrap_or_default()
    };
    let joints: Vec<_> = store
        .joints()?
        .into_iter()
        .filter(|j| j.division.as_str().starts_with(&prefix))
        .collect();
    let answer = |j: &crate::domain::inspection::JointProposal,
                  agency: &crate::domain::AgencyId| {
        j.answers
            .iter()
            .find(|(a, _)| a == agency)
            .map_or("未答复", |(_, yes)| if *yes { "参加" } else { "不参加" })
    };
    let alerts: Vec<_> = store
        .latest_alerts(&prefix, 500)?
        .into_iter()
        .filter(|a| {
            matches!(
                a.kind,
                AlertKind::InspectionIrregular | AlertKind::JointInspection
            )
        })
        .take(100)
        .collect();
    let body = html! {
        h2 { "企业年度检查（" (year) " 年，计入次数 / 上限）" }
        div.tablewrap tabindex="0" { table {
            thead { tr { th { "企业" } th { "信用代码" } th.num { "计入 / 上限" } th.num { "检查计划" } } }
            tbody { @for (code, first, counted, cap, over, n) in &enterprises {
                tr {
                    td { a href=(format!("/subject?id={code}{as_param}")) { (first.plan.enterprise.name) } }
                    td { (code) }
                    td.num { @if *over { span.status.bad { (counted) " / " (cap) " 超出上限" } } @else { (counted) " / " (cap) } }
                    td.num { (n) }
                }
            } }
        } }
        h2 { "各机关" }
        div.tablewrap tabindex="0" { table {
            thead { tr { th { "机关" } th { "代码" } th.num { "计划" } th.num { "已实施" } th.num { "已取消" } th.num { "预警" } } }
            tbody { @for (id, [all, done, cancelled, warned]) in &per_agency {
                tr { td { (name(id)) } td { (id) } td.num { (all) } td.num { (done) } td.num { (cancelled) } td.num { (warned) } }
            } }
        } }
        h2 { "综合查一次（联合检查建议）" }
        div.tablewrap tabindex="0" { table {
            thead { tr { th { "编号" } th { "企业" } th { "合并事项" } th { "答复" } } }
            tbody { @for j in &joints {
                tr {
                    td { (j.id) }
                    td { (j.enterprise.name) }
                    td { (j.items.join("、")) }
                    td { @for p in &j.plans { (name(p.agency.as_str())) " " (p.agency.as_str()) "：" (answer(j, &p.agency)) br; } }
                }
            } }
        } }
        h2 { "检查预警" }
        div.tablewrap tabindex="0" { table {
            thead { tr { th { "时间" } th { "规则" } th { "名称" } th { "说明" } } }
            tbody { @for a in &alerts {
                tr { td { (CHINA.to_datetime(a.raised_at).strftime("%m-%d %H:%M")) } td { (a.rule_id) } td { (a.title) } td { (a.detail) } }
            } }
        } }
        h2 { "检查计划与扫码入企" }
        div.tablewrap tabindex="0" { table {
            thead { tr { th { "计划" } th { "企业" } th { "事项" } th { "期间" } th { "状态" } th { "预警" } th { "检查码" } } }
            tbody { @for e in &plans {
                @let code = &e.plan.verify_code;
                tr {
                    td { (e.key().to_string()) }
                    td { (e.plan.enterprise.name) }
                    td { (e.plan.items.join("、")) }
                    td { (e.plan.window_start) " 至 " (e.plan.window_end) }
                    td { (state(e)) }
                    td { (e.warnings.join("；")) }
                    td { @if !code.is_empty() && e.state != PlanState::Cancelled {
                        a href=(format!("/verify/{code}")) { img alt=(format!("检查码 {code} 的二维码")) width="80" height="80" src=(format!("/verify/{code}/qr.svg")); }
                        br; code { (code) }
                    } }
                }
            } }
        } }
    };
    Ok(frame("涉企行政检查", body, viewer))
}

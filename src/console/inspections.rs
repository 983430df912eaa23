//! The coordinators' inspections page (`/inspections`, 涉企行政检查): this year's inspections
//! per enterprise against its cap, per-agency counts, joint-inspection proposals and their
//! answers, the alerts the checks raised, and each plan with its verification code and QR
//! image — in the viewer's jurisdiction.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::pages::{Refusal, page};
use super::public::html_escape;
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
    let enterprises: String = by_enterprise
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
            let over = if counted.parse::<u32>().ok() > cap.parse::<u32>().ok() {
                " class=\"overdue\""
            } else {
                ""
            };
            format!(
                "<tr><td><a href=\"/subject?id={code}{as_param}\">{}</a></td><td>{code}</td>\
                 <td class=\"num\"{over}>{counted} / {cap}</td><td class=\"num\">{}</td></tr>",
                html_escape(&first.plan.enterprise.name),
                year_plans.len()
            )
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
    let agencies: String = per_agency
        .iter()
        .map(|(id, [all, done, cancelled, warned])| {
            let name = crate::domain::AgencyId::parse(id)
                .ok()
                .and_then(|a| policy.registry.get(&a).map(|a| a.name.clone()))
                .unwrap_or_default();
            format!(
                "<tr><td>{}</td><td>{id}</td><td class=\"num\">{all}</td><td class=\"num\">{done}</td>\
                 <td class=\"num\">{cancelled}</td><td class=\"num\">{warned}</td></tr>",
                html_escape(&name)
            )
        })
        .collect();
    let joints: String = store
        .joints()?
        .iter()
        .filter(|j| j.division.as_str().starts_with(&prefix))
        .map(|j| {
            let answers: Vec<String> = j
                .plans
                .iter()
                .map(|p| {
                    let answer = j.answers.iter().find(|(a, _)| a == &p.agency).map_or(
                        "未答复",
                        |(_, yes)| {
                            if *yes { "参加" } else { "不参加" }
                        },
                    );
                    format!("{}：{answer}", p.agency)
                })
                .collect();
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                html_escape(&j.id),
                html_escape(&j.enterprise.name),
                html_escape(&j.items.join("、")),
                html_escape(&answers.join("；"))
            )
        })
        .collect();
    let alerts: String = store
        .latest_alerts(&prefix, 500)?
        .iter()
        .filter(|a| {
            matches!(
                a.kind,
                AlertKind::InspectionIrregular | AlertKind::JointInspection
            )
        })
        .take(100)
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                CHINA.to_datetime(a.raised_at).strftime("%m-%d %H:%M"),
                html_escape(&a.rule_id),
                html_escape(&a.title),
                html_escape(&a.detail)
            )
        })
        .collect();
    let plan_rows: String = plans
        .iter()
        .map(|e| {
            let code = &e.plan.verify_code;
            let qr = if code.is_empty() || e.state == PlanState::Cancelled {
                String::new()
            } else {
                format!("<a href=\"/verify/{code}\"><img alt=\"{code}\" width=\"80\" height=\"80\" src=\"/verify/{code}/qr.svg\"></a><br><code>{code}</code>")
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} 至 {}</td><td>{}</td><td>{}</td><td>{qr}</td></tr>",
                html_escape(&e.key().to_string()),
                html_escape(&e.plan.enterprise.name),
                html_escape(&e.plan.items.join("、")),
                e.plan.window_start,
                e.plan.window_end,
                state(e),
                html_escape(&e.warnings.join("；")),
            )
        })
        .collect();
    let body = format!(
        "<h2>企业年度检查（{year} 年，计入次数 / 上限）</h2><table><thead><tr><th>企业</th><th>信用代码</th>\
         <th>计入 / 上限</th><th>检查计划</th></tr></thead><tbody>{enterprises}</tbody></table>\
         <h2>各机关</h2><table><thead><tr><th>机关</th><th>代码</th><th>计划</th><th>已实施</th><th>已取消</th>\
         <th>预警</th></tr></thead><tbody>{agencies}</tbody></table>\
         <h2>综合查一次（联合检查建议）</h2><table><thead><tr><th>编号</th><th>企业</th><th>合并事项</th>\
         <th>答复</th></tr></thead><tbody>{joints}</tbody></table>\
         <h2>检查预警</h2><table><thead><tr><th>时间</th><th>规则</th><th>名称</th><th>说明</th></tr></thead>\
         <tbody>{alerts}</tbody></table>\
         <h2>检查计划与扫码入企</h2><table><thead><tr><th>计划</th><th>企业</th><th>事项</th><th>期间</th>\
         <th>状态</th><th>预警</th><th>检查码</th></tr></thead><tbody>{plan_rows}</tbody></table>"
    );
    Ok(page("涉企行政检查", &body, viewer))
}

//! The checks of 涉企行政检查, each a pure function citing its source. They do not stop an
//! inspection: each failed check is a [`Finding`] that the router records on the event, puts in
//! the publisher's Ack and raises to the coordinators as an alert.

use jiff::civil::Date;

use super::items::{InspectionRules, ProvinceRules};
use super::{CertificateEntry, InspectionEntry, InspectionPlan, PlanState, RiskGrade};
use crate::domain::ids::AgencyId;
use crate::domain::registry::Agency;

/// 国办发〔2024〕54号: the opinion the checks implement.
pub const OPINION_54: &str =
    "国办发〔2024〕54号《国务院办公厅关于严格规范涉企行政检查的意见》(2025-01-03 发布)";

pub use crate::domain::finding::Finding;

/// Items not on the agency's published list on `day` (事项未经公布的，不得实施).
pub fn unpublished_items(
    rules: &InspectionRules,
    agency: &AgencyId,
    items: &[String],
    day: Date,
) -> Option<Finding> {
    let missing: Vec<&str> = items
        .iter()
        .filter(|code| rules.item(agency, code, day).is_none())
        .map(String::as_str)
        .collect();
    (!missing.is_empty()).then(|| Finding {
        rule: "inspection.item_unpublished",
        title: "检查事项未经公布",
        citation: format!("{OPINION_54}: 行政检查事项未经公布的，不得实施"),
        detail: format!(
            "{} not on {agency}'s published list on {day}",
            missing.join(", ")
        ),
    })
}

/// Why a certificate does not let its holder inspect for `agency` on `day`, or `None` if it
/// does. `entry` is what the store knows of the number (`None`: never published).
pub fn certificate_problem(
    entry: Option<&CertificateEntry>,
    agency: &AgencyId,
    day: Date,
) -> Option<&'static str> {
    let Some(entry) = entry else {
        return Some("unknown");
    };
    let cert = &entry.certificate;
    if entry.revoked_on.is_some_and(|on| on <= day) {
        Some("revoked")
    } else if day < cert.valid_from {
        Some("not yet valid")
    } else if day > cert.valid_until {
        Some("expired")
    } else if &cert.agency != agency {
        Some("of another agency")
    } else {
        None
    }
}

const CERTIFICATE_SOURCE: &str = "《中华人民共和国行政处罚法》(2021-07-15 施行) 第42条 (执法人员不得少于两人, 具有行政执法资格), 第55条 (出示执法证件)";

/// An on-site inspection by fewer than two inspectors.
pub fn too_few_inspectors(count: usize, remote: bool) -> Option<Finding> {
    (!remote && count < 2).then(|| Finding {
        rule: "inspection.inspectors_too_few",
        title: "现场检查执法人员少于两人",
        citation: CERTIFICATE_SOURCE.to_owned(),
        detail: format!("{count} inspector(s) on site; at least two are required"),
    })
}

/// Certificates that do not let their holders inspect for `agency` on `day`: `problems` pairs
/// each number with [`certificate_problem`]'s answer.
pub fn uncertified(problems: &[(String, &'static str)]) -> Option<Finding> {
    (!problems.is_empty()).then(|| Finding {
        rule: "inspection.certificate_invalid",
        title: "未取得有效执法证件的人员实施检查",
        citation: format!(
            "{OPINION_54}: 未取得执法证件的人员不得实施行政检查; {CERTIFICATE_SOURCE}"
        ),
        detail: problems
            .iter()
            .map(|(number, why)| format!("certificate {number} is {why}"))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

/// An inspection outside the agency's territory without an assistance reason (属地管辖).
pub fn outside_territory(agency: &Agency, plan: &InspectionPlan) -> Option<Finding> {
    let inside = agency.division.covers(&plan.division);
    (!inside && plan.assistance_reason.trim().is_empty()).then(|| Finding {
        rule: "inspection.outside_territory",
        title: "跨辖区检查未说明协助事由",
        citation: format!("{OPINION_54}: 属地管辖, 跨区域检查通过协助机制"),
        detail: format!(
            "{} inspects in {}, outside its territory {}, with no assistance reason",
            agency.id, plan.division, agency.division
        ),
    })
}

/// Whether a plan counts against the caps under the province's rules.
pub fn counts(rules: &ProvinceRules, entry: &InspectionEntry) -> bool {
    entry.state != PlanState::Cancelled
        && rules.counted_reasons.contains(&entry.plan.reason)
        && (rules.count_remote || !entry.plan.remote)
}

/// How many inspections of the enterprise count against the cap across all agencies and for
/// `agency`, among `year` (which includes the plan at hand): an accepted joint inspection
/// counts once across agencies (综合查一次), and once for each agency in it.
pub fn tally(rules: &ProvinceRules, year: &[InspectionEntry], agency: &AgencyId) -> (u32, u32) {
    let mut joints: Vec<&str> = Vec::new();
    let (mut all, mut own) = (0, 0);
    for entry in year.iter().filter(|e| counts(rules, e)) {
        if &entry.agency == agency {
            own += 1;
        }
        match (&entry.joint, entry.joint_accepted) {
            (Some(joint), Some(true)) if joints.contains(&joint.as_str()) => {}
            (Some(joint), Some(true)) => {
                joints.push(joint);
                all += 1;
            }
            _ => all += 1,
        }
    }
    (all, own)
}

/// The caps exceeded by the counts [`tally`] gives: reaching a cap is allowed, passing it is not.
pub fn caps_exceeded(
    rules: &ProvinceRules,
    grade: Option<RiskGrade>,
    agency: &AgencyId,
    (all, own): (u32, u32),
) -> Vec<Finding> {
    let grade = grade.unwrap_or(rules.default_grade);
    let mut found = Vec::new();
    let citation = || format!("{OPINION_54}; {} ({})", rules.citation, rules.name);
    if let Some(cap) = rules.caps.get(&grade).filter(|cap| all > **cap) {
        found.push(Finding {
            rule: "inspection.cap_exceeded",
            title: "超过企业年度检查频次上限 (全部机关)",
            citation: citation(),
            detail: format!(
                "inspection {all} of the year across agencies; the cap for grade {grade:?} is {cap}"
            ),
        });
    }
    if let Some(cap) = rules.agency_caps.get(&grade).filter(|cap| own > **cap) {
        found.push(Finding {
            rule: "inspection.agency_cap_exceeded",
            title: "超过同一机关对企业年度检查频次上限",
            citation: citation(),
            detail: format!(
                "inspection {own} of the year by {agency}; the cap for grade {grade:?} is {cap}"
            ),
        });
    }
    found
}

/// Days between two windows: 0 when they overlap.
pub fn gap_days(a: (Date, Date), b: (Date, Date)) -> i32 {
    let days = |from: Date, to: Date| (to - from).get_days();
    if a.1 < b.0 {
        days(a.1, b.0)
    } else if b.1 < a.0 {
        days(b.1, a.0)
    } else {
        0
    }
}

/// The same item on the same enterprise by the same agency within the window (重复检查):
/// `earlier` are the agency's other plans for the enterprise.
pub fn repeated(
    rules: &ProvinceRules,
    plan: &InspectionPlan,
    earlier: &[&InspectionEntry],
) -> Option<Finding> {
    let window = i32::try_from(rules.repeat_window_days).unwrap_or(i32::MAX);
    let mut again: Vec<String> = Vec::new();
    for entry in earlier.iter().filter(|e| e.state != PlanState::Cancelled) {
        let gap = gap_days(
            (entry.plan.window_start, entry.plan.window_end),
            (plan.window_start, plan.window_end),
        );
        if gap <= window {
            for item in plan.items.iter().filter(|i| entry.plan.items.contains(i)) {
                again.push(format!("{item} (plan {})", entry.plan.plan_id));
            }
        }
    }
    (!again.is_empty()).then(|| Finding {
        rule: "inspection.repeated",
        title: "重复检查",
        citation: format!(
            "{OPINION_54}: 运用大数据对重复检查进行预警; {}",
            rules.citation
        ),
        detail: format!(
            "{} inspected again within {} days",
            again.join(", "),
            rules.repeat_window_days
        ),
    })
}

/// A record that departs from its approved plan: a day outside the planned window, or items
/// the plan did not name (检查必审批: what was approved is what is inspected).
pub fn off_plan(plan: &InspectionPlan, day: Date, items: &[String]) -> Option<Finding> {
    let mut what = Vec::new();
    if day < plan.window_start || day > plan.window_end {
        what.push(format!(
            "inspected on {day}, outside the planned {}–{}",
            plan.window_start, plan.window_end
        ));
    }
    let extra: Vec<&str> = items
        .iter()
        .filter(|i| !plan.items.contains(i))
        .map(String::as_str)
        .collect();
    if !extra.is_empty() {
        what.push(format!("{} not in the plan", extra.join(", ")));
    }
    (!what.is_empty()).then(|| Finding {
        rule: "inspection.off_plan",
        title: "检查与审批的计划不符",
        citation: format!("{OPINION_54}: 检查必审批、必通知"),
        detail: what.join("; "),
    })
}

/// Whether two plans of different agencies are close enough to propose a joint inspection.
pub fn joinable(rules: &ProvinceRules, a: &InspectionEntry, plan: &InspectionPlan) -> bool {
    a.state == PlanState::Planned
        && !a.plan.remote
        && !plan.remote
        && gap_days(
            (a.plan.window_start, a.plan.window_end),
            (plan.window_start, plan.window_end),
        ) <= i32::try_from(rules.joint_window_days).unwrap_or(i32::MAX)
}

#[cfg(test)]
#[path = "checks_tests.rs"]
pub(crate) mod tests;

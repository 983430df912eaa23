//! Chinese labels for the enums the console and alert texts show — referral states and steps,
//! parties, alert kinds, lead standings, time limits — in one place, so that no page or alert
//! prints an English enum name.

use super::calendar::Limit;
use super::{Action, AlertKind, LeadStatus, Party, State};

/// Every referral state, in the flow's order.
pub const STATES: [State; 19] = [
    State::Reported,
    State::RefusedByAgency,
    State::Approved,
    State::Transferred,
    State::Received,
    State::Filed,
    State::NotFiled,
    State::ReconsiderationRequested,
    State::ReconsiderationUpheld,
    State::SupervisionRequested,
    State::ExplanationRequested,
    State::Explained,
    State::FilingOrdered,
    State::SupervisionClosed,
    State::Prosecuted,
    State::NotProsecuted,
    State::ReverseTransferred,
    State::OpinionIssued,
    State::PenaltyReported,
];

/// A referral state (移送 flow, Decree 310 and the procuratorate's supervision).
pub fn state(state: State) -> &'static str {
    match state {
        State::Reported => "已报告",
        State::RefusedByAgency => "机关不批准移送",
        State::Approved => "已批准移送",
        State::Transferred => "已移送",
        State::Received => "已受理",
        State::Filed => "已立案",
        State::NotFiled => "不予立案",
        State::ReconsiderationRequested => "已申请复议",
        State::ReconsiderationUpheld => "复议维持不予立案",
        State::SupervisionRequested => "已提请立案监督",
        State::ExplanationRequested => "要求说明不立案理由",
        State::Explained => "已说明理由",
        State::FilingOrdered => "通知立案",
        State::SupervisionClosed => "立案监督结案",
        State::Prosecuted => "已起诉",
        State::NotProsecuted => "不起诉",
        State::ReverseTransferred => "反向移送",
        State::OpinionIssued => "已发检察意见",
        State::PenaltyReported => "已报告行政处罚",
    }
}

/// A step on a referral.
pub fn action(action: Action) -> &'static str {
    match action {
        Action::Approve => "批准移送",
        Action::Refuse => "不批准移送",
        Action::Transfer => "移送",
        Action::Receive => "受理",
        Action::Forward => "转送",
        Action::File => "立案",
        Action::DeclineToFile => "不予立案",
        Action::RequestReconsideration => "申请复议",
        Action::UpholdRefusal => "维持不予立案",
        Action::RequestSupervision => "提请立案监督",
        Action::RequestExplanation => "要求说明理由",
        Action::Explain => "说明理由",
        Action::OrderFiling => "通知立案",
        Action::CloseSupervision => "监督结案",
        Action::HandOverGoods => "移交涉案物品",
        Action::Prosecute => "起诉",
        Action::DeclineToProsecute => "不起诉",
        Action::ReverseTransfer => "反向移送",
        Action::IssueOpinion => "发出检察意见",
        Action::ReportPenalty => "报告行政处罚",
    }
}

/// Who must act on a referral.
pub fn party(party: Party) -> &'static str {
    match party {
        Party::Agency => "行政执法机关",
        Party::Police => "公安机关",
        Party::Procuratorate => "检察机关",
    }
}

/// An alert's kind.
pub fn alert_kind(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::PossibleCrime => "追诉预警",
        AlertKind::PenaltyInsteadOfReferral => "以罚代刑",
        AlertKind::DuplicatePenalty => "多头受罚",
        AlertKind::SplitCase => "化整为零",
        AlertKind::DiscretionDeviation => "裁量偏离",
        AlertKind::Overdue => "逾期",
        AlertKind::LateDisclosure => "公示逾期",
        AlertKind::AnswerByNonRecipient => "非承办机关答复",
        AlertKind::OutcomeWithoutLead => "线索未到",
        AlertKind::InspectionIrregular => "涉企检查预警",
        AlertKind::JointInspection => "综合查一次",
        AlertKind::ProcedureIrregular => "执法程序预警",
    }
}

/// Where a lead stands.
pub fn lead_status(status: LeadStatus) -> &'static str {
    match status {
        LeadStatus::Open => "办理中",
        LeadStatus::Unassigned => "无承办机关",
        LeadStatus::Closed => "已办结",
    }
}

/// A time limit: `3日`, `24小时`, `3个工作日`.
pub fn limit(limit: Limit) -> String {
    match limit {
        Limit::Hours(n) => format!("{n}小时"),
        Limit::Days(n) => format!("{n}日"),
        Limit::WorkingDays(n) => format!("{n}个工作日"),
    }
}

/// A referral deadline's step (`RunningDeadline::step`, the rule id in `deadline.rs`) in words;
/// an id it does not know is shown as it is.
pub fn step(id: &str) -> &str {
    match id {
        "decree310.art5.decide" => "负责人决定是否批准移送",
        "decree310.art5.transfer" => "向公安机关移送",
        "decree310.art7.receive" => "公安机关签收或转送",
        "decree310.art8.decide" => "公安机关决定是否立案",
        "decree310.art9.reconsider_request" => "提请复议",
        "decree310.art9.reconsider" => "公安机关复议决定",
        "decree310.art9.supervision_request" => "建议立案监督",
        "spp2001.explain" => "公安机关说明不立案理由",
        "spp2001.file" => "公安机关依通知立案",
        "decree310.art12.goods" => "移交涉案物品",
        "reverse.handover" => "反向移送行政检察",
        "reverse.review" => "审查反向移送",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_label_is_chinese() {
        let han = |s: &str| s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c));
        assert!(AlertKind::ALL.iter().all(|k| han(alert_kind(*k))));
        for s in [LeadStatus::Open, LeadStatus::Unassigned, LeadStatus::Closed] {
            assert!(han(lead_status(s)));
        }
        for p in [Party::Agency, Party::Police, Party::Procuratorate] {
            assert!(han(party(p)));
        }
        // Every deadline the referral flow starts names its step in words.
        for state in STATES {
            for goods in [false, true] {
                if let Some(d) = crate::domain::referral::deadline(state, goods) {
                    assert!(han(step(d.step)), "{}", d.step);
                    assert!(!d.citation.contains("Decree"), "{}", d.citation);
                }
            }
        }
    }
}

//! The statutory deadline that runs in each state of a referral (Decree 310 and the
//! procuratorate's rules; sources in the parent module and on each limit).

use serde::{Deserialize, Serialize};

use super::{Party, State};
use crate::domain::calendar::Limit;

/// A statutory deadline: what `party` must do within `limit` of entering a state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// A stable name for the step, e.g. `decree310.art7.receive`.
    pub step: &'static str,
    /// Who must act.
    pub party: Party,
    /// Within how long.
    pub limit: Limit,
    /// The legal source and its effective date.
    pub citation: &'static str,
}

/// "Decree 310" in the citations below: 《行政执法机关移送涉嫌犯罪案件的规定》(国务院令第310号,
/// 2001 年公布, 2020-08-07 修订施行).
/// The deadline running while a referral is in `state` (`goods_handed_over` matters in
/// `Filed`, where the only statutory limit is the agency's hand-over).
pub fn deadline(state: State, goods_handed_over: bool) -> Option<Deadline> {
    use Party::*;
    let (step, party, limit, citation): (&'static str, Party, Limit, &'static str) = match state {
        State::Reported => (
            "decree310.art5.decide",
            Agency,
            Limit::Days(3),
            "国务院令第310号（2020年修订）第5条: 负责人自接到报告之日起3日内作出批准移送或者不批准移送的决定",
        ),
        State::Approved => (
            "decree310.art5.transfer",
            Agency,
            Limit::Hours(24),
            "国务院令第310号（2020年修订）第5条: 批准移送的, 应当在24小时内向同级公安机关移送",
        ),
        State::Transferred => (
            "decree310.art7.receive",
            Police,
            Limit::Hours(24),
            "国务院令第310号（2020年修订）第7条: 公安机关应当在涉嫌犯罪案件移送书的回执上签字; 不属于本机关管辖的, 应当在24小时内转送有管辖权的机关",
        ),
        State::Received => (
            "decree310.art8.decide",
            Police,
            Limit::Days(3),
            "国务院令第310号（2020年修订）第8条: 公安机关应当自接受移送之日起3日内决定是否立案",
        ),
        State::NotFiled => (
            "decree310.art9.reconsider_request",
            Agency,
            Limit::Days(3),
            "国务院令第310号（2020年修订）第9条: 行政执法机关接到不予立案通知书后, 可以在3日内提请复议, 也可以建议检察机关依法进行立案监督",
        ),
        State::ReconsiderationRequested => (
            "decree310.art9.reconsider",
            Police,
            Limit::Days(3),
            "国务院令第310号（2020年修订）第9条: 公安机关应当自收到提请复议的文件之日起3日内作出复议决定",
        ),
        State::ReconsiderationUpheld => (
            "decree310.art9.supervision_request",
            Agency,
            Limit::Days(3),
            "国务院令第310号（2020年修订）第9条: 对复议决定仍有异议的, 应当自收到复议决定通知书之日起3日内建议检察机关依法进行立案监督",
        ),
        State::ExplanationRequested => (
            "spp2001.explain",
            Police,
            Limit::Days(7),
            "最高人民检察院《人民检察院办理行政执法机关移送涉嫌犯罪案件的规定》(2001): 公安机关应在7日内说明不立案理由",
        ),
        State::FilingOrdered => (
            "spp2001.file",
            Police,
            Limit::Days(15),
            "最高人民检察院《人民检察院办理行政执法机关移送涉嫌犯罪案件的规定》(2001): 公安机关应在收到通知立案书后15日内立案",
        ),
        State::Filed if !goods_handed_over => (
            "decree310.art12.goods",
            Agency,
            Limit::Days(3),
            "国务院令第310号（2020年修订）第12条: 公安机关立案后, 行政执法机关应当自接到立案通知书之日起3日内将涉案物品以及与案件有关的其他材料移交公安机关",
        ),
        State::NotProsecuted => (
            "reverse.handover",
            Procuratorate,
            Limit::WorkingDays(3),
            "行政处罚法 (2021-07-15) 第27条; 最高检行刑双向衔接意见 (2023) 与行刑反向衔接工作指引 (2024): 不起诉案件3个工作日内移送行政检察部门",
        ),
        State::ReverseTransferred => (
            "reverse.review",
            Procuratorate,
            Limit::WorkingDays(10),
            "最高检行刑双向衔接意见 (2023) 与行刑反向衔接工作指引 (2024): 行政检察部门10个工作日内审查并提出检察意见",
        ),
        _ => return None,
    };
    Some(Deadline {
        step,
        party,
        limit,
        citation,
    })
}

#[cfg(test)]
mod tests {
    use super::super::all::*;
    use super::super::allowed;
    use super::*;

    #[test]
    fn final_states_allow_nothing_and_have_no_deadline() {
        for state in ALL_STATES.into_iter().filter(|s| s.is_final()) {
            assert!(allowed(state, false).is_empty(), "{state:?}");
            assert!(deadline(state, false).is_none(), "{state:?}");
        }
    }

    #[test]
    fn deadlines_follow_decree_310() {
        let check = |state, party, limit| {
            let d = deadline(state, false).unwrap();
            assert_eq!((d.party, d.limit), (party, limit), "{state:?}");
            assert!(!d.citation.is_empty());
        };
        check(State::Reported, Party::Agency, Limit::Days(3));
        check(State::Approved, Party::Agency, Limit::Hours(24));
        check(State::Transferred, Party::Police, Limit::Hours(24));
        check(State::Received, Party::Police, Limit::Days(3));
        check(State::NotFiled, Party::Agency, Limit::Days(3));
        check(
            State::ReconsiderationRequested,
            Party::Police,
            Limit::Days(3),
        );
        check(State::ReconsiderationUpheld, Party::Agency, Limit::Days(3));
        check(State::ExplanationRequested, Party::Police, Limit::Days(7));
        check(State::FilingOrdered, Party::Police, Limit::Days(15));
        check(State::Filed, Party::Agency, Limit::Days(3));
        check(
            State::NotProsecuted,
            Party::Procuratorate,
            Limit::WorkingDays(3),
        );
        check(
            State::ReverseTransferred,
            Party::Procuratorate,
            Limit::WorkingDays(10),
        );
        assert!(deadline(State::SupervisionRequested, false).is_none());
        assert!(deadline(State::Explained, false).is_none());
        assert!(deadline(State::OpinionIssued, false).is_none());
    }
}

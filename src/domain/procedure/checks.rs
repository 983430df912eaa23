//! The procedural checks of a penalty decision, each a pure function citing its article of the
//! 行政处罚法 (revised 2021-01-22, in force 2021-07-15). A failed check is a [`Finding`]: the
//! router raises it to the coordinators of the agency's division with the evidence.

use jiff::ToSpan as _;
use jiff::civil::Date;

use super::Procedure;
use super::rules::{Exemption, ProvinceProcedure};
use crate::domain::calendar::WorkCalendar;
pub use crate::domain::finding::Finding;
use crate::domain::money::yuan;

/// The statute.
pub const LAW: &str = "《中华人民共和国行政处罚法》(2021-01-22 修订, 2021-07-15 施行)";

/// Art. 51: on-the-spot fines up to 200 yuan for a person, 3,000 yuan for an organisation.
pub const SIMPLE_LIMIT_PERSON_FEN: i64 = 20_000;
/// Art. 51, organisations.
pub const SIMPLE_LIMIT_ORGANIZATION_FEN: i64 = 300_000;
/// Art. 60: days from 立案 to the decision.
pub const DECISION_DAYS: i64 = 90;
/// Art. 61 (and Art. 85: working days): days to serve an absent party.
pub const SERVICE_WORKING_DAYS: u32 = 7;

/// A penalty decision as the checks see it.
pub struct Case<'a> {
    /// Its procedural record.
    pub procedure: &'a Procedure,
    /// The fine, fen.
    pub fine_fen: i64,
    /// The day of the decision (China Standard Time).
    pub decided_on: Date,
    /// Whether the party is a natural person.
    pub person: bool,
    /// The province's figures, if the rules file has them.
    pub province: Option<&'a ProvinceProcedure>,
}

fn finding(rule: &'static str, title: &'static str, article: &str, detail: String) -> Finding {
    Finding {
        rule,
        title,
        citation: format!("{LAW} {article}"),
        detail,
    }
}

/// Art. 42 (at least two officers with enforcement certificates) and Art. 51–52 (simple
/// procedure: one officer may decide, within the amount limits). `invalid` pairs each officer's
/// certificate number with why it did not let its holder decide for the agency on the day.
pub fn officers(case: &Case<'_>, invalid: &[(String, &'static str)]) -> Vec<Finding> {
    let p = case.procedure;
    let mut out = Vec::new();
    let limit = if case.person {
        SIMPLE_LIMIT_PERSON_FEN
    } else {
        SIMPLE_LIMIT_ORGANIZATION_FEN
    };
    if p.simple && case.fine_fen > limit {
        out.push(finding(
            "procedure.art51_simple_limit",
            "简易程序超出当场处罚数额",
            "第51条",
            format!(
                "a fine of ¥{} by simple procedure; the limit is ¥{}",
                yuan(case.fine_fen),
                yuan(limit)
            ),
        ));
    }
    let needed = if p.simple && case.fine_fen <= limit {
        1
    } else {
        2
    };
    if p.officers.len() < needed {
        out.push(finding(
            "procedure.art42_officers",
            "执法人员少于两人",
            "第42条",
            format!(
                "{} officer(s) recorded; at least {needed} needed",
                p.officers.len()
            ),
        ));
    }
    if !invalid.is_empty() {
        out.push(finding(
            "procedure.art42_certificate",
            "执法人员无有效执法证件",
            "第42条",
            invalid
                .iter()
                .map(|(n, why)| format!("certificate {n} is {why} on the decision day"))
                .collect::<Vec<_>>()
                .join("; "),
        ));
    }
    out
}

/// Art. 44 (the party is told of the proposed penalty and its rights before the decision) and
/// Art. 45 (no heavier penalty because the party defended itself).
pub fn notice(case: &Case<'_>) -> Option<Finding> {
    let p = case.procedure;
    if p.simple {
        return None;
    }
    match p.notified_on {
        None => Some(finding(
            "procedure.art44_notice",
            "作出处罚决定前未告知",
            "第44条",
            "no notice of the proposed penalty is recorded".into(),
        )),
        Some(day) if day > case.decided_on => Some(finding(
            "procedure.art44_notice",
            "作出处罚决定前未告知",
            "第44条",
            format!(
                "notified on {day}, after the decision of {}",
                case.decided_on
            ),
        )),
        Some(_) => match p.proposed_fine_fen {
            Some(proposed) if p.defence_received && case.fine_fen > proposed => Some(finding(
                "procedure.art45_heavier",
                "因陈述申辩加重处罚",
                "第45条第2款",
                format!(
                    "¥{} decided after a defence, ¥{} proposed in the notice",
                    yuan(case.fine_fen),
                    yuan(proposed)
                ),
            )),
            _ => None,
        },
    }
}

/// Whether the penalty is of a hearing kind (Art. 63): a fine of 较大数额 for the party's kind,
/// a licence revoked, a suspension or closure.
pub fn hearing_kind(case: &Case<'_>) -> bool {
    let p = case.procedure;
    let large = case.province.is_some_and(|r| {
        let line = if case.person {
            r.hearing_person_fen
        } else {
            r.hearing_organization_fen
        };
        case.fine_fen >= line
    });
    large || p.licence_revoked || p.closure_ordered
}

/// Art. 63 (hearing rights told for a hearing kind) and Art. 64 (a requested hearing held
/// before the decision).
pub fn hearing(case: &Case<'_>) -> Option<Finding> {
    let p = case.procedure;
    if hearing_kind(case) && !p.hearing_offered {
        let line = case
            .province
            .map_or(String::new(), |r| format!(" ({})", r.hearing_citation));
        return Some(finding(
            "procedure.art63_hearing",
            "未告知听证权利",
            "第63条",
            format!(
                "a penalty of a hearing kind (¥{}){line} without hearing rights",
                yuan(case.fine_fen)
            ),
        ));
    }
    let requested = p.hearing_requested_on?;
    match p.hearing_held_on {
        Some(held) if held <= case.decided_on => None,
        held => Some(finding(
            "procedure.art64_hearing_held",
            "当事人要求听证而未举行",
            "第64条",
            format!(
                "hearing asked for on {requested}; {} before the decision of {}",
                held.map_or("none held".to_owned(), |h| format!("held on {h}, not")),
                case.decided_on
            ),
        )),
    }
}

/// Whether the decision needs 法制审核 (Art. 58): a hearing was held, a major public interest,
/// or a fine from the province's review line up.
pub fn review_required(case: &Case<'_>) -> bool {
    let p = case.procedure;
    p.hearing_held_on.is_some()
        || p.major_public_interest
        || case
            .province
            .is_some_and(|r| case.fine_fen >= r.review_line_fen)
}

/// Art. 58: 法制审核 recorded, passed and made before the decision where required.
pub fn review(case: &Case<'_>) -> Option<Finding> {
    if !review_required(case) {
        return None;
    }
    let why = match &case.procedure.review {
        None => "no 法制审核 recorded".to_owned(),
        Some(r) if !r.passed => format!("法制审核 by {} did not pass", r.reviewer),
        Some(r) if r.reviewed_on > case.decided_on => {
            format!(
                "法制审核 on {}, after the decision of {}",
                r.reviewed_on, case.decided_on
            )
        }
        Some(_) => return None,
    };
    Some(finding(
        "procedure.art58_review",
        "法制审核缺失或未通过",
        "第58条",
        why,
    ))
}

/// Art. 60: the decision within 90 days of 立案, unless extended on a recorded basis.
pub fn time_limit(case: &Case<'_>) -> Option<Finding> {
    let p = case.procedure;
    let filed = p.filed_on?;
    let days = (case.decided_on - filed).get_days() as i64;
    (days > DECISION_DAYS && p.extension_basis.trim().is_empty()).then(|| {
        finding(
            "procedure.art60_time_limit",
            "超过九十日办案期限",
            "第60条",
            format!("decided {days} days after 立案 on {filed}, with no extension recorded"),
        )
    })
}

/// Art. 36: 立案 within 2 years of the violation (5 when life, health, public safety or finance
/// was harmed).
pub fn limitation(case: &Case<'_>) -> Option<Finding> {
    let p = case.procedure;
    let (violation, filed) = (p.violation_on?, p.filed_on?);
    let years: i16 = if p.serious_harm { 5 } else { 2 };
    let last = violation.saturating_add(years.years());
    (filed > last).then(|| {
        finding(
            "procedure.art36_limitation",
            "超过追责时效",
            "第36条",
            format!("violation on {violation}, 立案 on {filed}: more than {years} years"),
        )
    })
}

/// Art. 33 (首违不罚): a fine for an offence on the province's list, on a party with no earlier
/// penalty for it — for review, since the law says "may".
pub fn first_offence(
    case: &Case<'_>,
    exemption: Option<&Exemption>,
    prior: usize,
) -> Option<Finding> {
    let e = exemption?;
    (prior == 0 && case.fine_fen > 0).then(|| Finding {
        rule: "procedure.art33_first_offence",
        title: "可能适用首违不罚",
        citation: format!("{LAW} 第33条第1款; {}", e.citation),
        detail: format!(
            "a fine of ¥{} for {} ({}) on a first offence",
            yuan(case.fine_fen),
            e.offence,
            e.title
        ),
    })
}

/// Art. 61: an absent party served within 7 working days (Art. 85) of the decision.
pub fn service(case: &Case<'_>, calendar: &WorkCalendar) -> Option<Finding> {
    let p = case.procedure;
    if p.party_present {
        return None;
    }
    let due = calendar.working_days_after(case.decided_on, SERVICE_WORKING_DAYS);
    let late = match p.served_on {
        None => Some("no service recorded".to_owned()),
        Some(day) if day > due => Some(format!("served on {day}; due by {due}")),
        Some(_) => None,
    }?;
    Some(finding(
        "procedure.art61_service",
        "处罚决定书未在七日内送达",
        "第61条、第85条",
        late,
    ))
}

/// Whether the record holds what the checks need: 立案, violation, officers, notice (not for
/// simple procedure), service (or handed over), and 法制审核 where required.
pub fn complete(case: &Case<'_>) -> bool {
    let p = case.procedure;
    p.filed_on.is_some()
        && p.violation_on.is_some()
        && !p.officers.is_empty()
        && (p.simple || p.notified_on.is_some())
        && (p.party_present || p.served_on.is_some())
        && (!review_required(case) || p.review.is_some())
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;

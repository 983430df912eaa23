//! The checks every outcome runs against what other agencies decided (each cites its source):
//!
//! - another agency's penalty of the same subject for the same offence within the window is
//!   多头受罚 (行政处罚法 Art. 29);
//! - small cases of one subject and offence within the window that each stay below every
//!   threshold but together meet one are 化整为零 (reported once per subject, offence and rule);
//! - a fine outside its discretion band is a deviation (同案不同罚);
//! - a public penalty that reaches the broker after its 双公示 date is late (Art. 48).

use super::outcome::Earlier;
use super::{coordinators, day_of, hit_alert};
use crate::domain::money::yuan;
use crate::domain::rules::{Context, Hit};
use crate::domain::{
    AlertKind, CaseOutcome, Decision, Envelope, EventKey, Facts, Policy, SubjectId,
};
use crate::store::{AlertWrite, Incoming, OutcomeEntry, SplitMark, StoreError, View, WriteSet};

fn sum_facts<'a>(facts: impl Iterator<Item = &'a Facts>) -> Facts {
    let mut sum = Facts::new();
    for f in facts {
        for (name, value) in f {
            let entry = sum.entry(name.clone()).or_default();
            *entry = entry.saturating_add(*value);
        }
    }
    sum
}

/// 双公示: a public penalty that reaches the broker after its date raises an alert to the
/// coordinators of the division (rule and sources: [`crate::domain::disclosure`]).
pub(super) fn check_disclosure(
    incoming: &Incoming,
    outcome: &CaseOutcome,
    policy: &Policy,
    alerts: &mut Vec<AlertWrite>,
) {
    let envelope = &incoming.envelope;
    let Some(decided_at) = crate::domain::disclosure::disclosed_decision(envelope) else {
        return;
    };
    let due = crate::domain::disclosure::due(&policy.calendar, decided_at);
    if incoming.logged_at <= due {
        return;
    }
    let mut alert = hit_alert(
        AlertKind::LateDisclosure,
        &Hit {
            rule_id: "disclosure.working_days".into(),
            title: "行政处罚决定未按时公示".into(),
            citation: format!(
                "《中华人民共和国行政处罚法》第四十八条（2021-07-15施行）；双公示：作出决定之日起{}个工作日内公开",
                crate::domain::disclosure::WORKING_DAYS
            ),
            facts: Default::default(),
        },
        envelope,
        vec![envelope.key()],
    );
    alert.late = Some(envelope.producer.clone());
    alert.due = Some(due);
    alert.detail = format!(
        "处罚决定 {}（{} 作出）于 {} 才报送（应于 {} 前；北京时间）",
        outcome.case_number,
        super::cst(decided_at),
        super::cst(incoming.logged_at),
        super::cst(due)
    );
    alerts.push(AlertWrite {
        alert,
        to: coordinators(policy, &outcome.division),
    });
}

/// Raises a deviation if the fine is outside its band; tells whether it is.
pub(super) fn check_discretion(
    envelope: &Envelope,
    outcome: &CaseOutcome,
    policy: &Policy,
    alerts: &mut Vec<AlertWrite>,
) -> Option<bool> {
    let severity = outcome.severity?;
    let band =
        policy
            .discretion
            .band(&outcome.offence_code, severity, day_of(outcome.decided_at))?;
    let (min, max) = band.range(&outcome.facts);
    let outside = outcome.fine_fen < min || outcome.fine_fen > max;
    if outside && outcome.decision == Decision::Penalty {
        let mut alert = hit_alert(
            AlertKind::DiscretionDeviation,
            &Hit {
                rule_id: format!("{} {severity:?}", outcome.offence_code.as_str()),
                title: "罚款超出裁量基准".into(),
                citation: band.citation.clone(),
                facts: outcome.facts.clone(),
            },
            envelope,
            vec![envelope.key()],
        );
        alert.facts.insert("fine_fen".into(), outcome.fine_fen);
        // Text is for people: yuan; the amounts in fen stay in the alert's facts.
        alert.detail = format!(
            "罚款 ¥{} 超出裁量基准 ¥{}–¥{}",
            yuan(outcome.fine_fen),
            yuan(min),
            yuan(max)
        );
        alerts.push(AlertWrite {
            alert,
            to: coordinators(policy, &outcome.division),
        });
    }
    Some(outside)
}

/// 多头受罚: other agencies' penalties for the same offence within the window.
pub(super) fn check_duplicates(
    envelope: &Envelope,
    outcome: &CaseOutcome,
    earlier: &Earlier,
    policy: &Policy,
    alerts: &mut Vec<AlertWrite>,
) {
    let window = policy.windows.duplicate_window;
    let others: Vec<&EventKey> = earlier
        .within(outcome.decided_at, window)
        .filter(|(o, key, _)| o.penalty && key.producer != envelope.producer)
        .map(|(_, key, _)| key)
        .collect();
    if others.is_empty() {
        return;
    }
    let mut events: Vec<EventKey> = others.iter().map(|k| (*k).clone()).collect();
    events.push(envelope.key());
    let mut alert = hit_alert(
        AlertKind::DuplicatePenalty,
        &Hit {
            rule_id: "duplicate-penalty".into(),
            title: "同一违法行为多头处罚".into(),
            citation: "《中华人民共和国行政处罚法》(2021-07-15 施行) 第29条: 对当事人的同一个违法行为, 不得给予两次以上罚款的行政处罚".into(),
            facts: Facts::new(),
        },
        envelope,
        events,
    );
    alert.detail = format!(
        "{} 日内已有其他机关就 {} 作出 {} 次处罚",
        window.as_hours() / 24,
        outcome.offence_code.as_str(),
        others.len()
    );
    alerts.push(AlertWrite {
        alert,
        to: coordinators(policy, &outcome.division),
    });
}

/// 化整为零: cases below every threshold that together meet one.
pub(super) fn check_split(
    view: &impl View,
    envelope: &Envelope,
    outcome: &CaseOutcome,
    earlier: &Earlier,
    policy: &Policy,
    writes: &mut WriteSet,
) -> Result<(), StoreError> {
    let window = policy.windows.split_window;
    let earlier: Vec<&(OutcomeEntry, EventKey, Facts)> =
        earlier.within(outcome.decided_at, window).collect();
    if earlier.is_empty() {
        return Ok(());
    }
    let person = matches!(outcome.subject.id, SubjectId::Person(_));
    let day = day_of(outcome.decided_at);
    let none = |_| 0;
    let meets = |facts: &Facts| {
        let ctx = Context {
            facts,
            division: &outcome.division,
            person,
            prior_penalties: &none,
        };
        policy.thresholds.hits(&outcome.offence_code, day, &ctx)
    };
    // Only cases that stayed below every threshold on their own count as split.
    if earlier.iter().any(|(_, _, facts)| !meets(facts).is_empty()) {
        return Ok(());
    }
    let total = sum_facts(
        earlier
            .iter()
            .map(|(_, _, facts)| facts)
            .chain([&outcome.facts]),
    );
    let mut events: Vec<EventKey> = earlier.iter().map(|(_, key, _)| key.clone()).collect();
    events.push(envelope.key());
    let subject = outcome.subject.key();
    for hit in meets(&total) {
        if view.split_reported(&subject, &outcome.offence_code, &hit.rule_id)? {
            continue;
        }
        writes.split_marks.push(SplitMark {
            subject: subject.clone(),
            offence: outcome.offence_code.clone(),
            rule: hit.rule_id.clone(),
        });
        let mut alert = hit_alert(AlertKind::SplitCase, &hit, envelope, events.clone());
        alert.detail = format!(
            "{} 日内 {} 起案件合计达到追诉标准",
            window.as_hours() / 24,
            events.len()
        );
        writes.alerts.push(AlertWrite {
            alert,
            to: coordinators(policy, &outcome.division),
        });
    }
    Ok(())
}

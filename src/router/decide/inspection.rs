//! 涉企行政检查: certificates, plans, records, cancellations and answers to joint proposals.
//! Every check of [`crate::domain::inspection::checks`] that a plan or record fails is kept on
//! the plan (the publisher's Ack carries it) and raised to the coordinators of the enterprise's
//! division. Plans of different agencies close in time are proposed as one joint inspection
//! (综合查一次) to each agency and the coordinators. Nothing here stops an inspection: the
//! broker records and warns.

use sha2::{Digest, Sha256};

use super::{coordinators, day_of};
use crate::domain::inspection::checks::{self, Finding, OPINION_54};
use crate::domain::inspection::{
    Certificate, CertificateEntry, InspectionCancel, InspectionEntry, InspectionPlan,
    InspectionRecord, JointAnswer, JointProposal, PlanKey, PlanState, RecordEntry,
};
use crate::domain::{
    AgencyId, AgencyKind, Alert, AlertKind, DeliveryReason, Envelope, Policy, SubjectId,
};
use crate::store::{AlertWrite, EventWrite, Incoming, InspectionWrite, StoreError, View, WriteSet};

/// A decision that may refuse the event (the reason is recorded in the audit chain).
type Decided = Result<Result<WriteSet, String>, StoreError>;

/// A certificate published by a coordinator: known from now on; a revocation takes effect on
/// the day it was published (China Standard Time).
pub fn certificate(
    view: &impl View,
    envelope: &Envelope,
    certificate: &Certificate,
    policy: &Policy,
) -> Decided {
    let issuer = policy.registry.get(&envelope.producer);
    if !issuer.is_some_and(|a| a.kind == AgencyKind::Coordinator) {
        return Ok(Err(format!(
            "{} is not a coordinator (司法行政): only they publish certificates",
            envelope.producer
        )));
    }
    let known = view.certificate(certificate.number.as_str())?;
    let revoked_on = match (certificate.revoked, known.and_then(|k| k.revoked_on)) {
        (false, _) => None,
        (true, Some(earlier)) => Some(earlier),
        (true, None) => Some(day_of(envelope.produced_at)),
    };
    Ok(Ok(WriteSet {
        event: Some(EventWrite {
            recipients: vec![(certificate.agency.clone(), DeliveryReason::ExplicitTarget)],
            timeline: None,
        }),
        inspection: Some(InspectionWrite {
            certificate: Some(CertificateEntry {
                certificate: certificate.clone(),
                issuer: envelope.producer.clone(),
                revoked_on,
            }),
            ..InspectionWrite::default()
        }),
        ..WriteSet::default()
    }))
}

/// The credit code of a plan's enterprise (validation admits organisations only).
fn enterprise_code(plan: &InspectionPlan) -> &str {
    match &plan.enterprise.id {
        SubjectId::Organization(code) => code.as_str(),
        SubjectId::Person(_) => "",
    }
}

/// An alert about an inspection, to the coordinators of the enterprise's division.
fn alert(
    kind: AlertKind,
    finding: &Finding,
    plan: &InspectionPlan,
    envelope: &Envelope,
    policy: &Policy,
    extra: &[AgencyId],
) -> AlertWrite {
    let mut to = coordinators(policy, &plan.division);
    to.extend(extra.iter().cloned());
    AlertWrite {
        alert: Alert {
            id: 0,
            kind,
            raised_at: jiff::Timestamp::UNIX_EPOCH,
            rule_id: finding.rule.to_owned(),
            title: finding.title.to_owned(),
            citation: finding.citation.clone(),
            facts: Default::default(),
            subject: Some(plan.enterprise.clone()),
            division: Some(plan.division.clone()),
            events: vec![envelope.key()],
            referral: None,
            late: None,
            due: None,
            detail: finding.detail.clone(),
            parties: Vec::new(),
        },
        to,
    }
}

/// The plan an event names, if it is the producer's and about the same enterprise.
fn own_plan(
    view: &impl View,
    envelope: &Envelope,
    enterprise: &str,
) -> Result<Result<InspectionEntry, String>, StoreError> {
    let Some(key) = envelope.plan_key() else {
        return Ok(Err("not an inspection event".into()));
    };
    let Some(entry) = view.inspection(&key)? else {
        return Ok(Err(format!("no inspection plan {key}")));
    };
    if enterprise_code(&entry.plan) != enterprise {
        return Ok(Err(format!(
            "plan {key} is about {}, not {enterprise}",
            enterprise_code(&entry.plan)
        )));
    }
    Ok(Ok(entry))
}

/// A plan: the checks of items, territory, caps and repeats, and a joint proposal when
/// another agency plans to visit the same enterprise at about the same time.
pub fn plan(
    view: &impl View,
    incoming: &Incoming,
    plan: &InspectionPlan,
    policy: &Policy,
) -> Decided {
    let envelope = &incoming.envelope;
    let key = PlanKey {
        agency: envelope.producer.clone(),
        plan_id: plan.plan_id.clone(),
    };
    if view.inspection(&key)?.is_some() {
        return Ok(Err(format!("inspection plan {key} already exists")));
    }
    let Some(agency) = policy.registry.get(&key.agency) else {
        return Ok(Err(format!("{} is not a registered agency", key.agency)));
    };
    let mut entry = InspectionEntry {
        agency: key.agency.clone(),
        event_id: envelope.event_id.clone(),
        plan: plan.clone(),
        planned_at: incoming.logged_at,
        state: PlanState::Planned,
        warnings: Vec::new(),
        records: Vec::new(),
        joint: None,
        joint_accepted: None,
    };
    let code = enterprise_code(plan);
    let year = plan.window_start.year();
    let this_year = view.inspections_of(code, year)?;
    let mut findings: Vec<Finding> = Vec::new();
    findings.extend(checks::outside_territory(agency, plan));
    let mut writes = WriteSet::default();
    let mut joined = Vec::new();
    if let Some(rules) = policy.inspections.province(plan.division.as_str()) {
        findings.extend(checks::unpublished_items(
            &policy.inspections,
            &key.agency,
            &plan.items,
            plan.window_start,
        ));
        let mut tallied = this_year.clone();
        tallied.push(entry.clone());
        if checks::counts(rules, &entry) {
            let counts = checks::tally(rules, &tallied, &key.agency);
            findings.extend(checks::caps_exceeded(
                rules,
                plan.risk_grade,
                &key.agency,
                counts,
            ));
        }
        let mut earlier = this_year.clone();
        earlier.extend(view.inspections_of(code, year - 1)?);
        let own: Vec<&InspectionEntry> =
            earlier.iter().filter(|e| e.agency == key.agency).collect();
        findings.extend(checks::repeated(rules, plan, &own));
        joined = this_year
            .into_iter()
            .filter(|e| e.agency != key.agency && checks::joinable(rules, e, plan))
            .collect();
    }
    for finding in &findings {
        entry.warnings.push(finding.warning());
        writes.alerts.push(alert(
            AlertKind::InspectionIrregular,
            finding,
            plan,
            envelope,
            policy,
            &[],
        ));
    }
    let mut inspection = InspectionWrite::default();
    if !joined.is_empty() {
        let proposal = propose(view, &mut entry, &mut joined)?;
        let agencies: Vec<AgencyId> = proposal.plans.iter().map(|p| p.agency.clone()).collect();
        let finding = Finding {
            rule: "inspection.joint",
            title: "综合查一次: 建议联合检查",
            citation: format!("{OPINION_54}: 综合查一次, 一表通查"),
            detail: format!(
                "{} 计划在 {} 日内先后检查同一企业；建议联合检查 {}，事项：{}",
                AgencyId::list(&agencies),
                policy
                    .inspections
                    .province(plan.division.as_str())
                    .map_or(0, |r| r.joint_window_days),
                proposal.id,
                proposal.items.join(", ")
            ),
        };
        writes.alerts.push(alert(
            AlertKind::JointInspection,
            &finding,
            plan,
            envelope,
            policy,
            &agencies,
        ));
        inspection.plans.extend(joined);
        inspection.joint = Some(proposal);
    }
    inspection.plans.push(entry);
    writes.inspection = Some(inspection);
    Ok(Ok(writes))
}

/// Joins `entry` and the plans it may be combined with into one proposal — the one a plan
/// among them is already part of, or a new one named after the first plan — and marks them.
fn propose(
    view: &impl View,
    entry: &mut InspectionEntry,
    joined: &mut [InspectionEntry],
) -> Result<JointProposal, StoreError> {
    let existing = joined.iter().find_map(|e| e.joint.clone());
    let mut proposal = match existing {
        Some(id) => view.joint(&id)?,
        None => None,
    }
    .unwrap_or_else(|| {
        let first = joined[0].key().to_string();
        JointProposal {
            id: format!("J-{}", &hex::encode(Sha256::digest(first.as_bytes()))[..12]),
            enterprise: entry.plan.enterprise.clone(),
            division: entry.plan.division.clone(),
            plans: Vec::new(),
            items: Vec::new(),
            answers: Vec::new(),
        }
    });
    for plan in joined.iter_mut().chain(std::iter::once(entry)) {
        if !proposal.plans.contains(&plan.key()) {
            proposal.plans.push(plan.key());
        }
        proposal.items.extend(plan.plan.items.iter().cloned());
        plan.joint = Some(proposal.id.clone());
    }
    proposal.items.sort();
    proposal.items.dedup();
    Ok(proposal)
}

/// A record: inspectors' number and certificates, items published; the plan is done.
pub fn record(
    view: &impl View,
    envelope: &Envelope,
    record: &InspectionRecord,
    policy: &Policy,
) -> Decided {
    let mut entry = match own_plan(view, envelope, record.enterprise.as_str())? {
        Ok(entry) => entry,
        Err(reason) => return Ok(Err(reason)),
    };
    if entry.state == PlanState::Cancelled {
        return Ok(Err(format!(
            "inspection plan {} was cancelled",
            entry.key()
        )));
    }
    let mut findings: Vec<Finding> = Vec::new();
    findings.extend(checks::too_few_inspectors(
        record.inspectors.len(),
        entry.plan.remote,
    ));
    let mut problems = Vec::new();
    for number in &record.inspectors {
        let known = view.certificate(number.as_str())?;
        if let Some(why) = checks::certificate_problem(known.as_ref(), &entry.agency, record.date) {
            problems.push((number.to_string(), why));
        }
    }
    findings.extend(checks::uncertified(&problems));
    findings.extend(checks::off_plan(&entry.plan, record.date, &record.items));
    if policy
        .inspections
        .province(entry.plan.division.as_str())
        .is_some()
    {
        findings.extend(checks::unpublished_items(
            &policy.inspections,
            &entry.agency,
            &record.items,
            record.date,
        ));
    }
    let mut writes = WriteSet::default();
    for finding in &findings {
        writes.alerts.push(alert(
            AlertKind::InspectionIrregular,
            finding,
            &entry.plan,
            envelope,
            policy,
            &[],
        ));
    }
    entry.state = PlanState::Done;
    entry.records.push(RecordEntry {
        event_id: envelope.event_id.clone(),
        record: record.clone(),
        warnings: findings.iter().map(Finding::warning).collect(),
    });
    writes.event = Some(EventWrite {
        recipients: Vec::new(),
        timeline: Some(entry.plan.enterprise.key()),
    });
    writes.inspection = Some(InspectionWrite {
        plans: vec![entry],
        ..InspectionWrite::default()
    });
    Ok(Ok(writes))
}

/// A cancellation: the plan no longer counts, and its code says it was called off.
pub fn cancel(view: &impl View, envelope: &Envelope, cancel: &InspectionCancel) -> Decided {
    let mut entry = match own_plan(view, envelope, cancel.enterprise.as_str())? {
        Ok(entry) => entry,
        Err(reason) => return Ok(Err(reason)),
    };
    if entry.state == PlanState::Done {
        return Ok(Err(format!(
            "inspection plan {} was carried out",
            entry.key()
        )));
    }
    entry.state = PlanState::Cancelled;
    Ok(Ok(WriteSet {
        event: Some(EventWrite {
            recipients: Vec::new(),
            timeline: Some(entry.plan.enterprise.key()),
        }),
        inspection: Some(InspectionWrite {
            plans: vec![entry],
            ..InspectionWrite::default()
        }),
        ..WriteSet::default()
    }))
}

/// An answer to the joint proposal the agency's plan is part of: recorded on the plan and the
/// proposal, and delivered to the other agencies of the proposal and the coordinators.
pub fn answer(
    view: &impl View,
    envelope: &Envelope,
    answer: &JointAnswer,
    policy: &Policy,
) -> Decided {
    let mut entry = match own_plan(view, envelope, answer.enterprise.as_str())? {
        Ok(entry) => entry,
        Err(reason) => return Ok(Err(reason)),
    };
    let Some(mut proposal) = entry
        .joint
        .as_deref()
        .map(|id| view.joint(id))
        .transpose()?
        .flatten()
    else {
        return Ok(Err(format!(
            "inspection plan {} is in no joint proposal",
            entry.key()
        )));
    };
    proposal
        .answers
        .retain(|(agency, _)| agency != &entry.agency);
    proposal.answers.push((entry.agency.clone(), answer.accept));
    entry.joint_accepted = Some(answer.accept);
    let mut recipients: Vec<(AgencyId, DeliveryReason)> = proposal
        .plans
        .iter()
        .filter(|p| p.agency != entry.agency)
        .map(|p| (p.agency.clone(), DeliveryReason::ExplicitTarget))
        .collect();
    recipients.extend(
        coordinators(policy, &proposal.division)
            .into_iter()
            .map(|c| (c, DeliveryReason::ExplicitTarget)),
    );
    recipients.dedup();
    Ok(Ok(WriteSet {
        event: Some(EventWrite {
            recipients,
            timeline: Some(entry.plan.enterprise.key()),
        }),
        inspection: Some(InspectionWrite {
            plans: vec![entry],
            joint: Some(proposal),
            ..InspectionWrite::default()
        }),
        ..WriteSet::default()
    }))
}

#[cfg(test)]
#[path = "inspection_tests.rs"]
mod tests;

//! Masks natural persons in what a reader without full access is shown: the subject's
//! 身份证号 and name (`110105********002X`, `张*`), and the same strings wherever the free text
//! of the item repeats them. Organisations are left alone: their codes and names are public
//! registers (国家企业信用信息公示系统).
//!
//! Works on the protobuf answer, after conversion, so that no conversion has two versions.

use super::rules::{mask_name, mask_resident_id};
use crate::proto;

/// The person an item names, and the masked forms to put in place of each string.
struct Person {
    replacements: Vec<(String, String)>,
}

impl Person {
    fn of(subject: Option<&proto::Subject>) -> Option<Self> {
        let subject = subject.filter(|s| s.kind == proto::SubjectKind::Person as i32)?;
        let mut replacements = vec![(subject.id.clone(), mask_resident_id(&subject.id))];
        if !subject.name.is_empty() {
            replacements.push((subject.name.clone(), mask_name(&subject.name)));
        }
        // Longest first, so that a name inside an id (or the reverse) is not half-replaced.
        replacements.retain(|(plain, _)| !plain.is_empty());
        replacements.sort_by_key(|(plain, _)| std::cmp::Reverse(plain.len()));
        Some(Self { replacements })
    }

    fn text(&self, text: &mut String) {
        for (plain, masked) in &self.replacements {
            if text.contains(plain.as_str()) {
                *text = text.replace(plain.as_str(), masked);
            }
        }
    }

    fn subject(&self, subject: Option<&mut proto::Subject>) {
        if let Some(subject) = subject {
            self.text(&mut subject.id);
            self.text(&mut subject.name);
        }
    }
}

/// Masks the person an event is about, in its subject and free text.
pub(crate) fn envelope(envelope: &mut proto::Envelope) {
    use proto::envelope::Payload;
    match &mut envelope.payload {
        Some(Payload::Lead(lead)) => {
            if let Some(person) = Person::of(lead.subject.as_ref()) {
                person.subject(lead.subject.as_mut());
                person.text(&mut lead.summary);
            }
        }
        Some(Payload::CaseOutcome(outcome)) => {
            if let Some(person) = Person::of(outcome.subject.as_ref()) {
                person.subject(outcome.subject.as_mut());
                person.text(&mut outcome.legal_basis);
            }
        }
        Some(Payload::Referral(referral)) => self::referral(referral),
        Some(Payload::Certificate(certificate)) => self::certificate(certificate),
        // A step names no subject; its reason is the acting agency's own words. Inspections
        // are about enterprises, not persons.
        Some(
            Payload::ReferralUpdate(_)
            | Payload::InspectionPlan(_)
            | Payload::InspectionRecord(_)
            | Payload::InspectionCancel(_)
            | Payload::JointAnswer(_),
        )
        | None => {}
    }
}

/// Masks the person a stored event is about.
pub(crate) fn stored(stored: &mut proto::StoredEvent) {
    if let Some(event) = stored.event.as_mut() {
        envelope(event);
    }
}

/// Masks the person a referral is about.
pub(crate) fn referral(referral: &mut proto::Referral) {
    if let Some(person) = Person::of(referral.subject.as_ref()) {
        person.subject(referral.subject.as_mut());
        person.text(&mut referral.summary);
        for document in &mut referral.documents {
            person.text(&mut document.name);
        }
    }
}

/// Masks the person of a referral view, in the referral and the reasons of its steps.
pub(crate) fn referral_view(view: &mut proto::ReferralView) {
    let Some(referral) = view.referral.as_mut() else {
        return;
    };
    if let Some(person) = Person::of(referral.subject.as_ref()) {
        for step in &mut view.history {
            person.text(&mut step.reason);
        }
    }
    self::referral(referral);
}

/// Masks a certificate's holder (inspections are about enterprises; the holder is the only
/// person they name).
pub(crate) fn certificate(certificate: &mut proto::Certificate) {
    if let Some(person) = Person::of(certificate.holder.as_ref()) {
        person.subject(certificate.holder.as_mut());
    }
}

/// Masks the person an alert is about.
pub(crate) fn alert(alert: &mut proto::Alert) {
    if let Some(person) = Person::of(alert.subject.as_ref()) {
        person.subject(alert.subject.as_mut());
        person.text(&mut alert.detail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> proto::Subject {
        proto::Subject {
            kind: proto::SubjectKind::Person as i32,
            id: "11010519491231002X".into(),
            name: "张三".into(),
        }
    }

    #[test]
    fn a_persons_id_and_name_are_masked_wherever_the_lead_names_them() {
        let mut envelope = proto::Envelope {
            payload: Some(proto::envelope::Payload::Lead(proto::Lead {
                subject: Some(person()),
                summary: "张三（11010519491231002X）无证经营".into(),
                ..Default::default()
            })),
            ..Default::default()
        };
        self::envelope(&mut envelope);
        let Some(proto::envelope::Payload::Lead(lead)) = envelope.payload else {
            unreachable!()
        };
        let subject = lead.subject.unwrap();
        assert_eq!(subject.id, "110105********002X");
        assert_eq!(subject.name, "张*");
        assert_eq!(lead.summary, "张*（110105********002X）无证经营");
    }

    #[test]
    fn organisations_are_public_and_stay() {
        let company = proto::Subject {
            kind: proto::SubjectKind::Organization as i32,
            id: "91330106MA2H0Q7W1G".into(),
            name: "某某有限公司".into(),
        };
        let mut alert = proto::Alert {
            subject: Some(company.clone()),
            detail: "某某有限公司".into(),
            ..Default::default()
        };
        self::alert(&mut alert);
        assert_eq!(alert.subject, Some(company));
        assert_eq!(alert.detail, "某某有限公司");
    }

    #[test]
    fn referral_steps_lose_the_name_too() {
        let mut view = proto::ReferralView {
            referral: Some(proto::Referral {
                subject: Some(person()),
                ..Default::default()
            }),
            history: vec![proto::ReferralStep {
                reason: "张三 has a prior record".into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        referral_view(&mut view);
        assert_eq!(view.history[0].reason, "张* has a prior record");
        assert_eq!(view.referral.unwrap().subject.unwrap().name, "张*");
    }
}

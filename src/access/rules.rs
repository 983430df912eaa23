//! The access rules as pure decisions (the module above says who reads what), and the masked
//! forms of personal data: `110105********002X`, `张*`. Organisations are not masked: their
//! codes and names are public registers.

use crate::domain::{
    Agency, AgencyId, AgencyKind, DivisionCode, Handling, Payload, ReferralRecord, Registry,
    StoredEvent, SubjectId,
};

/// What a reader may see of an item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Everything.
    Full,
    /// Everything but personal data.
    Masked,
    /// Nothing: the item is not shown (or the call is refused).
    Denied,
}

/// What access decisions look at.
#[derive(Clone, Debug)]
pub struct Item<'a> {
    /// The agencies that are parties: producer and recipients (for a referral: the referring
    /// agency, its police, and the procuratorate).
    pub parties: &'a [AgencyId],
    /// Where it happened.
    pub division: Option<&'a DivisionCode>,
    /// Its handling code.
    pub handling: Handling,
    /// Whether it is (part of) a criminal referral.
    pub referral: bool,
}

/// The reader's access to `item`.
pub fn access(reader: &Agency, item: &Item<'_>) -> Access {
    if item.parties.contains(&reader.id) {
        return Access::Full;
    }
    if item.handling != Handling::ShareWithinJurisdiction {
        return Access::Denied;
    }
    let within = item.division.is_some_and(|d| reader.division.covers(d));
    match reader.kind {
        AgencyKind::Coordinator if within => Access::Masked,
        AgencyKind::Police | AgencyKind::Procuratorate if within && item.referral => Access::Full,
        _ => Access::Denied,
    }
}

/// Whether `reader` may ask for reports and lists over `prefix` (a division code prefix):
/// coordinators and procuratorates over their own subtree.
pub fn may_survey(reader: &Agency, prefix: &str) -> bool {
    matches!(
        reader.kind,
        AgencyKind::Coordinator | AgencyKind::Procuratorate
    ) && prefix.starts_with(reader.division.jurisdiction_prefix())
}

/// `110105194912310021` → `110105********0021`: the address code and the last four stay.
pub fn mask_resident_id(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() < 10 {
        return "*".repeat(chars.len());
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}{}{tail}", "*".repeat(chars.len() - 10))
}

/// `张三` → `张*`, `欧阳娜娜` → `欧***`: the first character stays.
pub fn mask_name(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => format!("{first}{}", "*".repeat(chars.count().max(1))),
        None => String::new(),
    }
}

/// What `reader` may see of an event (`None`: the development operator, who sees all): its
/// parties are its producer and recipients.
pub fn event_access(reader: Option<&Agency>, event: &StoredEvent) -> Access {
    let Some(reader) = reader else {
        return Access::Full;
    };
    let mut parties = event.delivered_to.clone();
    parties.push(event.envelope.producer.clone());
    let item = Item {
        parties: &parties,
        division: event.envelope.division(),
        handling: event.envelope.handling,
        referral: event.envelope.referral_key().is_some(),
    };
    access(reader, &item)
}

/// Whether an event names a natural person (a referral step is about one's case).
pub fn is_personal(event: &StoredEvent) -> bool {
    matches!(
        event.envelope.subject().map(|s| &s.id),
        Some(SubjectId::Person(_))
    ) || matches!(&event.envelope.payload, Payload::ReferralUpdate(_))
}

/// What a reader may see of a referral.
pub fn referral_access(
    reader: Option<&Agency>,
    record: &ReferralRecord,
    registry: &Registry,
) -> Access {
    let Some(reader) = reader else {
        return Access::Full;
    };
    // Those who hear of its steps, the police it is addressed to, and whoever took a step
    // (police that passed it on).
    let mut parties = record.parties(registry);
    parties.push(record.police.clone());
    parties.extend(record.history.iter().map(|step| step.actor.clone()));
    let item = Item {
        parties: &parties,
        division: Some(&record.referral.division),
        handling: Handling::ShareWithinJurisdiction,
        referral: true,
    };
    access(reader, &item)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agency(id: &str, kind: AgencyKind, division: &str) -> Agency {
        Agency {
            id: AgencyId::parse(id).unwrap(),
            name: id.into(),
            kind,
            division: DivisionCode::parse(division).unwrap(),
            domains: vec![],
        }
    }

    #[test]
    fn parties_read_in_full_and_supervisors_masked_within_their_subtree() {
        let parties = [AgencyId::parse("330106-SCJG").unwrap()];
        let division = DivisionCode::parse("330106005").unwrap();
        let item = Item {
            parties: &parties,
            division: Some(&division),
            handling: Handling::ShareWithinJurisdiction,
            referral: false,
        };
        let party = agency("330106-SCJG", AgencyKind::Administrative, "330106");
        let city_coordinator = agency("330100-SFJ", AgencyKind::Coordinator, "330100");
        let province_coordinator = agency("330000-SFT", AgencyKind::Coordinator, "330000");
        let other_county = agency("330102-SFJ", AgencyKind::Coordinator, "330102");
        let other_province = agency("110000-SFT", AgencyKind::Coordinator, "110000");
        let other_agency = agency("330106-RSJ", AgencyKind::Administrative, "330106");
        let police = agency("330106-GA", AgencyKind::Police, "330106");
        assert_eq!(access(&party, &item), Access::Full);
        assert_eq!(access(&city_coordinator, &item), Access::Masked);
        assert_eq!(access(&province_coordinator, &item), Access::Masked);
        assert_eq!(access(&other_county, &item), Access::Denied);
        assert_eq!(access(&other_province, &item), Access::Denied);
        assert_eq!(access(&other_agency, &item), Access::Denied);
        assert_eq!(access(&police, &item), Access::Denied, "not a referral");
        let referral = Item {
            referral: true,
            ..item.clone()
        };
        assert_eq!(access(&police, &referral), Access::Full);
        let far_police = agency("330102-GA", AgencyKind::Police, "330102");
        assert_eq!(
            access(&far_police, &referral),
            Access::Denied,
            "outside its subtree"
        );
        let private = Item {
            handling: Handling::PartiesOnly,
            ..item
        };
        assert_eq!(access(&city_coordinator, &private), Access::Denied);
        assert_eq!(access(&party, &private), Access::Full);
    }

    #[test]
    fn surveys_stay_within_the_readers_subtree() {
        let coordinator = agency("330100-SFJ", AgencyKind::Coordinator, "330100");
        assert!(may_survey(&coordinator, "3301"));
        assert!(may_survey(&coordinator, "330106"));
        assert!(!may_survey(&coordinator, "33"));
        assert!(!may_survey(&coordinator, ""));
        assert!(!may_survey(
            &agency("330106-SCJG", AgencyKind::Administrative, "330106"),
            "330106"
        ));
    }

    #[test]
    fn masking_keeps_the_region_and_the_last_digits() {
        assert_eq!(mask_resident_id("11010519491231002X"), "110105********002X");
        assert_eq!(mask_name("张三"), "张*");
        assert_eq!(mask_name("欧阳娜娜"), "欧***");
        assert_eq!(mask_name("李"), "李*");
    }
}

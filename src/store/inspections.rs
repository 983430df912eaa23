//! 涉企行政检查 in the store: certificates, plans with their records and answers, joint
//! proposals, the enterprise-year index the caps are tallied from and the verification codes —
//! their protobuf records (`records.proto`) and the reads the gateway and console make.

use jiff::Timestamp;
use prost::Message as _;

use super::{Store, StoreError, keys};
use crate::codec::{from_proto, inspection as codec};
use crate::domain::inspection::{
    CertificateEntry, InspectionEntry, JointProposal, PlanKey, PlanState, RecordEntry,
};
use crate::domain::{AgencyId, DivisionCode, EventId};
use crate::proto::store::v1 as rec;

fn corrupt(what: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: what,
        reason: reason.to_string(),
    }
}

/// A plan key from `agency/plan_id`.
pub(super) fn plan_key(what: &'static str, text: &str) -> Result<PlanKey, StoreError> {
    keys::parse_agency_id(text)
        .map(|(agency, plan_id)| PlanKey { agency, plan_id })
        .ok_or_else(|| corrupt(what, format!("{text} is not a plan key")))
}

pub(super) fn encode_certificate(entry: &CertificateEntry) -> Vec<u8> {
    rec::CertificateEntry {
        certificate: Some(codec::certificate(&entry.certificate)),
        issuer: entry.issuer.to_string(),
        revoked_on: entry.revoked_on.map(|d| d.to_string()).unwrap_or_default(),
    }
    .encode_to_vec()
}

pub(super) fn decode_certificate(raw: &[u8]) -> Result<CertificateEntry, StoreError> {
    let what = "certificates";
    let r = rec::CertificateEntry::decode(raw).map_err(|e| corrupt(what, e))?;
    let certificate = r
        .certificate
        .as_ref()
        .ok_or_else(|| corrupt(what, "empty"))?;
    Ok(CertificateEntry {
        certificate: codec::certificate_from(certificate).map_err(|e| corrupt(what, e))?,
        issuer: AgencyId::parse(&r.issuer).map_err(|e| corrupt(what, e))?,
        revoked_on: match r.revoked_on.as_str() {
            "" => None,
            day => Some(day.parse().map_err(|e: jiff::Error| corrupt(what, e))?),
        },
    })
}

fn state_number(state: PlanState) -> u32 {
    match state {
        PlanState::Planned => 1,
        PlanState::Done => 2,
        PlanState::Cancelled => 3,
    }
}

pub(super) fn encode_inspection(entry: &InspectionEntry) -> Vec<u8> {
    rec::InspectionEntry {
        agency: entry.agency.to_string(),
        event_id: entry.event_id.to_string(),
        plan: Some(codec::plan(&entry.plan)),
        planned_at_us: entry.planned_at.as_microsecond(),
        state: state_number(entry.state),
        warnings: entry.warnings.clone(),
        records: entry
            .records
            .iter()
            .map(|r| rec::InspectionRecordEntry {
                event_id: r.event_id.to_string(),
                record: Some(codec::record(&r.record)),
                warnings: r.warnings.clone(),
            })
            .collect(),
        joint: entry.joint.clone().unwrap_or_default(),
        joint_accepted: entry.joint_accepted,
    }
    .encode_to_vec()
}

pub(super) fn decode_inspection(raw: &[u8]) -> Result<InspectionEntry, StoreError> {
    let what = "inspections";
    let r = rec::InspectionEntry::decode(raw).map_err(|e| corrupt(what, e))?;
    let plan = r.plan.as_ref().ok_or_else(|| corrupt(what, "no plan"))?;
    let event_id = |raw: &str| EventId::parse(raw).map_err(|e| corrupt(what, e));
    Ok(InspectionEntry {
        agency: AgencyId::parse(&r.agency).map_err(|e| corrupt(what, e))?,
        event_id: event_id(&r.event_id)?,
        plan: codec::plan_from(plan).map_err(|e| corrupt(what, e))?,
        planned_at: Timestamp::from_microsecond(r.planned_at_us).map_err(|e| corrupt(what, e))?,
        state: match r.state {
            1 => PlanState::Planned,
            2 => PlanState::Done,
            3 => PlanState::Cancelled,
            n => return Err(corrupt(what, format!("state {n}"))),
        },
        warnings: r.warnings,
        records: r
            .records
            .iter()
            .map(|e| {
                let record = e
                    .record
                    .as_ref()
                    .ok_or_else(|| corrupt(what, "no record"))?;
                Ok(RecordEntry {
                    event_id: event_id(&e.event_id)?,
                    record: codec::record_from(record).map_err(|e| corrupt(what, e))?,
                    warnings: e.warnings.clone(),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        joint: (!r.joint.is_empty()).then_some(r.joint),
        joint_accepted: r.joint_accepted,
    })
}

pub(super) fn encode_joint(joint: &JointProposal) -> Vec<u8> {
    rec::JointProposal {
        id: joint.id.clone(),
        enterprise: Some(crate::codec::to_proto::subject(&joint.enterprise)),
        division: joint.division.as_str().to_owned(),
        plans: joint.plans.iter().map(ToString::to_string).collect(),
        items: joint.items.clone(),
        answers: joint
            .answers
            .iter()
            .map(|(agency, accept)| rec::JointAnswerEntry {
                agency: agency.to_string(),
                accept: *accept,
            })
            .collect(),
    }
    .encode_to_vec()
}

pub(super) fn decode_joint(raw: &[u8]) -> Result<JointProposal, StoreError> {
    let what = "joint inspections";
    let r = rec::JointProposal::decode(raw).map_err(|e| corrupt(what, e))?;
    Ok(JointProposal {
        id: r.id,
        enterprise: from_proto::subject("enterprise", r.enterprise.as_ref())
            .map_err(|e| corrupt(what, e))?,
        division: DivisionCode::parse(&r.division).map_err(|e| corrupt(what, e))?,
        plans: r
            .plans
            .iter()
            .map(|p| plan_key(what, p))
            .collect::<Result<_, _>>()?,
        items: r.items,
        answers: r
            .answers
            .iter()
            .map(|a| {
                Ok((
                    AgencyId::parse(&a.agency).map_err(|e| corrupt(what, e))?,
                    a.accept,
                ))
            })
            .collect::<Result<_, StoreError>>()?,
    })
}

impl Store {
    fn get_decoded<T>(
        &self,
        key: Vec<u8>,
        decode: fn(&[u8]) -> Result<T, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        self.tree
            .get(key)
            .map_err(StoreError::sled("read"))?
            .map(|raw| decode(&raw))
            .transpose()
    }

    /// What is known of certificate `number`.
    pub fn certificate(&self, number: &str) -> Result<Option<CertificateEntry>, StoreError> {
        self.get_decoded(keys::certificate(number), decode_certificate)
    }

    /// A plan by key.
    pub fn inspection(&self, key: &PlanKey) -> Result<Option<InspectionEntry>, StoreError> {
        self.get_decoded(keys::inspection(key), decode_inspection)
    }

    /// A joint proposal by id.
    pub fn joint(&self, id: &str) -> Result<Option<JointProposal>, StoreError> {
        self.get_decoded(keys::joint(id), decode_joint)
    }

    /// The plan a verification code was given to.
    pub fn inspection_by_code(&self, code: &str) -> Result<Option<InspectionEntry>, StoreError> {
        let Some(raw) = self
            .tree
            .get(keys::verify(code))
            .map_err(StoreError::sled("read"))?
        else {
            return Ok(None);
        };
        let key = plan_key("verify codes", &String::from_utf8_lossy(&raw))?;
        self.inspection(&key)
    }

    /// An enterprise's plans whose window starts in `year`, by plan key.
    pub fn inspections_of(
        &self,
        enterprise: &str,
        year: i16,
    ) -> Result<Vec<InspectionEntry>, StoreError> {
        let scope = keys::enterprise_year_scope(enterprise, year);
        let mut found = Vec::new();
        for row in self.tree.scan_prefix(&scope) {
            let (key, _) = row.map_err(StoreError::sled("read"))?;
            let text = String::from_utf8_lossy(&key[scope.len()..]);
            let plan = plan_key("enterprise years", &text)?;
            if let Some(entry) = self.inspection(&plan)? {
                found.push(entry);
            }
        }
        Ok(found)
    }

    /// Every plan, by key (for the console's overview).
    pub fn inspections(&self) -> Result<Vec<InspectionEntry>, StoreError> {
        self.tree
            .scan_prefix([keys::INSPECTION])
            .map(|row| {
                let (_, raw) = row.map_err(StoreError::sled("read"))?;
                decode_inspection(&raw)
            })
            .collect()
    }

    /// Every joint proposal, by id.
    pub fn joints(&self) -> Result<Vec<JointProposal>, StoreError> {
        self.tree
            .scan_prefix([keys::JOINT])
            .map(|row| {
                let (_, raw) = row.map_err(StoreError::sled("read"))?;
                decode_joint(&raw)
            })
            .collect()
    }
}

impl super::Batch<'_> {
    /// Stages certificates, plans (with their year index and verification code) and joint
    /// proposals.
    pub(super) fn stage_inspection(&mut self, write: super::InspectionWrite) {
        if let Some(entry) = write.certificate {
            self.put(
                keys::certificate(entry.certificate.number.as_str()),
                encode_certificate(&entry),
            );
        }
        for entry in write.plans {
            let key = entry.key();
            if let crate::domain::SubjectId::Organization(code) = &entry.plan.enterprise.id {
                self.put(
                    keys::enterprise_year(code.as_str(), entry.plan.window_start.year(), &key),
                    Vec::new(),
                );
            }
            if !entry.plan.verify_code.is_empty() {
                self.put(
                    keys::verify(&entry.plan.verify_code),
                    key.to_string().into_bytes(),
                );
            }
            self.put(keys::inspection(&key), encode_inspection(&entry));
        }
        if let Some(joint) = write.joint {
            self.put(keys::joint(&joint.id), encode_joint(&joint));
        }
    }
}

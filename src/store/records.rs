//! The store's records in protobuf (`proto/xiezhi/store/v1/records.proto`): an event keeps
//! the envelope's bytes exactly as they came off the log (never re-encoded), an alert its body
//! as hashed for the audit, and each names its place in the audit chain. Referrals, watches and
//! the audit entries of reads are protobuf too; fixed-size index values are in `values.rs`.

use jiff::Timestamp;
use prost::Message as _;

use super::texts::reference;
use super::write::Watch;
use super::{Incoming, Store, StoreError};
use crate::codec::log::EnvelopeBytes;
use crate::codec::tables::{ACTIONS, ALERT_KINDS, PARTIES, STATES, from_number, number};
use crate::codec::{Encoding, from_proto, to_proto};
use crate::domain::calendar::Limit;
use crate::domain::referral::{ReferralRecord, RunningDeadline, Step};
use crate::domain::rules::Hit;
use crate::domain::{
    AgencyId, Alert, DivisionCode, EventId, EventKey, LogPosition, ReferralKey, StoredEvent,
};
use crate::proto::store::v1 as rec;

fn corrupt(what: &'static str, reason: impl ToString) -> StoreError {
    StoreError::Corrupt {
        tree: what,
        reason: reason.to_string(),
    }
}

fn time(what: &'static str, micros: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(micros).map_err(|e| corrupt(what, e))
}

fn micros(at: Timestamp) -> i64 {
    at.as_microsecond()
}

fn agency(what: &'static str, raw: &str) -> Result<AgencyId, StoreError> {
    AgencyId::parse(raw).map_err(|e| corrupt(what, e))
}

fn hash32(what: &'static str, raw: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(raw).map_err(|_| corrupt(what, format!("{} bytes, not 32", raw.len())))
}

/// A record's place in the audit chain.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Link {
    pub(super) seq: u64,
    pub(super) hash: [u8; 32],
}

impl Link {
    fn encode(self) -> rec::AuditLink {
        rec::AuditLink {
            seq: self.seq,
            hash: self.hash.to_vec(),
        }
    }

    fn decode(raw: Option<&rec::AuditLink>) -> Result<Self, StoreError> {
        let raw = raw.ok_or_else(|| corrupt("audit link", "missing"))?;
        Ok(Self {
            seq: raw.seq,
            hash: hash32("audit link", &raw.hash)?,
        })
    }
}

/// An event record as written.
pub(super) fn encode_event(
    seq: u64,
    incoming: &Incoming,
    delivered_to: &[AgencyId],
    applied_at: Timestamp,
    link: Link,
) -> Vec<u8> {
    rec::EventRecord {
        seq,
        partition: incoming.position.partition,
        offset: incoming.position.offset,
        logged_at_us: micros(incoming.logged_at),
        applied_at_us: micros(applied_at),
        envelope: incoming.bytes.bytes.clone(),
        encoding: incoming.bytes.encoding.number(),
        // The hash of protobuf bytes is theirs: recomputed when needed (rarely: retries, reads
        // audited). Only a legacy JSON record keeps its own, the hash of its protobuf form.
        content_sha256: match incoming.bytes.encoding {
            Encoding::Protobuf => Vec::new(),
            Encoding::JsonV1 => incoming.bytes.content_hash.to_vec(),
        },
        delivered_to: delivered_to.iter().map(ToString::to_string).collect(),
        audit: Some(link.encode()),
    }
    .encode_to_vec()
}

/// An event record, not yet decoded further than protobuf.
pub(super) struct EventRaw(rec::EventRecord);

impl EventRaw {
    pub(super) fn decode(raw: &[u8]) -> Result<Self, StoreError> {
        rec::EventRecord::decode(raw)
            .map(Self)
            .map_err(|e| corrupt("events", e))
    }

    pub(super) fn seq(&self) -> u64 {
        self.0.seq
    }

    pub(super) fn content_hash(&self) -> Result<[u8; 32], StoreError> {
        if self.0.content_sha256.is_empty() {
            return Ok(crate::codec::content_hash(&self.0.envelope));
        }
        hash32("events", &self.0.content_sha256)
    }

    pub(super) fn position(&self) -> LogPosition {
        LogPosition {
            partition: self.0.partition,
            offset: self.0.offset,
        }
    }

    pub(super) fn link(&self) -> Result<Link, StoreError> {
        Link::decode(self.0.audit.as_ref())
    }

    pub(super) fn applied_at(&self) -> Result<Timestamp, StoreError> {
        time("events", self.0.applied_at_us)
    }

    pub(super) fn envelope(&self) -> &[u8] {
        &self.0.envelope
    }

    pub(super) fn bytes(&self) -> Result<EnvelopeBytes, StoreError> {
        Ok(EnvelopeBytes {
            bytes: self.0.envelope.clone(),
            encoding: Encoding::from_number(self.0.encoding).map_err(|e| corrupt("events", e))?,
            content_hash: self.content_hash()?,
        })
    }

    /// The event as readers see it.
    pub(super) fn stored(&self) -> Result<StoredEvent, StoreError> {
        let r = &self.0;
        let envelope = self
            .bytes()?
            .decode()
            .map_err(|e| corrupt("events", crate::telemetry::chain(&e)))?;
        Ok(StoredEvent {
            seq: r.seq,
            envelope,
            position: self.position(),
            logged_at: time("events", r.logged_at_us)?,
            applied_at: self.applied_at()?,
            delivered_to: r
                .delivered_to
                .iter()
                .map(|a| agency("events", a))
                .collect::<Result<_, _>>()?,
            content_hash: self.content_hash()?,
        })
    }
}

/// An alert's body: what its audit digest covers.
pub(super) fn encode_alert_body(alert: &Alert) -> Vec<u8> {
    let referral = alert.referral.as_ref();
    rec::AlertBody {
        id: alert.id,
        kind: number(&ALERT_KINDS, alert.kind) as u32,
        raised_at_us: micros(alert.raised_at),
        rule_id: alert.rule_id.clone(),
        title: reference(&alert.title).to_vec(),
        citation: reference(&alert.citation).to_vec(),
        facts: to_proto::facts(&alert.facts),
        subject: alert.subject.as_ref().map(to_proto::subject),
        division: alert
            .division
            .as_ref()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        events: alert.events.iter().map(to_proto::lead_ref).collect(),
        referral_agency: referral.map(|r| r.agency.to_string()).unwrap_or_default(),
        referral_id: referral.map(|r| r.id.to_string()).unwrap_or_default(),
        late: alert
            .late
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        due_us: alert.due.map(micros),
        detail: alert.detail.clone(),
        parties: alert.parties.iter().map(ToString::to_string).collect(),
    }
    .encode_to_vec()
}

/// An alert record: its body and its place in the chain.
pub(super) fn encode_alert(body: Vec<u8>, link: Link) -> Vec<u8> {
    rec::AlertRecord {
        body,
        audit: Some(link.encode()),
    }
    .encode_to_vec()
}

/// An alert record's body bytes and link.
pub(super) fn decode_alert_record(raw: &[u8]) -> Result<(Vec<u8>, Link), StoreError> {
    let record = rec::AlertRecord::decode(raw).map_err(|e| corrupt("alerts", e))?;
    let link = Link::decode(record.audit.as_ref())?;
    Ok((record.body, link))
}

/// An alert from its body, with its texts from `store`.
pub(super) fn decode_alert_body(raw: &[u8], store: &Store) -> Result<Alert, StoreError> {
    let b = rec::AlertBody::decode(raw).map_err(|e| corrupt("alerts", e))?;
    let bad = |e: crate::codec::DecodeError| corrupt("alerts", e);
    Ok(Alert {
        id: b.id,
        kind: from_number(&ALERT_KINDS, b.kind as i32)
            .ok_or_else(|| corrupt("alerts", format!("kind {}", b.kind)))?,
        raised_at: time("alerts", b.raised_at_us)?,
        rule_id: b.rule_id,
        title: store.text(&b.title)?.to_string(),
        citation: store.text(&b.citation)?.to_string(),
        facts: from_proto::facts(&b.facts),
        subject: b
            .subject
            .as_ref()
            .map(|s| from_proto::subject("subject", Some(s)))
            .transpose()
            .map_err(bad)?,
        division: match b.division.as_str() {
            "" => None,
            d => Some(DivisionCode::parse(d).map_err(|e| corrupt("alerts", e))?),
        },
        events: b
            .events
            .iter()
            .map(|e| from_proto::event_key("events", e))
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        referral: match (b.referral_agency.as_str(), b.referral_id.as_str()) {
            ("", _) => None,
            (agency_id, id) => Some(ReferralKey {
                agency: agency("alerts", agency_id)?,
                id: EventId::parse(id).map_err(|e| corrupt("alerts", e))?,
            }),
        },
        late: match b.late.as_str() {
            "" => None,
            late => Some(agency("alerts", late)?),
        },
        due: b.due_us.map(|d| time("alerts", d)).transpose()?,
        detail: b.detail,
        parties: b
            .parties
            .iter()
            .map(|a| agency("alerts", a))
            .collect::<Result<_, _>>()?,
    })
}

fn limit_parts(limit: Limit) -> (u32, u32) {
    match limit {
        Limit::Hours(n) => (1, n),
        Limit::Days(n) => (2, n),
        Limit::WorkingDays(n) => (3, n),
    }
}

fn limit_of(unit: u32, n: u32) -> Result<Limit, StoreError> {
    match unit {
        1 => Ok(Limit::Hours(n)),
        2 => Ok(Limit::Days(n)),
        3 => Ok(Limit::WorkingDays(n)),
        other => Err(corrupt("referrals", format!("limit unit {other}"))),
    }
}

/// A referral record.
pub(super) fn encode_referral(r: &ReferralRecord) -> Vec<u8> {
    rec::ReferralRecord {
        agency: r.key.agency.to_string(),
        referral: Some(to_proto::referral(&r.referral)),
        reported_at_us: micros(r.reported_at),
        state: number(&STATES, r.state) as u32,
        police: r.police.to_string(),
        goods_handed_over: r.goods_handed_over,
        history: r
            .history
            .iter()
            .map(|s| rec::ReferralStep {
                action: number(&ACTIONS, s.action),
                actor: s.actor.to_string(),
                at_us: micros(s.at),
                to: number(&STATES, s.to) as u32,
                reason: s.reason.clone(),
            })
            .collect(),
        deadline: r.deadline.as_ref().map(|d| {
            let (limit_unit, limit) = limit_parts(d.limit);
            rec::RunningDeadline {
                step: d.step.clone(),
                party: number(&PARTIES, d.party) as u32,
                late: d.late.to_string(),
                limit_unit,
                limit,
                citation: d.citation.clone(),
                started_us: micros(d.started),
                due_us: micros(d.due),
                overdue: d.overdue,
            }
        }),
    }
    .encode_to_vec()
}

fn state(raw: u32) -> Result<crate::domain::State, StoreError> {
    from_number(&STATES, raw as i32).ok_or_else(|| corrupt("referrals", format!("state {raw}")))
}

/// Reads a referral record.
pub(super) fn decode_referral(raw: &[u8]) -> Result<ReferralRecord, StoreError> {
    let r = rec::ReferralRecord::decode(raw).map_err(|e| corrupt("referrals", e))?;
    let referral = from_proto::referral(
        r.referral
            .as_ref()
            .ok_or_else(|| corrupt("referrals", "no transfer report"))?,
    )
    .map_err(|e| corrupt("referrals", e))?;
    Ok(ReferralRecord {
        key: ReferralKey {
            agency: agency("referrals", &r.agency)?,
            id: referral.referral_id.clone(),
        },
        referral,
        reported_at: time("referrals", r.reported_at_us)?,
        state: state(r.state)?,
        police: agency("referrals", &r.police)?,
        goods_handed_over: r.goods_handed_over,
        history: r
            .history
            .iter()
            .map(|s| {
                Ok(Step {
                    action: from_number(&ACTIONS, s.action)
                        .ok_or_else(|| corrupt("referrals", format!("action {}", s.action)))?,
                    actor: agency("referrals", &s.actor)?,
                    at: time("referrals", s.at_us)?,
                    to: state(s.to)?,
                    reason: s.reason.clone(),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        deadline: r
            .deadline
            .as_ref()
            .map(|d| {
                Ok::<_, StoreError>(RunningDeadline {
                    step: d.step.clone(),
                    party: from_number(&PARTIES, d.party as i32)
                        .ok_or_else(|| corrupt("referrals", format!("party {}", d.party)))?,
                    late: agency("referrals", &d.late)?,
                    limit: limit_of(d.limit_unit, d.limit)?,
                    citation: d.citation.clone(),
                    started: time("referrals", d.started_us)?,
                    due: time("referrals", d.due_us)?,
                    overdue: d.overdue,
                })
            })
            .transpose()?,
    })
}

/// A watch record.
pub(super) fn encode_watch(w: &Watch) -> Vec<u8> {
    rec::WatchRecord {
        outcome: Some(to_proto::lead_ref(&w.outcome)),
        seq: w.seq,
        case_number: w.case_number.clone(),
        hits: w
            .hits
            .iter()
            .map(|h| rec::Hit {
                rule_id: h.rule_id.clone(),
                title: reference(&h.title).to_vec(),
                citation: reference(&h.citation).to_vec(),
                facts: to_proto::facts(&h.facts),
            })
            .collect(),
        due_us: micros(w.due),
    }
    .encode_to_vec()
}

/// Reads a watch record, with its texts from `store`.
pub(super) fn decode_watch(raw: &[u8], store: &Store) -> Result<Watch, StoreError> {
    let w = rec::WatchRecord::decode(raw).map_err(|e| corrupt("watches", e))?;
    let outcome: EventKey = from_proto::event_key(
        "outcome",
        w.outcome
            .as_ref()
            .ok_or_else(|| corrupt("watches", "no outcome"))?,
    )
    .map_err(|e| corrupt("watches", e))?;
    Ok(Watch {
        outcome,
        seq: w.seq,
        case_number: w.case_number,
        hits: w
            .hits
            .into_iter()
            .map(|h| {
                Ok(Hit {
                    facts: from_proto::facts(&h.facts),
                    rule_id: h.rule_id,
                    title: store.text(&h.title)?.to_string(),
                    citation: store.text(&h.citation)?.to_string(),
                })
            })
            .collect::<Result<_, StoreError>>()?,
        due: time("watches", w.due_us)?,
    })
}

/// An audit entry that is not an event or an alert.
pub(super) fn encode_audit(entry: &crate::audit::Entry, digest: &[u8], hash: [u8; 32]) -> Vec<u8> {
    rec::AuditRecord {
        seq: entry.seq,
        at_us: micros(entry.at),
        actor: entry.actor.clone(),
        action: entry.action.clone(),
        object: entry.object.clone(),
        digest: digest.to_vec(),
        hash: hash.to_vec(),
    }
    .encode_to_vec()
}

/// What an audit record says: the entry's fields (digest as bytes) and its stored hash.
pub(super) struct AuditRaw {
    pub(super) seq: u64,
    pub(super) at: Timestamp,
    pub(super) record: crate::audit::Record,
    pub(super) hash: Vec<u8>,
}

/// Reads an audit record.
pub(super) fn decode_audit(raw: &[u8]) -> Result<AuditRaw, StoreError> {
    let a = rec::AuditRecord::decode(raw).map_err(|e| corrupt("audit", e))?;
    Ok(AuditRaw {
        seq: a.seq,
        at: time("audit", a.at_us)?,
        record: crate::audit::Record::new(a.actor, a.action, a.object, hex::encode(&a.digest)),
        hash: a.hash,
    })
}

//! The store's key space and its small values, in one sled tree. Every key starts with a byte
//! naming its family; numbers are big-endian so that sled's byte order is numeric order;
//! variable-length parts (agency ids, division codes, subject keys, offence codes) are followed
//! by a 0 byte, which none of them contains, so that a prefix scan never runs into a longer
//! neighbour.
//!
//! | family | key | value |
//! |---|---|---|
//! | `M` meta | name | counters: next seq, audit head, event count, layout |
//! | `E` event | seq | `EventRecord` (protobuf, `records.rs`) |
//! | `A` alert | seq | `AlertRecord` (alerts and events share one sequence) |
//! | `K` applied | producer `/` event id | seq — deduplication, and finding a lead by its key |
//! | `T` timeline | subject 0 seq | — |
//! | `I` inbox | agency 0 cursor | seq, then one byte: alert flag and delivery reason |
//! | `H` inbox head | agency | latest cursor |
//! | `X` inbox ack | agency | acknowledged cursor |
//! | `L` lead | division 0 seq | [`LeadEntry`] in 18 bytes |
//! | `O` history | subject 0 offence 0 seq | decision time and penalty flag: the repeat rules |
//! | `P` penalties | offence 0 seq | [`OutcomeRow`]: the penalty report |
//! | `S` split | subject 0 offence 0 rule | — a 化整为零 alert raised once |
//! | `R` referral | agency `/` id | `ReferralRecord` |
//! | `C` case | agency 0 case number | referral key: "was this case referred?" |
//! | `D` deadline | due µs, referral key | step — deadlines still running |
//! | `W` watch | due µs, outcome key | `WatchRecord` — penalties awaiting a referral |
//! | `N` awaited lead | due µs, outcome key | the lead's key — outcomes naming a lead not yet applied |
//! | `U` audit | audit seq | `AuditRecord`: reads, denials, refusals (events and alerts carry their own link) |
//! | `Q` position | partition | next log offset to apply |
//! | `Z` text | 16 bytes of its SHA-256 | a rule's title or citation, named by alerts and watches |
//! | `V` certificate | number | `CertificateEntry` (执法证) |
//! | `B` inspection | agency `/` plan id | `InspectionEntry`: a plan, its records and answers |
//! | `Y` enterprise year | credit code 0 year 0 agency `/` plan id | — the caps' tally |
//! | `G` verify code | code | plan key (扫码入企) |
//! | `J` joint | proposal id | `JointProposal` (综合查一次) |
//! | `c` count | jurisdiction 0 period measure dimension | i64: the console's counters (`tallies.rs`) |
//!
//! The small fixed-layout values of these rows are in `values.rs`.

use jiff::Timestamp;

use crate::domain::inspection::PlanKey;
use crate::domain::{AgencyId, DivisionCode, EventKey, OffenceCode, ReferralKey, SubjectKey};

pub(super) const META: u8 = b'M';
pub(super) const EVENT: u8 = b'E';
pub(super) const ALERT: u8 = b'A';
pub(super) const APPLIED: u8 = b'K';
pub(super) const TIMELINE: u8 = b'T';
pub(super) const INBOX: u8 = b'I';
pub(super) const HEAD: u8 = b'H';
pub(super) const ACK: u8 = b'X';
pub(super) const LEAD: u8 = b'L';
pub(super) const HISTORY: u8 = b'O';
pub(super) const PENALTY: u8 = b'P';
pub(super) const SPLIT: u8 = b'S';
pub(super) const REFERRAL: u8 = b'R';
pub(super) const CASE: u8 = b'C';
pub(super) const DEADLINE: u8 = b'D';
pub(super) const WATCH: u8 = b'W';
pub(super) const AWAIT: u8 = b'N';
pub(super) const AUDIT: u8 = b'U';
pub(super) const POSITION: u8 = b'Q';
pub(super) const TEXT: u8 = b'Z';
pub(super) const CERTIFICATE: u8 = b'V';
pub(super) const INSPECTION: u8 = b'B';
pub(super) const ENTERPRISE_YEAR: u8 = b'Y';
pub(super) const VERIFY: u8 = b'G';
pub(super) const JOINT: u8 = b'J';
/// The counters' family (a small letter: `F`, once 案卷评查's rows, stays unused — the counters
/// hold those scores now).
pub(super) const TALLY: u8 = b'c';
/// The router's journal entries, one per applied batch (`router::journal`).
pub(super) const JOURNAL: u8 = b'j';

/// Builds a key from its family and parts.
struct Key(Vec<u8>);

impl Key {
    fn new(family: u8, capacity: usize) -> Self {
        let mut key = Vec::with_capacity(capacity + 1);
        key.push(family);
        Self(key)
    }
    fn text(mut self, part: &str) -> Self {
        self.0.extend_from_slice(part.as_bytes());
        self
    }
    /// A variable-length part and its 0 terminator.
    fn part(self, part: &str) -> Self {
        let mut key = self.text(part);
        key.0.push(0);
        key
    }
    fn number(mut self, n: u64) -> Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }
}

/// `j` + batch number.
pub(super) fn journal(batch: u64) -> Vec<u8> {
    Key::new(JOURNAL, 8).number(batch).0
}

/// `M` + name.
pub(super) fn meta(name: &str) -> Vec<u8> {
    Key::new(META, name.len()).text(name).0
}

/// `c` + jurisdiction + 0 + period (`d` `YYYYMMDD`, `m` `YYYYMM`, or `g` for standing counts)
/// + measure byte + dimension. The dimension runs to the key's end.
pub(super) fn tally(scope: &str, period: &str, measure: u8, dimension: &str) -> Vec<u8> {
    let mut key = Key::new(TALLY, 24 + dimension.len())
        .part(scope)
        .text(period);
    key.0.push(measure);
    key.text(dimension).0
}

/// `c` + jurisdiction + 0 + period: where a period's counters start.
pub(super) fn tally_period(scope: &str, period: &str) -> Vec<u8> {
    Key::new(TALLY, 16).part(scope).text(period).0
}

/// `E` + seq.
pub(super) fn event(seq: u64) -> Vec<u8> {
    Key::new(EVENT, 8).number(seq).0
}

/// `A` + seq.
pub(super) fn alert(seq: u64) -> Vec<u8> {
    Key::new(ALERT, 8).number(seq).0
}

/// `K` + producer/event id.
pub(super) fn applied(key: &EventKey) -> Vec<u8> {
    let mut out = Key::new(APPLIED, 48).text(key.producer.as_str());
    out.0.push(b'/');
    out.text(key.event_id.as_str()).0
}

/// `T` + subject + 0 (+ seq).
pub(super) fn timeline_scope(subject: &SubjectKey) -> Vec<u8> {
    Key::new(TIMELINE, 48).part(subject.as_str()).0
}

/// `T` + subject + 0 + seq.
pub(super) fn timeline(subject: &SubjectKey, seq: u64) -> Vec<u8> {
    Key::new(TIMELINE, 56).part(subject.as_str()).number(seq).0
}

/// `I` + agency + 0 (+ cursor).
#[cfg(test)]
fn inbox_scope(agency: &str) -> Vec<u8> {
    Key::new(INBOX, 24).part(agency).0
}

/// `I` + agency + 0 + cursor.
pub(super) fn inbox(agency: &str, cursor: u64) -> Vec<u8> {
    Key::new(INBOX, 32).part(agency).number(cursor).0
}

/// `H` + agency.
pub(super) fn head(agency: &str) -> Vec<u8> {
    Key::new(HEAD, agency.len()).text(agency).0
}

/// `X` + agency.
pub(super) fn ack(agency: &AgencyId) -> Vec<u8> {
    Key::new(ACK, 16).text(agency.as_str()).0
}

/// `L` + division prefix: the scope of a lead list (no terminator: `3301` covers `330106`).
pub(super) fn lead_scope(division_prefix: &str) -> Vec<u8> {
    Key::new(LEAD, 16).text(division_prefix).0
}

/// `L` + division + 0 + seq.
pub(super) fn lead(division: &DivisionCode, seq: u64) -> Vec<u8> {
    Key::new(LEAD, 24).part(division.as_str()).number(seq).0
}

/// `O` + subject + 0 + offence + 0 (+ seq).
pub(super) fn history_scope(subject: &SubjectKey, offence: &OffenceCode) -> Vec<u8> {
    Key::new(HISTORY, 64)
        .part(subject.as_str())
        .part(offence.as_str())
        .0
}

/// `O` + subject + 0 + offence + 0 + seq.
pub(super) fn history(subject: &SubjectKey, offence: &OffenceCode, seq: u64) -> Vec<u8> {
    let mut key = history_scope(subject, offence);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// `P` + offence + 0 (+ seq).
pub(super) fn penalty_scope(offence: &OffenceCode) -> Vec<u8> {
    Key::new(PENALTY, 16).part(offence.as_str()).0
}

/// `P` + offence + 0 + seq.
pub(super) fn penalty(offence: &OffenceCode, seq: u64) -> Vec<u8> {
    Key::new(PENALTY, 24).part(offence.as_str()).number(seq).0
}

/// `S` + subject + 0 + offence + 0 + rule.
pub(super) fn split(subject: &SubjectKey, offence: &OffenceCode, rule: &str) -> Vec<u8> {
    Key::new(SPLIT, 80)
        .part(subject.as_str())
        .part(offence.as_str())
        .text(rule)
        .0
}

/// `R` + agency/id.
pub(super) fn referral(key: &ReferralKey) -> Vec<u8> {
    Key::new(REFERRAL, 40).text(&key.to_string()).0
}

/// `C` + agency + 0 + case number.
pub(super) fn case(agency: &AgencyId, case_number: &str) -> Vec<u8> {
    Key::new(CASE, 64).part(agency.as_str()).text(case_number).0
}

fn micros(at: Timestamp) -> u64 {
    at.as_microsecond().max(0) as u64
}

/// `D` + due µs + referral key.
pub(super) fn deadline(due: Timestamp, referral: &ReferralKey) -> Vec<u8> {
    Key::new(DEADLINE, 48)
        .number(micros(due))
        .text(&referral.to_string())
        .0
}

/// `W` + due µs + outcome key.
pub(super) fn watch(due: Timestamp, outcome: &EventKey) -> Vec<u8> {
    timed(WATCH, due, outcome)
}

/// `N` + due µs + outcome key.
pub(super) fn awaited(due: Timestamp, outcome: &EventKey) -> Vec<u8> {
    timed(AWAIT, due, outcome)
}

fn timed(family: u8, due: Timestamp, outcome: &EventKey) -> Vec<u8> {
    Key::new(family, 48)
        .number(micros(due))
        .text(&outcome.to_string())
        .0
}

/// `agency/id` — an event key's or a referral key's text — back into its parts.
pub(super) fn parse_agency_id(text: &str) -> Option<(AgencyId, crate::domain::EventId)> {
    let (agency, id) = text.split_once('/')?;
    Some((
        AgencyId::parse(agency).ok()?,
        crate::domain::EventId::parse(id).ok()?,
    ))
}

/// A `D`, `W` or `N` row's key: its due time and the key text after it.
pub(super) fn decode_timed(key: &[u8]) -> Result<(Timestamp, String), String> {
    let micros = decode_u64(key.get(1..9).ok_or("row key cut short")?) as i64;
    let due = Timestamp::from_microsecond(micros).map_err(|e| e.to_string())?;
    Ok((due, String::from_utf8_lossy(&key[9..]).into_owned()))
}

/// The end (exclusive) of the `D` or `W` rows due by `now`: everything strictly below
/// (now + 1 µs, nothing) is due.
pub(super) fn due_bound(family: u8, now: Timestamp) -> Vec<u8> {
    Key::new(family, 8)
        .number((now.as_microsecond() + 1).max(0) as u64)
        .0
}

/// `U` + audit seq.
pub(super) fn audit(seq: u64) -> Vec<u8> {
    Key::new(AUDIT, 8).number(seq).0
}

/// `Z` + a text's name.
pub(super) fn text(name: &[u8; 16]) -> Vec<u8> {
    let mut key = vec![TEXT];
    key.extend_from_slice(name);
    key
}

/// `Q` + partition.
pub(super) fn position(partition: u32) -> Vec<u8> {
    let mut key = vec![POSITION];
    key.extend_from_slice(&partition.to_be_bytes());
    key
}

/// The number at the end of a key.
pub(super) fn suffix_u64(key: &[u8]) -> u64 {
    decode_u64(&key[key.len().saturating_sub(8)..])
}

/// A big-endian u64 from up to 8 bytes; missing bytes count as zero (never written so, but a
/// reader must not panic on a damaged record).
pub(super) fn decode_u64(raw: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = raw.len().min(8);
    buf[8 - n..].copy_from_slice(&raw[..n]);
    u64::from_be_bytes(buf)
}

/// Page tokens are the hex of the last key returned.
pub(super) fn token(key: &[u8]) -> String {
    hex::encode(key)
}

/// The key a page token stands for; `None` if the token is not ours.
pub(super) fn untoken(token: &str) -> Option<Vec<u8>> {
    hex::decode(token).ok()
}

/// A certificate's row.
pub(super) fn certificate(number: &str) -> Vec<u8> {
    Key::new(CERTIFICATE, number.len()).text(number).0
}

/// A plan's row.
pub(super) fn inspection(plan: &PlanKey) -> Vec<u8> {
    Key::new(INSPECTION, 48).text(&plan.to_string()).0
}

/// Every plan of an enterprise whose window starts in `year`.
pub(super) fn enterprise_year_scope(enterprise: &str, year: i16) -> Vec<u8> {
    Key::new(ENTERPRISE_YEAR, 30)
        .part(enterprise)
        .part(&year.to_string())
        .0
}

/// A plan in its enterprise's year.
pub(super) fn enterprise_year(enterprise: &str, year: i16, plan: &PlanKey) -> Vec<u8> {
    let mut key = enterprise_year_scope(enterprise, year);
    key.extend_from_slice(plan.to_string().as_bytes());
    key
}

/// A verification code's row.
pub(super) fn verify(code: &str) -> Vec<u8> {
    Key::new(VERIFY, code.len()).text(code).0
}

/// A joint proposal's row.
pub(super) fn joint(id: &str) -> Vec<u8> {
    Key::new(JOINT, id.len()).text(id).0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs(n: u64) -> Vec<u8> {
        inbox("330106-GA", n)
    }

    #[test]
    fn keys_sort_numerically_within_a_scope_and_never_into_a_longer_neighbour() {
        assert!(seqs(2) < seqs(256));
        assert!(inbox("330106-GA", u64::MAX) < inbox("330106-GAB", 0));
        assert!(seqs(7).starts_with(&inbox_scope("330106-GA")));
        assert!(!inbox("330106-GAB", 7).starts_with(&inbox_scope("330106-GA")));
        assert_eq!(suffix_u64(&seqs(42)), 42);
        assert!(event(1) < event(2) && event(255) < event(256));
        let key = ReferralKey {
            agency: AgencyId::parse("330106-SCJG").unwrap(),
            id: crate::domain::EventId::parse("r-1").unwrap(),
        };
        let early = deadline("2026-11-27T00:00:00Z".parse().unwrap(), &key);
        let late = deadline("2026-11-28T00:00:00Z".parse().unwrap(), &key);
        assert!(early < late);
        assert!(early < due_bound(DEADLINE, "2026-11-27T00:00:00Z".parse().unwrap()));
        assert!(late > due_bound(DEADLINE, "2026-11-27T23:59:59Z".parse().unwrap()));
    }

    #[test]
    fn tokens_round_trip() {
        let key = lead(&DivisionCode::parse("330106").unwrap(), 9);
        assert_eq!(untoken(&token(&key)), Some(key));
        assert_eq!(untoken("not hex"), None);
    }
}

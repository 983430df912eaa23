//! The small values of the store's index rows (inbox entries, leads, offence history,
//! penalties): fixed layouts of big-endian numbers and flag bytes, cheaper than a protobuf for
//! rows read by the thousand. Their keys are in `keys.rs`.

use jiff::Timestamp;

use super::keys::decode_u64;
use super::{LeadEntry, OutcomeRow, StoreError};
use crate::domain::{AgencyId, DeliveryReason, DivisionCode, Domain, LeadStatus};

fn corrupt(family: &'static str, reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        tree: family,
        reason: reason.into(),
    }
}

fn time(micros: i64) -> Result<Timestamp, StoreError> {
    Timestamp::from_microsecond(micros).map_err(|e| corrupt("time", e.to_string()))
}

/// An inbox entry: the seq delivered, then a byte — the high bit set for an alert, the low bits
/// the delivery reason.
pub(super) fn inbox_value(seq: u64, alert: bool, reason: DeliveryReason) -> [u8; 9] {
    let mut value = [0u8; 9];
    value[..8].copy_from_slice(&seq.to_be_bytes());
    value[8] = reason_code(reason) | if alert { 0x80 } else { 0 };
    value
}

/// Reads an inbox entry: seq, whether it is an alert, and the reason.
pub(super) fn read_inbox_value(raw: &[u8]) -> Result<(u64, bool, DeliveryReason), StoreError> {
    let [.., code] = raw else {
        return Err(corrupt("inbox", "empty entry"));
    };
    let reason = REASONS
        .get(usize::from(code & 0x7f))
        .copied()
        .ok_or_else(|| corrupt("inbox", format!("reason {code}")))?;
    Ok((
        decode_u64(&raw[..8.min(raw.len())]),
        code & 0x80 != 0,
        reason,
    ))
}

const REASONS: [DeliveryReason; 6] = [
    DeliveryReason::ExplicitTarget,
    DeliveryReason::ResponsibleAgency,
    DeliveryReason::Unassigned,
    DeliveryReason::LeadFeedback,
    DeliveryReason::Referral,
    DeliveryReason::Alert,
];

fn reason_code(reason: DeliveryReason) -> u8 {
    // Every reason is in the table.
    REASONS.iter().position(|r| *r == reason).unwrap_or(0) as u8
}

const STATUSES: [LeadStatus; 3] = [LeadStatus::Open, LeadStatus::Unassigned, LeadStatus::Closed];

/// A lead row: status, domain, produced-at µs, the seq of the outcome that closed it (0: none).
pub(super) fn lead_value(row: &LeadEntry) -> [u8; 18] {
    let mut value = [0u8; 18];
    value[0] = STATUSES.iter().position(|s| *s == row.status).unwrap_or(0) as u8;
    value[1] = Domain::ALL
        .iter()
        .position(|d| *d == row.domain)
        .unwrap_or(0) as u8;
    value[2..10].copy_from_slice(&row.produced_at.as_microsecond().to_be_bytes());
    value[10..].copy_from_slice(&row.closed_by.unwrap_or(0).to_be_bytes());
    value
}

/// Reads a lead row.
pub(super) fn read_lead_value(raw: &[u8]) -> Result<LeadEntry, StoreError> {
    if raw.len() != 18 {
        return Err(corrupt("leads", format!("{} bytes", raw.len())));
    }
    let status = *STATUSES
        .get(usize::from(raw[0]))
        .ok_or_else(|| corrupt("leads", "status"))?;
    let domain = *Domain::ALL
        .get(usize::from(raw[1]))
        .ok_or_else(|| corrupt("leads", "domain"))?;
    let closed = decode_u64(&raw[10..]);
    Ok(LeadEntry {
        status,
        domain,
        produced_at: time(decode_u64(&raw[2..10]) as i64)?,
        closed_by: (closed != 0).then_some(closed),
    })
}

/// A history entry: decision time µs and the penalty flag.
pub(super) fn history_value(decided_at: Timestamp, penalty: bool) -> [u8; 9] {
    let mut value = [0u8; 9];
    value[..8].copy_from_slice(&decided_at.as_microsecond().to_be_bytes());
    value[8] = u8::from(penalty);
    value
}

/// Reads a history entry.
pub(super) fn read_history_value(raw: &[u8]) -> Result<(Timestamp, bool), StoreError> {
    if raw.len() != 9 {
        return Err(corrupt("history", format!("{} bytes", raw.len())));
    }
    Ok((time(decode_u64(&raw[..8]) as i64)?, raw[8] != 0))
}

/// A penalty-report row: fine, decision time µs, flags (penalty; band: 0 none, 1 inside,
/// 2 outside), then agency and division each after its length byte.
pub(super) fn penalty_value(row: &OutcomeRow) -> Vec<u8> {
    let mut value = Vec::with_capacity(40);
    value.extend_from_slice(&row.fine_fen.to_be_bytes());
    value.extend_from_slice(&row.decided_at.as_microsecond().to_be_bytes());
    let band = match row.outside_band {
        None => 0,
        Some(false) => 1,
        Some(true) => 2,
    };
    value.push(u8::from(row.penalty) | band << 1);
    for text in [row.agency.as_str(), row.division.as_str()] {
        value.push(text.len() as u8);
        value.extend_from_slice(text.as_bytes());
    }
    value
}

/// Reads a penalty-report row.
pub(super) fn read_penalty_value(raw: &[u8]) -> Result<OutcomeRow, StoreError> {
    let bad = || corrupt("penalties", "truncated row");
    if raw.len() < 17 {
        return Err(bad());
    }
    let flags = raw[16];
    let mut rest = &raw[17..];
    let mut text = || -> Result<&str, StoreError> {
        let (&len, tail) = rest.split_first().ok_or_else(bad)?;
        let (part, tail) = tail.split_at_checked(usize::from(len)).ok_or_else(bad)?;
        rest = tail;
        std::str::from_utf8(part).map_err(|_| bad())
    };
    let agency = AgencyId::parse(text()?).map_err(|e| corrupt("penalties", e.to_string()))?;
    let division = DivisionCode::parse(text()?).map_err(|e| corrupt("penalties", e.to_string()))?;
    Ok(OutcomeRow {
        agency,
        division,
        penalty: flags & 1 != 0,
        fine_fen: decode_u64(&raw[..8]) as i64,
        decided_at: time(decode_u64(&raw[8..16]) as i64)?,
        outside_band: match flags >> 1 {
            0 => None,
            1 => Some(false),
            _ => Some(true),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_round_trip() {
        let at: Timestamp = "2026-11-27T08:00:00.000001Z".parse().unwrap();
        for (alert, reason) in [
            (false, DeliveryReason::ResponsibleAgency),
            (true, DeliveryReason::Alert),
            (false, DeliveryReason::LeadFeedback),
        ] {
            let value = inbox_value(99, alert, reason);
            assert_eq!(read_inbox_value(&value).unwrap(), (99, alert, reason));
        }
        let row = LeadEntry {
            status: LeadStatus::Closed,
            closed_by: Some(12),
            domain: Domain::Tax,
            produced_at: at,
        };
        assert_eq!(read_lead_value(&lead_value(&row)).unwrap(), row);
        assert_eq!(
            read_history_value(&history_value(at, true)).unwrap(),
            (at, true)
        );
        let penalty = OutcomeRow {
            agency: AgencyId::parse("330106-SCJG").unwrap(),
            division: DivisionCode::parse("330106").unwrap(),
            penalty: true,
            fine_fen: 4_180_000,
            decided_at: at,
            outside_band: Some(true),
        };
        assert_eq!(
            read_penalty_value(&penalty_value(&penalty)).unwrap(),
            penalty
        );
        assert!(read_penalty_value(&penalty_value(&penalty)[..20]).is_err());
    }
}

//! The demo's procedural records (执法全过程记录) for its penalty decisions: a realistic mix —
//! most complete and clean, some not recorded at all (older systems), some with one fault of the
//! kinds 执法监督 looks for — so that 案卷评查 and the procedure alerts have data.

use jiff::ToSpan as _;
use jiff::civil::Date;

use super::workload::Rng;
use crate::proto;

/// The two officers' certificate numbers the demo gives each administrative agency.
pub fn officers(agency: &str) -> [String; 2] {
    [format!("ZJ-{agency}-1"), format!("ZJ-{agency}-2")]
}

/// A record for a decision of `agency` on `decided` fining `fine_fen`: 15% none, 60% complete
/// and clean, 25% with one fault.
pub fn record(
    rng: &mut Rng,
    agency: &str,
    decided: Date,
    fine_fen: i64,
) -> Option<proto::Procedure> {
    let roll = rng.below(100);
    if roll < 15 {
        return None;
    }
    let day = |d: Date| d.to_string();
    let filed = decided.saturating_sub((20 + rng.below(40) as i64).days());
    let mut p = proto::Procedure {
        filed_on: day(filed),
        violation_on: day(filed.saturating_sub((1 + rng.below(30) as i64).days())),
        officers: officers(agency).to_vec(),
        notified_on: day(decided.saturating_sub(10.days())),
        proposed_fine_fen: Some(fine_fen),
        hearing_offered: true,
        served_on: day(decided.saturating_add(2.days())),
        review: Some(proto::LegalReview {
            reviewer: "法制审核机构".into(),
            reviewed_on: day(decided.saturating_sub(3.days())),
            passed: true,
        }),
        ..Default::default()
    };
    if roll >= 75 {
        match rng.below(5) {
            0 => p.officers.truncate(1),
            1 => p.notified_on.clear(),
            2 => p.served_on = day(decided.saturating_add(20.days())),
            // Filed long ago (a decision past the 90-day limit); the violation before it still.
            3 => {
                p.filed_on = day(decided.saturating_sub(120.days()));
                p.violation_on = day(decided.saturating_sub(130.days()));
            }
            _ => {
                p.defence_received = true;
                p.proposed_fine_fen = Some(fine_fen / 2);
            }
        }
    }
    Some(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The gateway refuses a record whose violation comes after 立案 (`date.order`): the demo
    /// must never send one, or the agency's inbox loop stops.
    #[test]
    fn every_record_has_the_violation_before_filing_and_filing_before_the_decision() {
        let decided = jiff::civil::date(2026, 11, 27);
        let mut rng = Rng::new(7);
        for _ in 0..5_000 {
            let Some(p) = record(&mut rng, "330106-SCJG", decided, 100_000) else {
                continue;
            };
            let (violation, filed): (Date, Date) =
                (p.violation_on.parse().unwrap(), p.filed_on.parse().unwrap());
            assert!(violation <= filed && filed <= decided, "{p:?}");
        }
    }
}

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
            3 => p.filed_on = day(decided.saturating_sub(120.days())),
            _ => {
                p.defence_received = true;
                p.proposed_fine_fen = Some(fine_fen / 2);
            }
        }
    }
    Some(p)
}

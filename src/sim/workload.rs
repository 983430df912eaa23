//! Realistic traffic for `demo` and `bench`: subjects with valid credit codes and resident ids
//! in a registry's districts, and the leads and outcomes agencies publish about them — the
//! offences, facts and text lengths of real 线索 and 处罚决定, so that sizes and rule work match
//! what a deployment sees.

use crate::codec::tables::{DOMAINS, number};
use crate::codec::to_proto::ts;
use crate::domain::{Agency, AgencyKind, Domain, Registry, ResidentId, Uscc};
use crate::proto;

/// A small deterministic generator (xorshift64*): the traffic needs variety, not cryptography.
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; zero is replaced).
    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `n` (0 for `n` = 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// One of `items` (which must not be empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// A kind of case agencies find: domain, offence, what was found, one fact.
pub struct Scenario {
    /// The enforcement domain.
    pub domain: Domain,
    /// The offence code of the threshold rules.
    pub offence: &'static str,
    /// What was found, in the words of a 线索.
    pub summary: &'static str,
    fact: &'static str,
    /// Fact value range (low, high).
    range: (i64, i64),
}

const SCENARIOS: [Scenario; 8] = [
    Scenario {
        domain: Domain::FoodDrug,
        offence: "CL-143",
        summary: "抽检发现熟食制品中亚硝酸盐严重超标",
        fact: "sales_fen",
        range: (500_000, 20_000_000),
    },
    Scenario {
        domain: Domain::EcologyEnvironment,
        offence: "CL-338",
        summary: "夜间通过暗管排放含铅废水，疑似逃避监管",
        fact: "hazardous_waste_kg",
        range: (200, 6_000),
    },
    Scenario {
        domain: Domain::WorkSafety,
        offence: "CL-134",
        summary: "有限空间作业未审批，发生一般生产安全事故",
        fact: "direct_loss_fen",
        range: (1_000_000, 150_000_000),
    },
    Scenario {
        domain: Domain::LabourSecurity,
        offence: "CL-276-1",
        summary: "拖欠农民工工资，经责令支付后仍未支付",
        fact: "unpaid_wages_fen",
        range: (1_000_000, 40_000_000),
    },
    Scenario {
        domain: Domain::MarketRegulation,
        offence: "CL-213",
        summary: "销售假冒注册商标的运动鞋",
        fact: "sales_fen",
        range: (800_000, 30_000_000),
    },
    Scenario {
        domain: Domain::Tax,
        offence: "CL-201",
        summary: "隐匿收入、虚假申报，疑似逃避缴纳税款",
        fact: "evaded_tax_fen",
        range: (2_000_000, 90_000_000),
    },
    Scenario {
        domain: Domain::NaturalResources,
        offence: "CL-342",
        summary: "未经批准占用耕地建设厂房",
        fact: "arable_land_mu_x100",
        range: (150, 2_500),
    },
    Scenario {
        domain: Domain::FoodDrug,
        offence: "CL-141",
        summary: "网络销售未经批准进口的药品",
        fact: "sales_fen",
        range: (100_000, 5_000_000),
    },
];

const ORG_NAMES: [&str; 10] = [
    "杭州某某食品有限公司",
    "杭州某某化工有限公司",
    "杭州某某建筑劳务有限公司",
    "杭州某某鞋业商行",
    "杭州某某贸易有限公司",
    "杭州某某餐饮管理有限公司",
    "杭州某某电子科技有限公司",
    "杭州某某药房",
    "杭州某某物流有限公司",
    "杭州某某农业开发有限公司",
];
const PERSON_NAMES: [&str; 4] = ["张某", "李某", "王某", "陈某"];

/// The county-level divisions of a registry's agencies, where subjects are registered.
pub fn divisions(registry: &Registry) -> Vec<String> {
    let mut divisions: Vec<String> = registry
        .iter()
        .filter(|a| a.division.jurisdiction_prefix().len() == 6)
        .map(|a| a.division.as_str().to_owned())
        .collect();
    divisions.sort();
    divisions.dedup();
    if divisions.is_empty() {
        divisions = registry
            .iter()
            .map(|a| a.division.county().to_owned())
            .collect();
    }
    divisions
}

/// The agencies that publish leads: administrative agencies and police.
pub fn producers(registry: &Registry) -> Vec<Agency> {
    registry
        .iter()
        .filter(|a| matches!(a.kind, AgencyKind::Administrative | AgencyKind::Police))
        .cloned()
        .collect()
}

/// `count` subjects in `divisions`: nine in ten organisations with valid 统一社会信用代码, the
/// rest persons with valid 身份证号.
pub fn subjects(rng: &mut Rng, divisions: &[String], count: usize) -> Vec<proto::Subject> {
    (0..count.max(1))
        .map(|i| {
            let division = &divisions[i % divisions.len()];
            if i % 10 == 9 {
                person(rng, division, PERSON_NAMES[(i / 10) % PERSON_NAMES.len()])
            } else {
                let base = ORG_NAMES[i % ORG_NAMES.len()];
                let name = if i < ORG_NAMES.len() {
                    base.to_owned()
                } else {
                    format!("{base}（第{}分公司）", i / ORG_NAMES.len())
                };
                organisation(rng, division, name)
            }
        })
        .collect()
}

fn organisation(rng: &mut Rng, division: &str, name: String) -> proto::Subject {
    let body = format!("91{division}{:09}", rng.next_u64() % 1_000_000_000);
    // The body is 17 characters of digits: a check character always exists.
    let check = Uscc::check_char(&body).expect("17 digits have a check character");
    proto::Subject {
        kind: proto::SubjectKind::Organization as i32,
        id: format!("{body}{check}"),
        name,
    }
}

fn person(rng: &mut Rng, division: &str, name: &str) -> proto::Subject {
    let body = format!(
        "{division}1975{:02}{:02}{:03}",
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(1000)
    );
    // Exactly one check character fits each body.
    let id = "10X98765432"
        .chars()
        .map(|c| format!("{body}{c}"))
        .find(|candidate| ResidentId::parse(candidate).is_ok())
        .expect("one check character fits");
    proto::Subject {
        kind: proto::SubjectKind::Person as i32,
        id,
        name: name.to_owned(),
    }
}

/// A lead `producer` publishes about `subject`, outside the producer's own remit (agencies pass
/// on what they find for others), with the scenario it was drawn from.
pub fn lead(
    rng: &mut Rng,
    event_id: &str,
    producer: &Agency,
    subject: &proto::Subject,
    divisions: &[String],
) -> (proto::PublishLeadRequest, &'static Scenario) {
    let foreign: Vec<&'static Scenario> = SCENARIOS
        .iter()
        .filter(|s| !producer.domains.contains(&s.domain))
        .collect();
    let scenario = if foreign.is_empty() {
        rng.pick(&SCENARIOS)
    } else {
        *rng.pick(&foreign)
    };
    let (low, high) = scenario.range;
    let value = low + (rng.next_u64() % (high - low) as u64) as i64;
    let now = ts(jiff::Timestamp::now());
    let request = proto::PublishLeadRequest {
        event_id: event_id.to_owned(),
        producer: producer.id.to_string(),
        produced_at: Some(now),
        handling: proto::HandlingCode::ShareWithinJurisdiction as i32,
        lead: Some(proto::Lead {
            subject: Some(subject.clone()),
            division: rng.pick(divisions).clone(),
            domain: number(&DOMAINS, scenario.domain),
            offence_code: scenario.offence.to_owned(),
            summary: scenario.summary.to_owned(),
            facts: vec![proto::Fact {
                name: scenario.fact.to_owned(),
                value,
            }],
            observed_at: Some(now),
            sensitivity: proto::Sensitivity::Internal as i32,
            target_agencies: vec![],
        }),
    };
    (request, scenario)
}

/// A penalty decision by `agency` about `subject` (not answering a lead), as a case system's
/// nightly batch sends them.
pub fn outcome(
    rng: &mut Rng,
    event_id: &str,
    agency: &Agency,
    subject: &proto::Subject,
    sequence: u64,
) -> proto::PublishOutcomeRequest {
    let scenario = rng.pick(&SCENARIOS);
    let now = ts(jiff::Timestamp::now());
    proto::PublishOutcomeRequest {
        event_id: event_id.to_owned(),
        producer: agency.id.to_string(),
        produced_at: Some(now),
        handling: proto::HandlingCode::ShareWithinJurisdiction as i32,
        outcome: Some(proto::CaseOutcome {
            case_number: format!("杭{}罚〔2026〕{sequence}号", agency.id.division()),
            subject: Some(subject.clone()),
            division: agency.division.as_str().to_owned(),
            domain: number(&DOMAINS, scenario.domain),
            offence_code: scenario.offence.to_owned(),
            decision: proto::Decision::Penalty as i32,
            fine_fen: 10_000 * (1 + rng.below(2_000) as i64),
            confiscated_fen: 0,
            facts: vec![],
            decided_at: Some(now),
            lead: None,
            legal_basis: "《中华人民共和国行政处罚法》第二十八条".to_owned(),
            severity: proto::Severity::General as i32,
            procedure: None,
            historic: false,
            sensitivity: proto::Sensitivity::Public as i32,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_subjects_are_valid_and_distinct() {
        let mut rng = Rng::new(42);
        let pool = subjects(&mut rng, &["330106".to_owned(), "330108".to_owned()], 500);
        for s in &pool {
            if s.kind == proto::SubjectKind::Organization as i32 {
                assert!(Uscc::parse(&s.id).is_ok(), "{}", s.id);
            } else {
                assert!(ResidentId::parse(&s.id).is_ok(), "{}", s.id);
            }
        }
        let persons = pool
            .iter()
            .filter(|s| s.kind == proto::SubjectKind::Person as i32)
            .count();
        assert_eq!(persons, 50);
        let mut ids: Vec<&str> = pool.iter().map(|s| s.id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert!(ids.len() > 490, "ids rarely collide: {}", ids.len());
    }
}

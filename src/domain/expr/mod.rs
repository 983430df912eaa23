//! The small expression language of the rule files: conditions over a case's named facts.
//!
//! ```text
//! sales_fen >= 5_000_000 || sales_fen * 3 + unsold_goods_fen >= $combined_fen
//! (is_person == 1 && gain_fen >= 1_000_000) || prior_penalties(24) >= 2
//! ```
//!
//! - Numbers are integers (`_` separators allowed); facts are named as in events; a fact the
//!   case does not report counts as 0 (every threshold is a lower bound, so a missing fact never
//!   makes a rule fire).
//! - `$name` is a value of the rule, which a province may override (法定幅度内由省级确定).
//! - `is_person` is 1 for a natural person, 0 for an organisation.
//! - `prior_penalties(months)` counts the subject's administrative penalties for the same
//!   offence in the months before the case (repeat-offence conditions).
//! - `+ - * /` on numbers (integer division, saturating), comparisons `>= > <= < == !=`, and
//!   `&& || !` on conditions, with the usual precedence.
//!
//! Expressions are parsed and type-checked when the rule file is loaded, so a typo stops
//! start-up instead of silently never matching.

mod parse;

use std::collections::{BTreeMap, BTreeSet};

pub use parse::{ParseError, parse_cond, parse_num};

/// A number-valued expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Num {
    /// A literal.
    Lit(i64),
    /// A fact of the case.
    Fact(String),
    /// A value of the rule (`$name`).
    Value(String),
    /// 1 for a person, 0 for an organisation.
    IsPerson,
    /// Prior penalties of the subject for the offence within this many months.
    PriorPenalties(u32),
    /// Arithmetic.
    Op(Box<Num>, ArithOp, Box<Num>),
}

/// Arithmetic operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
}

/// Comparison operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `>=`
    Ge,
    /// `>`
    Gt,
    /// `<=`
    Le,
    /// `<`
    Lt,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

/// A condition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cond {
    /// A comparison of two numbers.
    Cmp(Num, CmpOp, Num),
    /// All of them.
    All(Vec<Cond>),
    /// Any of them.
    Any(Vec<Cond>),
    /// Not.
    Not(Box<Cond>),
}

/// What an expression needs from a case.
pub trait Case {
    /// The fact's value, 0 when the case does not report it.
    fn fact(&self, name: &str) -> i64;
    /// The rule value `name` (with the province's override).
    fn value(&self, name: &str) -> i64;
    /// Whether the subject is a natural person.
    fn is_person(&self) -> bool;
    /// The subject's prior penalties for this offence within `months`.
    fn prior_penalties(&self, months: u32) -> i64;
}

impl Num {
    /// Evaluates with saturating arithmetic; division by zero gives 0.
    pub fn eval(&self, case: &dyn Case) -> i64 {
        match self {
            Num::Lit(n) => *n,
            Num::Fact(name) => case.fact(name),
            Num::Value(name) => case.value(name),
            Num::IsPerson => i64::from(case.is_person()),
            Num::PriorPenalties(months) => case.prior_penalties(*months),
            Num::Op(a, op, b) => {
                let (a, b) = (a.eval(case), b.eval(case));
                match op {
                    ArithOp::Add => a.saturating_add(b),
                    ArithOp::Sub => a.saturating_sub(b),
                    ArithOp::Mul => a.saturating_mul(b),
                    ArithOp::Div => a.checked_div(b).unwrap_or(0),
                }
            }
        }
    }

    fn names(&self, facts: &mut BTreeSet<String>, values: &mut BTreeSet<String>) {
        match self {
            Num::Fact(name) => {
                facts.insert(name.clone());
            }
            Num::Value(name) => {
                values.insert(name.clone());
            }
            Num::Op(a, _, b) => {
                a.names(facts, values);
                b.names(facts, values);
            }
            Num::Lit(_) | Num::IsPerson | Num::PriorPenalties(_) => {}
        }
    }
}

impl Cond {
    /// Whether the case meets the condition.
    pub fn eval(&self, case: &dyn Case) -> bool {
        match self {
            Cond::Cmp(a, op, b) => {
                let (a, b) = (a.eval(case), b.eval(case));
                match op {
                    CmpOp::Ge => a >= b,
                    CmpOp::Gt => a > b,
                    CmpOp::Le => a <= b,
                    CmpOp::Lt => a < b,
                    CmpOp::Eq => a == b,
                    CmpOp::Ne => a != b,
                }
            }
            Cond::All(all) => all.iter().all(|c| c.eval(case)),
            Cond::Any(any) => any.iter().any(|c| c.eval(case)),
            Cond::Not(c) => !c.eval(case),
        }
    }

    /// The facts and rule values the condition mentions.
    pub fn names(&self) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut facts = BTreeSet::new();
        let mut values = BTreeSet::new();
        self.collect(&mut facts, &mut values);
        (facts, values)
    }

    fn collect(&self, facts: &mut BTreeSet<String>, values: &mut BTreeSet<String>) {
        match self {
            Cond::Cmp(a, _, b) => {
                a.names(facts, values);
                b.names(facts, values);
            }
            Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| c.collect(facts, values)),
            Cond::Not(c) => c.collect(facts, values),
        }
    }

    /// Whether the condition counts prior penalties (needs the subject's history).
    pub fn uses_history(&self) -> bool {
        fn num(n: &Num) -> bool {
            match n {
                Num::PriorPenalties(_) => true,
                Num::Op(a, _, b) => num(a) || num(b),
                _ => false,
            }
        }
        match self {
            Cond::Cmp(a, _, b) => num(a) || num(b),
            Cond::All(cs) | Cond::Any(cs) => cs.iter().any(Cond::uses_history),
            Cond::Not(c) => c.uses_history(),
        }
    }
}

/// A case given by a map of facts, for tests and simple callers.
#[derive(Debug, Default)]
pub struct FactCase<'a> {
    /// The facts.
    pub facts: Option<&'a BTreeMap<String, i64>>,
    /// Rule values.
    pub values: BTreeMap<String, i64>,
    /// Whether the subject is a person.
    pub person: bool,
    /// Prior penalties, the same for every window.
    pub prior: i64,
}

impl Case for FactCase<'_> {
    fn fact(&self, name: &str) -> i64 {
        self.facts.and_then(|f| f.get(name)).copied().unwrap_or(0)
    }

    fn value(&self, name: &str) -> i64 {
        self.values.get(name).copied().unwrap_or(0)
    }

    fn is_person(&self) -> bool {
        self.person
    }

    fn prior_penalties(&self, _months: u32) -> i64 {
        self.prior
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(pairs: &[(&str, i64)]) -> BTreeMap<String, i64> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect()
    }

    fn holds(src: &str, pairs: &[(&str, i64)]) -> bool {
        let f = facts(pairs);
        parse_cond(src).unwrap().eval(&FactCase {
            facts: Some(&f),
            ..Default::default()
        })
    }

    #[test]
    fn arithmetic_and_precedence() {
        let rule = "sales_fen >= 5_000_000 || unsold_goods_fen >= 15_000_000 || sales_fen * 3 + unsold_goods_fen >= 15_000_000";
        assert!(!holds(rule, &[("sales_fen", 4_999_999)]));
        assert!(holds(rule, &[("sales_fen", 5_000_000)]));
        assert!(holds(
            rule,
            &[("sales_fen", 4_000_000), ("unsold_goods_fen", 3_000_000)]
        ));
        assert!(!holds(
            rule,
            &[("sales_fen", 4_000_000), ("unsold_goods_fen", 2_999_999)]
        ));
        assert!(holds(
            "(a_fen + b_fen) * 2 >= 10",
            &[("a_fen", 2), ("b_fen", 3)]
        ));
        assert!(!holds(
            "a_fen + b_fen * 2 >= 10",
            &[("a_fen", 2), ("b_fen", 3)]
        ));
        assert!(holds("!(a_count >= 1) && b_count == 0", &[]));
    }

    #[test]
    fn missing_facts_count_as_zero() {
        assert!(!holds("deaths_count >= 1", &[]));
        assert!(holds("sales_fen >= 0", &[]));
    }

    #[test]
    fn values_person_and_history() {
        let cond =
            parse_cond("(is_person == 1 && gain_fen >= $person_fen) || prior_penalties(24) >= 2")
                .unwrap();
        let f = facts(&[("gain_fen", 1_000_000)]);
        let mut case = FactCase {
            facts: Some(&f),
            values: [("person_fen".to_owned(), 1_000_000)].into(),
            person: true,
            prior: 0,
        };
        assert!(cond.eval(&case));
        case.person = false;
        assert!(!cond.eval(&case));
        case.prior = 2;
        assert!(cond.eval(&case));
        assert!(cond.uses_history());
        let (facts, values) = cond.names();
        assert_eq!(facts, ["gain_fen".to_owned()].into());
        assert_eq!(values, ["person_fen".to_owned()].into());
    }

    #[test]
    fn errors_say_where_and_what() {
        for (src, fragment) in [
            ("sales_fen", "expected a condition"),
            ("sales_fen >= ", "unexpected end"),
            ("(a_fen >= 1", "expected `)`"),
            ("a_fen >= 1 && 3", "expected a condition"),
            ("a_fen >= 1 ? 2", "unexpected character"),
            ("a_fen >= (b_fen >= 1)", "expected a number"),
            ("prior_penalties(x) >= 1", "months"),
            ("a_fen >= 1 b_fen", "unexpected text"),
            ("$ >= 1", "value name"),
        ] {
            let err = parse_cond(src).unwrap_err();
            assert!(err.message.contains(fragment), "{src}: {err}");
        }
        assert_eq!(parse_cond("a_fen >= 1 ? 2").unwrap_err().at, 11);
    }

    #[test]
    fn arithmetic_saturates_and_division_by_zero_is_zero() {
        let f = facts(&[("a_fen", i64::MAX)]);
        let case = FactCase {
            facts: Some(&f),
            ..Default::default()
        };
        assert_eq!(parse_num("a_fen * 3").unwrap().eval(&case), i64::MAX);
        assert_eq!(parse_num("a_fen / b_fen").unwrap().eval(&case), 0);
    }
}

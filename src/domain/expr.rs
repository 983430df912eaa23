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

use std::collections::{BTreeMap, BTreeSet};

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

/// An expression that does not parse or does not type-check.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("at character {at}: {message}")]
pub struct ParseError {
    /// Character offset in the expression.
    pub at: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Int(i64),
    Ident(String),
    Value(String),
    Op(&'static str),
    Open,
    Close,
}

fn lex(src: &str) -> Result<Vec<(usize, Tok)>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |at, message: &str| ParseError {
        at,
        message: message.to_owned(),
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let mut text = String::new();
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '_') {
                if chars[i] != '_' {
                    text.push(chars[i]);
                }
                i += 1;
            }
            let n = text.parse().map_err(|_| err(start, "number too large"))?;
            out.push((start, Tok::Int(n)));
        } else if c.is_ascii_alphabetic() || c == '_' || c == '$' {
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            match word.strip_prefix('$') {
                Some("") => return Err(err(start, "`$` must be followed by a value name")),
                Some(name) => out.push((start, Tok::Value(name.to_owned()))),
                None => out.push((start, Tok::Ident(word))),
            }
        } else if c == '(' {
            out.push((start, Tok::Open));
            i += 1;
        } else if c == ')' {
            out.push((start, Tok::Close));
            i += 1;
        } else {
            let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
            let op = [">=", "<=", "==", "!=", "&&", "||"]
                .into_iter()
                .find(|op| two == *op)
                .or_else(|| {
                    ["+", "-", "*", "/", ">", "<", "!"]
                        .into_iter()
                        .find(|op| op.starts_with(c))
                })
                .ok_or_else(|| err(start, &format!("unexpected character {c:?}")))?;
            i += op.chars().count();
            out.push((start, Tok::Op(op)));
        }
    }
    Ok(out)
}

/// A parsed node before type checking.
enum Node {
    Num(Num),
    Cond(Cond),
}

struct Parser {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    len: usize,
}

impl Parser {
    fn at(&self) -> usize {
        self.toks.get(self.pos).map_or(self.len, |(at, _)| *at)
    }

    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.pos), Some((_, Tok::Op(o))) if *o == op)
    }

    fn error<T>(&self, message: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            at: self.at(),
            message: message.into(),
        })
    }

    fn cond(&self, node: Node, at: usize) -> Result<Cond, ParseError> {
        match node {
            Node::Cond(c) => Ok(c),
            Node::Num(_) => Err(ParseError {
                at,
                message: "expected a condition (a comparison), found a number".into(),
            }),
        }
    }

    fn num(&self, node: Node, at: usize) -> Result<Num, ParseError> {
        match node {
            Node::Num(n) => Ok(n),
            Node::Cond(_) => Err(ParseError {
                at,
                message: "expected a number, found a condition".into(),
            }),
        }
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let at = self.at();
        let first = self.and()?;
        if !self.peek_op("||") {
            return Ok(first);
        }
        let mut any = vec![self.cond(first, at)?];
        while self.peek_op("||") {
            self.pos += 1;
            let at = self.at();
            let next = self.and()?;
            any.push(self.cond(next, at)?);
        }
        Ok(Node::Cond(Cond::Any(any)))
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let at = self.at();
        let first = self.not()?;
        if !self.peek_op("&&") {
            return Ok(first);
        }
        let mut all = vec![self.cond(first, at)?];
        while self.peek_op("&&") {
            self.pos += 1;
            let at = self.at();
            let next = self.not()?;
            all.push(self.cond(next, at)?);
        }
        Ok(Node::Cond(Cond::All(all)))
    }

    fn not(&mut self) -> Result<Node, ParseError> {
        if self.peek_op("!") {
            self.pos += 1;
            let at = self.at();
            let inner = self.not()?;
            return Ok(Node::Cond(Cond::Not(Box::new(self.cond(inner, at)?))));
        }
        self.cmp()
    }

    fn cmp(&mut self) -> Result<Node, ParseError> {
        let at = self.at();
        let left = self.sum()?;
        let op = match self.toks.get(self.pos) {
            Some((_, Tok::Op(">="))) => CmpOp::Ge,
            Some((_, Tok::Op(">"))) => CmpOp::Gt,
            Some((_, Tok::Op("<="))) => CmpOp::Le,
            Some((_, Tok::Op("<"))) => CmpOp::Lt,
            Some((_, Tok::Op("=="))) => CmpOp::Eq,
            Some((_, Tok::Op("!="))) => CmpOp::Ne,
            _ => return Ok(left),
        };
        self.pos += 1;
        let left = self.num(left, at)?;
        let at = self.at();
        let right = self.sum()?;
        Ok(Node::Cond(Cond::Cmp(left, op, self.num(right, at)?)))
    }

    fn sum(&mut self) -> Result<Node, ParseError> {
        self.binary(&[("+", ArithOp::Add), ("-", ArithOp::Sub)], Self::product)
    }

    fn product(&mut self) -> Result<Node, ParseError> {
        self.binary(&[("*", ArithOp::Mul), ("/", ArithOp::Div)], Self::atom)
    }

    fn binary(
        &mut self,
        ops: &[(&str, ArithOp)],
        next: fn(&mut Self) -> Result<Node, ParseError>,
    ) -> Result<Node, ParseError> {
        let at = self.at();
        let mut left = next(self)?;
        while let Some((_, op)) = ops.iter().find(|(o, _)| self.peek_op(o)) {
            self.pos += 1;
            let lhs = self.num(left, at)?;
            let at_right = self.at();
            let right = next(self)?;
            left = Node::Num(Num::Op(
                Box::new(lhs),
                *op,
                Box::new(self.num(right, at_right)?),
            ));
        }
        Ok(left)
    }

    fn atom(&mut self) -> Result<Node, ParseError> {
        let Some((_, tok)) = self.toks.get(self.pos).cloned() else {
            return self.error("unexpected end of expression");
        };
        self.pos += 1;
        match tok {
            Tok::Int(n) => Ok(Node::Num(Num::Lit(n))),
            Tok::Value(name) => Ok(Node::Num(Num::Value(name))),
            Tok::Ident(name) if name == "is_person" => Ok(Node::Num(Num::IsPerson)),
            Tok::Ident(name) if name == "prior_penalties" => {
                let months = match (
                    self.toks.get(self.pos),
                    self.toks.get(self.pos + 1),
                    self.toks.get(self.pos + 2),
                ) {
                    (Some((_, Tok::Open)), Some((_, Tok::Int(n))), Some((_, Tok::Close)))
                        if (1..=120).contains(n) =>
                    {
                        *n as u32
                    }
                    _ => return self.error(
                        "prior_penalties takes a number of months, 1 to 120: prior_penalties(24)",
                    ),
                };
                self.pos += 3;
                Ok(Node::Num(Num::PriorPenalties(months)))
            }
            Tok::Ident(name) => Ok(Node::Num(Num::Fact(name))),
            Tok::Open => {
                let inner = self.or()?;
                if !matches!(self.toks.get(self.pos), Some((_, Tok::Close))) {
                    return self.error("expected `)`");
                }
                self.pos += 1;
                Ok(inner)
            }
            Tok::Close | Tok::Op(_) => {
                self.pos -= 1;
                self.error("expected a number, a fact, a $value or `(`")
            }
        }
    }
}

fn parse_node(src: &str) -> Result<Node, ParseError> {
    let mut parser = Parser {
        toks: lex(src)?,
        pos: 0,
        len: src.chars().count(),
    };
    let node = parser.or()?;
    if parser.pos < parser.toks.len() {
        return parser.error("unexpected text after the expression");
    }
    Ok(node)
}

/// Parses a condition.
pub fn parse_cond(src: &str) -> Result<Cond, ParseError> {
    match parse_node(src)? {
        Node::Cond(c) => Ok(c),
        Node::Num(_) => Err(ParseError {
            at: 0,
            message: "expected a condition (a comparison), found a number".into(),
        }),
    }
}

/// Parses a number expression.
pub fn parse_num(src: &str) -> Result<Num, ParseError> {
    match parse_node(src)? {
        Node::Num(n) => Ok(n),
        Node::Cond(_) => Err(ParseError {
            at: 0,
            message: "expected a number, found a condition".into(),
        }),
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

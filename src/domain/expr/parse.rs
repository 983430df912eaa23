//! The rule language's lexer and recursive-descent parser: text to the [`Num`] and [`Cond`]
//! trees the parent module evaluates, with errors that point at the offending column.

use super::*;

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

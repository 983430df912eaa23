//! A ledger row (行政处罚决定公示 columns) as a historic case outcome: which column is which
//! (a header-name table the user may override in TOML), and the conversions the columns need —
//! amounts in 元 or 万元 to fen exactly, dates in the common written forms, the identifier's kind,
//! the decision from 处罚内容, the offence code from a table or derived from the wording.

use std::collections::BTreeMap;

use jiff::civil::Date;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::domain::ResidentId;
use crate::proto;

/// The fields a ledger row fills, and the header names each is found under.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mapping {
    /// Header names per field (`case_number`, `party_name`, `party_id`, `offence`,
    /// `offence_code`, `legal_basis`, `content`, `fine`, `decided_on`, `authority`, `division`).
    pub columns: BTreeMap<String, Vec<String>>,
    /// Offence wording (违法行为) → offence code.
    pub offences: BTreeMap<String, String>,
}

const REQUIRED: [&str; 6] = [
    "case_number",
    "party_name",
    "party_id",
    "offence",
    "fine",
    "decided_on",
];

impl Default for Mapping {
    fn default() -> Self {
        let names = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let columns = [
            (
                "case_number",
                names(&[
                    "决定书文号",
                    "行政处罚决定书文号",
                    "处罚决定书文号",
                    "文书号",
                ]),
            ),
            (
                "party_name",
                names(&["当事人名称", "当事人", "行政相对人名称"]),
            ),
            (
                "party_id",
                names(&[
                    "统一社会信用代码",
                    "身份证号",
                    "统一社会信用代码/身份证号",
                    "证件号码",
                ]),
            ),
            (
                "offence",
                names(&["违法行为", "违法行为类型", "主要违法事实"]),
            ),
            ("offence_code", names(&["违法行为代码"])),
            ("legal_basis", names(&["处罚依据"])),
            ("content", names(&["处罚内容", "处罚结果"])),
            (
                "fine",
                names(&[
                    "罚款金额",
                    "罚款金额（元）",
                    "罚款金额(元)",
                    "罚款金额（万元）",
                    "罚款金额(万元)",
                ]),
            ),
            (
                "decided_on",
                names(&["决定日期", "处罚决定日期", "作出处罚决定日期"]),
            ),
            ("authority", names(&["处罚机关", "作出处罚决定的机关"])),
            ("division", names(&["行政区划", "区划代码"])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            columns,
            offences: BTreeMap::new(),
        }
    }
}

impl Mapping {
    /// The defaults with `text`'s tables laid over them (a field named there replaces its
    /// header list; offences are added).
    pub fn with_overrides(text: &str) -> Result<Self, String> {
        let given: Mapping = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut mapping = Self::default();
        for (field, names) in given.columns {
            if !mapping.columns.contains_key(&field) {
                return Err(format!(
                    "columns.{field}: not a field ({})",
                    mapping
                        .columns
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            mapping.columns.insert(field, names);
        }
        mapping.offences.extend(given.offences);
        Ok(mapping)
    }
}

/// Where each field is in a file, found from its header row.
#[derive(Debug)]
pub struct Columns {
    index: BTreeMap<String, usize>,
    /// The header row.
    pub header: Vec<String>,
    /// The fine column is in 万元 (by its header).
    fine_in_wan: bool,
}

impl Columns {
    /// Finds the fields in `header`; the unknown columns are returned to be reported; a missing
    /// required field is an error naming it and the names it was looked for under.
    pub fn find(mapping: &Mapping, header: Vec<String>) -> Result<(Self, Vec<String>), String> {
        let mut index = BTreeMap::new();
        for (field, names) in &mapping.columns {
            if let Some(i) = header.iter().position(|h| names.iter().any(|n| n == h)) {
                index.insert(field.clone(), i);
            }
        }
        let missing: Vec<String> = REQUIRED
            .iter()
            .filter(|f| !index.contains_key(**f))
            .map(|f| format!("{f} (one of {})", mapping.columns[*f].join(" / ")))
            .collect();
        if !missing.is_empty() {
            return Err(format!("the header row lacks {}", missing.join("; ")));
        }
        let unknown = header
            .iter()
            .enumerate()
            .filter(|(i, h)| !h.is_empty() && !index.values().any(|j| j == i))
            .map(|(_, h)| h.clone())
            .collect();
        let fine_in_wan = index
            .get("fine")
            .is_some_and(|i| header[*i].contains("万元"));
        Ok((
            Self {
                index,
                header,
                fine_in_wan,
            },
            unknown,
        ))
    }

    /// The cell of `field` in `row` (empty if the row is short or the column absent).
    pub fn cell<'a>(&self, row: &'a [String], field: &str) -> &'a str {
        self.index
            .get(field)
            .and_then(|i| row.get(*i))
            .map_or("", String::as_str)
    }

    /// The header of `field`'s column (for the report).
    pub fn header_of(&self, field: &str) -> String {
        self.index
            .get(field)
            .map_or(field.to_owned(), |i| self.header[*i].clone())
    }
}

/// A cell that cannot be converted: the field, the rule and the value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CellError {
    /// The field (its column's header is reported).
    pub field: &'static str,
    /// The rule broken.
    pub rule: &'static str,
    /// The cell.
    pub value: String,
}

/// An amount written in 元 (or 万元 when `wan` or the text says so) as fen, exactly: no
/// floating point between a ledger and a fine.
pub fn fen(raw: &str, wan: bool) -> Option<i64> {
    let text: String = raw
        .chars()
        .filter(|c| !c.is_whitespace() && *c != ',' && *c != '，')
        .collect();
    let (text, wan) = match text
        .strip_suffix("万元")
        .or_else(|| text.strip_suffix('万'))
    {
        Some(t) => (t, true),
        None => (text.strip_suffix('元').unwrap_or(&text), wan),
    };
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let places = if wan { 6 } else { 2 };
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > places
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let scale = 10_i64.pow(places as u32);
    let frac_value: i64 = format!("{frac:0<places$}").parse().ok()?;
    let fen = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(scale)?
        .checked_add(frac_value)?;
    Some(fen)
}

/// A day written `2019-11-04`, `2019/11/4`, `2019.11.4`, `2019年11月4日` or `20191104`.
pub fn day(raw: &str) -> Option<Date> {
    let raw = raw.trim();
    if raw.len() == 8 && raw.bytes().all(|b| b.is_ascii_digit()) {
        return Date::new(
            raw[..4].parse().ok()?,
            raw[4..6].parse().ok()?,
            raw[6..].parse().ok()?,
        )
        .ok();
    }
    let parts: Vec<&str> = raw
        .split(['-', '/', '.', '年', '月', '日', ' ', 'T'])
        .filter(|p| !p.is_empty())
        .collect();
    let [y, m, d, ..] = parts[..] else {
        return None;
    };
    Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()
}

/// The subject kind an 18-character identifier is: a person if it reads as a 身份证号 (with a
/// valid birth date and check character), otherwise an organisation (the gateway then checks
/// the credit code).
fn subject_kind(id: &str) -> proto::SubjectKind {
    if ResidentId::parse(id).is_ok() {
        proto::SubjectKind::Person
    } else {
        proto::SubjectKind::Organization
    }
}

/// The offence code for `wording`: the table's, or `TXT-` and 8 hex characters of its SHA-256,
/// so that one agency's same wording is one offence for the repeat rules.
pub fn offence_code(mapping: &Mapping, wording: &str) -> String {
    mapping.offences.get(wording).cloned().unwrap_or_else(|| {
        format!(
            "TXT-{}",
            &hex::encode(Sha256::digest(wording.as_bytes()))[..8]
        )
    })
}

/// What a row becomes: the outcome, or the cells that cannot be converted.
pub fn outcome(
    columns: &Columns,
    mapping: &Mapping,
    row: &[String],
    division: &str,
    domain: i32,
) -> Result<(proto::CaseOutcome, Date), Vec<CellError>> {
    let mut errors = Vec::new();
    let cell = |field| columns.cell(row, field);
    let fine = match cell("fine") {
        "" => Some(0),
        raw => fen(raw, columns.fine_in_wan),
    };
    if fine.is_none() {
        errors.push(CellError {
            field: "fine",
            rule: "amount.format",
            value: cell("fine").to_owned(),
        });
    }
    let decided = day(cell("decided_on"));
    if decided.is_none() {
        errors.push(CellError {
            field: "decided_on",
            rule: "date.format",
            value: cell("decided_on").to_owned(),
        });
    }
    let (Some(fine), Some(decided)) = (fine, decided) else {
        return Err(errors);
    };
    let id = cell("party_id").to_ascii_uppercase();
    let offence = match cell("offence_code") {
        "" => offence_code(mapping, cell("offence")),
        code => code.to_owned(),
    };
    let content = cell("content");
    let decision = if content.contains("不予") {
        proto::Decision::NoPenalty
    } else {
        proto::Decision::Penalty
    };
    let decided_at = crate::domain::calendar::CHINA
        .to_timestamp(decided.to_datetime(jiff::civil::Time::midnight()))
        .ok()
        .map(crate::codec::to_proto::ts);
    let division = match cell("division") {
        "" => division.to_owned(),
        own => own.to_owned(),
    };
    Ok((
        proto::CaseOutcome {
            case_number: cell("case_number").to_owned(),
            subject: Some(proto::Subject {
                kind: subject_kind(&id) as i32,
                id,
                name: cell("party_name").to_owned(),
            }),
            division,
            domain,
            offence_code: offence,
            decision: decision as i32,
            fine_fen: fine,
            decided_at,
            legal_basis: cell("legal_basis").chars().take(500).collect(),
            sensitivity: proto::Sensitivity::Public as i32,
            historic: true,
            ..Default::default()
        },
        decided,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_in_yuan_and_wan_are_exact_fen() {
        assert_eq!(fen("1,234.5", false), Some(123_450));
        assert_eq!(fen("3000元", false), Some(300_000));
        assert_eq!(fen("1.5万元", false), Some(1_500_000));
        assert_eq!(fen("0.25", true), Some(250_000), "a 万元 column");
        assert_eq!(fen("1.001", false), None, "fen is the smallest unit");
        assert_eq!(fen("-5", false), None);
        assert_eq!(fen("五千", false), None);
    }

    #[test]
    fn dates_in_the_usual_written_forms() {
        let d = Date::constant(2019, 11, 4);
        for raw in [
            "2019-11-04",
            "2019/11/4",
            "2019.11.04",
            "2019年11月4日",
            "20191104",
            "2019-11-04 00:00:00",
        ] {
            assert_eq!(day(raw), Some(d), "{raw}");
        }
        assert_eq!(day("2019-02-30"), None);
    }

    #[test]
    fn headers_are_found_by_name_and_unknown_ones_returned() {
        let header = [
            "决定书文号",
            "当事人名称",
            "统一社会信用代码",
            "违法行为",
            "罚款金额（万元）",
            "决定日期",
            "备注",
        ]
        .map(String::from)
        .to_vec();
        let (columns, unknown) = Columns::find(&Mapping::default(), header).unwrap();
        assert_eq!(unknown, ["备注"]);
        assert!(columns.fine_in_wan);
        let err = Columns::find(&Mapping::default(), vec!["决定书文号".into()]).unwrap_err();
        assert!(err.contains("party_name (one of 当事人名称"), "{err}");
        let mapping = Mapping::with_overrides(
            "[columns]\ncase_number = [\"文号\"]\n[offences]\n\"未明码标价\" = \"PRICE-TAG-01\"\n",
        )
        .unwrap();
        assert_eq!(offence_code(&mapping, "未明码标价"), "PRICE-TAG-01");
        assert!(offence_code(&mapping, "其他").starts_with("TXT-"));
        assert!(Mapping::with_overrides("[columns]\nnope = []\n").is_err());
    }
}

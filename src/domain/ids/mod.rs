//! Identifiers with their format and check-character rules: 统一社会信用代码 (GB 32100-2015),
//! 居民身份证号码 (GB 11643-1999), administrative division codes (GB/T 2260), agency ids, event ids
//! and offence codes.
//!
//! Every parser returns a [`RuleError`] naming the rule broken; the gateway attaches the field
//! path. A value of one of these types is valid by construction, except that a [`Uscc`] may have
//! been accepted with a failing check character when the deployment's policy says "warn"
//! ([`Uscc::checksum_ok`] tells).

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::validate::RuleError;

/// The 31 characters of GB 32100-2015 §4, in value order (0–30). I, O, S, V and Z are excluded.
const USCC_CHARSET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
/// Weights of positions 1–17 (GB 32100-2015 §5: 3^(i-1) mod 31).
const USCC_WEIGHTS: [u32; 17] = [
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
];
/// Weights of positions 1–17 of a resident identity number (GB 11643-1999 §7: 2^(18-i) mod 11).
const RESIDENT_ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Σ mod 11 = 0…10 maps to these check characters (GB 11643-1999 §7).
const RESIDENT_ID_CHECK: &[u8; 11] = b"10X98765432";
/// Province-level prefixes in use (GB/T 2260-2007 and later updates), including Taiwan (71),
/// Hong Kong (81) and Macao (82).
const PROVINCES: [&str; 34] = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65", "71",
    "81", "82",
];
/// The conversions every string identifier shares: parsing from `String` (what serde uses, so
/// stored records are checked when read), back into `String`, and `as_str`. `Display` too,
/// unless the identifier is personal data.
macro_rules! string_id {
    ($name:ident, $parse:ident) => {
        impl $name {
            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = RuleError;
            fn try_from(raw: String) -> Result<Self, RuleError> {
                Self::$parse(&raw)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }
    };
    ($name:ident, $parse:ident, display) => {
        string_id!($name, $parse);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

// Stored credit codes are read back with the format check only: they may have been accepted
// under the "warn" checksum policy.
string_id!(Uscc, parse_format, display);
// No Display: identity numbers are personal data and must not reach logs by accident.
string_id!(ResidentId, parse);
string_id!(DivisionCode, parse, display);
string_id!(AgencyId, parse, display);
string_id!(EventId, parse, display);
string_id!(OffenceCode, parse, display);

/// A 统一社会信用代码 (unified social credit code), GB 32100-2015: 18 characters, upper case.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Uscc(String);

impl Uscc {
    /// Parses a code, checking length, alphabet, the division code in positions 3–8 and the check
    /// character. Lower-case letters are accepted and upper-cased.
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        let code = Self::parse_format(raw)?;
        if !code.checksum_ok() {
            return Err(RuleError::new(
                "uscc.checksum",
                format!(
                    "check character is {} but GB 32100-2015 gives {}",
                    &code.0[17..],
                    Self::check_char(&code.0[..17]).unwrap_or('?')
                ),
            ));
        }
        Ok(code)
    }

    /// Parses a code checking everything but the check character, for deployments that accept
    /// registered codes whose check character fails (then [`Uscc::checksum_ok`] is false).
    pub fn parse_format(raw: &str) -> Result<Self, RuleError> {
        let code = raw.to_ascii_uppercase();
        if code.len() != 18 {
            return Err(RuleError::new(
                "uscc.format",
                format!("must be 18 characters, got {}", raw.chars().count()),
            ));
        }
        if let Some(bad) = code
            .chars()
            .find(|c| !c.is_ascii() || !USCC_CHARSET.contains(&(*c as u8)))
        {
            return Err(RuleError::new(
                "uscc.format",
                format!(
                    "character {bad:?} is not in the GB 32100-2015 alphabet 0-9 A-Y without I O S V Z"
                ),
            ));
        }
        if !code[2..8].bytes().all(|b| b.is_ascii_digit()) {
            return Err(RuleError::new(
                "uscc.format",
                "positions 3–8 must be the 6-digit division code of the registering authority",
            ));
        }
        Ok(Self(code))
    }

    /// The check character GB 32100-2015 gives for the first 17 characters, or `None` if they are
    /// not 17 characters of the code alphabet.
    pub fn check_char(body: &str) -> Option<char> {
        if body.len() != 17 {
            return None;
        }
        let mut sum = 0u32;
        for (b, weight) in body.bytes().zip(USCC_WEIGHTS) {
            let value = USCC_CHARSET.iter().position(|&c| c == b)? as u32;
            sum += value * weight;
        }
        // 31 − (Σ mod 31), where 31 stands for 0.
        let check = (31 - sum % 31) % 31;
        Some(char::from(USCC_CHARSET[check as usize]))
    }

    /// Whether the check character is right.
    pub fn checksum_ok(&self) -> bool {
        Self::check_char(&self.0[..17]) == self.0[17..].chars().next()
    }
}

/// A 居民身份证号码 (resident identity card number), GB 11643-1999: 17 digits and a check character.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ResidentId(String);

impl ResidentId {
    /// Parses a number, checking length, digits, the birth date and the check character.
    /// A lower-case `x` is accepted and upper-cased.
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        let id = raw.to_ascii_uppercase();
        let format = |description: &str| RuleError::new("resident_id.format", description);
        if id.len() != 18 {
            return Err(format("must be 18 characters (GB 11643-1999)"));
        }
        // By bytes: slicing the string at 17 would panic inside a multi-byte character (found
        // by the publish_request fuzzer).
        if !id.as_bytes()[..17].iter().all(u8::is_ascii_digit) {
            return Err(format("the first 17 characters must be digits"));
        }
        let last = id.as_bytes()[17];
        if !(last.is_ascii_digit() || last == b'X') {
            return Err(format("the check character must be a digit or X"));
        }
        let year: i16 = id[6..10].parse().unwrap_or(0);
        let month: i8 = id[10..12].parse().unwrap_or(0);
        let day: i8 = id[12..14].parse().unwrap_or(0);
        if !(1800..=2200).contains(&year) || jiff::civil::Date::new(year, month, day).is_err() {
            return Err(format("characters 7–14 must be a real birth date YYYYMMDD"));
        }
        let sum: u32 = id[..17]
            .bytes()
            .zip(RESIDENT_ID_WEIGHTS)
            .map(|(b, w)| u32::from(b - b'0') * w)
            .sum();
        let expected = RESIDENT_ID_CHECK[(sum % 11) as usize];
        if last != expected {
            return Err(RuleError::new(
                "resident_id.checksum",
                format!(
                    "check character is {} but GB 11643-1999 gives {}",
                    char::from(last),
                    char::from(expected)
                ),
            ));
        }
        Ok(Self(id))
    }
}

impl fmt::Debug for ResidentId {
    // Keeps identity numbers out of logs and panic messages.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ResidentId({}…{})", &self.0[..6], &self.0[17..])
    }
}

/// The key that orders and partitions a subject's events: the credit code for organisations, a
/// SHA-256 pseudonym of the identity number for persons (so logs and Kafka keys do not carry it;
/// the space of identity numbers is small, so this is pseudonymisation, not anonymisation).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SubjectKey(String);

impl SubjectKey {
    /// The key of an organisation.
    pub fn organization(code: &Uscc) -> Self {
        Self(format!("org:{}", code.as_str()))
    }

    /// The key of a person.
    pub fn person(id: &ResidentId) -> Self {
        let digest = Sha256::digest(format!("xiezhi.person.v1:{}", id.as_str()));
        Self(format!("person:{}", hex::encode(&digest[..16])))
    }

    /// The key as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An administrative division code (GB/T 2260 and the statistical extension): 6 digits for
/// province, city or county, 9 for township, 12 for village. Retired codes stay valid, because
/// records outlive boundary changes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DivisionCode(String);

impl DivisionCode {
    /// Parses a code: 6, 9 or 12 digits starting with a province-level prefix in use.
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        if !matches!(raw.len(), 6 | 9 | 12) || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RuleError::new(
                "division.format",
                "must be 6, 9 or 12 digits (GB/T 2260 code, optionally with township and village)",
            ));
        }
        if !PROVINCES.contains(&&raw[..2]) {
            return Err(RuleError::new(
                "division.format",
                format!("{} is not a province-level code", &raw[..2]),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The prefix every code inside this division starts with: trailing zero groups removed, so
    /// `330100` (a city) covers `3301…` and `330000` (a province) covers `33…`.
    pub fn jurisdiction_prefix(&self) -> &str {
        let mut code = self.0.as_str();
        // Village and township groups are three digits each, county, city and province two.
        while code.len() > 6 && code.ends_with("000") {
            code = &code[..code.len() - 3];
        }
        while code.len() > 2 && code.len() <= 6 && code.ends_with("00") {
            code = &code[..code.len() - 2];
        }
        code
    }

    /// Whether `other` lies inside this division (or is it).
    pub fn covers(&self, other: &DivisionCode) -> bool {
        other.0.starts_with(self.jurisdiction_prefix())
    }

    /// The first six digits: the county, city or province this code belongs to.
    pub fn county(&self) -> &str {
        &self.0[..6]
    }
}

/// An agency id: `<6-digit division code>-<department code>`, e.g. `330106-SCJG`; the department
/// code is 2–10 upper-case letters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AgencyId(String);

impl AgencyId {
    /// Agencies as `a, b, c`, for messages.
    pub fn list(agencies: &[AgencyId]) -> String {
        agencies
            .iter()
            .map(AgencyId::as_str)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Parses an id. Whether it is registered is the registry's question.
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        let bad = || {
            RuleError::new(
                "agency.format",
                "must be <6-digit division code>-<2 to 10 upper-case letters>, e.g. 330106-SCJG",
            )
        };
        let (division, dept) = raw.split_once('-').ok_or_else(bad)?;
        if division.len() != 6
            || !(2..=10).contains(&dept.len())
            || !dept.bytes().all(|b| b.is_ascii_uppercase())
        {
            return Err(bad());
        }
        DivisionCode::parse(division).map_err(|_| bad())?;
        Ok(Self(raw.to_owned()))
    }

    /// The six-digit division part.
    pub fn division(&self) -> &str {
        &self.0[..6]
    }
}

/// Whether `raw` is 1–`max` characters from `A-Z a-z 0-9` and `extra`, starting alphanumeric.
fn is_token(raw: &str, max: usize, extra: &[u8]) -> bool {
    !raw.is_empty()
        && raw.len() <= max
        && raw.as_bytes()[0].is_ascii_alphanumeric()
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// A producer-chosen idempotency key: 1–128 characters from `A-Z a-z 0-9 . _ : -`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventId(String);

impl EventId {
    /// Longest accepted event id.
    pub const MAX_LEN: usize = 128;

    /// Parses an event id.
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        if is_token(raw, Self::MAX_LEN, b"._:-") {
            Ok(Self(raw.to_owned()))
        } else {
            Err(RuleError::new(
                "event_id.format",
                "must be 1–128 characters from A-Z a-z 0-9 . _ : - starting with a letter or digit",
            ))
        }
    }
}

/// An offence code: 1–32 characters from `A-Z a-z 0-9 . _ -`, e.g. `CL-140` for 刑法 art. 140.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OffenceCode(String);

impl OffenceCode {
    /// Parses an offence code.
    pub fn parse(raw: &str) -> Result<Self, RuleError> {
        if is_token(raw, 32, b"._-") {
            Ok(Self(raw.to_owned()))
        } else {
            Err(RuleError::new(
                "offence_code.format",
                "must be 1–32 characters from A-Z a-z 0-9 . _ - starting with a letter or digit",
            ))
        }
    }
}

#[cfg(test)]
mod tests;

//! Money: amounts are integer fen (分) everywhere; this shows them as yuan for people.

/// Fen as yuan with thousands separators: 12345600 → `123,456.00`.
pub fn yuan(fen: i64) -> String {
    let digits = (fen.unsigned_abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    let sign = if fen < 0 { "-" } else { "" };
    format!("{sign}{grouped}.{:02}", fen.unsigned_abs() % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_groups_thousands_and_keeps_fen() {
        assert_eq!(yuan(12_345_600), "123,456.00");
        assert_eq!(yuan(99), "0.99");
        assert_eq!(yuan(100_000), "1,000.00");
        assert_eq!(yuan(-150), "-1.50");
        assert_eq!(yuan(i64::MIN), "-92,233,720,368,547,758.08");
    }
}

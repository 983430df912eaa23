//! The boards' tables: built once per request from the store (masked and filtered for the
//! viewer by the board), then searched, sorted and cut into pages here — or exported whole, as
//! CSV or XLSX, with exactly the cells the page shows (so the same masking and jurisdiction).

use maud::{Markup, html};
use rust_xlsxwriter::{Format, Workbook};

use super::frame::frame;
use crate::domain::Agency;
use crate::domain::money::yuan;

/// Rows per page.
const PAGE_ROWS: usize = 50;

/// A cell's value: what sorting and the XLSX export use.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Value {
    Text,
    Int(i64),
    /// Money in fen, shown and exported in yuan.
    Fen(i64),
    /// A share between 0 and 1.
    Share(f64),
}

/// One cell.
#[derive(Clone, Debug)]
pub(super) struct Cell {
    pub(super) text: String,
    pub(super) value: Value,
    pub(super) href: Option<String>,
    /// A status colour class (`ok`, `warn`, `bad`), always beside a text label.
    pub(super) tone: Option<&'static str>,
}

impl Cell {
    pub(super) fn text(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            value: Value::Text,
            href: None,
            tone: None,
        }
    }
    pub(super) fn int(n: i64) -> Self {
        Self {
            value: Value::Int(n),
            ..Self::text(n.to_string())
        }
    }
    pub(super) fn fen(fen: i64) -> Self {
        Self {
            value: Value::Fen(fen),
            ..Self::text(format!("¥{}", yuan(fen)))
        }
    }
    /// `part` of `whole` as a percentage; a dash when there is no whole.
    pub(super) fn share(part: i64, whole: i64) -> Self {
        if whole <= 0 {
            return Self::text("—");
        }
        let share = part as f64 / whole as f64;
        Self {
            value: Value::Share(share),
            ..Self::text(format!("{:.1}%", share * 100.0))
        }
    }
    pub(super) fn link(mut self, href: impl Into<String>) -> Self {
        self.href = Some(href.into());
        self
    }
    pub(super) fn tone(mut self, tone: &'static str) -> Self {
        self.tone = Some(tone);
        self
    }
    fn numeric(&self) -> bool {
        !matches!(self.value, Value::Text)
    }
}

/// A table: its columns and rows, each row with the text search matches.
#[derive(Debug, Default)]
pub(super) struct Table {
    pub(super) columns: Vec<&'static str>,
    pub(super) rows: Vec<(Vec<Cell>, String)>,
}

/// `?q=&sort=&desc=&page=&format=`, read from the request's query string.
#[derive(Clone, Debug, Default)]
pub(crate) struct TableQuery {
    /// The whole query string, for links that change one parameter.
    raw: String,
    q: String,
    sort: Option<usize>,
    desc: bool,
    page: usize,
    /// `csv` or `xlsx`.
    pub(super) format: Option<String>,
}

impl TableQuery {
    /// Reads the table's parameters out of a query string.
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let raw = raw.unwrap_or_default().to_owned();
        let mut out = Self::default();
        for (key, value) in url_pairs(&raw) {
            match key.as_str() {
                "q" => out.q = value.trim().to_owned(),
                "sort" => out.sort = value.parse().ok(),
                "desc" => out.desc = value == "1",
                "page" => out.page = value.parse::<usize>().unwrap_or(1).saturating_sub(1),
                "format" if !value.is_empty() => out.format = Some(value),
                _ => {}
            }
        }
        out.raw = raw;
        out
    }

    /// The query string with `key` set to `value` (removed when empty) and the page reset
    /// unless `key` is the page.
    pub(super) fn with(&self, key: &str, value: &str) -> String {
        let mut pairs: Vec<(String, String)> = url_pairs(&self.raw)
            .into_iter()
            .filter(|(k, _)| k != key && (key == "page" || k != "page") && k != "format")
            .collect();
        if !value.is_empty() {
            pairs.push((key.to_owned(), value.to_owned()));
        }
        let encoded: Vec<String> = pairs
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        format!("?{}", encoded.join("&"))
    }
}

/// A board's answer: a page, or an export.
pub(super) enum Output {
    Html(String),
    File {
        name: String,
        mime: &'static str,
        body: Vec<u8>,
    },
}

impl Table {
    /// The rows the query selects, sorted.
    fn selected(&self, query: &TableQuery) -> Vec<&Vec<Cell>> {
        let needle = query.q.to_lowercase();
        let mut rows: Vec<&Vec<Cell>> = self
            .rows
            .iter()
            .filter(|(_, text)| needle.is_empty() || text.to_lowercase().contains(&needle))
            .map(|(cells, _)| cells)
            .collect();
        if let Some(col) = query.sort.filter(|c| *c < self.columns.len()) {
            rows.sort_by(|a, b| {
                let order = compare(&a[col], &b[col]);
                if query.desc { order.reverse() } else { order }
            });
        }
        rows
    }

    /// The page (`before` above the table: filters; `after` below it), or the export the query
    /// asks for, named after `name`.
    pub(super) fn respond(
        &self,
        title: &str,
        name: &str,
        query: &TableQuery,
        viewer: Option<&Agency>,
        before: Markup,
        after: Markup,
    ) -> Output {
        let rows = self.selected(query);
        match query.format.as_deref() {
            Some("csv") => Output::File {
                name: format!("{name}.csv"),
                mime: "text/csv; charset=utf-8",
                body: self.csv(&rows),
            },
            Some("xlsx") => Output::File {
                name: format!("{name}.xlsx"),
                mime: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                body: self.xlsx(title, &rows),
            },
            _ => Output::Html(frame(
                title,
                html! { (before) (self.html(&rows, query)) (after) },
                viewer,
            )),
        }
    }

    fn html(&self, rows: &[&Vec<Cell>], query: &TableQuery) -> Markup {
        let pages = rows.len().div_ceil(PAGE_ROWS).max(1);
        let page = query.page.min(pages - 1);
        let shown = rows.iter().skip(page * PAGE_ROWS).take(PAGE_ROWS);
        let numeric: Vec<bool> = (0..self.columns.len())
            .map(|c| rows.first().is_some_and(|r| r[c].numeric()))
            .collect();
        html! {
            div.toolbar {
                form role="search" {
                    @for (k, v) in url_pairs(&query.raw) {
                        @if !matches!(k.as_str(), "q" | "page" | "format") {
                            input type="hidden" name=(k) value=(v);
                        }
                    }
                    label for="q" .sr-only { "搜索" }
                    input #q name="q" value=(query.q) placeholder="搜索：名称、信用代码、案号";
                    " " button { "搜索" }
                }
                a.button href=(query.with("format", "xlsx")) download { "导出 Excel" }
                a.button href=(query.with("format", "csv")) download { "导出 CSV" }
                button.noprint type="button" onclick="window.print()" { "打印" }
            }
            div.tablewrap tabindex="0" {
                table {
                    thead { tr {
                        @for (c, label) in self.columns.iter().enumerate() {
                            @let desc = query.sort == Some(c) && !query.desc;
                            @let mark = match (query.sort == Some(c), query.desc) { (true, false) => " ▲", (true, true) => " ▼", _ => "" };
                            th .num[numeric[c]] aria-sort=[(query.sort == Some(c)).then_some(if query.desc { "descending" } else { "ascending" })] {
                                a href=(format!("{}&desc={}", query.with("sort", &c.to_string()), u8::from(desc))) { (label) (mark) }
                            }
                        }
                    } }
                    tbody {
                        @for row in shown {
                            tr { @for cell in row.iter() { (cell_html(cell)) } }
                        }
                    }
                }
            }
            div.pager {
                @if page > 0 { a href=(query.with("page", &page.to_string())) { "上一页" } }
                span { "第 " (page + 1) " / " (pages) " 页，共 " (rows.len()) " 条" }
                @if page + 1 < pages { a href=(query.with("page", &(page + 2).to_string())) { "下一页" } }
            }
        }
    }

    fn csv(&self, rows: &[&Vec<Cell>]) -> Vec<u8> {
        // A byte-order mark: Excel opens UTF-8 CSV as such only with it.
        let mut out = "\u{feff}".as_bytes().to_vec();
        let mut writer = csv::Writer::from_writer(&mut out);
        let _ = writer.write_record(&self.columns);
        for row in rows {
            let _ = writer.write_record(row.iter().map(|c| c.text.as_str()));
        }
        drop(writer);
        out
    }

    fn xlsx(&self, title: &str, rows: &[&Vec<Cell>]) -> Vec<u8> {
        let mut book = Workbook::new();
        let bold = Format::new().set_bold();
        let money = Format::new().set_num_format("¥#,##0.00");
        let share = Format::new().set_num_format("0.0%");
        let sheet = book.add_worksheet();
        let _ = sheet.set_name(title.chars().take(31).collect::<String>());
        for (c, label) in self.columns.iter().enumerate() {
            let _ = sheet.write_string_with_format(0, c as u16, *label, &bold);
        }
        for (r, row) in rows.iter().enumerate() {
            let r = r as u32 + 1;
            for (c, cell) in row.iter().enumerate() {
                let c = c as u16;
                let _ = match cell.value {
                    Value::Text => sheet.write_string(r, c, &cell.text),
                    Value::Int(n) => sheet.write_number(r, c, n as f64),
                    Value::Fen(fen) => {
                        sheet.write_number_with_format(r, c, fen as f64 / 100.0, &money)
                    }
                    Value::Share(s) => sheet.write_number_with_format(r, c, s, &share),
                };
            }
        }
        let _ = sheet.set_freeze_panes(1, 0);
        book.save_to_buffer().unwrap_or_default()
    }
}

fn cell_html(cell: &Cell) -> Markup {
    html! {
        td .num[cell.numeric()] {
            @match (&cell.href, cell.tone) {
                (Some(href), _) => a href=(href) { (cell.text) },
                (None, Some(tone)) => span class=(format!("status {tone}")) { (cell.text) },
                (None, None) => (cell.text),
            }
        }
    }
}

fn compare(a: &Cell, b: &Cell) -> std::cmp::Ordering {
    let number = |c: &Cell| match c.value {
        Value::Int(n) | Value::Fen(n) => Some(n as f64),
        Value::Share(s) => Some(s),
        Value::Text => None,
    };
    match (number(a), number(b)) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => a.text.cmp(&b.text),
    }
}

/// The pairs of a query string, decoded.
fn url_pairs(raw: &str) -> Vec<(String, String)> {
    serde_urlencoded::from_str::<Vec<(String, String)>>(raw).unwrap_or_default()
}

fn encode(text: &str) -> String {
    serde_urlencoded::to_string([("", text)])
        .map(|s| s.trim_start_matches('=').to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Table {
        let row = |name: &str, n: i64| (vec![Cell::text(name), Cell::int(n)], name.to_owned());
        Table {
            columns: vec!["名称", "件数"],
            rows: (0..120)
                .map(|i| row(&format!("机关{i:03}"), 120 - i))
                .collect(),
        }
    }

    #[test]
    fn sorts_by_a_column_either_way_and_pages_by_fifty() {
        let t = table();
        let q = TableQuery::parse(Some("sort=1&desc=0&page=3"));
        let rows = t.selected(&q);
        assert_eq!(rows[0][1].text, "1");
        let html = t.html(&rows, &q).into_string();
        assert!(html.contains("第 3 / 3 页，共 120 条"), "{html}");
        assert_eq!(html.matches("<tr>").count(), 1 + 20);
        let q = TableQuery::parse(Some("sort=1&desc=1"));
        assert_eq!(t.selected(&q)[0][1].text, "120");
    }

    #[test]
    fn search_keeps_matching_rows_and_links_keep_the_filters() {
        let t = table();
        let q = TableQuery::parse(Some("status=open&q=%E6%9C%BA%E5%85%B3011&as=330100-ZFXT"));
        assert_eq!(t.selected(&q).len(), 1);
        let next = q.with("format", "xlsx");
        assert!(
            next.contains("status=open") && next.contains("format=xlsx"),
            "{next}"
        );
        assert!(next.contains("as=330100-ZFXT"));
    }

    #[test]
    fn csv_has_a_bom_the_header_and_every_selected_row() {
        let t = table();
        let rows = t.selected(&TableQuery::default());
        let csv = String::from_utf8(t.csv(&rows)).unwrap();
        assert!(csv.starts_with("\u{feff}名称,件数\n"));
        assert_eq!(csv.lines().count(), 121);
    }
}

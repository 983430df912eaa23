//! Reading a ledger file row by row on a thread of its own, into a bounded channel — CSV with
//! the `csv` crate, XLSX with calamine's streaming cell reader — so that a file of a million
//! rows is never held in memory. Every cell arrives as text (numbers as written, Excel dates as
//! `YYYY-MM-DD`).

use std::path::Path;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use super::ImportError;

/// Rows waiting between the reading thread and the publisher.
const BUFFER: usize = 2_048;

/// What the reading thread sends: the header row first, then data rows (1-based row numbers as
/// a spreadsheet shows them), or the error that stopped it.
pub enum Item {
    /// The header row.
    Header(Vec<String>),
    /// A data row, its number, and how far into the file it ends (bytes; 0 when unknown).
    Row(u64, Vec<String>, u64),
    /// Reading failed.
    Failed(String),
}

/// A format's reader: the file, the sheet, where the rows go.
type ReadFn = fn(&Path, Option<String>, &SyncSender<Item>) -> Result<(), String>;

/// Reads the file in a thread; the receiver yields its rows.
pub fn open(path: &Path, sheet: Option<String>) -> Result<Receiver<Item>, ImportError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let (tx, rx) = sync_channel(BUFFER);
    let path = path.to_owned();
    let read: ReadFn = match extension.as_str() {
        "csv" | "txt" => |path, _, tx| read_csv(path, tx),
        "xlsx" => read_xlsx,
        other => {
            return Err(ImportError::Format(format!(
                "{}: .{other} is not a ledger format: CSV (UTF-8) or XLSX",
                path.display()
            )));
        }
    };
    std::thread::Builder::new()
        .name("ledger-reader".into())
        .spawn(move || {
            if let Err(why) = read(&path, sheet, &tx) {
                let _ = tx.send(Item::Failed(why));
            }
        })
        .map_err(|e| ImportError::Format(format!("cannot start the reader: {e}")))?;
    Ok(rx)
}

fn read_csv(path: &Path, tx: &SyncSender<Item>) -> Result<(), String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| format!("{}: header row: {e}", path.display()))?
        .iter()
        // A UTF-8 byte-order mark, as spreadsheet programs write it.
        .map(|h| h.trim_start_matches('\u{feff}').trim().to_owned())
        .collect();
    if tx.send(Item::Header(header)).is_err() {
        return Ok(());
    }
    let mut record = csv::StringRecord::new();
    let mut row = 1u64;
    loop {
        row += 1;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(format!("{}: row {row}: {e}", path.display())),
        }
        let cells = record.iter().map(|c| c.trim().to_owned()).collect();
        let at = reader.position().byte();
        if tx.send(Item::Row(row, cells, at)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}

/// An Excel serial day (days since 1899-12-30) as `YYYY-MM-DD`.
fn excel_day(serial: f64) -> String {
    let base = jiff::civil::date(1899, 12, 30);
    match jiff::Span::new().try_days(serial.floor() as i64) {
        Ok(span) => base
            .checked_add(span)
            .map(|d| d.to_string())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

fn cell_text(cell: &calamine::DataRef<'_>) -> String {
    use calamine::DataRef;
    match cell {
        DataRef::Int(n) => n.to_string(),
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        DataRef::Float(f) => f.to_string(),
        DataRef::String(s) => s.trim().to_owned(),
        DataRef::SharedString(s) => s.trim().to_owned(),
        DataRef::Bool(b) => b.to_string(),
        DataRef::DateTime(d) => excel_day(d.as_f64()),
        DataRef::DateTimeIso(s) | DataRef::DurationIso(s) => s.get(..10).unwrap_or(s).to_owned(),
        DataRef::Error(e) => format!("#{e:?}"),
        DataRef::Empty => String::new(),
    }
}

fn read_xlsx(path: &Path, sheet: Option<String>, tx: &SyncSender<Item>) -> Result<(), String> {
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> =
        calamine::open_workbook(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = match sheet {
        Some(name) => name,
        None => book
            .sheet_names()
            .first()
            .cloned()
            .ok_or_else(|| format!("{}: no worksheet", path.display()))?,
    };
    let mut cells = book
        .worksheet_cells_reader(&name)
        .map_err(|e| format!("{}: sheet {name}: {e}", path.display()))?;
    let mut current: Option<(u32, Vec<String>)> = None;
    let mut header_sent = false;
    let flush = |row: u32, values: Vec<String>, header_sent: &mut bool| -> bool {
        if values.iter().all(String::is_empty) {
            return true;
        }
        let item = if *header_sent {
            Item::Row(u64::from(row) + 1, values, 0)
        } else {
            *header_sent = true;
            Item::Header(values)
        };
        tx.send(item).is_ok()
    };
    while let Some(cell) = cells
        .next_cell()
        .map_err(|e| format!("{}: sheet {name}: {e}", path.display()))?
    {
        let (row, column) = cell.get_position();
        if current.as_ref().is_some_and(|(r, _)| *r != row) {
            let (r, values) = current.take().unwrap_or_default();
            if !flush(r, values, &mut header_sent) {
                return Ok(());
            }
        }
        let values = &mut current.get_or_insert_with(|| (row, Vec::new())).1;
        let column = column as usize;
        if values.len() <= column {
            values.resize(column + 1, String::new());
        }
        values[column] = cell_text(cell.get_value());
    }
    if let Some((r, values)) = current {
        flush(r, values, &mut header_sent);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn excel_serial_days_are_dates() {
        assert_eq!(super::excel_day(43_773.0), "2019-11-04");
        assert_eq!(super::excel_day(45_658.5), "2025-01-01");
    }
}

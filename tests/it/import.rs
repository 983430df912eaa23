//! `xiezhi import` from outside, as an agency's operator runs it: a CSV and an XLSX ledger with
//! good and bad rows (a bad identifier, an unknown column, an amount in 万元, a 决定书文号 twice,
//! a bad date) — good rows stored once, bad ones in the report with their row numbers, a rerun
//! publishing nothing new, and historic decisions raising no alert.

use std::io::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::cli::{run_async, text};
use crate::process::xiezhi;
use crate::support::{Log, TestServer, alert_of, org};

const HEADER: &str = "决定书文号,当事人名称,统一社会信用代码,违法行为,处罚依据,处罚内容,罚款金额,决定日期,处罚机关,备注";

fn row(case: &str, n: u64, fine: &str, day: &str) -> String {
    let party = org(n);
    format!(
        "{case},{},{},未按规定明码标价,《明码标价和禁止价格欺诈规定》第二十一条,罚款,{fine},{day},西湖区市场监督管理局,",
        party.name, party.id
    )
}

/// Runs `xiezhi import` on `file` against `server`; (success, stdout).
async fn import(server: &TestServer, file: &Path) -> (bool, String) {
    let mut command = xiezhi();
    command
        .args(["import", "--agency", "330106-SCJG", "--server"])
        .arg(format!("http://{}", server.running().grpc_addr()))
        .arg("--file")
        .arg(file);
    let out = run_async(command).await;
    (
        out.status.success(),
        format!("{}{}", text(&out.stdout), text(&out.stderr)),
    )
}

fn report(file: &Path) -> Vec<String> {
    std::fs::read_to_string(xiezhi::import::report_path(file))
        .map(|t| t.lines().map(str::to_owned).collect())
        .unwrap_or_default()
}

async fn a_csv_ledger_imports_its_good_rows_once(log: Log) {
    let server = TestServer::start(log).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("台账.csv");
    let mut bad_id = org(3).id;
    bad_id.replace_range(17.., if bad_id.ends_with('0') { "1" } else { "0" });
    let lines = [
        HEADER.to_owned(),
        row("杭西市监罚〔2019〕1号", 1, "3000", "2019-11-04"),
        row("杭西市监罚〔2019〕2号", 2, "1.5万元", "2019/12/1"),
        row("杭西市监罚〔2020〕3号", 3, "500", "2020-01-05").replace(&org(3).id, &bad_id),
        row("杭西市监罚〔2019〕1号", 4, "800", "2019-11-05"),
    ];
    std::fs::write(&file, lines.join("\n")).unwrap();
    let (ok, out) = import(&server, &file).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("4 rows: 2 published, 0 already there, 2 refused"),
        "{out}"
    );
    let report = report(&file);
    assert_eq!(report[0], "row,column,rule,value");
    assert!(
        report.contains(&"1,备注,column.unknown,ignored: not in the header table".to_owned()),
        "{report:?}"
    );
    assert!(
        report
            .iter()
            .any(|l| l.starts_with("4,统一社会信用代码,uscc.checksum,")),
        "{report:?}"
    );
    assert!(
        report.contains(&"5,决定书文号,ledger.duplicate,杭西市监罚〔2019〕1号".to_owned()),
        "{report:?}"
    );
    server.wait_for_events(2).await;
    let stored = server.timeline(&org(2)).await;
    let Some(xiezhi::proto::envelope::Payload::CaseOutcome(outcome)) =
        stored[0].event.as_ref().unwrap().payload.as_ref()
    else {
        panic!("{stored:?}");
    };
    assert_eq!(outcome.fine_fen, 1_500_000, "1.5万元");
    assert!(outcome.historic);
    // Public decisions years past their 双公示 date, yet historic: no alert anywhere.
    let coordinator = server
        .drain_inbox("330100-SFJ", Some(0), Duration::from_millis(500))
        .await;
    assert!(
        coordinator.iter().all(|d| alert_of(d).is_none()),
        "{coordinator:?}"
    );
    // A rerun publishes nothing new.
    let (ok, out) = import(&server, &file).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("4 rows: 0 published, 2 already there, 2 refused"),
        "{out}"
    );
    assert_eq!(server.event_count(), 2);
    server.stop().await;
}

/// A minimal XLSX workbook (inline strings) with `rows`.
fn xlsx(path: &Path, rows: &[Vec<&str>]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = zip::write::SimpleFileOptions::default();
    let mut put = |name: &str, body: &str| {
        zip.start_file(name, options).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    };
    put(
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
    );
    put(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    put(
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="台账" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    put(
        "xl/_rels/workbook.xml.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#,
    );
    let mut sheet = String::from(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>"#,
    );
    for (r, cells) in rows.iter().enumerate() {
        sheet.push_str(&format!(r#"<row r="{}">"#, r + 1));
        for (c, value) in cells.iter().enumerate() {
            let column = char::from(b'A' + c as u8);
            if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) && value.len() < 10 {
                sheet.push_str(&format!(r#"<c r="{column}{}"><v>{value}</v></c>"#, r + 1));
            } else {
                sheet.push_str(&format!(
                    r#"<c r="{column}{}" t="inlineStr"><is><t>{value}</t></is></c>"#,
                    r + 1
                ));
            }
        }
        sheet.push_str("</row>");
    }
    sheet.push_str("</sheetData></worksheet>");
    put("xl/worksheets/sheet1.xml", &sheet);
    zip.finish().unwrap();
}

async fn an_xlsx_ledger_in_wan_yuan_imports_and_reports_bad_dates(log: Log) {
    let server = TestServer::start(log).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger.xlsx");
    let (a, b) = (org(11), org(12));
    xlsx(
        &file,
        &[
            vec![
                "决定书文号",
                "当事人名称",
                "统一社会信用代码",
                "违法行为",
                "罚款金额（万元）",
                "决定日期",
            ],
            vec![
                "杭西市监罚〔2021〕7号",
                &a.name,
                &a.id,
                "虚假宣传",
                "2.5",
                "2021-03-08",
            ],
            vec![
                "杭西市监罚〔2021〕8号",
                &b.name,
                &b.id,
                "虚假宣传",
                "1",
                "2021-02-30",
            ],
        ],
    );
    let (ok, out) = import(&server, &file).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("2 rows: 1 published, 0 already there, 1 refused"),
        "{out}"
    );
    assert_eq!(report(&file)[1], "3,决定日期,date.format,2021-02-30");
    server.wait_for_events(1).await;
    let stored = server.timeline(&a).await;
    let Some(xiezhi::proto::envelope::Payload::CaseOutcome(outcome)) =
        stored[0].event.as_ref().unwrap().payload.as_ref()
    else {
        panic!("{stored:?}");
    };
    assert_eq!(outcome.fine_fen, 2_500_000, "2.5万元");
    assert!(
        outcome.offence_code.starts_with("TXT-"),
        "derived from the wording"
    );
    server.stop().await;
}

crate::on_both_logs!(
    a_csv_ledger_imports_its_good_rows_once,
    an_xlsx_ledger_in_wan_yuan_imports_and_reports_bad_dates,
);

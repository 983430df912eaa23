//! The console in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core (`tests/browser/console.mjs`) against a broker with data — the overview
//! renders, the leads board filters, a subject file shows two agencies, an overdue referral is
//! red, a district coordinator cannot see another district's leads, the public feed shows no
//! 身份证号; a browser holding an agency certificate opens the console over TLS; the inspections
//! page and a verification page render with the demo's inspections. Screenshots
//! go to `target/browser/`. Never skipped: without Chromium or Node the
//! test fails and says what to install.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use xiezhi::domain::ManualClock;
use xiezhi::proto::referrals_client::ReferralsClient;

use crate::security::{LEVELS, person};
use crate::support::{Log, TestServer, lead, org, outcome};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser")
}

/// Chromium, Node and playwright-core, installing the npm package if it is missing.
pub(crate) fn prerequisites() -> PathBuf {
    let chromium = std::env::var_os("XIEZHI_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        chromium.exists(),
        "{} not found: the browser tests need Debian's Chromium (apt-get install -y chromium) \
         or XIEZHI_CHROMIUM pointing at a Chromium",
        chromium.display()
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "node not found: the browser tests need Node.js 18+ (apt-get install -y nodejs npm)"
    );
    if !browser_dir().join("node_modules/playwright-core").exists()
        || !browser_dir().join("node_modules/axe-core").exists()
    {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(browser_dir())
            .output()
            .expect("npm runs (apt-get install -y npm)");
        assert!(
            out.status.success(),
            "npm ci in tests/browser failed (is the npm registry reachable?):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    chromium
}

/// Runs `tests/browser/SCRIPT` with Node against Chromium, screenshots to `target/browser/`;
/// fails with its output unless it succeeds, and returns what it printed.
pub(crate) async fn run_script(chromium: &Path, script: &str, env: &[(&str, String)]) -> String {
    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    let mut command = Command::new("node");
    command
        .arg(browser_dir().join(script))
        .current_dir(browser_dir())
        .env("CHROMIUM", chromium)
        .env("SHOTS", &shots)
        .envs(env.iter().map(|(k, v)| (k, v)));
    let out = crate::cli::run_async(command).await;
    let stdout = crate::cli::text(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test {script} failed (screenshots in {}):\n{stdout}\n{}",
        shots.display(),
        crate::cli::text(&out.stderr)
    );
    stdout
}

#[tokio::test]
async fn the_console_works_in_a_real_browser() {
    let chromium = prerequisites();
    let dir = tempfile::tempdir().unwrap();
    let registry = dir.path().join("registry.toml");
    std::fs::write(
        &registry,
        format!("{}\n{LEVELS}", xiezhi::config::SAMPLE_REGISTRY),
    )
    .unwrap();
    let now = jiff::Timestamp::now();
    let clock = Arc::new(ManualClock::new(now));
    let server = TestServer::start_with_clock(
        Log::Embedded,
        |config| {
            config.registry.file = registry.clone();
            config.router.tick_ms = 50;
        },
        clock.clone(),
    )
    .await;
    let mut publisher = server.publisher();
    publisher
        .publish_lead(lead("web-1", org(41)))
        .await
        .unwrap();
    publisher
        .publish_outcome(outcome(
            "web-2",
            "330106-SCJG",
            org(41),
            Some(("330100-STHJ", "web-1")),
        ))
        .await
        .unwrap();
    let mut elsewhere = lead("web-3", org(42));
    elsewhere.lead.as_mut().unwrap().division = "330102".into();
    publisher.publish_lead(elsewhere).await.unwrap();
    publisher
        .publish_lead(lead("web-4", org(43)))
        .await
        .unwrap();
    // A person's lead: the coordinator sees it masked, on the page and in the export.
    publisher
        .publish_lead(lead("web-7", person()))
        .await
        .unwrap();
    publisher
        .publish_outcome(outcome("web-5", "330106-SCJG", person(), None))
        .await
        .unwrap();
    ReferralsClient::new(server.channel.clone())
        .refer(crate::referrals::refer(
            "web-6",
            "r-web",
            "杭西市监案〔2026〕3号",
            now,
        ))
        .await
        .unwrap();
    crate::referrals::wait_for_state(&server, "r-web", xiezhi::proto::ReferralState::Reported)
        .await;
    // Past the agency's 3-day decision limit: the referral turns overdue. The limit is counted
    // in Beijing days and a period ending on a rest day or holiday runs on to the next working
    // day (up to a week after 国庆), so a fixed 5 days missed it when the test started on a
    // Wednesday morning in Beijing; 15 days is past it from any start.
    clock.advance(jiff::SignedDuration::from_hours(15 * 24));
    crate::referrals::wait_for_alert(&server, "330100-SFJ", xiezhi::proto::AlertKind::Overdue)
        .await;

    let stdout = run_script(
        &chromium,
        "console.mjs",
        &[
            (
                "BASE_URL",
                format!("http://{}", server.running().http_addr()),
            ),
            ("ORG_CITY", org(41).id),
            ("ORG_OTHER", org(42).name),
        ],
    )
    .await;
    assert!(stdout.contains("it is red"), "{stdout}");
    // The export the browser downloaded opens as a workbook, with the person masked.
    let export = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser/leads-export.xlsx");
    use calamine::Reader as _;
    let mut book: calamine::Xlsx<_> = calamine::open_workbook(&export).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: Vec<String> = sheet.rows().flatten().map(|c| c.to_string()).collect();
    assert_eq!(cells[..3], ["时间", "区划", "移交机关"], "{cells:?}");
    let person = person();
    assert!(
        cells.iter().any(|c| c.contains(&org(43).name)),
        "every lead is exported: {cells:?}"
    );
    assert!(
        !cells
            .iter()
            .any(|c| c.contains(&person.id) || c == &person.name),
        "the person is masked: {cells:?}"
    );
    assert!(cells.iter().any(|c| c.contains('*')), "{cells:?}");
    server.stop().await;
}

/// A browser holding an agency's client certificate opens the console on the gateway's TLS
/// listener and sees what that agency may see.
#[tokio::test]
async fn a_browser_with_an_agency_certificate_opens_the_console_over_tls() {
    let chromium = prerequisites();
    let server = TestServer::start_tls(LEVELS, |_| {}).await;
    let mut publisher = xiezhi::proto::publisher_client::PublisherClient::new(
        server.channel_as("330100-STHJ").await,
    );
    let mut here = lead("btls-1", org(61));
    here.producer.clear();
    publisher.publish_lead(here).await.unwrap();
    let mut there = lead("btls-2", org(62));
    there.producer.clear();
    there.lead.as_mut().unwrap().division = "330102".into();
    publisher.publish_lead(there).await.unwrap();
    server.wait_for_events(2).await;

    let certs = server.certs();
    run_script(
        &chromium,
        "tls.mjs",
        &[
            (
                "BASE_URL",
                format!("https://127.0.0.1:{}", server.running().grpc_addr().port()),
            ),
            ("CERT", certs.join("330106-SFJ.pem").display().to_string()),
            (
                "KEY",
                certs.join("330106-SFJ-key.pem").display().to_string(),
            ),
            ("ORG_HERE", org(61).name),
            ("ORG_THERE", org(62).name),
        ],
    )
    .await;
    server.stop().await;
}

/// The inspections page and the public verification page, with the demo's inspections; the
/// procedure page with two decisions.
#[tokio::test]
async fn the_inspection_pages_render_in_a_real_browser() {
    let chromium = prerequisites();
    let server = TestServer::start(Log::Embedded).await;
    xiezhi::sim::inspections::seed(server.channel.clone(), "web", server.running().registry())
        .await
        .expect("the demo's inspections are published");
    // Two penalty decisions for the procedure page: one clean, one without a notice.
    crate::procedure::certified(&server).await;
    crate::procedure::decide(&server, "web-o1", 51, Some(crate::procedure::clean())).await;
    let mut no_notice = crate::procedure::clean();
    no_notice.notified_on.clear();
    crate::procedure::decide(&server, "web-o2", 52, Some(no_notice)).await;
    crate::referrals::wait_for_alert(
        &server,
        "330100-SFJ",
        xiezhi::proto::AlertKind::ProcedureIrregular,
    )
    .await;
    run_script(
        &chromium,
        "inspections.mjs",
        &[(
            "BASE_URL",
            format!("http://{}", server.running().http_addr()),
        )],
    )
    .await;
    server.stop().await;
}

//! The console in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core (`tests/browser/console.mjs`) against a broker with data — the overview
//! renders, the leads board filters, a subject file shows two agencies, an overdue referral is
//! red, a district coordinator cannot see another district's leads, the public feed shows no
//! 身份证号. Screenshots go to `target/browser/`. Never skipped: without Chromium or Node the
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
fn prerequisites() -> PathBuf {
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
    if !browser_dir().join("node_modules/playwright-core").exists() {
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
    // Past the agency's 3-day decision limit: the referral turns overdue.
    clock.advance(jiff::SignedDuration::from_hours(5 * 24));
    crate::referrals::wait_for_alert(&server, "330100-SFJ", xiezhi::proto::AlertKind::Overdue)
        .await;

    let shots = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser");
    let base = format!("http://{}", server.running().http_addr());
    let script = browser_dir().join("console.mjs");
    let mut command = Command::new("node");
    command
        .arg(&script)
        .current_dir(browser_dir())
        .env("BASE_URL", &base)
        .env("CHROMIUM", &chromium)
        .env("SHOTS", &shots)
        .env("ORG_CITY", org(41).id)
        .env("ORG_OTHER", org(42).name);
    let out = crate::cli::run_async(command).await;
    let stdout = crate::cli::text(&out.stdout);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "the browser test failed (screenshot in {}):\n{stdout}\n{}",
        shots.display(),
        crate::cli::text(&out.stderr)
    );
    assert!(stdout.contains("it is red"), "{stdout}");
    server.stop().await;
}

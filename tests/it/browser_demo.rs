//! The console full of `xiezhi demo`'s month in a real browser (`tests/browser/demo.mjs`): the
//! demo binary runs with its simulated agencies, the test waits for its past month to be stored,
//! then every coordinator page must render in Chinese with its charts and pass axe-core; the
//! screenshots (`target/browser/demo-*.png`) are the README's.

use std::time::{Duration, Instant};

use crate::browser::{prerequisites, run_script};
use crate::process::{free_port, xiezhi};

/// Events the demo's month holds at least (about 940 are published before the live traffic).
const MONTH: f64 = 900.0;

#[tokio::test]
async fn the_demo_fills_every_console_page() {
    let chromium = prerequisites();
    let (grpc, http) = (free_port(), free_port());
    let demo = xiezhi()
        .args([
            "demo",
            "--duration",
            "120",
            "--rate",
            "4",
            "--grpc-addr",
            &format!("127.0.0.1:{grpc}"),
            "--http-addr",
            &format!("127.0.0.1:{http}"),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("the demo starts");
    let _demo = Killed(demo);
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], http).into();
    let started = Instant::now();
    loop {
        let (status, metrics) = try_get(addr, "/metrics").await;
        let applied: f64 = metrics
            .lines()
            .filter(|l| l.starts_with("xiezhi_events_applied_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if status == 200 && applied >= MONTH {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(100),
            "the demo stored {applied} events in 100 s, fewer than its month ({MONTH})"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The live agencies refer the cases their alerts flag: wait for the pipeline's first card.
    let started = Instant::now();
    while !try_get(addr, "/referrals?as=330100-SFJ")
        .await
        .1
        .contains("class=\"card\"")
    {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no referral in the demo's first 90 s"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let stdout = run_script(
        &chromium,
        "demo.mjs",
        &[("BASE_URL", format!("http://{addr}"))],
    )
    .await;
    for page in ["overview", "stats", "referrals", "inspections", "procedure"] {
        assert!(
            stdout.contains(&format!("ok  {page}: axe-core")),
            "{stdout}"
        );
    }
}

/// The demo process, killed when the test ends (also when it fails).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET that answers `(0, "")` while the demo is not listening yet.
async fn try_get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    match tokio::net::TcpStream::connect(addr).await {
        Ok(_) => crate::console::get(addr, path).await,
        Err(_) => (0, String::new()),
    }
}

//! `xiezhi bench --console`: after the load phases, with the store holding every event they
//! published, each console page is fetched repeatedly as a city coordinator, a county
//! coordinator and the operator (development mode's `?as=`), and its latency reported as p50 and
//! p95 against the console's target (≤ 200 ms p95; issue 17). The router is first let catch up,
//! so the pages read the whole store.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::BenchError;
use super::report::Figure;
use crate::sim::load::quantile_ms;

/// Requests per page and viewer.
const ROUNDS: usize = 40;
/// The console's target.
const TARGET_MS: f64 = 200.0;
/// How long the router may take to apply what the load published.
const CATCH_UP: Duration = Duration::from_secs(600);

/// The pages, with the parameters a coordinator would use.
const PAGES: [&str; 10] = [
    "/",
    "/stats",
    "/leads",
    "/leads?status=open&sort=0&desc=1",
    "/referrals",
    "/alerts",
    "/penalties?offence=CL-141",
    "/inspections",
    "/procedure",
    "/leads?format=xlsx",
];

/// One GET: the status and the whole answer (head and body).
pub(super) async fn get(addr: SocketAddr, path: &str) -> Result<(u16, Vec<u8>), BenchError> {
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(BenchError::io("connect to the console"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .map_err(BenchError::io("send a console request"))?;
    let mut raw = Vec::new();
    stream
        .read_to_end(&mut raw)
        .await
        .map_err(BenchError::io("read a console answer"))?;
    let status = raw
        .get(9..12)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, raw))
}

/// Waits until `/metrics` shows no router lag.
async fn caught_up(addr: SocketAddr) -> Result<(), BenchError> {
    let started = Instant::now();
    loop {
        let (_, raw) = get(addr, "/metrics").await?;
        let text = String::from_utf8_lossy(&raw);
        let lag: f64 = text
            .lines()
            .filter(|l| l.starts_with("xiezhi_router_lag_records{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if lag == 0.0 && text.contains("xiezhi_router_lag_records") {
            return Ok(());
        }
        if started.elapsed() > CATCH_UP {
            return Err(BenchError::Server(format!(
                "the router did not catch up within {CATCH_UP:?} ({lag} records behind)"
            )));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Each page's p95 as `viewer` (empty: the operator), against the target; the p50 in the note.
pub(super) async fn measure(http: SocketAddr, viewers: &[&str]) -> Result<Vec<Figure>, BenchError> {
    caught_up(http).await?;
    let mut figures = Vec::new();
    for viewer in viewers {
        for page in PAGES {
            let path = match (*viewer, page.contains('?')) {
                ("", _) => page.to_owned(),
                (v, true) => format!("{page}&as={v}"),
                (v, false) => format!("{page}?as={v}"),
            };
            let mut took: Vec<u32> = Vec::with_capacity(ROUNDS);
            let mut bytes = 0;
            for _ in 0..ROUNDS {
                let started = Instant::now();
                let (status, raw) = get(http, &path).await?;
                took.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
                if status != 200 {
                    return Err(BenchError::Server(format!("GET {path} answered {status}")));
                }
                bytes = raw.len();
            }
            took.sort_unstable();
            let who = if viewer.is_empty() {
                "operator"
            } else {
                viewer
            };
            let mut figure = Figure::plain(
                format!("console {page} as {who} (p95)"),
                quantile_ms(&took, 0.95),
                "ms",
            )
            .at_most(TARGET_MS);
            figure.note = Some(format!(
                "p50 {:.1} ms over {ROUNDS} requests; {} KiB",
                quantile_ms(&took, 0.5).unwrap_or(0.0),
                bytes / 1024
            ));
            figures.push(figure);
        }
    }
    Ok(figures)
}

//! 扫码入企: the public page an enterprise reaches by scanning an inspection's code
//! (`/verify/<code>`, no login). It shows that the inspection is registered — agency, items,
//! window, the inspectors' certificate numbers with names masked — or says plainly that the
//! code is unknown or the inspection was called off. From it the enterprise may complain: the
//! complaint is published on the log as a lead (投诉举报) from the coordinator of the
//! enterprise's division to itself, under NO_ONWARD_SHARING (it never reaches the agency
//! complained about), and arrives in that coordinator's inbox. Complaints are limited per
//! address ([`ComplaintLimiter`]).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{Extensions, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use super::Console;
use crate::access::mask_name;
use crate::bus::OutgoingRecord;
use crate::codec::log::EnvelopeBytes;
use crate::domain::inspection::checks;
use crate::domain::inspection::{InspectionEntry, PlanState};
use crate::domain::{
    AgencyKind, Domain, Envelope, EventId, Handling, Lead, OffenceCode, Payload, SCHEMA_VERSION,
    Sensitivity,
};
use maud::Markup;

/// Complaints one address may file per hour.
pub const COMPLAINTS_PER_HOUR: usize = 5;
/// Longest complaint, in characters.
const COMPLAINT_CHARS: usize = 2_000;
/// The offence code complaints carry: not an offence, a complaint about an inspection.
pub const COMPLAINT_CODE: &str = "INSPECTION-COMPLAINT";

/// Complaints per address in the last hour.
#[derive(Debug, Default)]
pub struct ComplaintLimiter {
    recent: Mutex<HashMap<Option<IpAddr>, VecDeque<Instant>>>,
}

impl ComplaintLimiter {
    /// Takes one complaint for `address`, or says no.
    fn take(&self, address: Option<IpAddr>) -> bool {
        let now = Instant::now();
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let times = recent.entry(address).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(3600))
        {
            times.pop_front();
        }
        if times.len() >= COMPLAINTS_PER_HOUR {
            return false;
        }
        times.push_back(now);
        true
    }
}

/// The QR image (SVG) of a verification page's address.
pub fn qr_svg(url: &str) -> String {
    match qrcode::QrCode::new(url.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(160, 160)
            .build(),
        Err(_) => String::new(),
    }
}

/// Whether `code` has the form the broker gives codes (20 characters of its alphabet).
fn well_formed(code: &str) -> bool {
    code.len() == 20
        && code
            .bytes()
            .all(|b| b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ".contains(&b))
}

/// A verification page: the console's stylesheet, no navigation (the public sees this page).
fn html(status: StatusCode, title: &str, body: Markup) -> Response {
    let page = super::frame::public(title, body, true);
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        page,
    )
        .into_response()
}

/// A registered plan and its inspectors' certificates by number (`None`: never published).
struct Found {
    entry: InspectionEntry,
    certificates: HashMap<String, Option<crate::domain::inspection::CertificateEntry>>,
}

/// The plan behind `code` and what the store knows of its inspectors' certificates, read on
/// the blocking pool.
async fn lookup(console: &Console, code: &str) -> Result<Option<Found>, Response> {
    let Some(store) = console.store.clone() else {
        return Err((StatusCode::NOT_FOUND, "this process has no store\n").into_response());
    };
    if !well_formed(code) {
        return Ok(None);
    }
    let code = code.to_owned();
    let read = move || -> Result<Option<Found>, crate::store::StoreError> {
        let Some(entry) = store.inspection_by_code(&code)? else {
            return Ok(None);
        };
        let mut certificates = HashMap::new();
        for number in entry.records.iter().flat_map(|r| &r.record.inspectors) {
            certificates.insert(number.to_string(), store.certificate(number.as_str())?);
        }
        Ok(Some(Found {
            entry,
            certificates,
        }))
    };
    match tokio::task::spawn_blocking(read).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(err)) => {
            tracing::error!(error = %crate::telemetry::chain(&err), "verify page failed");
            Err((StatusCode::INTERNAL_SERVER_ERROR, "the store failed\n").into_response())
        }
        Err(_) => Err((StatusCode::INTERNAL_SERVER_ERROR, "page task failed\n").into_response()),
    }
}

fn unknown() -> Response {
    html(
        StatusCode::NOT_FOUND,
        "未查到此检查",
        maud::html! {
            p.overdue { "此检查码未在涉企行政检查平台登记。未经登记的现场检查，企业可以拒绝并投诉举报。" }
            p lang="en" { "This code is not registered: no inspection with this code exists." }
        },
    )
}

/// A certificate problem in the enterprise's words.
fn problem_zh(why: &str) -> &'static str {
    match why {
        "unknown" => "未登记",
        "revoked" => "已吊销或注销",
        "expired" => "已过有效期",
        "not yet valid" => "尚未生效",
        _ => "非本机关证件",
    }
}

/// `GET /verify/<code>`.
pub(super) async fn page(State(console): State<Console>, Path(code): Path<String>) -> Response {
    let Found {
        entry,
        certificates,
    } = match lookup(&console, &code).await {
        Ok(Some(found)) => found,
        Ok(None) => return unknown(),
        Err(response) => return response,
    };
    let registry = &console.policy.registry;
    let agency = registry
        .get(&entry.agency)
        .map_or(entry.agency.to_string(), |a| a.name.clone());
    let items: Vec<(String, String)> = entry
        .plan
        .items
        .iter()
        .map(|code| {
            let name = console
                .policy
                .inspections
                .item(&entry.agency, code, entry.plan.window_start)
                .map_or(String::new(), |i| {
                    format!(" {}（依据：{}）", i.name, i.basis)
                });
            (code.clone(), name)
        })
        .collect();
    // Each inspector's certificate as it stood on the day: the holder's name masked, and a
    // certificate that did not let its holder inspect for this agency said so.
    let inspectors: Vec<String> = entry
        .records
        .iter()
        .flat_map(|r| r.record.inspectors.iter().map(move |n| (n, r.record.date)))
        .map(|(number, day)| {
            let known = certificates.get(number.as_str()).cloned().flatten();
            let problem = checks::certificate_problem(known.as_ref(), &entry.agency, day);
            let holder = known.map_or(String::new(), |c| mask_name(&c.certificate.holder.name));
            match problem {
                None => format!("{number}（{holder}）"),
                Some(why) => format!(
                    "{number}（{holder}{}证件无效：{}）",
                    if holder.is_empty() { "" } else { "，" },
                    problem_zh(why)
                ),
            }
        })
        .collect();
    let state = match entry.state {
        PlanState::Planned => "已登记，待实施",
        PlanState::Done => "已实施",
        PlanState::Cancelled => {
            "已取消：此检查不再实施。若仍有人员以此码入企检查，可以拒绝并投诉。"
        }
    };
    let cancelled = entry.state == PlanState::Cancelled;
    let body = maud::html! {
        p.overdue[cancelled] { "状态：" (state) }
        table {
            tr { th { "检查机关" } td { (agency) "（" (entry.agency.as_str()) "）" } }
            tr { th { "被检查企业" } td { (entry.plan.enterprise.name) } }
            tr { th { "检查期间" } td { (entry.plan.window_start) " 至 " (entry.plan.window_end) } }
            tr { th { "方式" } td { @if entry.plan.remote { "非现场检查" } @else { "现场检查" } } }
            tr { th { "检查事项" } td { ul { @for (code, name) in &items { li { (code) (name) } } } } }
            tr { th { "执法证号" } td {
                @if inspectors.is_empty() { "（实施后登记）" } @else { (inspectors.join("、")) }
            } }
        }
        p { "检查人员应当出示执法证件，且不少于两人。对本次检查有异议的，可以在此投诉，投诉直接送达本地司法行政（行政执法协调监督）机关。" }
        form method="post" action=(format!("/verify/{code}/complaint")) {
            label for="text" { "投诉内容" } br;
            textarea #text name="text" rows="5" cols="40" maxlength=(COMPLAINT_CHARS) required {} br;
            button type="submit" { "投诉" }
        }
    };
    html(StatusCode::OK, "涉企行政检查登记核验", body)
}

/// `GET /verify/<code>/qr.svg`: the code's page address as a QR image, for the agency to print:
/// `server.public_url`, or the address this request came to, then `/verify/<code>`.
pub(super) async fn qr(
    State(console): State<Console>,
    Path(code): Path<String>,
    headers: axum::http::HeaderMap,
) -> Response {
    if !well_formed(&code) {
        return (StatusCode::NOT_FOUND, "unknown code\n").into_response();
    }
    let base = if console.public_url.is_empty() {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .unwrap_or("localhost");
        format!("http://{host}")
    } else {
        console.public_url.to_string()
    };
    (
        [(header::CONTENT_TYPE, "image/svg+xml")],
        qr_svg(&format!("{base}/verify/{code}")),
    )
        .into_response()
}

/// The complaint form.
#[derive(serde::Deserialize)]
pub(super) struct ComplaintForm {
    text: String,
}

/// `POST /verify/<code>/complaint`.
pub(super) async fn complaint(
    State(console): State<Console>,
    Path(code): Path<String>,
    extensions: Extensions,
    axum::Form(form): axum::Form<ComplaintForm>,
) -> Response {
    let text = form.text.trim();
    if text.is_empty() || text.chars().count() > COMPLAINT_CHARS {
        return html(
            StatusCode::BAD_REQUEST,
            "投诉未提交",
            maud::html! { p.overdue { "text: 请填写投诉内容（1–" (COMPLAINT_CHARS) " 字）。" } },
        );
    }
    let entry = match lookup(&console, &code).await {
        Ok(Some(found)) => found.entry,
        Ok(None) => return unknown(),
        Err(response) => return response,
    };
    let address = extensions
        .get::<ConnectInfo<super::Peer>>()
        .map(|info| info.0.0.ip());
    if !console.complaints.take(address) {
        return html(
            StatusCode::TOO_MANY_REQUESTS,
            "投诉过于频繁",
            maud::html! { p.overdue { "同一地址每小时最多提交 " (COMPLAINTS_PER_HOUR) " 次投诉，请稍后再试。" } },
        );
    }
    match publish(&console, &entry, &code, text).await {
        Ok(event_id) => html(
            StatusCode::OK,
            "投诉已提交",
            maud::html! { p { "投诉已送达本地司法行政机关，编号 " (event_id) "。" } },
        ),
        Err(why) => {
            tracing::error!(reason = %why, "complaint not published");
            html(
                StatusCode::SERVICE_UNAVAILABLE,
                "投诉未提交",
                maud::html! { p.overdue { (why) } },
            )
        }
    }
}

/// Publishes the complaint as a lead from the nearest coordinator to itself; answers with the
/// event id once it is durable on the log.
async fn publish(
    console: &Console,
    entry: &InspectionEntry,
    code: &str,
    text: &str,
) -> Result<String, String> {
    let registry = &console.policy.registry;
    let Some(coordinator) = registry
        .nearest_of_kind(&entry.plan.division, AgencyKind::Coordinator)
        .first()
        .map(|a| a.id.clone())
    else {
        return Err(
            "本地区未登记行政执法协调监督机关，投诉无法送达 (no coordinator covers the division)"
                .into(),
        );
    };
    let now = console.clock.now();
    let digest = Sha256::digest(format!("{code}\n{}\n{text}", now.as_nanosecond()));
    let event_id = format!("complaint-{}", &hex::encode(digest)[..20]);
    let domain = registry
        .get(&entry.agency)
        .and_then(|a| a.domains.first().copied())
        .unwrap_or(Domain::MarketRegulation);
    let envelope = Envelope {
        event_id: EventId::parse(&event_id).map_err(|e| e.to_string())?,
        producer: coordinator.clone(),
        produced_at: now,
        schema_version: SCHEMA_VERSION,
        handling: Handling::NoOnwardSharing,
        warnings: Vec::new(),
        payload: Payload::Lead(Lead {
            subject: entry.plan.enterprise.clone(),
            division: entry.plan.division.clone(),
            domain,
            offence_code: OffenceCode::parse(COMPLAINT_CODE).map_err(|e| e.to_string())?,
            summary: format!(
                "扫码入企投诉：对 {} 的检查 {}（检查码 {code}）：{text}",
                entry.agency, entry.plan.plan_id
            ),
            facts: Default::default(),
            observed_at: None,
            sensitivity: Sensitivity::Internal,
            target_agencies: vec![coordinator],
        }),
    };
    let bytes = EnvelopeBytes::encode(&envelope);
    let record = OutgoingRecord {
        key: envelope.log_key(),
        timestamp: now,
        idempotency_key: envelope.key().to_bytes(),
        content_hash: bytes.content_hash,
        payload: crate::codec::log::encode(&bytes, now),
        traceparent: None,
    };
    console.bus.append(record).await.map_err(|e| {
        format!(
            "the log did not take the complaint: {}",
            crate::telemetry::chain(&e)
        )
    })?;
    Ok(event_id)
}

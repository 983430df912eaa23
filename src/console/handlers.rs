//! The console pages' handlers: who the viewer is ([`Viewer`]), then the page built on the
//! blocking pool (store reads), or the refusal as a status with a message.

use axum::extract::{FromRequestParts, Query, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};

use super::table::{Output, TableQuery};
use super::{Console, boards, inspections, live, overview, pages, procedure, referral_file, stats};
use crate::access::{Shown, unaudited};
use crate::domain::Agency;
use crate::store::Store;

/// `?as=` (development mode).
#[derive(serde::Deserialize)]
struct AsQuery {
    #[serde(rename = "as")]
    viewer: Option<String>,
}

/// The viewer of a page: the agency its TLS client certificate names (on the gateway's TLS
/// listener), or in development mode the agency named by `?as=` (none: the operator).
pub(super) struct Viewer(Option<Agency>);

fn refusal(refusal: pages::Refusal) -> Response {
    match refusal {
        pages::Refusal::BadRequest(why) => (StatusCode::BAD_REQUEST, why).into_response(),
        pages::Refusal::Forbidden(why) => (StatusCode::FORBIDDEN, why).into_response(),
        pages::Refusal::Store(err) => {
            tracing::error!(error = %crate::telemetry::chain(&err), "console page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "the store failed\n").into_response()
        }
    }
}

/// The agency a client certificate names, by the gateway's own check; `?as=` may not name
/// another.
fn certified(console: &Console, der: &[u8], named: Option<&str>) -> Result<Agency, pages::Refusal> {
    let id = crate::access::certified_agency(der, &console.revoked, &console.policy.registry)
        .map_err(|refusal| pages::Refusal::Forbidden(refusal.to_string()))?;
    // certified_agency checked that the registry holds it.
    let agency = console
        .policy
        .registry
        .get(&id)
        .cloned()
        .ok_or_else(|| pages::Refusal::Forbidden(format!("{id} is not a registered agency")))?;
    match named.filter(|n| !n.is_empty()) {
        Some(other) if other != agency.id.as_str() => Err(pages::Refusal::Forbidden(format!(
            "{} may not view as {other}",
            agency.id
        ))),
        _ => Ok(agency),
    }
}

impl FromRequestParts<Console> for Viewer {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, console: &Console) -> Result<Self, Response> {
        let named = Query::<AsQuery>::try_from_uri(&parts.uri)
            .ok()
            .and_then(|q| q.0.viewer);
        let certificate = parts
            .extensions
            .get::<TlsConnectInfo<TcpConnectInfo>>()
            .and_then(|info| info.peer_certs())
            .and_then(|certs| certs.first().map(|c| c.as_ref().to_vec()));
        let viewer = match certificate {
            Some(der) => certified(console, &der, named.as_deref()).map(Some),
            None => pages::viewer(
                &console.policy.registry,
                console.insecure_dev,
                named.as_deref(),
            ),
        };
        viewer.map(Viewer).map_err(refusal)
    }
}

/// Builds a page on the blocking pool and answers with it or the refusal. The full reads of
/// personal data the page collected in `shown` are on the audit chain, durably, before it is
/// sent (as for the gRPC reads); if they cannot be, the page is not sent (503).
async fn render(
    console: Console,
    viewer: Viewer,
    page: &'static str,
    build: impl FnOnce(&Store, Option<&Agency>, &mut Shown) -> Result<String, pages::Refusal>
    + Send
    + 'static,
) -> Response {
    render_output(console, viewer, page, move |store, viewer, shown| {
        build(store, viewer, shown).map(Output::Html)
    })
    .await
}

/// [`render`] for boards that may answer with an export: an XLSX or CSV file is audited as the
/// page is (each person shown in full is a read), under its own name.
async fn render_output(
    console: Console,
    viewer: Viewer,
    page: &'static str,
    build: impl FnOnce(&Store, Option<&Agency>, &mut Shown) -> Result<Output, pages::Refusal>
    + Send
    + 'static,
) -> Response {
    let Some(store) = console.store.clone() else {
        return (StatusCode::NOT_FOUND, "this process has no store\n").into_response();
    };
    let built = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let viewer = viewer.0.as_ref();
            let mut shown = Shown::new(viewer, page);
            build(&store, viewer, &mut shown).map(|out| (out, shown))
        })
        .await
    };
    let (output, shown) = match built {
        Ok(Ok(built)) => built,
        Ok(Err(refused)) => return refusal(refused),
        Err(_) => {
            return (StatusCode::INTERNAL_SERVER_ERROR, "page task failed\n").into_response();
        }
    };
    let reads = match &output {
        Output::Html(_) => shown.into_records(),
        Output::File { .. } => shown.export().into_records(),
    };
    match store.audit_durably(reads, console.clock.now()).await {
        Ok(entries) => {
            if !entries.is_empty() {
                tokio::spawn(async move { console.bus.archive(&entries).await });
            }
            match output {
                Output::Html(html) => {
                    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response()
                }
                Output::File { name, mime, body } => (
                    [
                        (header::CONTENT_TYPE, mime.to_owned()),
                        (header::CONTENT_DISPOSITION, attachment(&name)),
                    ],
                    body,
                )
                    .into_response(),
            }
        }
        Err(err) => (StatusCode::SERVICE_UNAVAILABLE, unaudited(&err)).into_response(),
    }
}

/// `Content-Disposition` for a download: an ASCII fallback and the UTF-8 name (RFC 6266).
fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b".-_".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// `/subject` options.
#[derive(serde::Deserialize)]
pub(super) struct SubjectQuery {
    /// 统一社会信用代码 or 身份证号.
    id: String,
}

/// 一企一档.
pub(super) async fn subject_file(
    State(console): State<Console>,
    viewer: Viewer,
    Query(query): Query<SubjectQuery>,
) -> Response {
    let policy = console.policy.clone();
    render(
        console,
        viewer,
        "console subject",
        move |store, viewer, shown| {
            pages::subject_file(store, &policy.registry, viewer, &query.id, shown)
        },
    )
    .await
}

/// The leads board (or its export).
pub(super) async fn leads_board(
    State(console): State<Console>,
    viewer: Viewer,
    Query(query): Query<pages::BoardQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let table = TableQuery::parse(raw.as_deref());
    let policy = console.policy.clone();
    render_output(
        console,
        viewer,
        "console leads",
        move |store, viewer, shown| {
            pages::leads_board(store, viewer, &policy.registry, &query, &table, shown)
        },
    )
    .await
}

/// 统计分析 (or one of its tables exported).
pub(super) async fn statistics(
    State(console): State<Console>,
    viewer: Viewer,
    Query(query): Query<stats::StatsQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let table = TableQuery::parse(raw.as_deref());
    let policy = console.policy.clone();
    let now = console.clock.now();
    render_output(console, viewer, "console stats", move |store, viewer, _| {
        stats::page(store, &policy.registry, viewer, &query, &table, now)
    })
    .await
}

/// The overview.
pub(super) async fn overview(State(console): State<Console>, viewer: Viewer) -> Response {
    let now = console.clock.now();
    let policy = console.policy.clone();
    // The overview, pipeline, alerts and penalties show no person in full.
    render(
        console,
        viewer,
        "console overview",
        move |store, viewer, _| overview::overview(store, &policy.registry, viewer, now),
    )
    .await
}

/// The referral pipeline (or its export).
pub(super) async fn referral_pipeline(
    State(console): State<Console>,
    viewer: Viewer,
    Query(query): Query<boards::ReferralQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let table = TableQuery::parse(raw.as_deref());
    let now = console.clock.now();
    let policy = console.policy.clone();
    render_output(
        console,
        viewer,
        "console referrals",
        move |store, viewer, _| {
            boards::referrals(store, &policy.registry, viewer, &query, &table, now)
        },
    )
    .await
}

/// `/referrals/file` options.
#[derive(serde::Deserialize)]
pub(super) struct FileQuery {
    /// `<agency>/<id>`.
    key: String,
}

/// 移送案件材料: one referral, printable.
pub(super) async fn referral_file(
    State(console): State<Console>,
    viewer: Viewer,
    Query(query): Query<FileQuery>,
) -> Response {
    let now = console.clock.now();
    let policy = console.policy.clone();
    render(
        console,
        viewer,
        "console referral file",
        move |store, viewer, shown| {
            referral_file::page(store, &policy.registry, viewer, &query.key, now, shown)
        },
    )
    .await
}

/// The alerts (or their export).
pub(super) async fn alert_list(
    State(console): State<Console>,
    viewer: Viewer,
    Query(query): Query<boards::AlertQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let table = TableQuery::parse(raw.as_deref());
    render_output(
        console,
        viewer,
        "console alerts",
        move |store, viewer, _| boards::alerts(store, viewer, &query, &table),
    )
    .await
}

/// 涉企行政检查: caps, agencies, joint inspections, alerts, verification codes.
pub(super) async fn inspections(State(console): State<Console>, viewer: Viewer) -> Response {
    let policy = console.policy.clone();
    let now = console.clock.now();
    render(
        console,
        viewer,
        "console inspections",
        move |store, viewer, _| inspections::page_html(store, &policy, viewer, now),
    )
    .await
}

/// 执法监督: 案卷评查 scores, the 罚没指标 signal, procedure alerts.
pub(super) async fn procedure(
    State(console): State<Console>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> Response {
    let table = TableQuery::parse(raw.as_deref());
    let policy = console.policy.clone();
    let now = console.clock.now();
    render_output(
        console,
        viewer,
        "console procedure",
        move |store, viewer, _| procedure::page_html(store, &policy, viewer, &table, now),
    )
    .await
}

/// `/penalties` options.
#[derive(serde::Deserialize)]
pub(super) struct PenaltyQuery {
    /// The offence code.
    offence: Option<String>,
}

/// The penalty consistency report (or its export).
pub(super) async fn penalty_report(
    State(console): State<Console>,
    viewer: Viewer,
    Query(query): Query<PenaltyQuery>,
    RawQuery(raw): RawQuery,
) -> Response {
    let table = TableQuery::parse(raw.as_deref());
    let policy = console.policy.clone();
    render_output(
        console,
        viewer,
        "console penalties",
        move |store, viewer, _| {
            boards::penalties(
                store,
                &policy.registry,
                viewer,
                query.offence.as_deref(),
                &table,
            )
        },
    )
    .await
}

/// Server-sent alerts for the viewer.
pub(super) async fn live_alerts(State(console): State<Console>, viewer: Viewer) -> Response {
    let Some(store) = console.store.clone() else {
        return (StatusCode::NOT_FOUND, "this process has no store\n").into_response();
    };
    live::stream(store, viewer.0, console.shutdown.clone())
}

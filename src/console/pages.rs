//! Console pages rendered on the server: the subject file (一企一档) and the leads board, each
//! filtered and masked for the viewer by the same rules as the gRPC reads
//! ([`crate::access`]).
//!
//! Who views: on the gateway's TLS listener, the agency its client certificate names (see
//! `handlers.rs`); in development mode (`--insecure-dev`) the agency named by `?as=` (no `as`:
//! the operator, who sees all). The plain HTTP listener serves no pages otherwise.

use crate::access::{Access, Shown, event_access, mask_name, mask_resident_id, may_survey};
use crate::domain::StoredEvent;
use crate::domain::calendar::CHINA;
use crate::domain::money::yuan;
use crate::domain::{
    Agency, AgencyId, LeadStatus, Payload, Registry, ResidentId, SubjectId, SubjectKey, Uscc,
};
use crate::store::{LeadFilter, Store, StoreError};

use super::table::{Cell, Output, Table, TableQuery};
use maud::html;

/// A page the viewer may not have, or asked for wrongly.
#[derive(Debug)]
pub enum Refusal {
    /// 400: the request names something that is not there or not valid.
    BadRequest(String),
    /// 403: not for this viewer.
    Forbidden(String),
    /// 500: the store failed.
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(err: StoreError) -> Self {
        Refusal::Store(err)
    }
}

/// The viewer named by `as`, in development mode.
pub fn viewer(
    registry: &Registry,
    insecure_dev: bool,
    named: Option<&str>,
) -> Result<Option<Agency>, Refusal> {
    if !insecure_dev {
        return Err(Refusal::Forbidden(
            "the console pages need the viewer's client certificate: open them on the gateway's \
             TLS address (https://<server.grpc_addr>/) with your agency certificate"
                .into(),
        ));
    }
    let Some(named) = named.filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    AgencyId::parse(named)
        .ok()
        .and_then(|id| registry.get(&id).cloned())
        .map(Some)
        .ok_or_else(|| Refusal::BadRequest(format!("as: {named} is not a registered agency")))
}

fn cst(t: jiff::Timestamp) -> String {
    CHINA.to_datetime(t).strftime("%Y-%m-%d %H:%M").to_string()
}

/// The party of an event as this viewer may see it: (name, id).
fn party(event: &StoredEvent, masked: bool) -> (String, String) {
    match event.envelope.subject() {
        Some(subject) => match &subject.id {
            SubjectId::Organization(code) => (subject.name.clone(), code.to_string()),
            SubjectId::Person(id) if masked => {
                (mask_name(&subject.name), mask_resident_id(id.as_str()))
            }
            SubjectId::Person(id) => (subject.name.clone(), id.as_str().to_owned()),
        },
        None => (String::new(), String::new()),
    }
}

/// What an event says, in a few words.
fn what(event: &StoredEvent) -> (String, String) {
    match &event.envelope.payload {
        Payload::Lead(lead) => (
            "线索".into(),
            format!(
                "{} {} {}",
                lead.domain.label(),
                lead.offence_code,
                lead.summary
            ),
        ),
        Payload::CaseOutcome(outcome) => (
            "处理结果".into(),
            format!(
                "{} {} 罚款 {} 元",
                outcome.case_number,
                outcome.offence_code,
                yuan(outcome.fine_fen)
            ),
        ),
        Payload::Referral(referral) => ("移送".into(), referral.case_number.clone()),
        Payload::ReferralUpdate(update) => (
            "移送进展".into(),
            super::labels::action(update.action).to_owned(),
        ),
        Payload::Certificate(c) => ("执法证".into(), format!("{} {}", c.number, c.agency)),
        Payload::InspectionPlan(p) => (
            "检查计划".into(),
            format!("{} {}–{}", p.items.join("、"), p.window_start, p.window_end),
        ),
        Payload::InspectionRecord(r) => ("检查记录".into(), format!("{} {}", r.plan_id, r.date)),
        Payload::InspectionCancel(c) => ("检查取消".into(), format!("{} {}", c.plan_id, c.reason)),
        Payload::JointAnswer(a) => (
            "联合检查答复".into(),
            format!("{} {}", a.plan_id, if a.accept { "参加" } else { "不参加" }),
        ),
    }
}

/// The key of a 统一社会信用代码 or 身份证号.
fn subject_key(id: &str) -> Result<SubjectKey, Refusal> {
    if let Ok(code) = Uscc::parse(id) {
        return Ok(SubjectKey::organization(&code));
    }
    ResidentId::parse(id)
        .map(|person| SubjectKey::person(&person))
        .map_err(|_| {
            Refusal::BadRequest(format!(
                "id: {id} is neither a valid 统一社会信用代码 nor a valid 身份证号"
            ))
        })
}

/// 一企一档: everything about one subject the viewer may see, in log order.
pub(crate) fn subject_file(
    store: &Store,
    registry: &Registry,
    viewer: Option<&Agency>,
    id: &str,
    audit: &mut Shown,
) -> Result<String, Refusal> {
    let key = subject_key(id.trim())?;
    let events = store.timeline(&key, None, 1_000)?.items;
    let mut rows = Vec::new();
    let mut name = String::new();
    for event in &events {
        let masked = match event_access(viewer, event) {
            Access::Denied => continue,
            Access::Masked => true,
            Access::Full => false,
        };
        audit.event(event, masked);
        name = party(event, masked).0;
        let (kind, text) = what(event);
        let agency = super::labels::agency_name(registry, &event.envelope.producer);
        rows.push((cst(event.envelope.produced_at), agency, kind, text));
    }
    let alerts = subject_alerts(store, viewer, &key)?;
    let body = html! {
        @if rows.is_empty() {
            p { "没有可显示的记录（或不在您的辖区内）。" }
        } @else {
            p { "当事人：" (name) }
            div.tablewrap tabindex="0" { table {
                thead { tr { th { "时间" } th { "机关" } th { "类别" } th { "内容" } } }
                tbody { @for (at, agency, kind, text) in &rows {
                    tr { td { (at) } td { (agency) } td { (kind) } td { (text) } }
                } }
            } }
            p.muted { (rows.len()) " 条" }
            @if !alerts.is_empty() {
                h2 { "预警" }
                div.tablewrap tabindex="0" { table {
                    thead { tr { th { "时间" } th { "类别" } th { "规则" } th { "依据" } } }
                    tbody { @for a in &alerts {
                        tr { td { (cst(a.raised_at)) } td { (super::labels::alert_kind(a.kind)) } td { (a.title) } td { (a.citation) } }
                    } }
                } }
            }
        }
    };
    Ok(super::frame::frame("一企一档 · 当事人档案", body, viewer))
}

/// The alerts about a subject the viewer may see — as a party to them, or as a coordinator or
/// procuratorate of their division.
fn subject_alerts(
    store: &Store,
    viewer: Option<&Agency>,
    key: &SubjectKey,
) -> Result<Vec<crate::domain::Alert>, Refusal> {
    Ok(store
        .latest_alerts("", 10_000)?
        .into_iter()
        .filter(|a| a.subject.as_ref().is_some_and(|s| &s.key() == key))
        .filter(|a| match viewer {
            None => true,
            Some(v) => {
                a.parties.contains(&v.id)
                    || a.division.as_ref().is_some_and(|d| {
                        v.division.covers(d) && may_survey(v, v.division.jurisdiction_prefix())
                    })
            }
        })
        .collect())
}

/// Which leads the board shows.
#[derive(Debug, Default, serde::Deserialize)]
pub struct BoardQuery {
    /// Division code prefix (default: the viewer's jurisdiction).
    pub division: Option<String>,
    /// `open`, `unassigned` or `closed`.
    pub status: Option<String>,
    /// A domain, by its snake-case name (`food_drug`, `tax`, …).
    pub domain: Option<String>,
    /// Only leads this agency published.
    pub agency: Option<String>,
    /// Published on or after this day (China time, `YYYY-MM-DD`).
    pub from: Option<String>,
    /// Published before this day (China time, `YYYY-MM-DD`).
    pub to: Option<String>,
    /// The viewer (development mode).
    #[serde(rename = "as")]
    pub viewer: Option<String>,
}

/// Most rows a board reads for one page or export.
pub(super) const BOARD_ROWS: usize = 5_000;

/// The leads board: leads in the viewer's jurisdiction, newest division order, with where each
/// stands; each row links to the subject's file.
pub(super) fn leads_board(
    store: &Store,
    viewer: Option<&Agency>,
    registry: &Registry,
    query: &BoardQuery,
    table_query: &TableQuery,
    audit: &mut Shown,
) -> Result<Output, Refusal> {
    let own = viewer.map(|v| v.division.jurisdiction_prefix().to_owned());
    let prefix = query
        .division
        .clone()
        .filter(|d| !d.is_empty())
        .or_else(|| own.clone())
        .unwrap_or_default();
    if let Some(viewer) = viewer
        && !may_survey(viewer, &prefix)
    {
        return Err(Refusal::Forbidden(format!(
            "{} may not list leads of division {prefix}",
            viewer.id
        )));
    }
    let status = match query.status.as_deref() {
        None | Some("") => None,
        Some("open") => Some(LeadStatus::Open),
        Some("unassigned") => Some(LeadStatus::Unassigned),
        Some("closed") => Some(LeadStatus::Closed),
        Some(other) => {
            return Err(Refusal::BadRequest(format!(
                "status: {other} is not open, unassigned or closed"
            )));
        }
    };
    let domain = match query.domain.as_deref().filter(|d| !d.is_empty()) {
        None => None,
        Some(name) => Some(
            serde_json::from_value::<crate::domain::Domain>(serde_json::json!(name)).map_err(
                |_| Refusal::BadRequest(format!("domain: {name} is not a domain (e.g. food_drug)")),
            )?,
        ),
    };
    let day = |field: &str, raw: Option<&str>| -> Result<Option<jiff::Timestamp>, Refusal> {
        match raw.filter(|d| !d.is_empty()) {
            None => Ok(None),
            Some(text) => text
                .parse::<jiff::civil::Date>()
                .ok()
                .and_then(|d| {
                    CHINA
                        .to_timestamp(d.to_datetime(jiff::civil::Time::midnight()))
                        .ok()
                })
                .map(Some)
                .ok_or_else(|| {
                    Refusal::BadRequest(format!("{field}: {text} is not a date (YYYY-MM-DD)"))
                }),
        }
    };
    let filter = LeadFilter {
        division_prefix: prefix.clone(),
        status,
        domain,
        produced_from: day("from", query.from.as_deref())?,
        produced_before: day("to", query.to.as_deref())?,
    };
    let agency = query.agency.clone().filter(|a| !a.is_empty());
    let as_param = viewer.map_or(String::new(), |v| format!("&as={}", v.id));
    let mut table = Table {
        columns: vec![
            "时间",
            "区划",
            "移交机关",
            "当事人",
            "信用代码/证件号",
            "线索",
            "状态",
        ],
        rows: Vec::new(),
    };
    for (event, row) in store.list_leads(&filter, None, BOARD_ROWS)?.items {
        if agency
            .as_deref()
            .is_some_and(|a| a != event.envelope.producer.as_str())
        {
            continue;
        }
        let masked = match event_access(viewer, &event) {
            Access::Denied => continue,
            Access::Masked => true,
            Access::Full => false,
        };
        audit.event(&event, masked);
        let (name, id) = party(&event, masked);
        let (_, text) = what(&event);
        let division = event.envelope.division().map_or("", |d| d.as_str());
        // A masked identity number cannot be looked up: no link.
        let mut subject = Cell::text(&name);
        if !id.contains('*') {
            subject = subject.link(format!("/subject?id={id}{as_param}"));
        }
        let search = format!("{name} {id} {text}");
        let tone = match row.status {
            LeadStatus::Open => "warn",
            LeadStatus::Unassigned => "bad",
            LeadStatus::Closed => "ok",
        };
        table.rows.push((
            vec![
                Cell::text(cst(event.envelope.produced_at)),
                Cell::text(division),
                Cell::text(super::labels::agency_name(
                    registry,
                    &event.envelope.producer,
                )),
                subject,
                Cell::text(id),
                Cell::text(text),
                Cell::text(super::labels::lead_status(row.status)).tone(tone),
            ],
            search,
        ));
    }
    let statuses = [
        ("", "全部状态"),
        ("open", "办理中"),
        ("unassigned", "无主管机关"),
        ("closed", "已办结"),
    ];
    let chosen = query.status.clone().unwrap_or_default();
    let picked = query.domain.clone().unwrap_or_default();
    let filters = html! {
        form.filters {
            label for="division" { "区划" }
            input #division name="division" value=(prefix) placeholder="区划代码前缀";
            label for="status" { "状态" }
            select #status name="status" {
                @for (value, label) in statuses {
                    option value=(value) selected[chosen == value] { (label) }
                }
            }
            label for="domain" { "领域" }
            select #domain name="domain" {
                option value="" { "全部领域" }
                @for domain in crate::domain::Domain::ALL {
                    @let value = super::labels::domain_key(domain);
                    option value=(value) selected[picked == value] { (domain.label()) }
                }
            }
            label for="agency" { "移交机关" }
            input #agency name="agency" value=(agency.clone().unwrap_or_default()) placeholder="机关代码";
            label for="from" { "自" }
            input #from name="from" type="date" value=(query.from.clone().unwrap_or_default());
            label for="to" { "至" }
            input #to name="to" type="date" value=(query.to.clone().unwrap_or_default());
            @if let Some(v) = viewer { input type="hidden" name="as" value=(v.id.as_str()); }
            button { "筛选" }
        }
    };
    Ok(table.respond("线索看板", "线索", table_query, viewer, filters, html! {}))
}

//! `xiezhi.v1.Query`: subject timelines and lead lists, read from the store's durable view,
//! filtered and masked for the reader ([`crate::access`]); penalty reports for supervisors.

use std::sync::Arc;

use crate::domain::procedure::quota;
use tonic::{Request, Response, Status};

use super::status::ApiError;
use super::{Shared, convert};
use crate::access::{self, Access};
use crate::access::{Shown, event_access, mask};
use crate::domain::StoredEvent;
use crate::domain::{Agency, RuleError, Violations};
use crate::proto;
use crate::store::{LeadFilter, Store};

/// Page size when the request leaves it 0.
const DEFAULT_PAGE: u32 = 100;
/// Largest page a request may ask for.
const MAX_PAGE: u32 = 1_000;

/// The query service.
pub(crate) struct QueryService {
    pub(crate) shared: Arc<Shared>,
    pub(crate) store: Arc<Store>,
}

fn page_size(v: &mut Violations, raw: u32) -> usize {
    match raw {
        0 => DEFAULT_PAGE as usize,
        n if n > MAX_PAGE => {
            v.push(
                "page_size",
                RuleError::new("page_size.max", format!("at most {MAX_PAGE}")),
            );
            0
        }
        n => n as usize,
    }
}

/// Whether `reader` may see `event`: `None` if not, else whether masked. Notes full reads of
/// personal data for the audit.
fn visible(reader: Option<&Agency>, event: &StoredEvent, shown: &mut Shown) -> Option<bool> {
    let masked = match event_access(reader, event) {
        Access::Denied => return None,
        Access::Masked => true,
        Access::Full => false,
    };
    shown.event(event, masked);
    Some(masked)
}

#[tonic::async_trait]
impl proto::query_server::Query for QueryService {
    async fn subject_timeline(
        &self,
        request: Request<proto::SubjectTimelineRequest>,
    ) -> Result<Response<proto::SubjectTimelineResponse>, Status> {
        let reader = self.shared.reader(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let key = self
            .shared
            .validator()
            .subject_key(&mut v, req.kind, &req.id);
        let limit = page_size(&mut v, req.page_size);
        v.finish().map_err(ApiError::Invalid)?;
        let key = key.expect("subject key parsed without violations");
        let page = self
            .store
            .timeline(&key, Some(&req.page_token), limit)
            .map_err(ApiError::Store)?;
        let mut shown = Shown::new(reader.as_ref(), "timeline");
        let events = page
            .items
            .iter()
            .filter_map(|event| {
                visible(reader.as_ref(), event, &mut shown).map(|masked| {
                    let mut stored = convert::stored(event);
                    if masked {
                        mask::stored(&mut stored);
                    }
                    stored
                })
            })
            .collect();
        self.shared.audit_durably(shown.into_records()).await?;
        Ok(Response::new(proto::SubjectTimelineResponse {
            events,
            next_page_token: page.next_token.unwrap_or_default(),
        }))
    }

    async fn list_leads(
        &self,
        request: Request<proto::ListLeadsRequest>,
    ) -> Result<Response<proto::ListLeadsResponse>, Status> {
        let reader = self.shared.reader(&request)?;
        let req = request.into_inner();
        let mut v = Violations::new();
        let validator = self.shared.validator();
        if req.division_prefix.len() > 12
            || !req.division_prefix.bytes().all(|b| b.is_ascii_digit())
        {
            v.push(
                "division_prefix",
                RuleError::new(
                    "division.prefix",
                    "must be up to 12 digits, the start of a division code",
                ),
            );
        }
        let filter = LeadFilter {
            division_prefix: req.division_prefix.clone(),
            domain: validator.domain_filter(&mut v, req.domain),
            status: validator.status_filter(&mut v, req.status),
            produced_from: validator.bound(&mut v, "produced_from", req.produced_from.as_ref()),
            produced_before: validator.bound(
                &mut v,
                "produced_before",
                req.produced_before.as_ref(),
            ),
        };
        let limit = page_size(&mut v, req.page_size);
        v.finish().map_err(ApiError::Invalid)?;
        let page = self
            .store
            .list_leads(&filter, Some(&req.page_token), limit)
            .map_err(ApiError::Store)?;
        let mut shown = Shown::new(reader.as_ref(), "leads");
        let leads = page
            .items
            .iter()
            .filter_map(|(event, row)| {
                let masked = visible(reader.as_ref(), event, &mut shown)?;
                let mut summary = convert::lead_summary(event, row);
                if masked && let Some(lead) = summary.lead.as_mut() {
                    mask::stored(lead);
                }
                Some(summary)
            })
            .collect();
        self.shared.audit_durably(shown.into_records()).await?;
        Ok(Response::new(proto::ListLeadsResponse {
            leads,
            next_page_token: page.next_token.unwrap_or_default(),
        }))
    }

    async fn penalty_report(
        &self,
        request: Request<proto::PenaltyReportRequest>,
    ) -> Result<Response<proto::PenaltyReportResponse>, Status> {
        let reader = self.shared.reader(&request)?;
        let mut req = request.into_inner();
        // No prefix asks for what the caller may survey: its own jurisdiction.
        if let Some(reader) = &reader
            && req.division_prefix.is_empty()
        {
            req.division_prefix = reader.division.jurisdiction_prefix().to_owned();
        }
        if let Some(reader) = &reader
            && !access::may_survey(reader, &req.division_prefix)
        {
            return Err(self.shared.deny(reader, &format!("the penalty report for division prefix {:?} (coordinators and procuratorates, within their own division)", req.division_prefix)).into());
        }
        let mut v = Violations::new();
        let validator = self.shared.validator();
        let offence = v.check(
            "offence_code",
            crate::domain::OffenceCode::parse(&req.offence_code),
        );
        // The report reads the router's counters, kept per jurisdiction.
        if !matches!(req.division_prefix.len(), 0 | 2 | 4 | 6 | 9 | 12)
            || !req.division_prefix.bytes().all(|b| b.is_ascii_digit())
        {
            v.push(
                "division_prefix",
                RuleError::new(
                    "division.prefix",
                    "must be a jurisdiction: empty, or 2 (province), 4 (city), 6 (county), 9 or 12 digits",
                ),
            );
        }
        let from = validator.bound(&mut v, "decided_from", req.decided_from.as_ref());
        let before = validator.bound(&mut v, "decided_before", req.decided_before.as_ref());
        v.finish().map_err(ApiError::Invalid)?;
        let filter = crate::store::ReportFilter {
            offence: offence.expect("offence parsed without violations"),
            division_prefix: req.division_prefix,
            from,
            before,
        };
        let rows = self
            .store
            .penalty_report(&filter)
            .map_err(ApiError::Store)?;
        Ok(Response::new(proto::PenaltyReportResponse {
            agencies: rows
                .into_iter()
                .map(|r| proto::AgencyPenalties {
                    agency: r.agency.to_string(),
                    count: r.count,
                    min_fine_fen: r.min_fen,
                    median_fine_fen: r.median_fen,
                    max_fine_fen: r.max_fen,
                    outside_band: r.outside_band,
                    outside_band_share: r.outside_share,
                })
                .collect(),
        }))
    }

    async fn procedure_report(
        &self,
        request: Request<proto::ProcedureReportRequest>,
    ) -> Result<Response<proto::ProcedureReportResponse>, Status> {
        let reader = self.shared.reader(&request)?;
        let report = QueryService::procedure_report(self, reader.as_ref(), request.into_inner())?;
        Ok(Response::new(report))
    }
}

/// A `YYYY-MM` month as `YYYYMM`.
fn month(v: &mut Violations, field: &str, raw: &str) -> Option<u32> {
    let parsed = raw
        .split_once('-')
        .filter(|(y, m)| y.len() == 4 && m.len() == 2)
        .and_then(|(y, m)| Some((y.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
        .filter(|(_, m)| (1..=12).contains(m))
        .map(|(y, m)| y * 100 + m);
    if parsed.is_none() {
        v.push(field, RuleError::new("month.format", "must be YYYY-MM"));
    }
    parsed
}

impl QueryService {
    /// 执法监督's report: 案卷评查 scores and the 罚没指标 signal.
    pub(super) fn procedure_report(
        &self,
        reader: Option<&crate::domain::Agency>,
        mut req: proto::ProcedureReportRequest,
    ) -> Result<proto::ProcedureReportResponse, ApiError> {
        if let Some(reader) = reader
            && req.division_prefix.is_empty()
        {
            req.division_prefix = reader.division.jurisdiction_prefix().to_owned();
        }
        if let Some(reader) = reader
            && !access::may_survey(reader, &req.division_prefix)
        {
            return Err(self.shared.deny(reader, &format!("the procedure report for division prefix {:?} (coordinators and procuratorates, within their own division)", req.division_prefix)));
        }
        let today = crate::domain::calendar::CHINA
            .to_datetime(self.shared.clock.now())
            .date();
        let mut v = Violations::new();
        if req.division_prefix.len() > 12
            || !req.division_prefix.bytes().all(|b| b.is_ascii_digit())
        {
            v.push(
                "division_prefix",
                RuleError::new("division.prefix", "must be up to 12 digits"),
            );
        }
        let to = match req.to_month.as_str() {
            "" => Some(today.year() as u32 * 100 + today.month() as u32),
            raw => month(&mut v, "to_month", raw),
        };
        let from = match req.from_month.as_str() {
            "" => to.map(|t| t - 100),
            raw => month(&mut v, "from_month", raw),
        };
        v.finish().map_err(ApiError::Invalid)?;
        let (from, to) = (from.unwrap_or(0), to.unwrap_or(0));
        let scores = self
            .store
            .procedure_scores(&req.division_prefix, from, to)?
            .into_iter()
            .map(|s| proto::ProcedureScore {
                agency: s
                    .agency
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                month: format!("{}-{:02}", s.month / 100, s.month % 100),
                decisions: s.decisions,
                recorded: s.recorded,
                complete: s.complete,
                passing: s.passing,
                complete_pct: s.complete_pct(),
                passing_pct: s.passing_pct(),
            })
            .collect();
        let since = today
            .checked_sub(jiff::ToSpan::days(
                quota::RECENT_DAYS + quota::BASELINE_DAYS + 1,
            ))
            .unwrap_or(today);
        let fines = self.store.fines(&req.division_prefix, since, today)?;
        let clustering = quota::clustering(&fines, today)
            .into_iter()
            .map(|c| proto::FineClustering {
                agency: c.agency.to_string(),
                decisions: c.decisions,
                total_fen: c.total_fen,
                end_share_pct: c.end_share_pct,
                baseline_pct: c.baseline_pct,
                peers_pct: c.peers_pct,
                flagged: c.flagged,
            })
            .collect();
        Ok(proto::ProcedureReportResponse { scores, clustering })
    }
}

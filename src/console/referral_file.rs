//! 移送案件材料 (`/referrals/file?key=<agency>/<id>`): one referral as a printable file — the case
//! (number, party, offence, facts, summary), its documents with their SHA-256, every step with
//! its date and actor, and the running deadline — laid out for one A4 page. Shown to the
//! referral's parties and to the coordinators and procuratorates of its division, masked as the
//! gRPC `Referrals` read masks it.

use jiff::Timestamp;
use maud::html;

use super::frame::frame;
use super::labels;
use super::pages::Refusal;
use crate::access::{Access, Shown, mask_name, mask_resident_id, referral_access};
use crate::domain::calendar::CHINA;
use crate::domain::referral::DocumentKind;
use crate::domain::{Agency, EventId, ReferralKey, Registry, SubjectId};
use crate::store::Store;

fn cst(t: Timestamp) -> String {
    CHINA.to_datetime(t).strftime("%Y-%m-%d %H:%M").to_string()
}

fn document_kind(kind: DocumentKind) -> &'static str {
    match kind {
        DocumentKind::TransferLetter => "涉嫌犯罪案件移送书",
        DocumentKind::InvestigationReport => "涉嫌犯罪案件调查报告",
        DocumentKind::ItemsList => "涉案物品清单",
        DocumentKind::InspectionReport => "检验报告或鉴定意见",
        DocumentKind::Other => "其他材料",
    }
}

/// `agency/id` as a referral key.
fn key_of(raw: &str) -> Result<ReferralKey, Refusal> {
    let bad = || Refusal::BadRequest(format!("key: {raw} is not a referral key (<agency>/<id>)"));
    let (agency, id) = raw.split_once('/').ok_or_else(bad)?;
    Ok(ReferralKey {
        agency: crate::domain::AgencyId::parse(agency).map_err(|_| bad())?,
        id: EventId::parse(id).map_err(|_| bad())?,
    })
}

/// The file of the referral `key`, for `viewer`.
pub(super) fn page(
    store: &Store,
    registry: &Registry,
    viewer: Option<&Agency>,
    key: &str,
    now: Timestamp,
    audit: &mut Shown,
) -> Result<String, Refusal> {
    let key = key_of(key.trim())?;
    let record = store
        .referral(&key)?
        .ok_or_else(|| Refusal::BadRequest(format!("key: no referral {key}")))?;
    let masked = match referral_access(viewer, &record, registry) {
        Access::Denied => {
            return Err(Refusal::Forbidden(format!(
                "{} is not a party to referral {key} nor a coordinator or procuratorate of its division",
                viewer.map_or("operator", |v| v.id.as_str())
            )));
        }
        Access::Masked => true,
        Access::Full => false,
    };
    audit.referral(&record, masked);
    let r = &record.referral;
    let (name, id) = match &r.subject.id {
        SubjectId::Organization(code) => (r.subject.name.clone(), code.to_string()),
        SubjectId::Person(p) if masked => {
            (mask_name(&r.subject.name), mask_resident_id(p.as_str()))
        }
        SubjectId::Person(p) => (r.subject.name.clone(), p.as_str().to_owned()),
    };
    let agency = |id: &crate::domain::AgencyId| labels::agency_name(registry, id);
    let body = html! {
        div.toolbar.noprint { button type="button" onclick="window.print()" { "打印" } }
        div.panel {
            h2 { "案件" }
            table {
                tbody {
                    tr { th { "移送编号" } td { (record.key.to_string()) } th { "案号" } td { (r.case_number) } }
                    tr { th { "移送机关" } td { (agency(&record.key.agency)) } th { "接收公安机关" } td { (agency(&record.police)) } }
                    tr { th { "当事人" } td { (name) } th { "信用代码/证件号" } td { (id) } }
                    tr { th { "领域" } td { (r.domain.label()) } th { "违法行为代码" } td { (r.offence_code.as_str()) } }
                    tr { th { "区划" } td { (r.division.as_str()) } th { "报告时间" } td { (cst(record.reported_at)) } }
                    tr { th { "当前状态" } td colspan="3" { (labels::state(record.state)) } }
                    tr { th { "案情" } td colspan="3" { (r.summary) } }
                    @if !r.facts.is_empty() {
                        tr { th { "事实" } td colspan="3" {
                            @for (fact, value) in &r.facts { (fact) "：" (value) "　" }
                        } }
                    }
                }
            }
        }
        div.panel {
            h2 { "期限" }
            @match &record.deadline {
                Some(d) => p .overdue[d.due < now] {
                    (labels::step(&d.step)) "：由" (labels::party(d.party)) "（" (agency(&d.late)) "）于 "
                    (cst(d.due)) " 前办理（" (cst(d.started)) " 起算）"
                    @if d.due < now { "　已逾期" }
                    br; small.muted { (d.citation) }
                },
                None => p.muted { "无进行中的期限。" },
            }
        }
        div.panel {
            h2 { "材料" }
            table {
                thead { tr { th { "名称" } th { "类别" } th { "SHA-256" } } }
                tbody { @for d in &r.documents {
                    tr { td { (d.name) } td { (document_kind(d.kind)) } td { code style="word-break:break-all" { (d.sha256) } } }
                } }
            }
        }
        div.panel {
            h2 { "办理经过" }
            table {
                thead { tr { th { "时间" } th { "办理" } th { "机关" } th { "结果" } th { "理由" } } }
                tbody {
                    tr { td { (cst(record.reported_at)) } td { "移送报告" } td { (agency(&record.key.agency)) } td { (labels::state(crate::domain::State::Reported)) } td {} }
                    @for step in &record.history {
                        tr {
                            td { (cst(step.at)) }
                            td { (labels::action(step.action)) }
                            td { (agency(&step.actor)) }
                            td { (labels::state(step.to)) }
                            td { (step.reason) }
                        }
                    }
                }
            }
        }
        p.muted { "打印时间 " (cst(now)) "（北京时间）· 獬豸 执法协同平台" }
    };
    Ok(frame(
        &format!("移送案件材料 · {}", r.case_number),
        body,
        viewer,
    ))
}

//! The referral pipeline (`/referrals`: a column per state, each card with its running
//! deadline, red when overdue, and the party it waits on), the alerts list (`/alerts`) and the
//! penalty consistency report (`/penalties`, 同案不同罚) — for coordinators and procuratorates, in
//! their jurisdiction.

use std::collections::BTreeMap;

use jiff::Timestamp;

use super::labels;
use super::pages::{Refusal, page};
use super::public::html_escape;
use crate::access::{mask_name, may_survey};
use crate::domain::calendar::CHINA;
use crate::domain::money::yuan;
use crate::domain::{Agency, OffenceCode, SubjectId};
use crate::store::{ReferralFilter, ReportFilter, Store};

/// The viewer's jurisdiction prefix, if it may survey it.
pub(super) fn jurisdiction(viewer: Option<&Agency>) -> Result<String, Refusal> {
    let prefix = viewer.map_or(String::new(), |v| {
        v.division.jurisdiction_prefix().to_owned()
    });
    match viewer {
        Some(viewer) if !may_survey(viewer, &prefix) => Err(Refusal::Forbidden(format!(
            "{} is not a coordinator or procuratorate",
            viewer.id
        ))),
        _ => Ok(prefix),
    }
}

fn cst(t: Timestamp) -> String {
    CHINA.to_datetime(t).strftime("%m-%d %H:%M").to_string()
}

/// Time left until `due`, or how late, in hours or days.
fn left(due: Timestamp, now: Timestamp) -> String {
    let seconds = due.as_second() - now.as_second();
    let (sign, s) = if seconds < 0 {
        ("逾期 ", -seconds)
    } else {
        ("剩余 ", seconds)
    };
    if s >= 86_400 {
        format!("{sign}{} 天", s / 86_400)
    } else {
        format!("{sign}{} 小时", s / 3_600)
    }
}

/// The referral pipeline.
pub(super) fn referrals(
    store: &Store,
    viewer: Option<&Agency>,
    now: Timestamp,
) -> Result<String, Refusal> {
    let prefix = jurisdiction(viewer)?;
    let filter = ReferralFilter {
        state: None,
        division_prefix: prefix,
        party: None,
        overdue: false,
    };
    // By state, in the flow's order; each column headed by its Chinese label.
    let mut columns: BTreeMap<crate::domain::State, String> = BTreeMap::new();
    for record in store.referrals(&filter, None, 10_000)?.items {
        let subject = &record.referral.subject;
        let who = match &subject.id {
            SubjectId::Person(_) => mask_name(&subject.name),
            SubjectId::Organization(_) => subject.name.clone(),
        };
        let deadline = record.deadline.as_ref().map_or(String::new(), |d| {
            let late = if d.due < now { " overdue" } else { "" };
            format!(
                "<div class=\"deadline{late}\">{}：{}（{}，{}）<br><small>{}</small></div>",
                html_escape(&d.step),
                left(d.due, now),
                html_escape(&format!("{} {}", labels::party(d.party), d.late)),
                cst(d.due),
                html_escape(&d.citation)
            )
        });
        columns.entry(record.state).or_default().push_str(&format!(
            "<div class=\"card\"><b>{}</b><br>{}<br>{} → {}{deadline}</div>",
            html_escape(&record.key.to_string()),
            html_escape(&who),
            html_escape(record.key.agency.as_str()),
            html_escape(record.police.as_str()),
        ));
    }
    let body: String = if columns.is_empty() {
        "<p>辖区内没有移送案件。</p>".into()
    } else {
        let cols: String = columns
            .iter()
            .map(|(state, cards)| {
                format!(
                    "<div class=\"col\"><h2>{}</h2>{cards}</div>",
                    labels::state(*state)
                )
            })
            .collect();
        format!(
            "<style>.cols{{display:flex;gap:1em}}.col{{min-width:14em}}\
             .card{{border:1px solid #ccc;padding:6px;margin:6px 0}}</style>\
             <div class=\"cols\">{cols}</div>"
        )
    };
    Ok(page("移送流程", &body, viewer))
}

/// The latest alerts in the jurisdiction, with rule, source and the evidence they cite.
pub(super) fn alerts(store: &Store, viewer: Option<&Agency>) -> Result<String, Refusal> {
    let prefix = jurisdiction(viewer)?;
    let as_param = viewer.map_or(String::new(), |v| format!("&as={}", v.id));
    let rows: String = store
        .latest_alerts(&prefix, 200)?
        .iter()
        .map(|a| {
            // Evidence: the subject's file (organisations; a person's file is opened by id).
            let evidence = match a.subject.as_ref().map(|s| &s.id) {
                Some(SubjectId::Organization(code)) => {
                    format!("<a href=\"/subject?id={code}{as_param}\">档案</a>")
                }
                _ => String::new(),
            };
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                cst(a.raised_at),
                labels::alert_kind(a.kind),
                html_escape(&a.title),
                html_escape(&a.citation),
                html_escape(&a.detail),
                evidence
            )
        })
        .collect();
    let body = format!(
        "<table><thead><tr><th>时间</th><th>类别</th><th>规则</th><th>依据</th><th>说明</th>\
         <th>证据</th></tr></thead><tbody>{rows}</tbody></table>"
    );
    Ok(page("预警", &body, viewer))
}

/// The per-agency penalty report for one offence (同案不同罚).
pub(super) fn penalties(
    store: &Store,
    viewer: Option<&Agency>,
    offence: Option<&str>,
) -> Result<String, Refusal> {
    let prefix = jurisdiction(viewer)?;
    let keep = viewer.map_or(String::new(), |v| {
        format!("<input type=\"hidden\" name=\"as\" value=\"{}\">", v.id)
    });
    let form = format!(
        "<form><input name=\"offence\" placeholder=\"违法行为代码，如 CL-140\">{keep}\
         <button>查询</button></form>"
    );
    let Some(offence) = offence.filter(|o| !o.is_empty()) else {
        return Ok(page("处罚一致性", &form, viewer));
    };
    let code = OffenceCode::parse(offence)
        .map_err(|e| Refusal::BadRequest(format!("offence: {}", e.description)))?;
    let rows: String = store
        .penalty_report(&ReportFilter {
            offence: code,
            division_prefix: prefix,
            from: None,
            before: None,
        })?
        .iter()
        .map(|r| {
            format!(
                "<tr><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{:.0}%</td></tr>",
                html_escape(r.agency.as_str()),
                r.count,
                yuan(r.min_fen),
                yuan(r.median_fen),
                yuan(r.max_fen),
                r.outside_share * 100.0
            )
        })
        .collect();
    let body = format!(
        "{form}<p>{}</p><table><thead><tr><th>机关</th><th>件数</th><th>最低（元）</th>\
         <th>中位（元）</th><th>最高（元）</th><th>超出裁量基准</th></tr></thead><tbody>{rows}</tbody></table>",
        html_escape(offence)
    );
    Ok(page("处罚一致性", &body, viewer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_left_reads_in_days_or_hours_and_says_when_late() {
        let now = Timestamp::constant(1_795_000_000, 0);
        let at = |s: i64| Timestamp::constant(1_795_000_000 + s, 0);
        assert_eq!(left(at(3 * 86_400 + 10), now), "剩余 3 天");
        assert_eq!(left(at(5 * 3_600), now), "剩余 5 小时");
        assert_eq!(left(at(-2 * 86_400), now), "逾期 2 天");
    }
}

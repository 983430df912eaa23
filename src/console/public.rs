//! The public disclosure feed (行政处罚公示, `/public/penalties`): penalty decisions that their
//! agency marked public, with personal data removed, and whether each reached the broker within
//! the 双公示 window.
//!
//! Which decisions and by when: [`crate::domain::disclosure`]. Personal data: a natural
//! person's 身份证号 is never shown and the name is masked (`张*`), as on every other masked
//! read (docs/security.md).

use jiff::Timestamp;
use serde::Serialize;

use crate::access::mask_name;
use crate::domain::StoredEvent;
use crate::domain::disclosure::{self, WORKING_DAYS};
use crate::domain::money::yuan;
use crate::domain::{Payload, Policy, SubjectId};
use crate::store::{Store, StoreError};

/// One disclosed penalty.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PublicPenalty {
    /// 决定书文号.
    pub case_number: String,
    /// The deciding agency's id.
    pub agency: String,
    /// Its name.
    pub agency_name: String,
    /// The party: an organisation's registered name, or a person's masked name.
    pub party: String,
    /// The organisation's 统一社会信用代码; absent for persons.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub credit_code: Option<String>,
    /// Offence code.
    pub offence: String,
    /// Legal basis.
    pub legal_basis: String,
    /// Fine, fen.
    pub fine_fen: i64,
    /// Confiscated, fen.
    pub confiscated_fen: i64,
    /// When it was decided (UTC).
    pub decided_at: Timestamp,
    /// When it had to be public by (UTC): the end of the 7th working day after the decision.
    pub due: Timestamp,
    /// When the broker received it (UTC).
    pub received_at: Timestamp,
    /// Whether it was received by `due`.
    pub on_time: bool,
}

/// The feed entry for a stored event, if it is disclosed.
pub fn public_penalty(event: &StoredEvent, policy: &Policy) -> Option<PublicPenalty> {
    let decided_at = disclosure::disclosed_decision(&event.envelope)?;
    let Payload::CaseOutcome(outcome) = &event.envelope.payload else {
        return None;
    };
    let producer = &event.envelope.producer;
    let (party, credit_code) = match &outcome.subject.id {
        SubjectId::Organization(code) => (outcome.subject.name.clone(), Some(code.to_string())),
        SubjectId::Person(_) => (mask_name(&outcome.subject.name), None),
    };
    let due = disclosure::due(&policy.calendar, decided_at);
    Some(PublicPenalty {
        case_number: outcome.case_number.clone(),
        agency: producer.to_string(),
        agency_name: policy
            .registry
            .get(producer)
            .map_or_else(String::new, |a| a.name.clone()),
        party,
        credit_code,
        offence: outcome.offence_code.to_string(),
        legal_basis: outcome.legal_basis.clone(),
        fine_fen: outcome.fine_fen,
        confiscated_fen: outcome.confiscated_fen,
        decided_at: outcome.decided_at,
        due,
        received_at: event.logged_at,
        on_time: event.logged_at <= due,
    })
}

/// The latest `limit` disclosed penalties, newest first.
pub fn feed(
    store: &Store,
    policy: &Policy,
    limit: usize,
) -> Result<Vec<PublicPenalty>, StoreError> {
    let mut out = Vec::new();
    // Penalties not marked public are skipped: look a little further than `limit`.
    for seq in store.latest_penalties(limit.saturating_mul(4))? {
        if let Some(event) = store.event(seq)?
            && let Some(entry) = public_penalty(&event, policy)
        {
            out.push(entry);
            if out.len() == limit {
                break;
            }
        }
    }
    Ok(out)
}

/// Escapes text for HTML.
pub fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The feed as a page (Chinese labels; times in China Standard Time for readers, UTC in JSON),
/// with the console's stylesheet and no navigation: the public sees this page only.
pub fn html(entries: &[PublicPenalty]) -> String {
    let cst = |t: Timestamp| {
        crate::domain::calendar::CHINA
            .to_datetime(t)
            .strftime("%Y-%m-%d %H:%M")
            .to_string()
    };
    let body = maud::html! {
        p { "依《中华人民共和国行政处罚法》第四十八条公开；双公示：作出决定之日起" (WORKING_DAYS)
            "个工作日内公开。自然人姓名已遮蔽，身份证号不予公开。" a href="?format=json" { "JSON" } }
        div.tablewrap tabindex="0" { table {
            thead { tr {
                th { "决定书文号" } th { "处罚机关" } th { "当事人" } th { "违法行为" } th { "处罚依据" }
                th.num { "罚款（元）" } th.num { "没收（元）" } th { "决定日期" } th { "公示期限" } th { "公示" }
            } }
            tbody { @for e in entries {
                tr.late[!e.on_time] {
                    td { (e.case_number) }
                    td { (e.agency_name) br; small { (e.agency) } }
                    td { (e.party) br; small { (e.credit_code.as_deref().unwrap_or("")) } }
                    td { (e.offence) }
                    td { (e.legal_basis) }
                    td.num { (yuan(e.fine_fen)) }
                    td.num { (yuan(e.confiscated_fen)) }
                    td { (cst(e.decided_at)) }
                    td { (cst(e.due)) }
                    td { @if e.on_time { span.status.ok { "按时" } } @else { span.status.bad { "逾期" } } }
                }
            } }
        } }
        p.muted { (entries.len()) " 条" }
    };
    super::frame::public("行政处罚公示", body, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_escapes_what_agencies_wrote() {
        assert_eq!(
            html_escape("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }
}

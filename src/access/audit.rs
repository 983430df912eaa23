//! The read audit: full reads of personal data are recorded on the audit chain, durably, before
//! they are answered — by the gRPC reads and the console's pages alike. A call collects what it
//! showed in a [`Shown`]; its records go to the store's chain; if they cannot be made durable,
//! nothing is shown ([`unaudited`] says why).

use tracing::warn;

use crate::audit::Record;
use crate::domain::{Agency, Alert, ReferralRecord, StoredEvent, SubjectId};

/// Why a read whose audit record could not be made durable was refused (logged here, said to
/// the caller by the gateway and the console alike).
pub fn unaudited(err: &(dyn std::error::Error + 'static)) -> String {
    let cause = crate::telemetry::chain(err);
    warn!(error = %cause, "audit of a read failed; nothing shown");
    format!(
        "the read could not be recorded in the audit trail ({cause}); nothing was shown, try again"
    )
}

/// Full reads of personal data, collected during a call and audited at its end.
pub struct Shown {
    reader: String,
    action: &'static str,
    records: Vec<Record>,
}

impl Shown {
    /// Reads by `reader` (`None`: the development operator) in the call named `action`.
    pub fn new(reader: Option<&Agency>, action: &'static str) -> Self {
        Self {
            reader: reader.map_or_else(|| "operator".to_owned(), |r| r.id.to_string()),
            action,
            records: Vec::new(),
        }
    }

    /// An event was shown, masked or not.
    pub fn event(&mut self, event: &StoredEvent, masked: bool) {
        if !masked && super::is_personal(event) {
            self.push(
                event.envelope.key().to_string(),
                hex::encode(event.content_hash),
            );
        }
    }

    /// An alert was shown, masked or not.
    pub fn alert(&mut self, alert: &Alert, masked: bool) {
        if !masked
            && alert
                .subject
                .as_ref()
                .is_some_and(|s| matches!(s.id, SubjectId::Person(_)))
        {
            self.push(format!("alert/{}", alert.id), String::new());
        }
    }

    /// A referral was shown, masked or not.
    pub fn referral(&mut self, record: &ReferralRecord, masked: bool) {
        if !masked && matches!(record.referral.subject.id, SubjectId::Person(_)) {
            self.push(format!("referral/{}", record.key), String::new());
        }
    }

    fn push(&mut self, object: String, digest: String) {
        self.records.push(Record::new(
            self.reader.clone(),
            format!("read {}", self.action),
            object,
            digest,
        ));
    }

    /// The same reads, made by a download (XLSX or CSV): each entry's action says `export`
    /// instead of `read`, so an auditor finds every copy of personal data that left the console.
    pub fn export(mut self) -> Self {
        for record in &mut self.records {
            record.action = format!("export {}", self.action);
        }
        self
    }

    /// What was collected, to append to the audit chain before answering.
    pub fn into_records(self) -> Vec<Record> {
        self.records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::event::tests::sample_lead;
    use crate::domain::{Subject, SubjectId};

    #[test]
    fn an_export_of_a_person_in_full_is_audited_as_an_export() {
        let mut envelope = sample_lead();
        if let crate::domain::Payload::Lead(lead) = &mut envelope.payload {
            lead.subject = Subject {
                id: SubjectId::Person(
                    crate::domain::ResidentId::parse("11010519491231002X").unwrap(),
                ),
                name: "张三".into(),
            };
        }
        let event = crate::domain::StoredEvent {
            seq: 1,
            envelope,
            position: crate::domain::LogPosition {
                partition: 0,
                offset: 0,
            },
            logged_at: jiff::Timestamp::UNIX_EPOCH,
            applied_at: jiff::Timestamp::UNIX_EPOCH,
            delivered_to: Vec::new(),
            content_hash: [0; 32],
        };
        let mut shown = Shown::new(None, "console leads");
        shown.event(&event, false);
        shown.event(&event, true);
        let records = shown.export().into_records();
        assert_eq!(records.len(), 1, "a masked row is no read");
        assert_eq!(records[0].action, "export console leads");
    }
}

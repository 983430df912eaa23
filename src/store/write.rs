//! What the router's decide functions hand the store: a typed write set per record (or per
//! tick of the clock). The store encodes and applies them; it holds no rule. Sequence numbers
//! are the store's to give, so a write set speaks of "this event" where it needs its own seq.

use jiff::Timestamp;

use crate::codec::log::EnvelopeBytes;
use crate::domain::referral::ReferralRecord;
use crate::domain::rules::Hit;
use crate::domain::{
    AgencyId, Alert, DeliveryReason, DivisionCode, Domain, Envelope, EventKey, LeadStatus,
    LogPosition, OffenceCode, ReferralKey, SubjectKey,
};

/// A record to apply: where it sits on the log, when the log took it, the envelope decoded and
/// its bytes as they came.
#[derive(Clone, Debug)]
pub struct Incoming {
    /// Where it sits on the log.
    pub position: LogPosition,
    /// When the log took it.
    pub logged_at: Timestamp,
    /// The event.
    pub envelope: Envelope,
    /// Its bytes and content hash.
    pub bytes: EnvelopeBytes,
}

/// What the router decided for one record.
#[derive(Debug)]
pub enum Decision {
    /// Applied before with the same content: nothing to write.
    Duplicate,
    /// The event id was applied before with different content: the first stays.
    Conflict,
    /// A step that is not (or no longer) allowed: nothing changes but the audit entry.
    Refused(String),
    /// Store it, with what it sets off.
    Apply(Box<WriteSet>),
}

/// Everything one decision writes.
#[derive(Debug, Default)]
pub struct WriteSet {
    /// The event itself (absent for what the clock decides).
    pub event: Option<EventWrite>,
    /// A lead's row: this event's own, or the lead this event closes.
    pub lead: Option<LeadWrite>,
    /// This outcome in the subject's history and the penalty report.
    pub outcome: Option<OutcomeWrite>,
    /// A referral opened or moved.
    pub referral: Option<ReferralWrite>,
    /// A 以罚代刑 watch started by this outcome.
    pub watch: Option<NewWatch>,
    /// A watch that ran out (removed).
    pub expired_watch: Option<(Timestamp, EventKey)>,
    /// This outcome names a lead not applied yet: wait for it until this time.
    pub await_lead: Option<(Timestamp, EventKey)>,
    /// A wait for a lead that ran out (removed).
    pub expired_await: Option<AwaitedLead>,
    /// A deadline row that fell due (removed; the referral keeps its deadline, marked overdue).
    pub expired_deadline: Option<(Timestamp, ReferralKey)>,
    /// 化整为零 rules reported now, so that they are reported once.
    pub split_marks: Vec<SplitMark>,
    /// Alerts to raise after the event, each delivered once to each recipient.
    pub alerts: Vec<AlertWrite>,
    /// Certificates, plans and joint proposals written (涉企行政检查).
    pub inspection: Option<InspectionWrite>,
    /// A penalty decision's 案卷评查 row (执法监督).
    pub procedure: Option<ProcedureRow>,
    /// Additions to the console's counters (统计分析).
    pub tallies: Vec<crate::domain::stats::Tally>,
}

/// A penalty decision's procedure as 案卷评查 counts it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProcedureRow {
    /// The deciding agency.
    pub agency: AgencyId,
    /// The month of the decision, `YYYYMM` (China Standard Time).
    pub month: u32,
    /// A procedural record came with the decision.
    pub recorded: bool,
    /// It holds what the checks need.
    pub complete: bool,
    /// Complete, and it passed every check.
    pub passing: bool,
}

/// What an inspection event writes.
#[derive(Debug, Default)]
pub struct InspectionWrite {
    /// A certificate as now known.
    pub certificate: Option<crate::domain::inspection::CertificateEntry>,
    /// Plans as they now stand (the event's own, and others it joined in a proposal).
    pub plans: Vec<crate::domain::inspection::InspectionEntry>,
    /// A joint proposal made or changed.
    pub joint: Option<crate::domain::inspection::JointProposal>,
}

/// The event's own writes: its deliveries and its place on a timeline.
#[derive(Debug, Default)]
pub struct EventWrite {
    /// Who receives it, and why, in delivery order.
    pub recipients: Vec<(AgencyId, DeliveryReason)>,
    /// The subject whose timeline it joins.
    pub timeline: Option<SubjectKey>,
}

/// A lead's standing as the store keeps it beside the lead index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeadEntry {
    /// Where it stands.
    pub status: LeadStatus,
    /// Its domain, to filter without reading the event.
    pub domain: Domain,
    /// When it was produced, to filter without reading the event.
    pub produced_at: Timestamp,
    /// The seq of the outcome that closed it.
    pub closed_by: Option<u64>,
}

/// A lead row to write.
#[derive(Debug)]
pub enum LeadWrite {
    /// This event is a lead; its row.
    Open {
        /// Where the conduct took place.
        division: DivisionCode,
        /// Its standing.
        entry: LeadEntry,
    },
    /// This event closes the lead at `seq` (the first outcome wins).
    Close {
        /// The lead's division.
        division: DivisionCode,
        /// The lead's seq.
        seq: u64,
        /// The lead's row as it was.
        entry: LeadEntry,
    },
}

/// One outcome in the penalty report's index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutcomeRow {
    /// Who decided.
    pub agency: AgencyId,
    /// Where.
    pub division: DivisionCode,
    /// Whether it imposed a penalty.
    pub penalty: bool,
    /// The fine.
    pub fine_fen: i64,
    /// When it was decided.
    pub decided_at: Timestamp,
    /// Whether the fine was outside its discretion band (`None`: no band applied).
    pub outside_band: Option<bool>,
}

/// An outcome's index entries.
#[derive(Debug)]
pub struct OutcomeWrite {
    /// The subject's history entry is under subject and offence.
    pub subject: SubjectKey,
    /// The offence.
    pub offence: OffenceCode,
    /// The report row.
    pub row: OutcomeRow,
}

/// A referral opened or moved.
#[derive(Debug)]
pub struct ReferralWrite {
    /// The referral as it now stands.
    pub record: ReferralRecord,
    /// The due time of the deadline it had, whose index row goes.
    pub previous_due: Option<Timestamp>,
    /// The state it left and whether its deadline had passed (`None`: it opens now).
    pub previous: Option<(crate::domain::State, bool)>,
    /// On opening: the agency's case number, indexed so that outcomes find the referral.
    pub case_number: Option<String>,
}

/// An outcome waiting for the lead it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwaitedLead {
    /// Until when.
    pub due: Timestamp,
    /// The outcome.
    pub outcome: EventKey,
    /// The lead it names.
    pub lead: EventKey,
}

/// A 以罚代刑 watch that this outcome starts.
#[derive(Debug)]
pub struct NewWatch {
    /// The case number a referral would carry.
    pub case_number: String,
    /// The thresholds the penalty met.
    pub hits: Vec<Hit>,
    /// When the grace period ends.
    pub due: Timestamp,
}

/// A penalty whose facts met a threshold, waiting for a referral of its case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The outcome.
    pub outcome: EventKey,
    /// Its store sequence number.
    pub seq: u64,
    /// The case number the referral would carry.
    pub case_number: String,
    /// The thresholds it met.
    pub hits: Vec<Hit>,
    /// When the grace period ends.
    pub due: Timestamp,
}

/// A 化整为零 rule reported for a subject and offence.
#[derive(Debug)]
pub struct SplitMark {
    /// The subject.
    pub subject: SubjectKey,
    /// The offence.
    pub offence: OffenceCode,
    /// The threshold rule.
    pub rule: String,
}

/// An alert and who receives it.
#[derive(Debug)]
pub struct AlertWrite {
    /// The alert (its id and time are the store's to give).
    pub alert: Alert,
    /// Recipients, in order; an agency named twice receives it once.
    pub to: Vec<AgencyId>,
}

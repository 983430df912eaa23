//! A rule an event failed, as the router's checks report it: which rule, its name and legal
//! source, and what this event did. Inspections (涉企行政检查) and procedure supervision
//! (执法监督) both report findings; each becomes a reason on the event and a coordinator alert.

/// A check an event failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The rule id, `<area>.<check>`: e.g. `inspection.item_unpublished`,
    /// `procedure.art42_officers`.
    pub rule: &'static str,
    /// What the rule is, for people.
    pub title: &'static str,
    /// Its source.
    pub citation: String,
    /// What this event did.
    pub detail: String,
}

impl Finding {
    /// As Acks and views carry it: `<rule>: <detail>`.
    pub fn warning(&self) -> String {
        format!("{}: {}", self.rule, self.detail)
    }
}

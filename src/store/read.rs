//! Reads for the query API and inbox streams, and the one write readers make: inbox
//! acknowledgements. Every read stops at the durable watermark.

use jiff::Timestamp;

use super::records::EventRaw;
use super::{Store, StoreError, keys, values};
use crate::domain::{
    AgencyId, Alert, DeliveryReason, Domain, EventKey, LeadStatus, LogPosition, StoredEvent,
    SubjectKey,
};

/// Longest page any read returns.
const MAX_PAGE: usize = 1_000;
/// Most index entries one list call examines before returning a partial page with a token, so a
/// selective filter over a large index cannot hold a request for long.
const MAX_SCAN: usize = 20_000;

/// What a delivery carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeliveredItem {
    /// An event.
    Event(StoredEvent),
    /// An alert.
    Alert(Alert),
}

/// One delivery in an agency's inbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryRecord {
    /// Position in the agency's inbox, from 1, without gaps.
    pub cursor: u64,
    /// The store sequence number of the event or alert delivered.
    pub seq: u64,
    /// Why.
    pub reason: DeliveryReason,
    /// When: the event's application, or the alert's raising.
    pub delivered_at: Timestamp,
}

/// A page of results and the token for the next one.
#[derive(Debug)]
pub struct Page<T> {
    /// The results.
    pub items: Vec<T>,
    /// Pass back to continue; `None` at the end.
    pub next_token: Option<String>,
}

/// A lead's standing, as readers see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeadRow {
    /// Where it stands.
    pub status: LeadStatus,
    /// The outcome that closed it.
    pub closed_by: Option<EventKey>,
    /// Its domain.
    pub domain: Domain,
    /// When it was produced.
    pub produced_at: Timestamp,
}

/// A page of leads with their standing.
pub type LeadPage = Page<(StoredEvent, LeadRow)>;

/// Which leads to list.
#[derive(Clone, Debug, Default)]
pub struct LeadFilter {
    /// Division code prefix; empty for all.
    pub division_prefix: String,
    /// Only this domain.
    pub domain: Option<Domain>,
    /// Only this status.
    pub status: Option<LeadStatus>,
    /// Produced at or after.
    pub produced_from: Option<Timestamp>,
    /// Produced before.
    pub produced_before: Option<Timestamp>,
}

impl LeadFilter {
    fn matches(&self, row: &super::LeadEntry) -> bool {
        self.domain.is_none_or(|d| d == row.domain)
            && self.status.is_none_or(|s| s == row.status)
            && self.produced_from.is_none_or(|t| row.produced_at >= t)
            && self.produced_before.is_none_or(|t| row.produced_at < t)
    }
}

/// What a page scan does with one index entry.
pub(super) enum Step<T> {
    /// Return it.
    Take(T),
    /// Leave it out and go on.
    Skip,
    /// End the scan here; the page is complete.
    Stop,
}

impl Store {
    /// The event with this seq, if applied and durable.
    pub fn event(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        if seq > self.durable_seq() {
            return Ok(None);
        }
        self.raw_event(seq)?.map(|raw| raw.stored()).transpose()
    }

    pub(super) fn raw_event(&self, seq: u64) -> Result<Option<EventRaw>, StoreError> {
        self.tree
            .get(keys::event(seq))
            .map_err(StoreError::sled("read"))?
            .map(|raw| EventRaw::decode(&raw))
            .transpose()
    }

    pub(super) fn require_event(&self, seq: u64) -> Result<StoredEvent, StoreError> {
        self.event(seq)?.ok_or_else(|| StoreError::Corrupt {
            tree: "events",
            reason: format!("index names seq {seq}, which is missing"),
        })
    }

    /// Scans the keys under `scope`, after the key a page token names, visiting at most
    /// [`MAX_SCAN`] entries and returning up to `limit` results with a token to go on.
    pub(super) fn page<T>(
        &self,
        scope: &[u8],
        token: Option<&str>,
        limit: usize,
        mut visit: impl FnMut(&[u8], &[u8]) -> Result<Step<T>, StoreError>,
    ) -> Result<Page<T>, StoreError> {
        let after = match token.filter(|t| !t.is_empty()) {
            None => None,
            Some(token) => match keys::untoken(token) {
                Some(key) if key.starts_with(scope) => Some(key),
                _ => return Err(StoreError::PageToken),
            },
        };
        let limit = limit.clamp(1, MAX_PAGE);
        let start = after.clone().unwrap_or_else(|| scope.to_vec());
        let mut items = Vec::new();
        let mut scanned = 0;
        let mut last: Option<Vec<u8>> = None;
        for entry in self.tree.range(start..) {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            if !key.starts_with(scope) {
                break;
            }
            if Some(key.as_ref()) == after.as_deref() {
                continue;
            }
            if items.len() == limit || scanned == MAX_SCAN {
                return Ok(Page {
                    items,
                    next_token: last.map(|k| keys::token(&k)),
                });
            }
            scanned += 1;
            match visit(&key, &raw)? {
                Step::Take(item) => items.push(item),
                Step::Skip => {}
                Step::Stop => break,
            }
            last = Some(key.to_vec());
        }
        Ok(Page {
            items,
            next_token: None,
        })
    }

    /// The content hash and log position of an applied event, if its `producer/event_id` was
    /// applied and is durable: lets a gateway answer a retry without touching the log.
    pub fn applied(&self, key: &EventKey) -> Result<Option<([u8; 32], LogPosition)>, StoreError> {
        let Some(seq) = self.applied_seq(key)? else {
            return Ok(None);
        };
        let Some(event) = self.raw_event(seq)? else {
            return Ok(None);
        };
        Ok(Some((event.content_hash()?, event.position())))
    }

    /// The applied, durable event `key` names, with whom it was delivered to.
    pub fn applied_event(&self, key: &EventKey) -> Result<Option<StoredEvent>, StoreError> {
        match self.applied_seq(key)? {
            Some(seq) => self.event(seq),
            None => Ok(None),
        }
    }

    /// The sequence number of the applied event `key`, if it is durable.
    fn applied_seq(&self, key: &EventKey) -> Result<Option<u64>, StoreError> {
        let key = keys::applied(key);
        if !self.applied_keys.may_contain(&key) {
            return Ok(None);
        }
        let Some(raw) = self.tree.get(key).map_err(StoreError::sled("read"))? else {
            return Ok(None);
        };
        let seq = keys::decode_u64(&raw);
        Ok((seq <= self.durable_seq()).then_some(seq))
    }

    /// Waits until the event `key` is applied and durable, at most `limit`; whether it is.
    pub async fn wait_applied(
        &self,
        key: &EventKey,
        limit: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let mut durable = self.watch_durable();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            durable.borrow_and_update();
            if self.applied(key)?.is_some() {
                return Ok(true);
            }
            if tokio::time::timeout_at(deadline, durable.changed())
                .await
                .is_err()
            {
                return Ok(false);
            }
        }
    }

    /// Durable events after `after_seq`, in seq order (for comparisons and exports).
    pub fn events_after(
        &self,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        let durable = self.durable_seq();
        let mut out = Vec::new();
        for entry in self
            .tree
            .range(keys::event(after_seq.saturating_add(1))..keys::event(u64::MAX))
            .take(limit)
        {
            let (_, raw) = entry.map_err(StoreError::sled("read"))?;
            let event = EventRaw::decode(&raw)?;
            if event.seq() > durable {
                break;
            }
            out.push(event.stored()?);
        }
        Ok(out)
    }

    /// Every durable event about one subject, in log order.
    pub fn timeline(
        &self,
        subject: &SubjectKey,
        token: Option<&str>,
        limit: usize,
    ) -> Result<Page<StoredEvent>, StoreError> {
        let durable = self.durable_seq();
        let scope = keys::timeline_scope(subject);
        self.page(&scope, token, limit, |key, _| {
            let seq = keys::suffix_u64(key);
            if seq > durable {
                return Ok(Step::Stop);
            }
            Ok(Step::Take(self.require_event(seq)?))
        })
    }

    /// Durable leads matching `filter`, ordered by division then seq.
    pub fn list_leads(
        &self,
        filter: &LeadFilter,
        token: Option<&str>,
        limit: usize,
    ) -> Result<LeadPage, StoreError> {
        let durable = self.durable_seq();
        let scope = keys::lead_scope(&filter.division_prefix);
        self.page(&scope, token, limit, |key, raw| {
            let seq = keys::suffix_u64(key);
            if seq > durable {
                return Ok(Step::Skip);
            }
            let entry = values::read_lead_value(raw)?;
            if !filter.matches(&entry) {
                return Ok(Step::Skip);
            }
            let closed_by = match entry.closed_by {
                Some(by) => self.raw_event(by)?.map(|e| e.stored()).transpose()?,
                None => None,
            };
            let row = LeadRow {
                status: entry.status,
                closed_by: closed_by.map(|e| e.envelope.key()),
                domain: entry.domain,
                produced_at: entry.produced_at,
            };
            Ok(Step::Take((self.require_event(seq)?, row)))
        })
    }

    /// Up to `limit` durable deliveries of `agency` with a cursor above `after`, with what they
    /// carry.
    pub fn deliveries(
        &self,
        agency: &AgencyId,
        after: u64,
        limit: usize,
    ) -> Result<Vec<(DeliveryRecord, DeliveredItem)>, StoreError> {
        let latest = self.latest_cursor(agency)?;
        let mut out = Vec::new();
        let start = keys::inbox(agency.as_str(), after.saturating_add(1));
        let end = keys::inbox(agency.as_str(), latest.saturating_add(1));
        for entry in self.tree.range(start..end).take(limit) {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            let (seq, alert, reason) = values::read_inbox_value(&raw)?;
            let (item, delivered_at) = if alert {
                let alert = self.alert(seq)?.ok_or_else(|| StoreError::Corrupt {
                    tree: "alerts",
                    reason: format!("inbox names alert {seq}, which is missing"),
                })?;
                let at = alert.raised_at;
                (DeliveredItem::Alert(alert), at)
            } else {
                // The inbox head is the gate: what it covers was flushed.
                let event = self
                    .raw_event(seq)?
                    .ok_or_else(|| StoreError::Corrupt {
                        tree: "events",
                        reason: format!("inbox names seq {seq}, which is missing"),
                    })?
                    .stored()?;
                let at = event.applied_at;
                (DeliveredItem::Event(event), at)
            };
            let record = DeliveryRecord {
                cursor: keys::suffix_u64(&key),
                seq,
                reason,
                delivered_at,
            };
            out.push((record, item));
        }
        Ok(out)
    }

    /// The agency's latest durable delivery cursor (0 if none).
    pub fn latest_cursor(&self, agency: &AgencyId) -> Result<u64, StoreError> {
        Ok(self
            .durable_heads
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(agency.as_str())
            .copied()
            .unwrap_or(0))
    }

    /// The cursor the agency has acknowledged (0 if none).
    pub fn acknowledged(&self, agency: &AgencyId) -> Result<u64, StoreError> {
        Ok(self
            .tree
            .get(keys::ack(agency))
            .map_err(StoreError::sled("read"))?
            .map_or(0, |raw| keys::decode_u64(&raw)))
    }

    /// Records that `agency` processed its inbox up to `cursor`; never moves backwards; durable
    /// on return. Returns the acknowledged and latest cursors.
    pub async fn acknowledge(
        &self,
        agency: &AgencyId,
        cursor: u64,
    ) -> Result<(u64, u64), StoreError> {
        let latest = self.latest_cursor(agency)?;
        if cursor > latest {
            return Err(StoreError::CursorAhead {
                agency: agency.clone(),
                cursor,
                latest,
            });
        }
        let previous = self.raise_ack(agency, cursor)?;
        let acknowledged = previous.max(cursor);
        if acknowledged > previous {
            self.flush().await?;
            self.pending_acks.note(agency, acknowledged);
        }
        Ok((acknowledged, latest))
    }
}

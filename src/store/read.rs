//! Reads for the query API and inbox streams, and the one write readers make: inbox
//! acknowledgements. Every read stops at the durable watermark.

use jiff::Timestamp;

use super::{DeliveryRecord, Item, LeadRow, Store, StoreError, StoredEvent, decode, keys};
use crate::domain::{AgencyId, Alert, Domain, EventKey, LeadStatus, LogPosition, SubjectKey};

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

/// A page of results and the token for the next one.
#[derive(Debug)]
pub struct Page<T> {
    /// The results.
    pub items: Vec<T>,
    /// Pass back to continue; `None` at the end.
    pub next_token: Option<String>,
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
    fn matches(&self, row: &LeadRow) -> bool {
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
        self.trees
            .events
            .get(seq.to_be_bytes())
            .map_err(StoreError::sled("read"))?
            .map(|raw| decode("events", &raw))
            .transpose()
    }

    fn require_event(&self, seq: u64) -> Result<StoredEvent, StoreError> {
        self.event(seq)?.ok_or_else(|| StoreError::Corrupt {
            tree: "events",
            reason: format!("index names seq {seq}, which is missing"),
        })
    }

    /// Scans the keys of `tree` under `scope`, after the key a page token names, visiting at most
    /// [`MAX_SCAN`] entries and returning up to `limit` results with a token to go on.
    pub(super) fn page<T>(
        tree: &sled::Tree,
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
        for entry in tree.range(start..) {
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
        let Some(raw) = self
            .trees
            .applied
            .get(key.to_bytes())
            .map_err(StoreError::sled("read"))?
        else {
            return Ok(None);
        };
        let seq = keys::decode_u64(&raw[..8.min(raw.len())]);
        let (Some(event), Ok(hash)) = (
            self.event(seq)?,
            <[u8; 32]>::try_from(raw.get(8..).unwrap_or_default()),
        ) else {
            return Ok(None);
        };
        Ok(Some((hash, event.position)))
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
            .trees
            .events
            .range((after_seq + 1).to_be_bytes()..)
            .take(limit)
        {
            let (_, raw) = entry.map_err(StoreError::sled("read"))?;
            let event: StoredEvent = decode("events", &raw)?;
            if event.seq > durable {
                break;
            }
            out.push(event);
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
        let scope = keys::scope(subject.as_str());
        Self::page(&self.trees.subjects, &scope, token, limit, |key, _| {
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
        let scope = filter.division_prefix.as_bytes();
        Self::page(&self.trees.leads, scope, token, limit, |key, raw| {
            let seq = keys::suffix_u64(key);
            if seq > durable {
                return Ok(Step::Skip);
            }
            let row: LeadRow = decode("leads", raw)?;
            if !filter.matches(&row) {
                return Ok(Step::Skip);
            }
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
        let durable = self.durable_seq();
        let scope = keys::scope(agency.as_str());
        let mut out = Vec::new();
        let start = keys::compound(agency.as_str(), after.saturating_add(1));
        for entry in self.trees.inbox.range(start..) {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            if !key.starts_with(&scope) || out.len() == limit {
                break;
            }
            let record: DeliveryRecord = decode("inbox", &raw)?;
            if record.seq > durable {
                break;
            }
            let item = match record.item {
                Item::Event => DeliveredItem::Event(self.require_event(record.seq)?),
                Item::Alert => DeliveredItem::Alert(self.alert(record.seq)?.ok_or_else(|| {
                    StoreError::Corrupt {
                        tree: "alerts",
                        reason: format!("inbox names alert {}, which is missing", record.seq),
                    }
                })?),
            };
            out.push((record, item));
        }
        Ok(out)
    }

    /// The agency's latest durable delivery cursor (0 if none).
    pub fn latest_cursor(&self, agency: &AgencyId) -> Result<u64, StoreError> {
        let durable = self.durable_seq();
        let scope = keys::scope(agency.as_str());
        for entry in self.trees.inbox.scan_prefix(&scope).rev() {
            let (_, raw) = entry.map_err(StoreError::sled("read"))?;
            let record: DeliveryRecord = decode("inbox", &raw)?;
            if record.seq <= durable {
                return Ok(record.cursor);
            }
        }
        Ok(0)
    }

    /// The cursor the agency has acknowledged (0 if none).
    pub fn acknowledged(&self, agency: &AgencyId) -> Result<u64, StoreError> {
        Ok(self
            .trees
            .inbox_acks
            .get(agency.as_str())
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
        let previous = self
            .trees
            .inbox_acks
            .fetch_and_update(agency.as_str(), |old| {
                let old = old.map_or(0, keys::decode_u64);
                Some(old.max(cursor).to_be_bytes().to_vec())
            })
            .map_err(StoreError::sled("acknowledge"))?
            .map_or(0, |raw| keys::decode_u64(&raw));
        let acknowledged = previous.max(cursor);
        if acknowledged > previous {
            self.flush().await?;
        }
        Ok((acknowledged, latest))
    }
}

impl Store {
    /// The latest `limit` durable alerts whose division starts with `division_prefix` (all
    /// alerts for an empty prefix), newest first.
    pub fn latest_alerts(
        &self,
        division_prefix: &str,
        limit: usize,
    ) -> Result<Vec<crate::domain::Alert>, StoreError> {
        self.alerts_in(self.trees.alerts.iter().rev(), division_prefix, limit)
    }

    /// Up to `limit` durable alerts raised after `after` (an alert id) whose division starts
    /// with `division_prefix`, oldest first: what a live view has not shown yet.
    pub fn alerts_after(
        &self,
        after: u64,
        division_prefix: &str,
        limit: usize,
    ) -> Result<Vec<crate::domain::Alert>, StoreError> {
        let start = after.saturating_add(1).to_be_bytes();
        self.alerts_in(self.trees.alerts.range(start..), division_prefix, limit)
    }

    fn alerts_in(
        &self,
        entries: impl Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>,
        division_prefix: &str,
        limit: usize,
    ) -> Result<Vec<crate::domain::Alert>, StoreError> {
        let durable = self.durable_seq();
        let mut out = Vec::new();
        for entry in entries {
            let (key, raw) = entry.map_err(StoreError::sled("read"))?;
            if keys::decode_u64(&key) > durable {
                continue;
            }
            let alert: crate::domain::Alert = decode("alerts", &raw)?;
            let within = alert
                .division
                .as_ref()
                .map_or(division_prefix.is_empty(), |d| {
                    d.as_str().starts_with(division_prefix)
                });
            if within {
                out.push(alert);
                if out.len() == limit {
                    break;
                }
            }
        }
        Ok(out)
    }
}

impl StoredEvent {
    /// Whether the event names a natural person (a referral step is about one's case).
    pub fn is_personal(&self) -> bool {
        matches!(
            self.envelope.subject().map(|s| &s.id),
            Some(crate::domain::SubjectId::Person(_))
        ) || matches!(
            &self.envelope.payload,
            crate::domain::Payload::ReferralUpdate(_)
        )
    }

    /// What `reader` may see of it (`None`: the development operator, who sees all), by the
    /// rules of [`crate::domain::access`]: its parties are its producer and recipients.
    pub fn access(&self, reader: Option<&crate::domain::Agency>) -> crate::domain::Access {
        let Some(reader) = reader else {
            return crate::domain::Access::Full;
        };
        let mut parties = self.delivered_to.clone();
        parties.push(self.envelope.producer.clone());
        let item = crate::domain::access::Item {
            parties: &parties,
            division: self.envelope.division(),
            handling: self.envelope.handling,
            referral: self.envelope.referral_key().is_some(),
        };
        crate::domain::access::access(reader, &item)
    }
}

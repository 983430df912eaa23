//! Xiezhi (獬豸): a message broker for cross-department enforcement data.
//!
//! Administrative agencies, police, procuratorates and coordinators share violation leads
//! (违法线索), case outcomes (处理结果) and criminal referrals (移送) through it; it routes them,
//! tracks the statutory deadlines of referrals, and notices on its own what no single agency
//! sees: leads that may be crimes, penalties where a referral was due (以罚代刑), one party
//! fined by several agencies, split cases, fines outside their band, missed deadlines.
//!
//! How an event travels:
//!
//! ```text
//! agency ──gRPC──▶ gateway ──LogRecord──▶ log ──▶ router ───────────▶ store (sled)
//!                  authorise, validate    embedded  decide/: pure       one tree: records,
//!                  encode once, hash once file or   functions → typed   index keys, inboxes,
//!                  ack after durable      Kafka     write sets          alerts, audit chain
//! reader ◀──gRPC stream / query / console── store ◀── one sled batch, flush, then positions
//! ```
//!
//! 1. [`gateway`] identifies the caller ([`access`]: certificates, jurisdiction, handling codes),
//!    validates a publish request into a [`domain::Envelope`] (identifier check characters,
//!    division codes, registered agencies, amounts, times, sizes), encodes it once in protobuf
//!    and hashes it once ([`codec`]), and appends the `LogRecord` to the [`bus`], keyed by
//!    subject. It answers, with a signed receipt, only when the append is durable; a retried
//!    event id with the same content is acknowledged as a duplicate.
//! 2. The [`bus`] is an ordered, partitioned, durable log: an append-only file of its own
//!    (`bus::embedded`) or Apache Kafka (`bus::kafka`), behind one trait.
//! 3. The [`router`] reads the log in batches. For each record its `decide` functions — pure,
//!    over a view of the store plus the batch's earlier writes, the policy and the clock —
//!    compute a typed write set: the event record and its index entries, deliveries (routing
//!    leads to the responsible agencies, feeding outcomes back), referral steps and their Decree
//!    310 deadlines, the checks of thresholds and outcomes, and the alerts they raise. On each
//!    tick of its clock it decides what fell due (deadlines missed, 以罚代刑 watches).
//! 4. The [`store`] applies a batch's write sets as one atomic sled batch — the audit chain
//!    ([`audit`]) running through the event and alert records — flushes, moves its durable
//!    watermark, and only then does the router commit the log positions. The router stages the
//!    next batch while the store applies the last.
//! 5. Readers use the gateway's `Inbox` stream (resumable by cursor), `Query` and `Referrals`
//!    calls, and the [`console`]'s pages, which see only what the store has made durable; every
//!    full read of personal data is on the audit chain before it is answered.
//!
//! Module dependencies point one way: `domain ← codec ← access ← store ← bus ← router ←
//! gateway | console ← app ← cli`; [`config`], [`proto`] and [`telemetry`] are near-leaves. sled
//! lives in `store/` (and `bus::embedded::legacy`, which reads old data directories), rdkafka in
//! `bus/kafka/`, tonic in `gateway/`, axum in `console/`. [`sim`] (demo agencies, workload, load
//! generator, client) and [`bench`] drive the broker from outside; the server never imports
//! them.
#![deny(unreachable_pub)]
#![warn(missing_docs)]

pub mod access;
pub mod app;
pub mod audit;
pub mod bench;
pub mod bus;
pub mod codec;
pub mod config;
pub mod console;
pub mod domain;
pub mod gateway;
pub mod import;
pub mod proto;
pub mod router;
pub mod sim;
pub mod store;
pub mod telemetry;
#[doc(hidden)]
pub mod testing;

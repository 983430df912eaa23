//! Xiezhi (獬豸): a message broker for cross-department enforcement data.
//!
//! Administrative agencies, police, procuratorates and coordinators share violation leads
//! (违法线索), case outcomes (处理结果) and, later, criminal referrals (移送) through it.
//!
//! How an event travels:
//!
//! ```text
//! agency ──gRPC──▶ gateway ──Envelope──▶ bus ──▶ router ──▶ store (sled)
//!                  validate             log keyed  dedupe, route,   events, subject index,
//!                  idempotency          by subject deliver          leads, inboxes
//!                  ack after durable              │
//! reader ◀──gRPC stream / query── store ◀─────────┘
//! ```
//!
//! 1. [`gateway`] validates a publish request into a [`domain::Envelope`] (identifier check
//!    characters, division codes, registered agencies, amounts, times, sizes) and appends it
//!    to the [`bus`], keyed by subject. It answers only when the append is durable; a retried
//!    event id with the same content is acknowledged as a duplicate.
//! 2. The [`bus`] is an ordered, partitioned, durable log: embedded in sled now, Apache Kafka
//!    next, behind one trait.
//! 3. The [`router`] consumes the log in batches and applies each batch to the [`store`] in one
//!    transaction — skip event ids applied before, store, index by subject, route leads to
//!    responsible agencies' inboxes — flushes, and only then commits the log offsets.
//! 4. Readers use the gateway's `Inbox` stream (resumable by cursor) and `Query` calls, which
//!    see only what the store has made durable.
//!
//! Module dependencies point one way: `domain ← store ← bus ← router ← gateway ← app`;
//! [`config`] is a leaf. sled lives in `store/` and `bus/embedded.rs`, tonic and generated code
//! in `gateway/` and [`proto`].
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
pub mod proto;
pub mod router;
pub mod sim;
pub mod store;
pub mod telemetry;
#[doc(hidden)]
pub mod testing;

//! Integration tests: the real broker on 127.0.0.1:0 with a temp data dir, driven through the
//! generated tonic clients; the `xiezhi` binary for the CLI and crash tests.

mod audit;
mod bench;
mod browser;
mod browser_demo;
mod cli;
mod clients;
mod console;
mod contract;
mod durability;
mod faults;
mod hostile;
mod idempotency;
mod import;
mod inbox;
mod inspections;
mod kafka;
mod kafka_secure;
mod limits;
mod pages;
mod procedure;
mod process;
mod rebuild;
mod rebuild_order;
mod referrals;
mod replicas;
mod routing;
mod security;
mod server;
mod stats;
mod stream;
mod support;
mod validation;
mod verify;

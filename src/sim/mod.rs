//! Simulated agencies and load — tools that drive the broker from outside, as an agency's
//! system would, and that the server never imports: the demo's agencies ([`demo`]) and their
//! inspections ([`inspections`]) and procedural records ([`procedure`]), realistic
//! traffic shared by the demo (whose past month [`history`] seeds) and the benchmark ([`workload`]), the load generator of
//! `xiezhi bench` ([`load`]), and a small gRPC client ([`client`]) for `xiezhi publish`.

pub mod client;
pub mod demo;
pub mod history;
pub mod inspections;
pub mod load;
pub mod procedure;
pub mod workload;

//! Entry points for the cargo-fuzz targets in `fuzz/` and the micro-benchmarks in `benches/`
//! (hidden from the API). The fuzz entry points take arbitrary bytes and must neither panic nor
//! accept anything they cannot give back intact.
//!
//! - [`publish_request`]: the first byte picks a publish request (lead, outcome, referral,
//!   referral step), the rest is decoded as its protobuf and validated as the gateway does; an
//!   accepted request must survive the log record round trip and the reader's conversion and
//!   masking.
//! - [`log_record`]: bytes as the router reads them from the log (a `LogRecord`, or a legacy
//!   JSON envelope).
//! - [`rule_condition`]: text as a rule file's condition, evaluated if it parses.

use std::sync::OnceLock;

use prost::Message;

use crate::access::mask;
use crate::codec::log::EnvelopeBytes;
use crate::domain::expr::{self, Case};
use crate::domain::{Envelope, FieldViolation, Registry, ValidationPolicy};
use crate::gateway::convert;
use crate::proto;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        crate::config::parse_registry(crate::config::SAMPLE_REGISTRY, "sample")
            .expect("the sample registry parses")
    })
}

/// The moment fuzzing and benchmarks validate at, fixed so that results reproduce.
pub const NOW: jiff::Timestamp = jiff::Timestamp::constant(1_795_000_000, 0);

/// Validates a lead as the gateway does (sample registry, default policy, at [`NOW`]).
pub fn validate_lead(request: &proto::PublishLeadRequest) -> Result<Envelope, Vec<FieldViolation>> {
    let policy = ValidationPolicy::default();
    convert::Validator {
        registry: registry(),
        divisions: &crate::domain::divisions::Divisions::default(),
        policy: &policy,
        now: NOW,
    }
    .lead(request)
}

/// Decodes and validates one publish request; see the module docs.
pub fn publish_request(data: &[u8]) {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    let policy = ValidationPolicy::default();
    let validator = convert::Validator {
        registry: registry(),
        divisions: &crate::domain::divisions::Divisions::default(),
        policy: &policy,
        now: NOW,
    };
    let validated = match kind % 4 {
        0 => proto::PublishLeadRequest::decode(bytes).map(|r| validator.lead(&r)),
        1 => proto::PublishOutcomeRequest::decode(bytes).map(|r| validator.outcome(&r)),
        2 => proto::ReferRequest::decode(bytes).map(|r| validator.refer(&r)),
        _ => proto::UpdateReferralRequest::decode(bytes).map(|r| validator.update(&r)),
    };
    if let Ok(validated) = validated {
        accepted_round_trips(validated);
    }
}

fn accepted_round_trips(validated: Result<Envelope, Vec<FieldViolation>>) {
    let Ok(envelope) = validated else {
        return;
    };
    let bytes = EnvelopeBytes::encode(&envelope);
    let record = crate::codec::log::encode(&bytes, NOW);
    let entry = crate::codec::log::decode(&record).expect("an accepted event's log record decodes");
    let decoded = entry
        .envelope
        .decode()
        .expect("an accepted event decodes from the log");
    assert_eq!(
        decoded, envelope,
        "an accepted event is stored as it was accepted"
    );
    assert_eq!(entry.envelope.content_hash, bytes.content_hash);
    let mut shown = convert::envelope(&envelope);
    mask::envelope(&mut shown);
}

/// Decodes a log record as the router does: a decoded envelope re-encodes to itself.
pub fn log_record(data: &[u8]) {
    let Ok(entry) = crate::codec::log::decode(data) else {
        return;
    };
    if let Ok(envelope) = entry.envelope.decode() {
        let again = EnvelopeBytes::encode(&envelope)
            .decode()
            .expect("a decoded record re-encodes");
        assert_eq!(again, envelope);
    }
}

/// A case with every fact and value derived from the name, so evaluation touches every path.
struct Derived;

impl Case for Derived {
    fn fact(&self, name: &str) -> i64 {
        name.len() as i64 * 1_000_003
    }
    fn value(&self, name: &str) -> i64 {
        i64::MAX - name.len() as i64
    }
    fn is_person(&self) -> bool {
        true
    }
    fn prior_penalties(&self, months: u32) -> i64 {
        i64::from(months)
    }
}

/// Parses text as a rule condition and evaluates it.
pub fn rule_condition(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(condition) = expr::parse_cond(text) {
        condition.eval(&Derived);
        condition.names();
    }
    if let Ok(number) = expr::parse_num(text) {
        number.eval(&Derived);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fuzz_regressions_stay_fixed() {
        for input in CRASHES {
            let bytes = hex::decode(input).expect("hex");
            publish_request(&bytes);
            log_record(&bytes);
            rule_condition(&bytes);
        }
    }

    /// The inputs the fuzzers found that once crashed, in hex as `xxd -p` prints an artifact from
    /// `fuzz/artifacts/`. Each must now pass without a panic.
    const CRASHES: &[&str] = &[
        // A resident id of 18 bytes cut inside a multi-byte character (ResidentId::parse).
        "010a0465762d32120b3333303130362d53434a471a0608a080f0d70622b2010a1de69dade8a5bfe5b882e7\
         9b91e7bd9ae38094323000000000000000d1b7121e08021212313131323331303032581a06e5bca0e4b889\
         1a06333330323132203d2a0630323132203d2a06434c2d31343030013880b6dc0540b0ae154a100a097361\
         6c3130364d416e10c0b5fa02520608a080f0d7065a130a0b3539383439362d5354484a120465762d316221\
         e3808ae4baa7e59381e8b4a8e9878fe6b395e3808be7acace4ba94e58d81e69da168027002",
    ];
}

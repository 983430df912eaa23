//! A publish request (first byte: lead, outcome, referral, step) decoded and validated as the gateway does.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xiezhi::testing::publish_request(data);
});

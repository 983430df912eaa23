//! A log record decoded as the router reads it.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xiezhi::testing::log_record(data);
});

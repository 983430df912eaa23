//! A rule file's condition parsed and evaluated.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    xiezhi::testing::rule_condition(data);
});

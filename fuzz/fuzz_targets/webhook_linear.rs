#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| integrations_fuzz::webhook(
    "linear::linear-default",
    data
));

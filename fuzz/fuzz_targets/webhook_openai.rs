#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| integrations_fuzz::webhook(
    "openai::openai-default",
    data
));

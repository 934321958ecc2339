#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| integrations_fuzz::signatures::signature_headers(data));

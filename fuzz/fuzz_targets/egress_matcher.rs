#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| integrations_fuzz::egress::egress_matcher(data));

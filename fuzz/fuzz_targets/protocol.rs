#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| ferroban_fuzz::protocol(data));

//! Snapshot messages as a data plane receives them (see the harness).
#![no_main]

#[path = "../../data-plane/tests/support/fuzz.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::snapshot(data));

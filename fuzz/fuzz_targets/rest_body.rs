//! Admin API request bodies through the JSON edge, and what is accepted through the store's
//! record encoding (see the harness).
#![no_main]

#[path = "../../control-plane/tests/support/fuzz.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::rest_body(data));

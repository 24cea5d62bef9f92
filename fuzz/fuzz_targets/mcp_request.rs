//! The data plane's request path after the socket (see the harness).
#![no_main]

#[path = "../../data-plane/tests/support/fuzz.rs"]
mod harness;

use std::sync::OnceLock;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static H: OnceLock<harness::Harness> = OnceLock::new();
    H.get_or_init(harness::Harness::new).request(data);
});

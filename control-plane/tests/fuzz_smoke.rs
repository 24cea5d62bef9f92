//! A short, seeded fuzzing run of the admin API's request bodies (the long runs use the same
//! harness through `cargo fuzz`, see `fuzz/`): random bytes, random JSON, and tool definitions
//! that nest deep enough to test the edge's depth limit against what the store can read back.

#[path = "support/fuzz.rs"]
mod fuzz;

use proptest::prelude::*;
use serde_json::{Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[ -~]{0,10}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z]{1,8}", inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A valid tool whose simulation response nests `levels` deep: around the edge's limit.
fn deep_tool() -> impl Strategy<Value = Vec<u8>> {
    (50usize..140, json_value()).prop_map(|(levels, extra)| {
        let nested = format!("{}{extra}{}", "[".repeat(levels), "]".repeat(levels));
        format!(
            r#"{{"description":"d","inputSchema":{{"type":"object"}},"http":{{"method":"GET","path":"/x"}},"simulation":{{"response":{nested}}}}}"#
        )
        .into_bytes()
    })
}

fn config() -> impl Strategy<Value = Vec<u8>> {
    (
        json_value(),
        "https?://[a-z0-9.:\\[\\]]{1,20}(/[ -~]{0,10})?",
    )
        .prop_map(|(extra, base)| {
            json!({"parameters": {"baseUrl": base, "extra": extra}, "limits": {"burst": 3}})
                .to_string()
                .into_bytes()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn bodies_never_panic_and_accepted_documents_read_back(input in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        json_value().prop_map(|v| v.to_string().into_bytes()),
        deep_tool(),
        config(),
    ]) {
        fuzz::rest_body(&input);
    }
}

//! A short, seeded fuzzing run of the data plane's request path and snapshot decoding (the
//! long runs use the same harness through `cargo fuzz`, see `fuzz/`): random bytes, and
//! structured inputs close enough to valid to get deep — every method, odd ids, duplicated and
//! conflicting headers, arbitrary params and arguments, damaged snapshot messages.

#[path = "support/fuzz.rs"]
mod fuzz;

use std::sync::OnceLock;

use mcpgw_shared::pb;
use proptest::prelude::*;
use prost::Message;
use serde_json::{Value, json};

fn harness() -> &'static fuzz::Harness {
    static H: OnceLock<fuzz::Harness> = OnceLock::new();
    H.get_or_init(fuzz::Harness::new)
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "[ -~]{0,12}".prop_map(Value::String),
        Just(json!("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!")),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,6}|id|x|s|name|cursor|_meta", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("initialize"),
        Just("ping"),
        Just("server/discover"),
        Just("tools/list"),
        Just("tools/call"),
        Just("notifications/initialized"),
        Just("notifications/cancelled"),
        Just("resources/read"),
        Just("prompts/get"),
        Just("logging/setLevel"),
        Just("nope"),
    ]
    .prop_map(str::to_owned)
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        Just("18446744073709551616".to_owned()),
        Just("1.50".to_owned()),
        Just("-0".to_owned()),
        Just("\"abc\"".to_owned()),
        Just("null".to_owned()),
        Just("{}".to_owned()),
    ]
}

fn params() -> impl Strategy<Value = Value> {
    (
        json_value(),
        prop_oneof![
            Just("echo"),
            Just("typed"),
            Just("scripted"),
            Just("blocks"),
            Just("missing")
        ],
        json_value(),
        any::<bool>(),
    )
        .prop_map(|(extra, name, arguments, modern)| {
            let mut p =
                json!({"name": name, "arguments": arguments, "extra": extra, "cursor": "echo"});
            if modern {
                p["_meta"] = json!({
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "progressToken": 1
                });
            }
            p
        })
}

fn header() -> impl Strategy<Value = String> {
    prop_oneof![
        prop_oneof![
            Just("2026-07-28"),
            Just("2025-11-25"),
            Just("2025-06-18"),
            Just("2025-03-26"),
            Just("1999-01-01")
        ]
        .prop_map(|v| format!("mcp-protocol-version: {v}")),
        method().prop_map(|m| format!("mcp-method: {m}")),
        prop_oneof![
            Just("echo"),
            Just("typed"),
            Just("=?base64?ZWNobw==?="),
            Just("=?base64?!!?=")
        ]
        .prop_map(|n| format!("mcp-name: {n}")),
        Just("mcp-param-s: aaaa".to_owned()),
        Just("accept: application/json, text/event-stream".to_owned()),
        Just("authorization: Bearer mcpgw_x_y".to_owned()),
        Just("x-api-key: other".to_owned()),
        Just("origin: http://evil.example".to_owned()),
        "[ -~]{0,30}",
    ]
}

fn structured_request() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(header(), 0..6),
        id(),
        method(),
        params(),
        0usize..4,
    )
        .prop_map(|(headers, id, method, params, shape)| {
            let one =
                format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}","params":{params}}}"#);
            let body = match shape {
                0 => one,
                1 => format!("[{one},{one}]"),
                2 => format!(r#"{{"jsonrpc":"2.0","method":"{method}","params":{params}}}"#),
                _ => format!(r#"{{"jsonrpc":"1.0","id":{id},"result":{params}}}"#),
            };
            format!("{}\n\n{body}", headers.join("\n")).into_bytes()
        })
}

fn snapshot_message() -> impl Strategy<Value = Vec<u8>> {
    let tool = prop_oneof![
        Just(r#"{"id":"t","description":"d","inputSchema":{"type":"object"},"http":{"method":"GET","path":"/x"}}"#.to_owned()),
        Just(r#"{"id":"t","description":"d","inputSchema":{"type":"object","properties":{"p":{"type":"string","pattern":"(?=a)"}}},"http":{"method":"GET","path":"/x"}}"#.to_owned()),
        json_value().prop_map(|v| v.to_string()),
        "[ -~]{0,40}",
    ];
    let integration = (
        "[a-z]{1,4}|\\.\\./x|",
        "[a-z]{1,4}",
        prop::collection::vec(tool, 0..4),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(
            |(tenant, id, tools_json, enabled, hash)| pb::IntegrationSnapshot {
                tenant,
                integration_id: id,
                enabled,
                tools_json,
                keys: vec![pb::KeyEntry {
                    key_id: "not-a-uuid".into(),
                    key_prefix: "mcpgw_k".into(),
                    hash,
                }],
                ..Default::default()
            },
        );
    (
        any::<u64>(),
        any::<bool>(),
        prop::collection::vec(integration, 0..4),
    )
        .prop_map(|(version, full, upserts)| {
            pb::Snapshot {
                version,
                full,
                upserts,
                removals: Vec::new(),
                more: false,
                store_id: String::new(),
                data_planes: 0,
                oauth: None,
            }
            .encode_to_vec()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn requests_never_panic_and_always_answer_json(input in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        structured_request(),
    ]) {
        harness().request(&input);
    }

    #[test]
    fn snapshot_messages_never_panic(input in prop_oneof![
        prop::collection::vec(any::<u8>(), 0..300),
        snapshot_message(),
    ]) {
        fuzz::snapshot(&input);
    }
}

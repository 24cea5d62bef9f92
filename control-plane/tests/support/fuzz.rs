//! Fuzzing harness of the REST and gRPC bodies: every request type goes through the one JSON
//! edge (`service::parse_json`) and its validation, and whatever is accepted must survive the
//! trip into a stored record and back — what the store writes, it can read. Shared by the
//! proptest run in the test suite (`tests/fuzz_smoke.rs`) and the `cargo fuzz` targets.
#![allow(dead_code)]

use mcpgw_control_plane::service::parse_json;
use mcpgw_control_plane::service::views::{
    ConfigPatch, IntegrationPatch, McpPatch, NewConfig, NewIntegration, PublishRequest,
    RollbackRequest,
};
use mcpgw_control_plane::shared::model::ToolDef;
use mcpgw_control_plane::store::{ConfigRecord, McpRecord, ToolRecord};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Stores `record` as the store would and reads it back; panics if it does not come back.
fn round_trip<T: Serialize + DeserializeOwned>(record: &T) {
    let bytes = serde_json::to_vec(record).expect("encodes");
    assert!(
        mcpgw_control_plane::shared::json::depth(&bytes)
            <= mcpgw_control_plane::shared::json::DECODE_DEPTH_LIMIT,
        "an accepted document would be stored too deep to read back"
    );
    serde_json::from_slice::<T>(&bytes).expect("what is stored reads back");
}

/// Runs `data` through the edge as the body of every request type.
pub fn rest_body(data: &[u8]) {
    let _ = parse_json::<NewIntegration>(data);
    let _ = parse_json::<IntegrationPatch>(data);
    let _ = parse_json::<PublishRequest>(data);
    let _ = parse_json::<RollbackRequest>(data);
    if let Ok(patch) = parse_json::<McpPatch>(data)
        && let Some(limits) = patch.limits
        && limits.validate().is_ok()
    {
        round_trip(&McpRecord {
            limits,
            ..McpRecord::default()
        });
    }
    for parameters in [
        parse_json::<NewConfig>(data).ok().map(|c| c.parameters),
        parse_json::<ConfigPatch>(data)
            .ok()
            .and_then(|c| c.parameters),
    ]
    .into_iter()
    .flatten()
    {
        if parameters.validate().is_ok() {
            round_trip(&ConfigRecord {
                id: uuid::Uuid::nil(),
                display_name: String::new(),
                parameters,
                auth_type: "NONE".into(),
                sealed_auth: Vec::new(),
                published_revision_id: None,
                next_version: 1,
                created_at: 0,
                modified_at: 0,
            });
        }
    }
    if let Ok(mut body) = parse_json::<Value>(data)
        && let Some(obj) = body.as_object_mut()
    {
        obj.entry("id")
            .or_insert_with(|| Value::String("fuzzed".into()));
        if let Ok(def) = serde_json::from_value::<ToolDef>(body)
            && def.validate().is_ok()
        {
            round_trip(&ToolRecord {
                digest: Some(mcpgw_shared::model::tool_digest(&def)),
                def,
                created_at: 0,
                modified_at: 0,
            });
        }
    }
}

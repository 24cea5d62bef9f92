//! What a client learns about the server: `initialize` (initialize era), `server/discover`
//! (2026-07-28), the server identity and capabilities, and the fields every 2026-07-28
//! result carries.

use rmcp::model::Implementation;
use serde_json::{Value, json};

use super::Ctx;
use super::modern;
use crate::protocol::version::Version;

/// The gateway's identity as this integration's MCP server.
pub(super) fn server_info(ctx: &Ctx, version: Version) -> Value {
    let snapshot = &ctx.integration.snapshot;
    let mut info = Implementation::new(
        snapshot.key.integration_id.clone(),
        env!("CARGO_PKG_VERSION"),
    );
    if version >= Version::V2025_06_18 && !snapshot.display_name.is_empty() {
        info.title = Some(snapshot.display_name.clone());
    }
    serde_json::to_value(info).unwrap_or(Value::Null)
}

fn capabilities(version: Version) -> Value {
    let mut caps = json!({
        "tools": {"listChanged": false},
        "prompts": {"listChanged": false},
        "resources": {"subscribe": false, "listChanged": false},
    });
    if !version.is_modern() {
        caps["logging"] = json!({});
    }
    caps
}

/// An empty prompt or resource list, with the cache hints 2026-07-28 requires on lists.
pub(super) fn empty_list(ctx: &Ctx, version: Version, field: &str) -> Value {
    let mut result = json!({ field: [] });
    if version.is_modern() {
        result["ttlMs"] = json!(ctx.shared.settings.list_ttl_ms);
        result["cacheScope"] = json!("private");
    }
    result
}

fn instructions(ctx: &Ctx) -> Option<String> {
    let d = &ctx.integration.snapshot.description;
    (!d.is_empty()).then(|| d.clone())
}

/// `initialize`: echo a supported version, else offer the newest `initialize`-era one.
pub(super) fn initialize(ctx: &Ctx, params: Option<&Value>) -> Value {
    let requested = params
        .and_then(|p| p.get("protocolVersion"))
        .and_then(Value::as_str);
    let version = requested
        .and_then(Version::parse)
        .filter(|v| !v.is_modern())
        .unwrap_or(Version::LATEST_LEGACY);
    let mut result = json!({
        "protocolVersion": version.as_str(),
        "capabilities": capabilities(version),
        "serverInfo": server_info(ctx, version),
    });
    if let Some(i) = instructions(ctx) {
        result["instructions"] = json!(i);
    }
    result
}

/// `server/discover` (2026-07-28).
pub(super) fn discover(ctx: &Ctx) -> Value {
    let mut result = json!({
        "supportedVersions": Version::all_strings(),
        "capabilities": capabilities(Version::V2026_07_28),
        "ttlMs": ctx.shared.settings.list_ttl_ms,
        "cacheScope": "private",
    });
    if let Some(i) = instructions(ctx) {
        result["instructions"] = json!(i);
    }
    if let Some(stamp) = super::catalog::meta(&ctx.integration.snapshot.catalog) {
        result["_meta"] = json!({ super::catalog::META_CATALOG: stamp });
    }
    result
}

/// Every 2026-07-28 result says it is complete and who answered.
pub(super) fn decorate_modern(ctx: &Ctx, result: &mut Value) {
    if let Some(obj) = result.as_object_mut() {
        obj.insert("resultType".into(), json!("complete"));
        let meta = obj.entry("_meta").or_insert_with(|| json!({}));
        if let Some(meta) = meta.as_object_mut() {
            meta.insert(
                modern::META_SERVER_INFO.into(),
                server_info(ctx, Version::V2026_07_28),
            );
        }
    }
}

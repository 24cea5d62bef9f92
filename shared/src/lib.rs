//! What both planes of the MCP gateway share.
//!
//! * [`ids`] — validation of tenant, integration and tool ids.
//! * [`json`] — nesting limits of client JSON, tied to what the store can decode.
//! * [`apikey`] — the API-key format (prefix, key id, secret, checksum), minting and
//!   constant-time verification.
//! * [`model`] — the domain types of tools, configs and limits, and the snapshot a data
//!   plane serves from.
//! * [`convert`] — the one place where snapshot types are converted to and from protobuf.
//! * [`schema`] — JSON Schema compilation with the limits both planes apply.
//! * [`pb`] — the generated protobuf/gRPC code of `proto/mcpgw/v1`.
//! * [`secret`] — a string type that never shows its content in `Debug`.

pub mod access_token;
pub mod apikey;
pub mod convert;
pub mod ids;
pub mod json;
pub mod model;
pub mod schema;
pub mod secret;
pub mod shard;

/// Generated protobuf messages and gRPC stubs of package `mcpgw.v1`.
pub mod pb {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("mcpgw.v1");
}

/// The nil UUID, which clears a config binding (`Guid.Empty` in the seed's API).
pub const NIL_UUID: uuid::Uuid = uuid::Uuid::nil();

/// Milliseconds since the Unix epoch, the unit of every timestamp in the API.
#[must_use]
pub fn now_millis() -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
}

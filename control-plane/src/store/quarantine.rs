//! Quarantine: records that no longer decode are moved out of the way at open, so one
//! damaged or unreadable record never stops the control plane from serving every other
//! tenant. Each is kept (metadata and raw bytes) until an operator removes it
//! (`GET /v1/quarantine`, `DELETE /v1/quarantine/{key}`); the integration it belonged to is
//! served without it — which always fails closed: a missing key is a revoked key, missing
//! settings are "disabled", a missing revision means no upstream calls.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    ApiKeyRecord, AuditRecord, CatalogRecord, CatalogRevisionRecord, ConfigRecord, GrantRecord,
    IntegrationRecord, McpRecord, RevisionRecord, ToolRecord, keys,
};

/// A quarantined record, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuarantinedRecord {
    /// The record's key in the store (e.g. `tool/acme/crm/get_user`).
    pub key: String,
    /// The tenant it belonged to, when its key says.
    pub tenant: Option<String>,
    /// Why it was quarantined.
    pub reason: String,
    /// When (epoch ms).
    pub quarantined_at: i64,
    /// Its size in bytes.
    pub size: u64,
}

fn decodes<T: DeserializeOwned>(value: &[u8]) -> Result<(), String> {
    serde_json::from_slice::<T>(value)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Whether a stored record decodes as what its key says it is. Kinds this version does not
/// know are left alone.
fn check(key: &str, value: &[u8]) -> Result<(), String> {
    let kind = key.split('/').next().unwrap_or_default();
    match kind {
        "meta" if key == keys::store_id().as_str() => decodes::<String>(value),
        "meta" => decodes::<u64>(value),
        "audit" => decodes::<AuditRecord>(value),
        "int" => decodes::<IntegrationRecord>(value),
        "tool" => decodes::<ToolRecord>(value),
        "cfg" => decodes::<ConfigRecord>(value),
        "rev" => decodes::<RevisionRecord>(value),
        "mcp" => decodes::<McpRecord>(value),
        "key" => decodes::<ApiKeyRecord>(value),
        "grant" => decodes::<GrantRecord>(value),
        "cat" => decodes::<CatalogRecord>(value),
        "catrev" => decodes::<CatalogRevisionRecord>(value),
        "catbody" => decodes::<mcpgw_shared::model::ToolDef>(value),
        _ => Ok(()),
    }
}

/// What a record that failed [`check`] (for `reason`) is listed as.
pub(crate) fn record(key: &[u8], reason: String, size: usize) -> QuarantinedRecord {
    let key = String::from_utf8_lossy(key).into_owned();
    QuarantinedRecord {
        tenant: keys::tenant_of(&key).map(str::to_owned),
        key,
        reason,
        quarantined_at: mcpgw_shared::now_millis(),
        size: size as u64,
    }
}

/// The reason a stored record must be quarantined, if it must.
pub(crate) fn reason(key: &[u8], value: &[u8]) -> Option<String> {
    match std::str::from_utf8(key) {
        Ok(k) => check(k, value).err(),
        Err(_) => Some("the key is not UTF-8".to_owned()),
    }
}

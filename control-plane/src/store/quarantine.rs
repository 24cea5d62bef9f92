//! Quarantine: records that no longer decode are moved out of the way at open, so one
//! damaged or unreadable record never stops the control plane from serving every other
//! tenant. Each is kept (metadata and raw bytes) until an operator removes it
//! (`GET /v1/quarantine`, `DELETE /v1/quarantine/{key}`); the integration it belonged to is
//! served without it — which always fails closed: a missing key is a revoked key, missing
//! settings are "disabled", a missing revision means no upstream calls.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::{
    ApiKeyRecord, AuditRecord, ConfigRecord, Handles, IntegrationRecord, McpRecord, RevisionRecord,
    StoreError, ToolRecord, keys,
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
        _ => Ok(()),
    }
}

/// Moves every record of `data` that does not decode into quarantine.
pub(super) fn sweep(h: &Handles) -> Result<Vec<QuarantinedRecord>, StoreError> {
    let mut moved = Vec::new();
    for entry in h.data.iter() {
        let (key, value) = entry?;
        let reason = match std::str::from_utf8(&key) {
            Ok(k) => match check(k, &value) {
                Ok(()) => continue,
                Err(reason) => reason,
            },
            Err(_) => "the key is not UTF-8".to_owned(),
        };
        let key_text = String::from_utf8_lossy(&key).into_owned();
        let record = QuarantinedRecord {
            tenant: keys::tenant_of(&key_text).map(str::to_owned),
            key: key_text,
            reason,
            quarantined_at: mcpgw_shared::now_millis(),
            size: value.len() as u64,
        };
        h.quarantine_raw.insert(&key, value)?;
        h.quarantine.insert(
            &key,
            serde_json::to_vec(&record).map_err(StoreError::Encode)?,
        )?;
        moved.push((key, record));
    }
    if moved.is_empty() {
        return Ok(Vec::new());
    }
    // Durable in quarantine before it leaves `data`: a crash in between quarantines it again.
    h.db.flush()?;
    let mut batch = sled::Batch::default();
    for (key, _) in &moved {
        batch.remove(key.clone());
    }
    h.data.apply_batch(batch)?;
    Ok(moved.into_iter().map(|(_, r)| r).collect())
}

/// Every quarantined record.
pub(super) fn list(h: &Handles) -> Result<Vec<QuarantinedRecord>, StoreError> {
    let mut out = Vec::new();
    for entry in h.quarantine.iter() {
        let (_, meta) = entry?;
        if let Ok(record) = serde_json::from_slice(&meta) {
            out.push(record);
        }
    }
    Ok(out)
}

/// Removes one quarantined record; false if there is none.
pub(super) fn remove(h: &Handles, key: &str) -> Result<bool, StoreError> {
    let existed = h.quarantine.remove(key.as_bytes())?.is_some();
    h.quarantine_raw.remove(key.as_bytes())?;
    Ok(existed)
}

//! The embedded store's usage recount at open: sled applies a failed batch partly in memory,
//! so the counters are rebuilt from the records themselves rather than trusted.

use std::collections::BTreeMap;

use super::super::usage::{Usage, is_charged};
use super::super::{ApiKeyRecord, StoreError, keys};
use super::Handles;

/// Recounts every tenant's usage, prunes audit records beyond `retention`, and repairs a
/// missing or stale version counter from the audit log.
pub(super) fn recount(h: &Handles, retention: u64) -> Result<(), StoreError> {
    let mut usage: BTreeMap<String, Usage> = BTreeMap::new();
    let mut audit: BTreeMap<String, Vec<sled::IVec>> = BTreeMap::new();
    let mut newest_audit = 0u64;
    for entry in h.data.iter() {
        let (key, value) = entry?;
        let text = String::from_utf8_lossy(&key);
        if let Some(rest) = text.strip_prefix("audit/") {
            if let Some((tenant, version)) = rest.split_once('/') {
                newest_audit = newest_audit.max(version.parse().unwrap_or(0));
                audit
                    .entry(tenant.to_owned())
                    .or_default()
                    .push(key.clone());
            }
            continue;
        }
        if !is_charged(&key) {
            continue;
        }
        let tenant = match keys::tenant_of(&text) {
            Some(t) => t.to_owned(),
            None => match serde_json::from_slice::<ApiKeyRecord>(&value) {
                Ok(k) => k.tenant,
                Err(_) => continue,
            },
        };
        usage.entry(tenant).or_default().bytes += (key.len() + value.len()) as u64;
    }
    let mut batch = sled::Batch::default();
    for (tenant, keys_of) in &audit {
        let excess = (keys_of.len() as u64).saturating_sub(retention);
        for old in keys_of
            .iter()
            .take(usize::try_from(excess).unwrap_or(usize::MAX))
        {
            batch.remove(old.clone());
        }
        usage.entry(tenant.clone()).or_default().audit_records = keys_of.len() as u64 - excess;
    }
    for existing in h.data.scan_prefix(b"usage/").keys() {
        let existing = existing?;
        let tenant = String::from_utf8_lossy(&existing["usage/".len()..]).into_owned();
        if !usage.contains_key(&tenant) {
            batch.remove(existing);
        }
    }
    for (tenant, u) in &usage {
        batch.insert(
            keys::usage(tenant).as_bytes(),
            serde_json::to_vec(u).map_err(StoreError::Encode)?,
        );
    }
    let stored: u64 = h
        .data
        .get(keys::version().as_bytes())?
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or(0);
    if stored < newest_audit {
        tracing::warn!(
            stored,
            newest_audit,
            "version counter behind the audit log: repaired"
        );
        batch.insert(
            keys::version().as_bytes(),
            serde_json::to_vec(&newest_audit).map_err(StoreError::Encode)?,
        );
    }
    h.data.apply_batch(batch)?;
    Ok(())
}

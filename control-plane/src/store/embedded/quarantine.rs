//! The embedded store's quarantine: two sled trees (what is listed, and the raw bytes).

use super::super::StoreError;
use super::super::quarantine::{QuarantinedRecord, reason, record};
use super::Handles;

/// Moves every record of `data` that does not decode into quarantine.
pub(super) fn sweep(h: &Handles) -> Result<Vec<QuarantinedRecord>, StoreError> {
    let mut moved = Vec::new();
    for entry in h.data.iter() {
        let (key, value) = entry?;
        let Some(reason) = reason(&key, &value) else {
            continue;
        };
        let record = record(&key, reason, value.len());
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

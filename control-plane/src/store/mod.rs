//! The control plane's only storage: one sled tree, owned by this module.
//!
//! Every record lives in the `data` tree under a typed key (see [`keys`]), serialised as
//! JSON. A write is one [`WriteSet`] applied as a single atomic sled batch that also bumps
//! the store's version and appends an audit record ([`Store::apply`]); the service flushes
//! ([`Store::flush`]) before it answers, so whatever a caller is told is durable.
//!
//! Writers are serialised by the service layer (one writer at a time), which makes each
//! read-check-write sequence linearizable without sled's optimistic transactions.

pub mod keys;
mod records;

use std::path::Path;

pub use records::{
    ApiKeyRecord, AuditRecord, ConfigRecord, IntegrationRecord, McpRecord, RevisionRecord,
    ToolRecord,
};
use serde::{Serialize, de::DeserializeOwned};

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, corruption).
    #[error("storage failure: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record could not be decoded: the data dir is damaged or from a newer version.
    #[error("stored record {key} is unreadable: {source}")]
    Decode {
        /// The record's key.
        key: String,
        /// Why.
        source: serde_json::Error,
    },
    /// A record could not be encoded (a bug).
    #[error("record could not be encoded: {0}")]
    Encode(serde_json::Error),
}

/// The store.
#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    data: sled::Tree,
}

/// The writes of one operation, applied atomically by [`Store::commit`].
#[derive(Default)]
pub struct WriteSet {
    batch: sled::Batch,
}

impl WriteSet {
    /// Stores `value` under `key`.
    ///
    /// # Errors
    /// [`StoreError::Encode`] if `value` cannot be serialised.
    pub fn put<T: Serialize>(&mut self, key: &keys::Key, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(StoreError::Encode)?;
        self.batch.insert(key.as_bytes(), bytes);
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &keys::Key) {
        self.batch.remove(key.as_bytes());
    }
}

impl Store {
    /// Opens (or creates) the store in `dir`.
    ///
    /// # Errors
    /// When sled cannot open the directory.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new().path(dir.join("store")).open()?;
        let data = db.open_tree("data")?;
        Ok(Self { db, data })
    }

    /// Reads one record.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn get<T: DeserializeOwned>(&self, key: &keys::Key) -> Result<Option<T>, StoreError> {
        self.data
            .get(key.as_bytes())?
            .map(|bytes| decode(key.as_str(), &bytes))
            .transpose()
    }

    /// Reads every record under `prefix`, in key order.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn scan<T: DeserializeOwned>(&self, prefix: &keys::Key) -> Result<Vec<T>, StoreError> {
        self.data
            .scan_prefix(prefix.as_bytes())
            .map(|entry| {
                let (k, v) = entry?;
                decode(&String::from_utf8_lossy(&k), &v)
            })
            .collect()
    }

    /// Every key under `prefix`, in order.
    ///
    /// # Errors
    /// On storage failure.
    pub fn scan_keys(&self, prefix: &keys::Key) -> Result<Vec<keys::Key>, StoreError> {
        self.data
            .scan_prefix(prefix.as_bytes())
            .keys()
            .map(|k| Ok(keys::Key::from_stored(&k?)))
            .collect()
    }

    /// The version of the last committed write (0 for a new store).
    ///
    /// # Errors
    /// On storage failure or a damaged counter.
    pub fn version(&self) -> Result<u64, StoreError> {
        Ok(self.get(&keys::version())?.unwrap_or(0))
    }

    /// Applies `writes` and `audit` atomically as the next version and returns it. The
    /// change is visible to reads at once but durable only after [`Store::flush`]; the caller
    /// must hold the service's write lock and flush before acknowledging.
    ///
    /// # Errors
    /// On storage failure; nothing was applied then.
    pub fn apply(&self, mut writes: WriteSet, audit: AuditRecord) -> Result<u64, StoreError> {
        let version = self.version()? + 1;
        writes.put(&keys::version(), &version)?;
        writes.put(
            &keys::audit(&audit.tenant, version),
            &AuditRecord { version, ..audit },
        )?;
        self.data.apply_batch(writes.batch)?;
        Ok(version)
    }

    /// Flushes everything applied so far to disk.
    ///
    /// # Errors
    /// On I/O failure.
    pub async fn flush(&self) -> Result<(), StoreError> {
        self.db.flush_async().await?;
        Ok(())
    }

    /// The audit records of one tenant, oldest first, at most `limit`, after `after`.
    ///
    /// # Errors
    /// On storage failure.
    pub fn audit_log(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let from = keys::audit(tenant, after.saturating_add(1));
        let to = keys::audit(tenant, u64::MAX);
        self.data
            .range(from.as_bytes()..=to.as_bytes())
            .take(limit)
            .map(|entry| {
                let (k, v) = entry?;
                decode(&String::from_utf8_lossy(&k), &v)
            })
            .collect()
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        key: key.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit() -> AuditRecord {
        AuditRecord {
            version: 0,
            at: 1,
            actor: "tester".into(),
            tenant: "acme".into(),
            action: "test".into(),
            target: "x".into(),
        }
    }

    #[tokio::test]
    async fn commits_are_atomic_versioned_and_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let store = Store::open(dir.path()).expect("open");
            assert_eq!(store.version().expect("v"), 0);
            let mut w = WriteSet::default();
            w.put(&keys::integration("acme", "crm"), &"one")
                .expect("put");
            w.put(&keys::integration("acme", "crm2"), &"two")
                .expect("put");
            assert_eq!(store.apply(w, audit()).expect("apply"), 1);
            store.flush().await.expect("flush");
            let mut w = WriteSet::default();
            w.delete(&keys::integration("acme", "crm2"));
            assert_eq!(store.apply(w, audit()).expect("apply"), 2);
            store.flush().await.expect("flush");
        }
        let store = Store::open(dir.path()).expect("reopen");
        assert_eq!(store.version().expect("v"), 2);
        let all: Vec<String> = store.scan(&keys::integrations("acme")).expect("scan");
        assert_eq!(all, vec!["one".to_owned()]);
        let log = store.audit_log("acme", 0, 10).expect("audit");
        assert_eq!(
            log.iter().map(|a| a.version).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(store.audit_log("acme", 1, 10).expect("audit").len(), 1);
        assert!(store.audit_log("other", 0, 10).expect("audit").is_empty());
    }
}

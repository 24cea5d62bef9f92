//! The control plane's storage: one interface, two backends with the same semantics.
//!
//! * [`embedded`] (the default): sled in one directory, for a single control plane.
//! * [`postgres`]: PostgreSQL, shared by any number of control-plane replicas; each keeps a
//!   copy of the records in memory, follows the database's change log, and publishes what the
//!   others commit.
//!
//! Every record lives under a typed key (see [`keys`]), serialised as JSON. A write takes the
//! store's write lock ([`Store::lock`]: one writer at a time in this process and, on
//! PostgreSQL, in the whole cluster), reads and checks what it needs, then [`Store::apply`]s one
//! [`WriteSet`] as the next version — which also appends an audit record and updates the
//! tenant's usage — and either [`Store::flush`]es it (durable; only then acknowledged) or
//! [`Store::revert`]s it. Versions are global, gap-free and in commit order.
//!
//! What both share: a record that would not decode again is never written ([`WriteSet::put`]
//! checks its nesting depth against the decoder's limit); a record that does not decode at
//! open is quarantined ([`quarantine`]), never fatal; a tenant's stored bytes are charged
//! against its quota in the write itself ([`usage`]).

pub mod embedded;
pub mod keys;
pub mod postgres;
pub mod quarantine;
mod records;
pub mod usage;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

pub use records::{
    ApiKeyRecord, AuditRecord, CatalogRecord, CatalogRevisionRecord, ConfigRecord, GrantRecord,
    IntegrationRecord, McpRecord, RevisionRecord, ToolRecord,
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::{Mutex, OwnedMutexGuard};

pub use postgres::DatabaseSettings;
pub use quarantine::QuarantinedRecord;
pub use usage::Usage;

/// A write's operations: key -> new value (`None` deletes).
type Ops = BTreeMap<Vec<u8>, Option<Vec<u8>>>;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// sled failed (I/O, corruption).
    #[error("storage failure: {0}")]
    Sled(#[from] sled::Error),
    /// PostgreSQL failed or could not be reached.
    #[error("database failure: {}", postgres_cause(.0))]
    Postgres(#[from] tokio_postgres::Error),
    /// The database cannot be used by this control plane (its schema is newer than this
    /// binary, or this replica fell behind the change log's retention).
    #[error("{0}")]
    Database(String),
    /// A stored record could not be decoded.
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
    /// A record would be nested too deep to decode again; it was not written (a bug: the
    /// edge limits documents well below this).
    #[error("record {key} would be nested too deep to read back; not written")]
    TooDeep {
        /// The record's key.
        key: String,
    },
    /// Free disk space is below the reserve; nothing was written.
    #[error("free disk space is below the {reserve_bytes}-byte reserve; writes are paused")]
    DiskFull {
        /// The reserve.
        reserve_bytes: u64,
    },
    /// The store refuses writes after a storage failure, until it recovers.
    #[error(
        "the store is not accepting writes after a storage failure ({cause}); nothing was written"
    )]
    Degraded {
        /// The failure.
        cause: String,
    },
    /// The tenant's stored bytes would exceed its quota; nothing was written.
    #[error("tenant '{tenant}' would store {would_use} bytes, over its quota of {limit}")]
    OverQuota {
        /// The tenant.
        tenant: String,
        /// Bytes the write would bring the tenant to.
        would_use: u64,
        /// The quota.
        limit: u64,
    },
}

impl StoreError {
    /// Whether the failure is the storage's state rather than the request or a bug: the
    /// write may succeed later (a 503, not a 500).
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::DiskFull { .. }
                | StoreError::Degraded { .. }
                | StoreError::Sled(sled::Error::Io(_))
                | StoreError::Postgres(_)
        )
    }
}

/// Operator settings of the store.
#[derive(Debug, Clone, Copy)]
pub struct StoreSettings {
    /// Writes are refused while the data dir's file system has less free space than this.
    pub min_free_bytes: u64,
    /// Audit records kept per tenant (the oldest are pruned).
    pub audit_retention: u64,
}

impl Default for StoreSettings {
    fn default() -> Self {
        Self {
            min_free_bytes: 64 * 1024 * 1024,
            audit_retention: 10_000,
        }
    }
}

/// The writes of one operation, applied atomically by [`Store::apply`].
#[derive(Default)]
pub struct WriteSet {
    ops: Ops,
    /// Keys set to the version the write produces.
    stamps: Vec<Vec<u8>>,
}

impl WriteSet {
    /// Stores `value` under `key`.
    ///
    /// # Errors
    /// [`StoreError::Encode`] if `value` cannot be serialised, [`StoreError::TooDeep`] if it
    /// could not be decoded again.
    pub fn put<T: Serialize>(&mut self, key: &keys::Key, value: &T) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(value).map_err(StoreError::Encode)?;
        if mcpgw_shared::json::depth(&bytes) > mcpgw_shared::json::DECODE_DEPTH_LIMIT {
            return Err(StoreError::TooDeep {
                key: key.as_str().to_owned(),
            });
        }
        self.ops.insert(key.as_bytes().to_vec(), Some(bytes));
        Ok(())
    }

    /// Deletes `key`.
    pub fn delete(&mut self, key: &keys::Key) {
        self.ops.insert(key.as_bytes().to_vec(), None);
    }

    /// Sets `key` to the version this write will have.
    pub fn stamp_version(&mut self, key: &keys::Key) {
        self.stamps.push(key.as_bytes().to_vec());
    }

    /// Whether this write already puts or deletes `key`.
    #[must_use]
    pub fn touches(&self, key: &keys::Key) -> bool {
        self.ops.contains_key(key.as_bytes())
    }

    /// What this write does to `key`: `None` if it leaves it alone, `Some(None)` if it
    /// deletes it (or holds what does not decode as `T`), else the value it puts.
    #[must_use]
    pub fn pending<T: DeserializeOwned>(&self, key: &keys::Key) -> Option<Option<T>> {
        let op = self.ops.get(key.as_bytes())?;
        Some(op.as_ref().and_then(|b| serde_json::from_slice(b).ok()))
    }
}

/// Per-write limits the store enforces.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Most bytes a tenant may store (keys and values, audit excluded).
    pub tenant_bytes: u64,
}

/// The store (cheap to clone; every clone is the same store).
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// One writer at a time in this process (the database's lock orders the cluster's).
    write_lock: Arc<Mutex<()>>,
}

#[derive(Clone)]
enum Backend {
    Embedded(embedded::Embedded),
    Postgres(postgres::Postgres),
}

/// The store's write lock, held from a write's first read to its apply (see [`Store::lock`]).
pub struct WriteLock {
    _local: OwnedMutexGuard<()>,
    /// The open transaction holding the cluster-wide lock (PostgreSQL only).
    txn: Option<postgres::Txn>,
}

/// A write applied but not yet durable: [`Store::flush`] or [`Store::revert`] it.
#[must_use = "an applied write must be flushed or reverted"]
pub struct Applied {
    /// The version the write produced.
    pub version: u64,
    by: AppliedBy,
}

enum AppliedBy {
    Embedded(embedded::Applied),
    Postgres(postgres::Pending),
}

/// What a control plane does with a change another replica committed: `(version, tenant,
/// integration)`, called in version order, once per version, when the store's reads show it.
pub type OnChange = Arc<dyn Fn(u64, &str, &str) + Send + Sync>;

impl Store {
    /// Opens (or creates) the embedded store in `dir`, quarantining undecodable records and
    /// recounting usage.
    ///
    /// # Errors
    /// When sled cannot open the directory.
    pub fn open(dir: &Path, settings: StoreSettings) -> Result<Self, StoreError> {
        let embedded = embedded::Embedded::open(dir, settings)?;
        Ok(Self::with(Backend::Embedded(embedded)))
    }

    /// Connects to PostgreSQL, applies the schema migrations this binary carries, quarantines
    /// undecodable records and loads every record.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated.
    pub async fn connect(
        database: &DatabaseSettings,
        settings: StoreSettings,
    ) -> Result<Self, StoreError> {
        let postgres = postgres::Postgres::connect(database, settings).await?;
        Ok(Self::with(Backend::Postgres(postgres)))
    }

    fn with(backend: Backend) -> Self {
        Self {
            backend,
            write_lock: Arc::new(Mutex::new(())),
        }
    }

    /// Which backend this is (`embedded` or `postgres`), for logs.
    #[must_use]
    pub fn backend(&self) -> &'static str {
        match &self.backend {
            Backend::Embedded(_) => "embedded",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Starts following the changes other replicas commit (PostgreSQL; there is nothing to
    /// follow in the embedded store). Runs until [`Store::close`].
    pub fn follow(&self, on_change: OnChange) {
        if let Backend::Postgres(p) = &self.backend {
            p.follow(on_change);
        }
    }

    /// Stops following (at shutdown).
    pub fn close(&self) {
        if let Backend::Postgres(p) = &self.backend {
            p.close();
        }
    }

    /// Reads one record.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn get<T: DeserializeOwned>(&self, key: &keys::Key) -> Result<Option<T>, StoreError> {
        match &self.backend {
            Backend::Embedded(e) => e.get(key),
            Backend::Postgres(p) => p.get(key),
        }
    }

    /// Reads every record under `prefix`, in key order.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn scan<T: DeserializeOwned>(&self, prefix: &keys::Key) -> Result<Vec<T>, StoreError> {
        match &self.backend {
            Backend::Embedded(e) => e.scan(prefix),
            Backend::Postgres(p) => p.scan(prefix),
        }
    }

    /// Every key under `prefix`, in order.
    ///
    /// # Errors
    /// On storage failure.
    pub fn scan_keys(&self, prefix: &keys::Key) -> Result<Vec<keys::Key>, StoreError> {
        match &self.backend {
            Backend::Embedded(e) => e.scan_keys(prefix),
            Backend::Postgres(p) => Ok(p.scan_keys(prefix)),
        }
    }

    /// The store's identity: versions are relative to it (a copy of the store keeps it).
    #[must_use]
    pub fn id(&self) -> &str {
        match &self.backend {
            Backend::Embedded(e) => e.id(),
            Backend::Postgres(p) => p.id(),
        }
    }

    /// The version of the last write this store's reads show (0 for a new store).
    ///
    /// # Errors
    /// On storage failure or a damaged counter.
    pub fn version(&self) -> Result<u64, StoreError> {
        Ok(self.get(&keys::version())?.unwrap_or(0))
    }

    /// The oldest version a delta can be served from (see [`keys::delta_floor`]).
    ///
    /// # Errors
    /// On storage failure.
    pub fn delta_floor(&self) -> Result<u64, StoreError> {
        Ok(self.get(&keys::delta_floor())?.unwrap_or(0))
    }

    /// Every integration's last change version, by `(tenant, integration)`.
    ///
    /// # Errors
    /// On storage failure.
    pub fn change_versions(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        let mut out = Vec::new();
        for key in self.scan_keys(&keys::all_changed())? {
            let Some((tenant, integration)) = keys::changed_subject(key.as_str()) else {
                continue;
            };
            if let Ok(Some(version)) = self.get::<u64>(&key) {
                out.push((tenant.to_owned(), integration.to_owned(), version));
            }
        }
        Ok(out)
    }

    /// A tenant's usage.
    ///
    /// # Errors
    /// On storage failure.
    pub fn usage(&self, tenant: &str) -> Result<Usage, StoreError> {
        Ok(self.get(&keys::usage(tenant))?.unwrap_or_default())
    }

    /// Takes the write lock: one writer at a time here and, on PostgreSQL, in the cluster (a
    /// transaction holding the database's write lock, with this replica's records brought up
    /// to the newest commit first, so what the writer reads and checks is current).
    ///
    /// # Errors
    /// On PostgreSQL, when the database cannot be reached.
    pub async fn lock(&self) -> Result<WriteLock, StoreError> {
        let local = self.write_lock.clone().lock_owned().await;
        let txn = match &self.backend {
            Backend::Embedded(_) => None,
            Backend::Postgres(p) => Some(p.begin().await?),
        };
        Ok(WriteLock { _local: local, txn })
    }

    /// Applies `writes` and `audit` atomically as the next version: visible to this store's
    /// reads at once, durable only after [`Store::flush`]. The caller keeps `lock` until it
    /// has read what it needs of the result, then may release it before flushing (writes
    /// behind it then share the embedded store's next flush).
    ///
    /// # Errors
    /// [`StoreError::DiskFull`], [`StoreError::Degraded`], [`StoreError::OverQuota`], or a
    /// storage failure; nothing was applied then.
    pub async fn apply(
        &self,
        lock: &mut WriteLock,
        writes: WriteSet,
        audit: AuditRecord,
        budget: Budget,
    ) -> Result<Applied, StoreError> {
        match &self.backend {
            Backend::Embedded(e) => {
                let applied = e.apply(writes, audit, budget)?;
                Ok(Applied {
                    version: applied.version,
                    by: AppliedBy::Embedded(applied),
                })
            }
            Backend::Postgres(p) => {
                let txn = lock
                    .txn
                    .take()
                    .ok_or_else(|| StoreError::Database("one write per write lock".into()))?;
                let pending = p.apply(txn, writes, audit, budget).await?;
                Ok(Applied {
                    version: pending.version(),
                    by: AppliedBy::Postgres(pending),
                })
            }
        }
    }

    /// Makes an applied write durable (embedded: a group-commit flush; PostgreSQL: the
    /// transaction's commit). On failure nothing of the write remains.
    ///
    /// # Errors
    /// When the write could not be made durable.
    pub async fn flush(&self, applied: Applied) -> Result<u64, StoreError> {
        match (&self.backend, applied.by) {
            (Backend::Embedded(e), AppliedBy::Embedded(a)) => e.flush(a).await,
            (Backend::Postgres(p), AppliedBy::Postgres(pending)) => p.commit(pending).await,
            _ => Err(StoreError::Database(
                "a write flushed on another store".into(),
            )),
        }
    }

    /// Undoes an applied write that will not be acknowledged.
    pub async fn revert(&self, applied: Applied) {
        match (&self.backend, applied.by) {
            (Backend::Embedded(e), AppliedBy::Embedded(a)) => e.revert(a).await,
            (Backend::Postgres(p), AppliedBy::Postgres(pending)) => p.rollback(pending).await,
            _ => {}
        }
    }

    /// Durability operations so far: embedded flushes (each made a group of writes durable)
    /// or PostgreSQL commits.
    #[must_use]
    pub fn flushes(&self) -> u64 {
        match &self.backend {
            Backend::Embedded(e) => e.flushes(),
            Backend::Postgres(p) => p.commits(),
        }
    }

    /// Whether writes are refused after a storage failure (embedded) or the database could
    /// not be reached at the last attempt (PostgreSQL).
    #[must_use]
    pub fn is_degraded(&self) -> bool {
        match &self.backend {
            Backend::Embedded(e) => e.is_degraded(),
            Backend::Postgres(p) => !p.is_reachable(),
        }
    }

    /// Periodic upkeep: the embedded store retries a recovery and takes its disk ballast
    /// back; PostgreSQL prunes the change log.
    ///
    /// # Errors
    /// When a recovery could not finish yet, or the database cannot be reached.
    pub async fn housekeeping(&self) -> Result<(), StoreError> {
        match &self.backend {
            Backend::Embedded(e) => {
                let e = e.clone();
                tokio::task::spawn_blocking(move || {
                    if e.is_degraded() {
                        e.recover().map(drop)
                    } else {
                        e.ensure_ballast();
                        Ok(())
                    }
                })
                .await
                .unwrap_or(Ok(()))
            }
            Backend::Postgres(p) => p.housekeeping().await,
        }
    }

    /// Shares this replica's data planes (count per tenant selection) through the database
    /// and returns the other replicas' live ones; `None` for the embedded store, which has
    /// no other replicas.
    ///
    /// # Errors
    /// When the database cannot be reached.
    pub async fn exchange_members(
        &self,
        replica: &str,
        local: &[(String, u32)],
        live: std::time::Duration,
    ) -> Result<Option<std::collections::HashMap<String, u32>>, StoreError> {
        match &self.backend {
            Backend::Embedded(_) => Ok(None),
            Backend::Postgres(p) => p.exchange_members(replica, local, live).await.map(Some),
        }
    }

    /// After a failed write: reopens the embedded store at once so reads keep working (on
    /// PostgreSQL a failed write leaves nothing behind).
    pub async fn recover_if_degraded(&self) {
        let Backend::Embedded(e) = &self.backend else {
            return;
        };
        if !e.is_degraded() {
            return;
        }
        let e = e.clone();
        match tokio::task::spawn_blocking(move || e.recover()).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "the store could not reopen yet; retrying in the background")
            }
            Err(e) => tracing::warn!(error = %e, "store recovery task failed"),
        }
    }

    /// The audit records of one tenant, oldest first, at most `limit`, after `after`.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn audit_log(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        match &self.backend {
            Backend::Embedded(e) => e.audit_log(tenant, after, limit),
            Backend::Postgres(p) => p.audit_log(tenant, after, limit).await,
        }
    }

    /// Every quarantined record.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StoreError> {
        match &self.backend {
            Backend::Embedded(e) => e.quarantined(),
            Backend::Postgres(p) => p.quarantined().await,
        }
    }

    /// How many records are quarantined (for metrics; on PostgreSQL as last seen).
    #[must_use]
    pub fn quarantined_count(&self) -> u64 {
        match &self.backend {
            Backend::Embedded(e) => e.quarantined().map_or(0, |q| q.len() as u64),
            Backend::Postgres(p) => p.quarantined_count(),
        }
    }

    /// Deletes a quarantined record for good; false if there is none under `key`.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn remove_quarantined(&self, key: &str) -> Result<bool, StoreError> {
        match &self.backend {
            Backend::Embedded(e) => e.remove_quarantined(key).await,
            Backend::Postgres(p) => p.remove_quarantined(key).await,
        }
    }
}

/// Charges a write to its tenant: the bytes of every record it puts or deletes (audit and
/// bookkeeping excepted; `stored_len` gives a key's current value length), refused when growth
/// would take the tenant over its budget.
fn charge(
    ops: &Ops,
    mut usage: Usage,
    tenant: &str,
    budget: Budget,
    mut stored_len: impl FnMut(&[u8]) -> Result<Option<usize>, StoreError>,
) -> Result<Usage, StoreError> {
    let mut grown: i64 = 0;
    for (key, new) in ops {
        if usage::is_charged(key) {
            let old = stored_len(key)?.map_or(0, |v| key.len() + v);
            let new = new.as_ref().map_or(0, |v| key.len() + v.len());
            grown +=
                i64::try_from(new).unwrap_or(i64::MAX) - i64::try_from(old).unwrap_or(i64::MAX);
        }
    }
    let would_use = usage.bytes.saturating_add_signed(grown);
    if grown > 0 && would_use > budget.tenant_bytes {
        return Err(StoreError::OverQuota {
            tenant: tenant.to_owned(),
            would_use,
            limit: budget.tenant_bytes,
        });
    }
    usage.bytes = would_use;
    Ok(usage)
}

/// The bookkeeping every write carries: its version stamps, the version counter and the
/// tenant's usage.
fn finish(
    ops: &mut Ops,
    stamps: Vec<Vec<u8>>,
    version: u64,
    tenant: &str,
    usage: &Usage,
) -> Result<(), StoreError> {
    let stamp = serde_json::to_vec(&version).map_err(StoreError::Encode)?;
    for key in stamps {
        ops.insert(key, Some(stamp.clone()));
    }
    ops.insert(keys::version().as_bytes().to_vec(), Some(stamp));
    ops.insert(
        keys::usage(tenant).as_bytes().to_vec(),
        Some(serde_json::to_vec(usage).map_err(StoreError::Encode)?),
    );
    Ok(())
}

/// An audit record as stored, numbered with its write's version.
fn audit_bytes(audit: AuditRecord, version: u64) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(&AuditRecord { version, ..audit }).map_err(StoreError::Encode)
}

/// What PostgreSQL said (the server's message and code), or the connection failure: never the
/// statement's parameters, which may be records.
fn postgres_cause(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, StoreError> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Decode {
        key: key.to_owned(),
        source,
    })
}

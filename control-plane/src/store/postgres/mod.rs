//! The PostgreSQL backend: any number of control-plane replicas on one database.
//!
//! * **Records** live in `mcpgw_records` (key -> JSON bytes, the same keys and values as the
//!   embedded store). Each replica keeps a copy in memory ([`mirror`]) and reads from it.
//! * **Writes** are serialised cluster-wide: [`Postgres::begin`] opens a transaction and takes
//!   a transaction-scoped advisory lock, then brings the mirror up to the newest commit, so a
//!   writer's read-check-write sees everything committed before it (the first enable mints
//!   exactly one key whichever replicas the requests reach). The version is the previous one
//!   plus one, read under that lock: one global, gap-free, commit-ordered sequence.
//! * **The change log** (`mcpgw_changes`, `mcpgw_change_ops`) holds every version's
//!   operations, written in the same transaction; [`follow`] applies other replicas' versions
//!   to the mirror in order and hands each to the service, which publishes it to its data
//!   planes. `NOTIFY` wakes followers at once; polling covers a lost listening connection.
//! * **Acknowledged = committed**: a write is acknowledged after its `COMMIT` returns. A commit
//!   whose outcome is lost with the connection is looked up by its writer id before answering.

mod connect;
mod follow;
mod import;
mod mirror;
mod schema;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use serde::de::DeserializeOwned;
use tokio::sync::{Mutex, OwnedMutexGuard, watch};
use tokio_postgres::Client;

pub use connect::DatabaseSettings;
pub use import::{Imported, import};

use self::connect::Connector;
use self::mirror::{Mirror, Undo};
use super::{
    AuditRecord, Budget, OnChange, QuarantinedRecord, StoreError, StoreSettings, WriteSet, decode,
    keys, quarantine,
};

/// Serialises writes across replicas (`pg_advisory_xact_lock` key).
const WRITE_LOCK: i64 = 0x6d63_7067_7702;
/// The channel commits notify followers on.
const CHANNEL: &str = "mcpgw_changes";

/// The PostgreSQL store (cheap to clone; every clone is the same store).
#[derive(Clone)]
pub struct Postgres {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    settings: StoreSettings,
    database: DatabaseSettings,
    connector: Connector,
    mirror: RwLock<Mirror>,
    /// The connection writes run on (`None` until connected, or after it failed).
    writer: Arc<Mutex<Option<Client>>>,
    /// For reads the mirror does not hold (audit, quarantine) and housekeeping.
    reader: Mutex<Option<Client>>,
    /// One catch-up at a time; held by a write from its lock to its commit, so the mirror
    /// never takes another replica's version while this replica's write is pending.
    follow_lock: Arc<Mutex<()>>,
    on_change: OnceLock<OnChange>,
    closing: watch::Sender<bool>,
    reachable: AtomicBool,
    commits: AtomicU64,
    quarantined: AtomicU64,
}

/// An open write transaction holding the cluster's write lock. Dropped without being
/// applied, it rolls back (releasing the lock) on a task of its own.
pub struct Txn {
    conn: Option<OwnedMutexGuard<Option<Client>>>,
    follow: Option<OwnedMutexGuard<()>>,
}

/// A write applied in its transaction and to the mirror, not yet committed. Dropped without
/// being committed or rolled back (a panic on the way), it takes its version back out of the
/// mirror before its transaction ends.
pub struct Pending {
    version: u64,
    txn: Txn,
    undo: Option<Undo>,
    /// Identifies this write's change-log row, to settle a commit whose answer was lost.
    writer: String,
    store: Postgres,
}

impl Drop for Pending {
    fn drop(&mut self) {
        if let Some(undo) = self.undo.take() {
            self.store.mirror_mut().undo(undo);
        }
    }
}

impl Pending {
    /// The version the write produces.
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version
    }
}

impl Txn {
    fn client(&self) -> Result<&Client, StoreError> {
        self.conn
            .as_deref()
            .and_then(Option::as_ref)
            .ok_or_else(|| StoreError::Database("the write's connection is gone".into()))
    }

    /// The transaction ended (committed or rolled back): nothing to do at drop.
    fn close(&mut self) {
        self.conn = None;
        self.follow = None;
    }

    /// The connection's state is unknown: drop it (the server ends the transaction).
    fn discard(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            **conn = None;
        }
        self.close();
    }
}

impl Drop for Txn {
    fn drop(&mut self) {
        let (Some(mut conn), follow) = (self.conn.take(), self.follow.take()) else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let ok = match conn.as_ref() {
                        Some(c) => c.batch_execute("ROLLBACK").await.is_ok(),
                        None => true,
                    };
                    if !ok {
                        *conn = None;
                    }
                    drop(follow);
                });
            }
            Err(_) => *conn = None,
        }
    }
}

impl Postgres {
    /// Connects, migrates, names the store if it is new, quarantines undecodable records
    /// and loads the rest.
    ///
    /// # Errors
    /// When the database cannot be reached, migrated or read.
    pub async fn connect(
        database: &DatabaseSettings,
        settings: StoreSettings,
    ) -> Result<Self, StoreError> {
        let connector = Connector::new(database)?;
        let client = connector.connect().await?;
        schema::migrate(&client).await?;
        // Named once, by whichever replica gets there first.
        client
            .execute(
                "INSERT INTO mcpgw_records (key, value) VALUES ($1, $2), ($3, $4) \
                 ON CONFLICT (key) DO NOTHING",
                &[
                    &keys::store_id().as_str(),
                    &serde_json::to_vec(&uuid::Uuid::new_v4().to_string())
                        .map_err(StoreError::Encode)?,
                    &keys::delta_floor().as_str(),
                    &b"0".to_vec(),
                ],
            )
            .await?;
        let (mirror, moved) = load(&client).await?;
        for record in &moved {
            tracing::error!(
                key = %record.key,
                tenant = record.tenant.as_deref().unwrap_or("-"),
                reason = %record.reason,
                "stored record does not decode: moved to quarantine (GET /v1/quarantine lists it)"
            );
        }
        let id: String = match mirror.get(keys::store_id().as_str()) {
            Some(bytes) => decode(keys::store_id().as_str(), bytes)?,
            None => return Err(StoreError::Database("the store has no identity".into())),
        };
        let quarantined: i64 = client
            .query_one("SELECT count(*) FROM mcpgw_quarantine", &[])
            .await?
            .get(0);
        let (closing, _) = watch::channel(false);
        Ok(Self {
            inner: Arc::new(Inner {
                id,
                settings,
                database: database.clone(),
                connector,
                mirror: RwLock::new(mirror),
                writer: Arc::new(Mutex::new(None)),
                reader: Mutex::new(Some(client)),
                follow_lock: Arc::new(Mutex::new(())),
                on_change: OnceLock::new(),
                closing,
                reachable: AtomicBool::new(true),
                commits: AtomicU64::new(0),
                quarantined: AtomicU64::new(u64::try_from(quarantined).unwrap_or(0)),
            }),
        })
    }

    fn mirror(&self) -> std::sync::RwLockReadGuard<'_, Mirror> {
        self.inner
            .mirror
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn mirror_mut(&self) -> std::sync::RwLockWriteGuard<'_, Mirror> {
        self.inner
            .mirror
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn id(&self) -> &str {
        &self.inner.id
    }

    pub(super) fn get<T: DeserializeOwned>(
        &self,
        key: &keys::Key,
    ) -> Result<Option<T>, StoreError> {
        self.mirror()
            .get(key.as_str())
            .map(|bytes| decode(key.as_str(), bytes))
            .transpose()
    }

    pub(super) fn scan<T: DeserializeOwned>(
        &self,
        prefix: &keys::Key,
    ) -> Result<Vec<T>, StoreError> {
        self.mirror()
            .scan(prefix.as_str())
            .map(|(k, v)| decode(k, v))
            .collect()
    }

    pub(super) fn scan_keys(&self, prefix: &keys::Key) -> Vec<keys::Key> {
        self.mirror()
            .scan(prefix.as_str())
            .map(|(k, _)| keys::Key::from_stored(k.as_bytes()))
            .collect()
    }

    pub(super) fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    pub(super) fn is_reachable(&self) -> bool {
        self.inner.reachable.load(Ordering::Relaxed)
    }

    fn reached<T>(&self, result: Result<T, StoreError>) -> Result<T, StoreError> {
        let reachable = !matches!(&result, Err(StoreError::Postgres(_)));
        self.inner.reachable.store(reachable, Ordering::Relaxed);
        result
    }

    /// Opens a write: the writer's connection, a transaction holding the cluster's write
    /// lock, and the mirror brought up to the newest commit. From the first statement on the
    /// transaction is owned by a [`Txn`], so a caller that goes away mid-way (a request
    /// timeout) rolls it back instead of leaving the lock held.
    pub(super) async fn begin(&self) -> Result<Txn, StoreError> {
        let mut conn = self.inner.writer.clone().lock_owned().await;
        if conn.as_ref().is_none_or(Client::is_closed) {
            *conn = Some(self.reached(self.inner.connector.connect().await)?);
        }
        let mut txn = Txn {
            conn: Some(conn),
            follow: None,
        };
        let started = txn
            .client()?
            .batch_execute(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
            ))
            .await
            .map_err(StoreError::from);
        if let Err(e) = self.reached(started) {
            txn.discard();
            return Err(e);
        }
        txn.follow = Some(self.inner.follow_lock.clone().lock_owned().await);
        let caught_up = self.catch_up(txn.client()?).await;
        self.reached(caught_up)?;
        // Under the lock the database's head is exactly what the mirror shows, or this
        // replica must not write (its mirror would number the next version wrongly).
        let head = head_version(txn.client()?).await;
        let head = self.reached(head)?;
        let mirrored = self.mirror().version;
        if head != mirrored {
            return Err(StoreError::Database(format!(
                "this replica's records are at version {mirrored} but the database is at \
                 {head}; restart it to reload"
            )));
        }
        Ok(txn)
    }

    /// Applies a write in `txn` (records, change log, audit, a notification for followers)
    /// and to the mirror.
    pub(super) async fn apply(
        &self,
        txn: Txn,
        writes: WriteSet,
        audit: AuditRecord,
        budget: Budget,
    ) -> Result<Pending, StoreError> {
        let version = self.mirror().version + 1;
        let tenant = audit.tenant.clone();
        let WriteSet { mut ops, stamps } = writes;
        // The integration the write changes: its change stamp (set, or deleted with it).
        let (subject_tenant, subject_integration) = stamps
            .iter()
            .chain(ops.keys())
            .find_map(|k| {
                let (t, i) = keys::changed_subject(std::str::from_utf8(k).ok()?)?;
                Some((t.to_owned(), i.to_owned()))
            })
            .unwrap_or_else(|| (tenant.clone(), String::new()));
        let usage = {
            let mirror = self.mirror();
            let usage = match mirror.get(keys::usage(&tenant).as_str()) {
                Some(bytes) => decode(keys::usage(&tenant).as_str(), bytes)?,
                None => super::Usage::default(),
            };
            super::charge(&ops, usage, &tenant, budget, |key| {
                Ok(std::str::from_utf8(key)
                    .ok()
                    .and_then(|k| mirror.get(k))
                    .map(<[u8]>::len))
            })?
        };
        super::finish(&mut ops, stamps, version, &tenant, &usage)?;
        let audit = super::audit_bytes(audit, version)?;
        let ops: Vec<(String, Option<Vec<u8>>)> = ops
            .into_iter()
            .map(|(k, v)| (String::from_utf8_lossy(&k).into_owned(), v))
            .collect();
        let writer = uuid::Uuid::new_v4().to_string();
        let written = write(
            txn.client()?,
            &Row {
                version: to_i64(version),
                writer: &writer,
                tenant: &subject_tenant,
                integration: &subject_integration,
            },
            &ops,
            (&tenant, &audit),
            // This write's record plus the newest before it make the retention.
            to_i64(self.inner.settings.audit_retention.saturating_sub(1)),
        )
        .await;
        // On failure `txn` drops here and rolls back.
        self.reached(written)?;
        let undo = self.mirror_mut().apply(version, ops);
        Ok(Pending {
            version,
            txn,
            undo: Some(undo),
            writer,
            store: self.clone(),
        })
    }

    /// Commits a pending write. If the answer is lost with the connection, the change log
    /// says whether it committed. Settled — and the mirror corrected — before the write's
    /// locks are released, so the next writer here never sees a version that is not in the
    /// database.
    pub(super) async fn commit(&self, mut pending: Pending) -> Result<u64, StoreError> {
        let version = pending.version;
        let committed = match pending.txn.client() {
            Ok(c) => c.batch_execute("COMMIT").await.map_err(StoreError::from),
            Err(e) => Err(e),
        };
        let outcome = match committed {
            Ok(()) => Ok(version),
            Err(e) => match self.committed_by(version, &pending.writer).await {
                Ok(true) => Ok(version),
                outcome => {
                    if outcome.is_err() {
                        tracing::error!(
                            version,
                            "a commit's outcome is unknown (the database is unreachable); \
                             answered as failed — if it did commit, replicas follow it"
                        );
                    }
                    if let Some(undo) = pending.undo.take() {
                        self.mirror_mut().undo(undo);
                    }
                    Err(e)
                }
            },
        };
        pending.undo = None;
        match &outcome {
            Ok(_) => {
                pending.txn.close();
                self.inner.commits.fetch_add(1, Ordering::Relaxed);
                self.inner.reachable.store(true, Ordering::Relaxed);
            }
            Err(_) => {
                pending.txn.discard();
                self.inner.reachable.store(false, Ordering::Relaxed);
            }
        }
        outcome
    }

    /// Whether `version` was committed by `writer`. Waits for the write lock first: a commit
    /// still in flight (its answer lost, its backend alive) holds it until it has finished.
    async fn committed_by(&self, version: u64, writer: &str) -> Result<bool, StoreError> {
        let client = self.inner.connector.connect().await?;
        client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL lock_timeout = '10s'; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
            ))
            .await?;
        let row = client
            .query_opt(
                "SELECT writer FROM mcpgw_changes WHERE version = $1",
                &[&to_i64(version)],
            )
            .await?;
        let _ = client.batch_execute("ROLLBACK").await;
        Ok(row.is_some_and(|r| r.get::<_, String>(0) == writer))
    }

    /// Rolls a pending write back, in the database and the mirror (the mirror first: the
    /// write's locks are held until the end).
    pub(super) async fn rollback(&self, mut pending: Pending) {
        if let Some(undo) = pending.undo.take() {
            self.mirror_mut().undo(undo);
        }
        let rolled_back = match pending.txn.client() {
            Ok(c) => c.batch_execute("ROLLBACK").await.is_ok(),
            Err(_) => false,
        };
        if rolled_back {
            pending.txn.close();
        } else {
            pending.txn.discard();
        }
    }

    /// A connection for reads the mirror does not serve.
    async fn reader(&self) -> Result<OwnedReader<'_>, StoreError> {
        let mut guard = self.inner.reader.lock().await;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = Some(self.reached(self.inner.connector.connect().await)?);
        }
        Ok(OwnedReader(guard))
    }

    pub(super) async fn audit_log(
        &self,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let reader = self.reader().await?;
        let rows = reader
            .client()?
            .query(
                "SELECT version, record FROM mcpgw_audit WHERE tenant = $1 AND version > $2 \
                 ORDER BY version LIMIT $3",
                &[
                    &tenant,
                    &to_i64(after),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )
            .await;
        let rows = self.reached(rows.map_err(StoreError::from))?;
        rows.iter()
            .map(|r| {
                let bytes: Vec<u8> = r.get(1);
                decode(&format!("audit/{tenant}/{}", r.get::<_, i64>(0)), &bytes)
            })
            .collect()
    }

    pub(super) async fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StoreError> {
        let reader = self.reader().await?;
        let rows = reader
            .client()?
            .query("SELECT meta FROM mcpgw_quarantine ORDER BY key", &[])
            .await;
        let rows = self.reached(rows.map_err(StoreError::from))?;
        let records: Vec<QuarantinedRecord> = rows
            .iter()
            .filter_map(|r| serde_json::from_slice(&r.get::<_, Vec<u8>>(0)).ok())
            .collect();
        self.inner
            .quarantined
            .store(records.len() as u64, Ordering::Relaxed);
        Ok(records)
    }

    pub(super) fn quarantined_count(&self) -> u64 {
        self.inner.quarantined.load(Ordering::Relaxed)
    }

    pub(super) async fn remove_quarantined(&self, key: &str) -> Result<bool, StoreError> {
        let reader = self.reader().await?;
        let removed = reader
            .client()?
            .execute("DELETE FROM mcpgw_quarantine WHERE key = $1", &[&key])
            .await;
        let removed = self.reached(removed.map_err(StoreError::from))?;
        if removed > 0 {
            // This replica's count may not include records another one quarantined.
            let _ =
                self.inner
                    .quarantined
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                        Some(n.saturating_sub(1))
                    });
        }
        Ok(removed > 0)
    }

    /// Records this replica's data planes (count per tenant selection) in the shared
    /// registry, and returns the other replicas' live ones (heard from within `live`).
    pub(super) async fn exchange_members(
        &self,
        replica: &str,
        local: &[(String, u32)],
        live: std::time::Duration,
    ) -> Result<std::collections::HashMap<String, u32>, StoreError> {
        let reader = self.reader().await?;
        let client = reader.client()?;
        let selections: Vec<&str> = local.iter().map(|(s, _)| s.as_str()).collect();
        let counts: Vec<i32> = local
            .iter()
            .map(|(_, n)| i32::try_from(*n).unwrap_or(i32::MAX))
            .collect();
        let exchanged = async {
            client.batch_execute("BEGIN").await?;
            client
                .execute(
                    "DELETE FROM mcpgw_data_planes WHERE replica = $1",
                    &[&replica],
                )
                .await?;
            client
                .execute(
                    "INSERT INTO mcpgw_data_planes (replica, selection, data_planes) \
                     SELECT $1, * FROM unnest($2::text[], $3::int[])",
                    &[&replica, &selections, &counts],
                )
                .await?;
            client.batch_execute("COMMIT").await?;
            client
                .query(
                    "SELECT selection, sum(data_planes)::bigint FROM mcpgw_data_planes \
                     WHERE replica <> $1 AND seen_at > now() - make_interval(secs => $2) \
                     GROUP BY selection",
                    &[&replica, &live.as_secs_f64()],
                )
                .await
        }
        .await;
        let rows = match exchanged {
            Ok(rows) => rows,
            Err(e) => {
                let _ = client.batch_execute("ROLLBACK").await;
                return self.reached(Err(e.into()));
            }
        };
        Ok(rows
            .iter()
            .map(|r| {
                let n: i64 = r.get(1);
                (r.get(0), u32::try_from(n).unwrap_or(u32::MAX))
            })
            .collect())
    }

    /// Prunes the change log beyond its retention (both bounds must be passed).
    pub(super) async fn housekeeping(&self) -> Result<(), StoreError> {
        let reader = self.reader().await?;
        let db = &self.inner.database;
        let pruned = reader
            .client()?
            .execute(
                "DELETE FROM mcpgw_changes WHERE at < now() - make_interval(secs => $1) \
                 AND version <= (SELECT coalesce(max(version), 0) FROM mcpgw_changes) - $2",
                &[
                    &db.change_retention.as_secs_f64(),
                    &to_i64(db.change_retention_versions),
                ],
            )
            .await;
        self.reached(pruned.map_err(StoreError::from))?;
        // Replicas that stopped long ago (a live one re-registers every beat).
        let gone = reader
            .client()?
            .execute(
                "DELETE FROM mcpgw_data_planes WHERE seen_at < now() - interval '10 minutes'",
                &[],
            )
            .await;
        self.reached(gone.map_err(StoreError::from)).map(drop)
    }
}

struct OwnedReader<'a>(tokio::sync::MutexGuard<'a, Option<Client>>);

impl OwnedReader<'_> {
    fn client(&self) -> Result<&Client, StoreError> {
        self.0
            .as_ref()
            .ok_or_else(|| StoreError::Database("no database connection".into()))
    }
}

/// The change-log row of one write.
struct Row<'a> {
    version: i64,
    writer: &'a str,
    tenant: &'a str,
    integration: &'a str,
}

/// Writes one version in the open transaction: the records, the change log, the audit record
/// (pruning the tenant's oldest beyond `retention`) and the followers' notification. The
/// statements are pipelined on the connection.
async fn write(
    client: &Client,
    row: &Row<'_>,
    ops: &[(String, Option<Vec<u8>>)],
    (tenant, audit): (&str, &[u8]),
    retention: i64,
) -> Result<(), StoreError> {
    let mut put_keys = Vec::new();
    let mut put_values = Vec::new();
    let mut deleted = Vec::new();
    for (key, value) in ops {
        match value {
            Some(v) => {
                put_keys.push(key.as_str());
                put_values.push(v.as_slice());
            }
            None => deleted.push(key.as_str()),
        }
    }
    let log_keys: Vec<&str> = ops.iter().map(|(k, _)| k.as_str()).collect();
    let log_values: Vec<Option<&[u8]>> = ops.iter().map(|(_, v)| v.as_deref()).collect();
    let version = row.version.to_string();
    type Params<'p> = [&'p (dyn tokio_postgres::types::ToSql + Sync)];
    let puts: &Params<'_> = &[&put_keys, &put_values];
    let deletes: &Params<'_> = &[&deleted];
    let change: &Params<'_> = &[&row.version, &row.writer, &row.tenant, &row.integration];
    let logged: &Params<'_> = &[&row.version, &log_keys, &log_values];
    let audited: &Params<'_> = &[&tenant, &row.version, &audit];
    let pruned: &Params<'_> = &[&tenant, &retention, &row.version];
    let notified: &Params<'_> = &[&CHANNEL, &version];
    // First the change-log row the operations refer to; the rest may then go pipelined
    // (statements of one connection are not ordered once some need a preparation round trip).
    client
        .execute(
            "INSERT INTO mcpgw_changes (version, writer, tenant, integration) \
             VALUES ($1, $2, $3, $4)",
            change,
        )
        .await?;
    tokio::try_join!(
        client.execute(
            "INSERT INTO mcpgw_records (key, value) SELECT * FROM unnest($1::text[], $2::bytea[]) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            puts,
        ),
        client.execute(
            "DELETE FROM mcpgw_records WHERE key = ANY($1::text[])",
            deletes
        ),
        client.execute(
            "INSERT INTO mcpgw_change_ops (version, key, value) \
             SELECT $1, * FROM unnest($2::text[], $3::bytea[])",
            logged,
        ),
        client.execute(
            "INSERT INTO mcpgw_audit (tenant, version, record) VALUES ($1, $2, $3)",
            audited,
        ),
        // Keeps the newest `retention` records before this write's.
        client.execute(
            "DELETE FROM mcpgw_audit WHERE tenant = $1 AND version < $3 AND version <= \
             (SELECT version FROM mcpgw_audit WHERE tenant = $1 AND version < $3 \
             ORDER BY version DESC OFFSET $2 LIMIT 1)",
            pruned,
        ),
        client.execute("SELECT pg_notify($1, $2)", notified),
    )?;
    Ok(())
}

/// Reads every record in one transaction under the write lock, moving those that do not
/// decode to quarantine first.
async fn load(client: &Client) -> Result<(Mirror, Vec<QuarantinedRecord>), StoreError> {
    client
        .batch_execute(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
        ))
        .await?;
    let rows = client
        .query("SELECT key, value FROM mcpgw_records", &[])
        .await?;
    let mut records = BTreeMap::new();
    let mut moved = Vec::new();
    for row in rows {
        let key: String = row.get(0);
        let value: Vec<u8> = row.get(1);
        if let Some(reason) = quarantine::reason(key.as_bytes(), &value) {
            let record = quarantine::record(key.as_bytes(), reason, value.len());
            let meta = serde_json::to_vec(&record).map_err(StoreError::Encode)?;
            client
                .execute(
                    "INSERT INTO mcpgw_quarantine (key, meta, raw) VALUES ($1, $2, $3) \
                     ON CONFLICT (key) DO UPDATE SET meta = excluded.meta, raw = excluded.raw",
                    &[&key, &meta, &value],
                )
                .await?;
            client
                .execute("DELETE FROM mcpgw_records WHERE key = $1", &[&key])
                .await?;
            moved.push(record);
            continue;
        }
        records.insert(key, value);
    }
    client.batch_execute("COMMIT").await?;
    let version = match records.get(keys::version().as_str()) {
        Some(bytes) => decode(keys::version().as_str(), bytes)?,
        None => 0,
    };
    Ok((Mirror::new(version, records), moved))
}

/// The version the database's records are at (`meta/version`).
async fn head_version(client: &Client) -> Result<u64, StoreError> {
    let head: Option<Vec<u8>> = client
        .query_opt(
            "SELECT value FROM mcpgw_records WHERE key = 'meta/version'",
            &[],
        )
        .await?
        .map(|r| r.get(0));
    Ok(head
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(0))
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

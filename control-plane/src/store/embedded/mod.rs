//! The embedded backend: sled, in one directory, for a single control plane.
//!
//! Every record lives in the `data` tree under its key (see [`super::keys`]), serialised as
//! JSON. A write is applied by [`Embedded::apply`] as a single atomic sled batch; the caller
//! then either [`Embedded::flush`]es it — durable, and only then acknowledged — or
//! [`Embedded::revert`]s it. Writers are serialised by the store's write lock (one at a time),
//! which makes each read-check-write sequence linearizable without sled's optimistic
//! transactions.
//!
//! What can go wrong, and what happens then:
//! * Below `min_free_bytes` of free disk space writes are refused before sled is touched, so
//!   the disk filling up never reaches sled as an I/O error.
//! * If sled nevertheless fails to apply or flush a write, the store turns *degraded*: writes
//!   are refused, and reads answer the committed state — sled keeps a failed write in memory,
//!   so the keys it touched are read from its undo overlay. A sled instance that has seen an
//!   I/O error also fails later reads that need to restructure a node, so
//!   [`Embedded::recover`] — run at once, and retried in the background — drops it and reopens
//!   the store (after deleting a small ballast file kept for exactly this, so a full disk
//!   still has room to reopen), checks the failed write left nothing behind (restoring the
//!   undo if it did), and lets writes resume. While sled is being reopened (tens of
//!   milliseconds) reads answer "unavailable" too.
//! * At open, records that do not decode are moved to quarantine ([`quarantine`]) instead of
//!   stopping the control plane, and every tenant's usage is recounted ([`usage`]).

mod ballast;
mod group_commit;
mod quarantine;
mod usage;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use sled::IVec;

use self::group_commit::{GroupCommit, Turn, Undo};
use super::{
    AuditRecord, Budget, QuarantinedRecord, StoreError, StoreSettings, Usage, WriteSet, decode,
    keys,
};

/// A write applied in memory but not yet durable: [`Embedded::flush`] or [`Embedded::revert`] it.
#[must_use = "an applied write must be flushed or reverted"]
pub struct Applied {
    /// The version the write produced.
    pub version: u64,
    /// The group-commit epoch it was applied in.
    epoch: u64,
}

/// The sled store (cheap to clone; every clone is the same store).
#[derive(Clone)]
pub struct Embedded {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    /// The store's identity ([`keys::store_id`]).
    id: String,
    settings: StoreSettings,
    /// `None` only while sled is being reopened by [`Embedded::recover`].
    handles: RwLock<Option<Handles>>,
    /// Set after a failed write.
    degraded: Mutex<Option<Degraded>>,
    /// Held for the whole of a recovery (one at a time), for each apply, and while a failed
    /// flush degrades the store: an apply never straddles a degradation or a recovery, so a
    /// write is either refused, or pending and lost with the others.
    recovering: Mutex<()>,
    /// Applied writes waiting for a flush (group commit).
    commits: GroupCommit,
}

#[derive(Clone)]
struct Handles {
    db: sled::Db,
    data: sled::Tree,
    quarantine: sled::Tree,
    quarantine_raw: sled::Tree,
}

struct Degraded {
    /// The committed value of every key the failed write touched (`None` = absent).
    undo: BTreeMap<Vec<u8>, Option<IVec>>,
    cause: String,
}

impl Embedded {
    /// Opens (or creates) the store in `dir`, quarantining undecodable records and
    /// recounting usage.
    ///
    /// # Errors
    /// When sled cannot open the directory.
    pub fn open(dir: &Path, settings: StoreSettings) -> Result<Self, StoreError> {
        let handles = open_handles(dir)?;
        let id = match handles.data.get(keys::store_id().as_bytes())? {
            Some(stored) => decode(keys::store_id().as_str(), &stored)?,
            None => {
                // A new store (or one from before identities): named once, for good; durable
                // with the flush below, before anything is served.
                let id = uuid::Uuid::new_v4().to_string();
                handles.data.insert(
                    keys::store_id().as_bytes(),
                    serde_json::to_vec(&id).map_err(StoreError::Encode)?,
                )?;
                id
            }
        };
        let store = Self {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                id,
                settings,
                handles: RwLock::new(Some(handles.clone())),
                degraded: Mutex::new(None),
                recovering: Mutex::new(()),
                commits: GroupCommit::default(),
            }),
        };
        let moved = quarantine::sweep(&handles)?;
        for record in &moved {
            tracing::error!(
                key = %record.key,
                tenant = record.tenant.as_deref().unwrap_or("-"),
                reason = %record.reason,
                "stored record does not decode: moved to quarantine (GET /v1/quarantine lists it)"
            );
        }
        usage::recount(&handles, settings.audit_retention)?;
        if handles.data.get(keys::delta_floor().as_bytes())?.is_none() {
            // Change versions are kept from now on: deltas can be served from here.
            let now = store.version()?;
            handles.data.insert(
                keys::delta_floor().as_bytes(),
                serde_json::to_vec(&now).map_err(StoreError::Encode)?,
            )?;
        }
        handles.db.flush()?;
        store.inner.commits.reopened(store.version()?);
        store.ensure_ballast();
        Ok(store)
    }

    fn handles(&self) -> Result<Handles, StoreError> {
        self.inner
            .handles
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
            .ok_or_else(|| StoreError::Degraded {
                cause: "the store is being reopened".into(),
            })
    }

    fn degraded(&self) -> std::sync::MutexGuard<'_, Option<Degraded>> {
        self.inner
            .degraded
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The committed value of `key` if a failed write touched it.
    fn overlay(&self, key: &[u8]) -> Option<Option<IVec>> {
        self.degraded().as_ref()?.undo.get(key).cloned()
    }

    /// `entries` (from sled, in key order) corrected by the undo overlay within `[from, to]`.
    fn overlaid(
        &self,
        mut entries: Vec<(IVec, IVec)>,
        within: impl Fn(&[u8]) -> bool,
    ) -> Vec<(IVec, IVec)> {
        let guard = self.degraded();
        let Some(d) = guard.as_ref() else {
            return entries;
        };
        let mut merged: BTreeMap<IVec, IVec> = entries.drain(..).collect();
        for (k, v) in d.undo.iter().filter(|(k, _)| within(k)) {
            match v {
                Some(v) => merged.insert(IVec::from(k.as_slice()), v.clone()),
                None => merged.remove(k.as_slice()),
            };
        }
        merged.into_iter().collect()
    }

    /// Reads one record.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn get<T: DeserializeOwned>(&self, key: &keys::Key) -> Result<Option<T>, StoreError> {
        let raw = match self.overlay(key.as_bytes()) {
            Some(committed) => committed,
            None => self.handles()?.data.get(key.as_bytes())?,
        };
        raw.map(|bytes| decode(key.as_str(), &bytes)).transpose()
    }

    fn scan_raw(&self, prefix: &keys::Key) -> Result<Vec<(IVec, IVec)>, StoreError> {
        let entries = self
            .handles()?
            .data
            .scan_prefix(prefix.as_bytes())
            .collect::<Result<Vec<_>, _>>()?;
        Ok(self.overlaid(entries, |k| k.starts_with(prefix.as_bytes())))
    }

    /// Reads every record under `prefix`, in key order.
    ///
    /// # Errors
    /// On storage failure or an undecodable record.
    pub fn scan<T: DeserializeOwned>(&self, prefix: &keys::Key) -> Result<Vec<T>, StoreError> {
        self.scan_raw(prefix)?
            .into_iter()
            .map(|(k, v)| decode(&String::from_utf8_lossy(&k), &v))
            .collect()
    }

    /// Every key under `prefix`, in order.
    ///
    /// # Errors
    /// On storage failure.
    pub fn scan_keys(&self, prefix: &keys::Key) -> Result<Vec<keys::Key>, StoreError> {
        Ok(self
            .scan_raw(prefix)?
            .into_iter()
            .map(|(k, _)| keys::Key::from_stored(&k))
            .collect())
    }

    /// The store's identity: versions are relative to it (a copy of the directory keeps it).
    #[must_use]
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The version of the last committed write (0 for a new store).
    ///
    /// # Errors
    /// On storage failure or a damaged counter.
    pub fn version(&self) -> Result<u64, StoreError> {
        Ok(self.get(&keys::version())?.unwrap_or(0))
    }

    /// A tenant's usage.
    ///
    /// # Errors
    /// On storage failure.
    pub fn usage(&self, tenant: &str) -> Result<Usage, StoreError> {
        Ok(self.get(&keys::usage(tenant))?.unwrap_or_default())
    }

    /// Applies `writes` and `audit` atomically, in memory, as the next version. The caller
    /// must hold the store's write lock while applying (and reverting, if it must), and
    /// then [`Embedded::flush`] before acknowledging — which it may await without the lock, so
    /// that writes behind it share its flush.
    ///
    /// # Errors
    /// [`StoreError::DiskFull`], [`StoreError::Degraded`], [`StoreError::OverQuota`], or a
    /// storage failure; nothing was applied then.
    pub fn apply(
        &self,
        writes: WriteSet,
        audit: AuditRecord,
        budget: Budget,
    ) -> Result<Applied, StoreError> {
        let _no_recovery = self
            .inner
            .recovering
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(d) = self.degraded().as_ref() {
            return Err(StoreError::Degraded {
                cause: d.cause.clone(),
            });
        }
        self.check_free_space()?;
        let h = self.handles()?;
        let version = self.version()? + 1;
        let tenant = audit.tenant.clone();
        let WriteSet { mut ops, stamps } = writes;
        let mut usage = super::charge(&ops, self.usage(&tenant)?, &tenant, budget, |key| {
            Ok(h.data.get(key)?.map(|v| v.len()))
        })?;

        // Audit, with the oldest records beyond the retention pruned.
        ops.insert(
            keys::audit(&tenant, version).as_bytes().to_vec(),
            Some(super::audit_bytes(audit, version)?),
        );
        usage.audit_records += 1;
        let excess = usage
            .audit_records
            .saturating_sub(self.inner.settings.audit_retention);
        for old in h
            .data
            .scan_prefix(keys::audit_prefix(&tenant).as_bytes())
            .keys()
            .take(usize::try_from(excess.min(16)).unwrap_or(16))
        {
            ops.insert(old?.to_vec(), None);
            usage.audit_records -= 1;
        }
        super::finish(&mut ops, stamps, version, &tenant, &usage)?;

        let mut undo = BTreeMap::new();
        let mut batch = sled::Batch::default();
        for (key, value) in ops {
            undo.insert(key.clone(), h.data.get(&key)?);
            match value {
                Some(v) => batch.insert(key, v),
                None => batch.remove(key),
            }
        }
        if let Err(e) = h.data.apply_batch(batch) {
            // sled may have applied part of the batch in memory.
            self.degrade(undo, &e);
            return Err(e.into());
        }
        let epoch = self.inner.commits.applied(version, undo);
        Ok(Applied { version, epoch })
    }

    /// Makes an applied write durable, sharing one flush with every write applied before
    /// the flush starts (see `group_commit`). On failure the write — and every write not yet
    /// durable with it — is reported as not committed, and the store is degraded until
    /// [`Embedded::recover`].
    ///
    /// # Errors
    /// [`StoreError::Degraded`] when the flush failed or a recovery abandoned the write.
    pub async fn flush(&self, applied: Applied) -> Result<u64, StoreError> {
        let commits = &self.inner.commits;
        loop {
            match commits.turn(applied.version, applied.epoch).await {
                Turn::Done => return Ok(applied.version),
                Turn::Lost => {
                    return Err(StoreError::Degraded {
                        cause: "the write could not be made durable".into(),
                    });
                }
                Turn::Lead(target, epoch) => {
                    let flushed = match self.handles() {
                        Ok(h) => h.db.flush_async().await.map(drop).map_err(StoreError::from),
                        Err(e) => Err(e),
                    };
                    match flushed {
                        Ok(()) => commits.finish(target, epoch),
                        Err(e) => self.flush_failed(epoch, &e),
                    }
                }
            }
        }
    }

    /// Undoes the newest applied write (it was never acknowledged; the caller still holds the
    /// write lock), and flushes the undo: sled's background flusher may already have written
    /// the write itself.
    pub async fn revert(&self, applied: Applied) {
        let Some(undo) = self.inner.commits.withdraw(applied.version) else {
            // Already lost with a failed flush: the degraded overlay covers it.
            return;
        };
        let mut batch = sled::Batch::default();
        for (key, old) in &undo {
            match old {
                Some(v) => batch.insert(key.as_slice(), v.clone()),
                None => batch.remove(key.as_slice()),
            }
        }
        let reverted = match self.handles() {
            Ok(h) => match h.data.apply_batch(batch) {
                Ok(()) => h.db.flush_async().await.map(drop).map_err(StoreError::from),
                Err(e) => Err(e.into()),
            },
            Err(e) => Err(e),
        };
        if let Err(e) = reverted {
            self.degrade(undo, &e);
        }
    }

    /// Flushes made so far by group commit (each made every write applied before it durable;
    /// fewer flushes than writes means writes shared them).
    #[must_use]
    pub fn flushes(&self) -> u64 {
        self.inner.commits.flushes()
    }

    /// A flush begun in `epoch` failed: every write not yet durable is lost, and the store
    /// serves what was committed before them until it recovers.
    fn flush_failed(&self, epoch: u64, cause: &dyn std::fmt::Display) {
        let _no_apply = self
            .inner
            .recovering
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.degrade_older(self.inner.commits.fail(epoch), cause);
    }

    /// Degrades with the undo records of writes older than anything already in the overlay
    /// (pending writes lost by a flush): their values win.
    fn degrade_older(&self, undo: Undo, cause: &dyn std::fmt::Display) {
        if undo.is_empty() && self.degraded().is_some() {
            return;
        }
        let mut d = self.degraded();
        let cause = cause.to_string();
        tracing::error!(%cause, "storage flush failed: writes are refused until the store recovers; reads serve the committed state");
        match d.as_mut() {
            Some(existing) => existing.undo.extend(undo),
            None => *d = Some(Degraded { undo, cause }),
        }
    }

    fn degrade(&self, undo: BTreeMap<Vec<u8>, Option<IVec>>, cause: &dyn std::fmt::Display) {
        let mut d = self.degraded();
        let cause = cause.to_string();
        tracing::error!(%cause, "storage write failed: writes are refused until the store recovers; reads serve the committed state");
        match d.as_mut() {
            // Keep the oldest committed value of every key.
            Some(existing) => {
                for (k, v) in undo {
                    existing.undo.entry(k).or_insert(v);
                }
            }
            None => *d = Some(Degraded { undo, cause }),
        }
    }

    fn check_free_space(&self) -> Result<(), StoreError> {
        let reserve = self.inner.settings.min_free_bytes;
        match fs2::available_space(&self.inner.dir) {
            Ok(free) if free < reserve => Err(StoreError::DiskFull {
                reserve_bytes: reserve,
            }),
            // A file system that cannot report its free space is not held against writes.
            _ => Ok(()),
        }
    }

    /// Whether writes are refused after a storage failure.
    #[must_use]
    pub fn is_degraded(&self) -> bool {
        self.degraded().is_some()
    }

    /// Keeps the ballast file in place when the disk has room for it (a full disk is the
    /// moment to have given it up, not to take it back).
    pub fn ensure_ballast(&self) {
        let room = fs2::available_space(&self.inner.dir).unwrap_or(0);
        if room
            >= self
                .inner
                .settings
                .min_free_bytes
                .saturating_add(ballast::BYTES)
        {
            ballast::ensure(&self.inner.dir);
        }
    }

    /// After a storage failure: reopens sled (a fresh instance, without the failed write in
    /// memory and without the sticky error), makes sure the failed write left nothing on disk
    /// (restoring the committed values if it did), and resumes. Returns whether the store is
    /// healthy again.
    ///
    /// # Errors
    /// When reopening or restoring fails (the store stays degraded; try again later).
    pub fn recover(&self) -> Result<bool, StoreError> {
        let _one_at_a_time = self
            .inner
            .recovering
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if !self.is_degraded() {
            return Ok(true);
        }
        // Writes applied but not yet durable are lost with the old sled instance: restore
        // what was there before them too (their values are older than the overlay's).
        let lost = self.inner.commits.abandon();
        if let Some(d) = self.degraded().as_mut() {
            d.undo.extend(lost);
        }
        // Room for sled to reopen and restore, even on a full disk.
        ballast::release(&self.inner.dir);
        // Drop our handles so sled releases its lock (reads answer "unavailable" meanwhile),
        // then reopen without holding the slot's lock.
        drop(
            self.inner
                .handles
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .take(),
        );
        let mut attempt = 0;
        let handles = loop {
            match open_handles(&self.inner.dir) {
                Ok(h) => break h,
                // A read in flight may still hold a clone of the old handles for a moment.
                Err(_) if attempt < 50 => {
                    attempt += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                // Still degraded: the background housekeeping tries again.
                Err(e) => return Err(e),
            }
        };
        *self
            .inner
            .handles
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(handles.clone());
        let mut batch = sled::Batch::default();
        let mut leftovers = 0;
        if let Some(d) = self.degraded().as_ref() {
            for (key, committed) in &d.undo {
                if handles.data.get(key)? == *committed {
                    continue;
                }
                leftovers += 1;
                match committed {
                    Some(v) => batch.insert(key.as_slice(), v.clone()),
                    None => batch.remove(key.as_slice()),
                }
            }
        }
        if leftovers > 0 {
            handles.data.apply_batch(batch)?;
            handles.db.flush()?;
        }
        *self.degraded() = None;
        self.inner.commits.reopened(self.version()?);
        tracing::info!(
            leftovers,
            "the store reopened after a storage failure; writes are accepted again"
        );
        Ok(true)
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
        let in_range = |k: &[u8]| k >= from.as_bytes() && k <= to.as_bytes();
        let entries = if self.is_degraded() {
            let all = self
                .handles()?
                .data
                .range(from.as_bytes()..=to.as_bytes())
                .collect::<Result<Vec<_>, _>>()?;
            self.overlaid(all, in_range)
        } else {
            self.handles()?
                .data
                .range(from.as_bytes()..=to.as_bytes())
                .take(limit)
                .collect::<Result<Vec<_>, _>>()?
        };
        entries
            .into_iter()
            .take(limit)
            .map(|(k, v)| decode(&String::from_utf8_lossy(&k), &v))
            .collect()
    }

    /// Every quarantined record.
    ///
    /// # Errors
    /// On storage failure.
    pub fn quarantined(&self) -> Result<Vec<QuarantinedRecord>, StoreError> {
        quarantine::list(&self.handles()?)
    }

    /// Deletes a quarantined record for good; false if there is none under `key`.
    ///
    /// # Errors
    /// On storage failure.
    pub async fn remove_quarantined(&self, key: &str) -> Result<bool, StoreError> {
        let h = self.handles()?;
        let removed = quarantine::remove(&h, key)?;
        h.db.flush_async().await?;
        Ok(removed)
    }
}

fn open_handles(dir: &Path) -> Result<Handles, StoreError> {
    // sled finishes an asynchronous flush on a thread of its own, which holds the database
    // (and its file lock) a moment after the flush is reported: a store closed and reopened
    // at once in this process waits for it rather than failing.
    let mut waited = 0;
    let db = loop {
        match sled::Config::new().path(dir.join("store")).open() {
            Err(sled::Error::Io(e)) if waited < 50 && e.to_string().contains("acquire lock") => {
                waited += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            other => break other?,
        }
    };
    Ok(Handles {
        data: db.open_tree("data")?,
        quarantine: db.open_tree("quarantine")?,
        quarantine_raw: db.open_tree("quarantine-raw")?,
        db,
    })
}

#[cfg(test)]
mod tests;

/// Everything an embedded store holds, for moving it to another backend.
pub struct Export {
    /// Every record of the `data` tree (audit records included), in key order.
    pub records: Vec<(Vec<u8>, Vec<u8>)>,
    /// Quarantined records: key, listing metadata, raw bytes.
    pub quarantine: Vec<(Vec<u8>, Vec<u8>, Vec<u8>)>,
}

impl Embedded {
    /// Reads everything the store holds (for `control-plane migrate-store`).
    ///
    /// # Errors
    /// On storage failure.
    pub fn export(&self) -> Result<Export, StoreError> {
        let h = self.handles()?;
        let records = h
            .data
            .iter()
            .map(|e| e.map(|(k, v)| (k.to_vec(), v.to_vec())))
            .collect::<Result<Vec<_>, _>>()?;
        let mut quarantine = Vec::new();
        for entry in h.quarantine.iter() {
            let (key, meta) = entry?;
            let raw = h
                .quarantine_raw
                .get(&key)?
                .map(|v| v.to_vec())
                .unwrap_or_default();
            quarantine.push((key.to_vec(), meta.to_vec(), raw));
        }
        Ok(Export {
            records,
            quarantine,
        })
    }
}

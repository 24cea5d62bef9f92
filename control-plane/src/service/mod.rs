//! The one implementation of every admin operation. The REST facade and the gRPC services
//! are thin front doors that authenticate, decode, call a method here, and encode.
//!
//! Writes are serialised by the store's write lock (in this process and, on PostgreSQL,
//! across every replica): each operation reads what it needs, checks its rules, and commits
//! one atomic, durable write while holding it. That is what makes "the first enable mints
//! exactly one key" hold under concurrent requests, and it keeps versions in commit order.
//! Changes other replicas commit reach this one's publisher through the store's follower.
//!
//! A commit runs in its own task (see `Service::commit`): a caller that goes away, or a
//! request timeout, can never stop it between "applied" and "flushed and published". A
//! commit that fails is reverted, so an error answer always means nothing was committed.

mod catalog;
mod configs;
mod error;
pub mod import;
mod integrations;
mod mcp;
pub mod oauth;
mod quarantine;
mod snapshots;
mod tools;
pub mod views;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use error::ServiceError;
use mcpgw_runtime::logging::LogSafe;
use mcpgw_shared::ids::is_valid_id;
use mcpgw_shared::now_millis;
use uuid::Uuid;

use self::snapshots::build_integration;
use crate::jwt::Caller;
use crate::seal::Sealer;
use crate::snapshot::Publisher;
use crate::store::{
    AuditRecord, Budget, CatalogRecord, IntegrationRecord, Store, WriteLock, WriteSet, keys,
};

/// Held for the whole of a write; moved into its commit task.
type WriteGuard = WriteLock;

/// Per-tenant limits on what the store holds, so one tenant cannot grow the control plane's
/// disk or every data plane's memory without bound.
#[derive(Debug, Clone, Copy)]
pub struct Quotas {
    /// Integrations one tenant may have.
    pub integrations_per_tenant: u64,
    /// Tools one integration may have.
    pub tools_per_integration: u64,
    /// Bytes one tenant may store (its records' keys and values; audit excluded).
    pub bytes_per_tenant: u64,
    /// Writes one tenant may make per second (0 = unlimited), so one tenant's burst cannot
    /// monopolise the store's one writer.
    pub writes_per_second: u32,
    /// Writes one tenant may make at once above its rate.
    pub write_burst: u32,
}

impl Default for Quotas {
    fn default() -> Self {
        Self {
            integrations_per_tenant: 1_000,
            tools_per_integration: 1_000,
            bytes_per_tenant: 64 * 1024 * 1024,
            writes_per_second: 200,
            write_burst: 400,
        }
    }
}

/// Longest `displayName`.
const MAX_NAME_LEN: usize = 200;
/// Longest `description`.
const MAX_DESCRIPTION_LEN: usize = 4096;

/// The control plane's service layer.
pub struct Service {
    store: Store,
    sealer: Arc<Sealer>,
    publisher: Arc<Publisher>,
    public_mcp_url: String,
    quotas: Quotas,
    oauth: oauth::OAuth,
    /// Per-tenant write rate (`None`: unlimited).
    write_rate: Option<TenantLimiter>,
    /// Imports read one document at a time: reading is seconds of CPU and up to hundreds of
    /// MiB for the largest documents, so concurrent imports queue instead of adding up.
    import_reads: Arc<tokio::sync::Semaphore>,
    /// Tenants with an import being read or waiting to be: one each, so no tenant can fill
    /// the queue in front of the others.
    importing: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// A GCRA limiter per tenant.
type TenantLimiter = governor::DefaultKeyedRateLimiter<String>;

fn tenant_limiter(quotas: &Quotas) -> Option<TenantLimiter> {
    let per_second = std::num::NonZeroU32::new(quotas.writes_per_second)?;
    let burst = std::num::NonZeroU32::new(quotas.write_burst.max(quotas.writes_per_second))?;
    Some(governor::RateLimiter::keyed(
        governor::Quota::per_second(per_second).allow_burst(burst),
    ))
}

impl Service {
    /// A service over `store`, publishing snapshots of what the store holds now.
    ///
    /// # Errors
    /// When the store cannot be read or a sealed credential cannot be opened (wrong master key).
    pub fn new(
        store: Store,
        sealer: Sealer,
        public_mcp_url: &str,
        quotas: Quotas,
    ) -> Result<Self, ServiceError> {
        let publisher = Arc::new(Self::publisher_at_start(&store, &sealer)?);
        let sealer = Arc::new(sealer);
        store.follow(Self::publish_followed(&store, &sealer, &publisher));
        Ok(Self {
            write_rate: tenant_limiter(&quotas),
            import_reads: Arc::new(tokio::sync::Semaphore::new(1)),
            importing: Arc::default(),
            oauth: oauth::OAuth::new(oauth::OAuthConfig::default(), &sealer),
            store,
            sealer,
            publisher,
            public_mcp_url: public_mcp_url.trim_end_matches('/').to_owned(),
            quotas,
        })
    }

    /// The same service with these OAuth settings (issuer, token lifetime, key generation).
    #[must_use]
    pub fn with_oauth(mut self, config: oauth::OAuthConfig) -> Self {
        self.oauth = oauth::OAuth::new(config, &self.sealer);
        self
    }

    /// What a change committed by another replica does here: the integration's snapshot is
    /// rebuilt from the store (which shows that version now) and published at its version.
    /// A snapshot that cannot be built (a master key that does not open it) is published as
    /// absent: this replica's data planes then refuse the integration rather than serve a
    /// stale state of it.
    fn publish_followed(
        store: &Store,
        sealer: &Arc<Sealer>,
        publisher: &Arc<Publisher>,
    ) -> crate::store::OnChange {
        let (store, sealer, publisher) = (store.clone(), sealer.clone(), publisher.clone());
        Arc::new(move |version, tenant, integration| {
            let snapshot = build_integration(&store, &sealer, tenant, integration)
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, tenant, integration, version, "a followed change could not be built; its integration is withdrawn here");
                    None
                });
            let key = mcpgw_shared::model::IntegrationKey {
                tenant: tenant.to_owned(),
                integration_id: integration.to_owned(),
            };
            publisher.publish(version, key, snapshot);
        })
    }

    /// What the publisher starts with: every integration at the version that last changed it
    /// (so data planes resume with a delta across a restart), deltas servable from the store's
    /// delta floor.
    fn publisher_at_start(store: &Store, sealer: &Sealer) -> Result<Publisher, ServiceError> {
        let version = store.version()?;
        let floor = store.delta_floor()?.min(version);
        let mut changed: std::collections::HashMap<(String, String), u64> = store
            .change_versions()?
            .into_iter()
            .map(|(t, i, v)| ((t, i), v))
            .collect();
        let entries: Vec<_> = snapshots::build_all(store, sealer)?
            .into_iter()
            .map(|s| {
                // Unstamped: unchanged since the floor was set.
                let at = changed
                    .remove(&(s.key.tenant.clone(), s.key.integration_id.clone()))
                    .unwrap_or(floor)
                    .clamp(floor, version);
                (s, at)
            })
            .collect();
        Ok(Publisher::new(version, floor, entries))
    }

    /// The store (health and quarantine for metrics and housekeeping).
    #[must_use]
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// What data planes are sent for one integration as the store holds it now (`None`: no
    /// such integration).
    ///
    /// # Errors
    /// Storage, or a sealed credential that does not open.
    pub fn snapshot_of(
        &self,
        tenant: &str,
        integration: &str,
    ) -> Result<Option<mcpgw_shared::model::IntegrationSnapshot>, ServiceError> {
        build_integration(&self.store, &self.sealer, tenant, integration)
    }

    /// The snapshot publisher data planes subscribe to.
    #[must_use]
    pub fn publisher(&self) -> &Arc<Publisher> {
        &self.publisher
    }

    /// The audit log of a tenant (oldest first).
    ///
    /// # Errors
    /// Forbidden tenant, or storage failure.
    pub async fn audit_log(
        &self,
        caller: &Caller,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, ServiceError> {
        authorize(caller, tenant)?;
        Ok(self
            .store
            .audit_log(tenant, after, limit.clamp(1, 1000))
            .await?)
    }

    /// Takes the store's write lock for a write of `tenant`, once its write rate admits it
    /// (the lock is FIFO: a tenant's queued writes never stop another's from taking turns).
    async fn lock(&self, tenant: &str) -> Result<WriteGuard, ServiceError> {
        self.admit_write(tenant)?;
        Ok(self.store.lock().await?)
    }

    /// Charges one write to `tenant`'s write rate (what [`Service::lock`] does first; a
    /// write that does costly work before it locks charges it before that work).
    fn admit_write(&self, tenant: &str) -> Result<(), ServiceError> {
        if let Some(limiter) = &self.write_rate
            && let Err(not_until) = limiter.check_key(&tenant.to_owned())
        {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Err(ServiceError::WriteRate {
                tenant: tenant.to_owned(),
                per_second: self.quotas.writes_per_second,
                retry_after_secs: wait.as_secs().max(1),
            });
        }
        Ok(())
    }

    /// Forgets tenants that have not written lately (bounded memory).
    pub fn prune_write_rates(&self) {
        if let Some(limiter) = &self.write_rate {
            limiter.retain_recent();
        }
    }

    /// Commits `writes`: applied atomically, the integration's snapshot rebuilt from the
    /// result, flushed, and only then published and acknowledged. Anything failing on the way
    /// reverts the write. It runs in its own task, so a caller that goes away cannot leave a
    /// write applied but unflushed or unpublished. The write lock (`guard`) is held while the
    /// write is applied and its snapshot built, and released before the flush: the writes
    /// queued behind it apply meanwhile and share the next flush (group commit).
    async fn commit(
        &self,
        guard: WriteGuard,
        caller: &Caller,
        change: Change<'_>,
        writes: WriteSet,
    ) -> Result<u64, ServiceError> {
        let budget = Budget {
            tenant_bytes: self.quotas.bytes_per_tenant,
        };
        self.commit_within(guard, caller, change, writes, budget)
            .await
    }

    /// [`Service::commit`] within `budget` (a deletion is never refused for the tenant's
    /// byte quota: see `delete_tool`).
    async fn commit_within(
        &self,
        guard: WriteGuard,
        caller: &Caller,
        change: Change<'_>,
        writes: WriteSet,
        budget: Budget,
    ) -> Result<u64, ServiceError> {
        let Change {
            tenant,
            integration,
            action,
            target,
        } = change;
        // The catalog revision served once this write is in, as the audit log names it.
        let head = keys::catalog(tenant, integration);
        let catalog_revision = match writes.pending::<CatalogRecord>(&head) {
            Some(pending) => pending.map(|h| h.published),
            None if writes
                .pending::<IntegrationRecord>(&keys::integration(tenant, integration))
                .is_some_and(|p| p.is_none()) =>
            {
                None
            }
            None => Some(
                self.store
                    .get::<CatalogRecord>(&head)?
                    .map_or(0, |h| h.published),
            ),
        };
        let audit = AuditRecord {
            version: 0,
            at: now_millis(),
            actor: caller.sub.clone(),
            tenant: tenant.to_owned(),
            action: action.to_owned(),
            target,
            catalog_revision,
        };
        let key = mcpgw_shared::model::IntegrationKey {
            tenant: tenant.to_owned(),
            integration_id: integration.to_owned(),
        };
        let mut writes = writes;
        let changed = keys::changed(tenant, integration);
        if !writes.touches(&changed) {
            writes.stamp_version(&changed);
        }
        let (store, sealer, publisher) = (
            self.store.clone(),
            self.sealer.clone(),
            self.publisher.clone(),
        );
        let task = tokio::spawn(async move {
            let mut guard = guard;
            let applied = match store.apply(&mut guard, writes, audit, budget).await {
                Ok(a) => a,
                Err(e) => {
                    store.recover_if_degraded().await;
                    return Err(e.into());
                }
            };
            let snapshot =
                match build_integration(&store, &sealer, &key.tenant, &key.integration_id) {
                    Ok(s) => s,
                    Err(e) => {
                        store.revert(applied).await;
                        return Err(e);
                    }
                };
            drop(guard);
            let version = match store.flush(applied).await {
                Ok(v) => v,
                Err(e) => {
                    store.recover_if_degraded().await;
                    return Err(e.into());
                }
            };
            // Flushes finish in any order; the publisher announces versions only once every
            // version below them is published, so no data plane skips one.
            publisher.publish(version, key, snapshot);
            Ok::<_, ServiceError>(version)
        });
        let version = task
            .await
            .map_err(|e| ServiceError::Internal(Box::new(e)))??;
        tracing::info!(actor = %LogSafe(&caller.sub), tenant, integration, action, version, "committed");
        Ok(version)
    }

    fn integration_record(
        &self,
        tenant: &str,
        integration: &str,
    ) -> Result<IntegrationRecord, ServiceError> {
        self.store
            .get(&keys::integration(tenant, integration))?
            .ok_or_else(|| ServiceError::not_found("integration", integration))
    }
}

/// What a commit changes, for the audit log and the snapshot publisher.
struct Change<'a> {
    tenant: &'a str,
    integration: &'a str,
    action: &'static str,
    target: String,
}

/// Checks the tenant id and that the caller may manage it. A malformed tenant is a 400
/// (it names the field); a tenant outside the token's `tenants` is a 403.
fn authorize(caller: &Caller, tenant: &str) -> Result<(), ServiceError> {
    if !is_valid_id(tenant) {
        return Err(ServiceError::invalid(
            "tenant",
            "must match [A-Za-z0-9_-]{1,64}",
        ));
    }
    if !caller.may_manage(tenant) {
        return Err(ServiceError::Forbidden(tenant.to_owned()));
    }
    Ok(())
}

/// [`authorize`], and checks the integration id of the path.
fn authorize_integration(
    caller: &Caller,
    tenant: &str,
    integration: &str,
) -> Result<(), ServiceError> {
    authorize(caller, tenant)?;
    check_id("integration", integration)
}

/// Validates a path id such as an integration or tool id.
fn check_id(field: &str, id: &str) -> Result<(), ServiceError> {
    if is_valid_id(id) {
        Ok(())
    } else {
        Err(ServiceError::invalid(
            field,
            "must match [A-Za-z0-9_-]{1,64}",
        ))
    }
}

/// Parses a UUID path or body field.
fn parse_uuid(field: &str, value: &str) -> Result<Uuid, ServiceError> {
    Uuid::parse_str(value).map_err(|_| ServiceError::invalid(field, "must be a UUID"))
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), ServiceError> {
    if value.chars().count() > max {
        return Err(ServiceError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return Err(ServiceError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Decodes a JSON request body into `T`, naming the offending field on failure
/// (`limits.burst: invalid type ...`), so REST and gRPC report the same error.
///
/// # Errors
/// [`ServiceError::Invalid`] naming the field.
pub fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ServiceError> {
    // What is accepted must be storable and readable back: see `mcpgw_shared::json`.
    if mcpgw_shared::json::depth(bytes) > mcpgw_shared::json::MAX_DOCUMENT_DEPTH {
        return Err(ServiceError::invalid(
            "",
            format!(
                "the JSON nests deeper than {} levels",
                mcpgw_shared::json::MAX_DOCUMENT_DEPTH
            ),
        ));
    }
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(de).map_err(path_error)?;
    Ok(value)
}

/// [`parse_json`] for an already parsed JSON value.
fn parse_body<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> Result<T, ServiceError> {
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> ServiceError {
    let path = e.path().to_string();
    let field = if path == "." { String::new() } else { path };
    // serde's messages name the expected shape but never echo secret values back except as
    // the offending scalar; keep them, they are what makes the error useful.
    ServiceError::invalid(&field, e.inner().to_string())
}

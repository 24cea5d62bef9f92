//! The one implementation of every admin operation. The REST facade and the gRPC services
//! are thin front doors that authenticate, decode, call a method here, and encode.
//!
//! Writes are serialised by one async mutex: each operation reads what it needs, checks its
//! rules, and commits one atomic, flushed batch while holding it. That is what makes "the
//! first enable mints exactly one key" hold under concurrent requests, and it keeps the
//! snapshot publisher's versions in commit order.

mod configs;
mod error;
mod integrations;
mod mcp;
mod tools;
pub mod views;

use std::sync::Arc;

pub use error::ServiceError;
use mcpgw_shared::ids::is_valid_id;
use mcpgw_shared::now_millis;
use tokio::sync::{Mutex, MutexGuard};
use uuid::Uuid;

use crate::jwt::Caller;
use crate::seal::Sealer;
use crate::snapshot::{Publisher, build_integration};
use crate::store::{AuditRecord, IntegrationRecord, Store, WriteSet, keys};

/// Longest `displayName`.
const MAX_NAME_LEN: usize = 200;
/// Longest `description`.
const MAX_DESCRIPTION_LEN: usize = 4096;

/// The control plane's service layer.
pub struct Service {
    store: Store,
    sealer: Sealer,
    publisher: Arc<Publisher>,
    public_mcp_url: String,
    write_lock: Mutex<()>,
}

impl Service {
    /// A service over `store`, publishing snapshots of what the store holds now.
    ///
    /// # Errors
    /// When the store cannot be read or a sealed credential cannot be opened (wrong master key).
    pub fn new(store: Store, sealer: Sealer, public_mcp_url: &str) -> Result<Self, ServiceError> {
        let publisher = Arc::new(Publisher::load(&store, &sealer)?);
        Ok(Self {
            store,
            sealer,
            publisher,
            public_mcp_url: public_mcp_url.trim_end_matches('/').to_owned(),
            write_lock: Mutex::new(()),
        })
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
    pub fn audit_log(
        &self,
        caller: &Caller,
        tenant: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, ServiceError> {
        authorize(caller, tenant)?;
        Ok(self.store.audit_log(tenant, after, limit.clamp(1, 1000))?)
    }

    async fn lock(&self) -> MutexGuard<'_, ()> {
        self.write_lock.lock().await
    }

    /// Commits `writes` (applied atomically, flushed before returning), then republishes the
    /// integration's snapshot at the new version. Must be called with the write lock held (`_guard`).
    async fn commit(
        &self,
        _guard: &MutexGuard<'_, ()>,
        caller: &Caller,
        change: Change<'_>,
        writes: WriteSet,
    ) -> Result<u64, ServiceError> {
        let Change {
            tenant,
            integration,
            action,
            target,
        } = change;
        let audit = AuditRecord {
            version: 0,
            at: now_millis(),
            actor: caller.sub.clone(),
            tenant: tenant.to_owned(),
            action: action.to_owned(),
            target,
        };
        let version = self.store.apply(writes, audit)?;
        // From here the change is in the store: publish it even if the flush fails, so data
        // planes never lag behind what a later write (or a restart) builds on.
        let flushed = self.store.flush().await;
        let snapshot = build_integration(&self.store, &self.sealer, tenant, integration)?;
        self.publisher.publish(
            version,
            mcpgw_shared::model::IntegrationKey {
                tenant: tenant.to_owned(),
                integration_id: integration.to_owned(),
            },
            snapshot,
        );
        flushed?;
        tracing::info!(actor = %caller.sub, tenant, integration, action, version, "committed");
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

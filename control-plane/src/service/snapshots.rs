//! What a data plane sees of one integration, built from the store: its exposed tools, its
//! live key, and the published revision of its bound config with credentials opened.

use mcpgw_shared::model::{
    Auth, IntegrationKey, IntegrationSnapshot, KeyEntry, ToolsCarried, UpstreamRevision,
};

use super::ServiceError;
use super::catalog::served_tools;
use crate::seal::Sealer;
use crate::store::{
    ApiKeyRecord, ConfigRecord, GrantRecord, IntegrationRecord, McpRecord, RevisionRecord, Store,
    keys,
};

/// Every integration's snapshot, as the store holds them now.
///
/// # Errors
/// Storage failure, or a sealed credential the master key cannot open.
pub fn build_all(store: &Store, sealer: &Sealer) -> Result<Vec<IntegrationSnapshot>, ServiceError> {
    let mut snapshots = Vec::new();
    for key in store.scan_keys(&keys::all_integrations())? {
        // Keys look like `int/{tenant}/{integration}`.
        let mut parts = key.as_str().splitn(3, '/').skip(1);
        let (Some(tenant), Some(integration)) = (parts.next(), parts.next()) else {
            continue;
        };
        snapshots.extend(build_integration(store, sealer, tenant, integration)?);
    }
    Ok(snapshots)
}

/// Builds what a data plane needs for one integration from the store, or `None` if the
/// integration does not exist.
///
/// # Errors
/// Storage failure, or a sealed credential that does not open.
pub fn build_integration(
    store: &Store,
    sealer: &Sealer,
    tenant: &str,
    integration: &str,
) -> Result<Option<IntegrationSnapshot>, ServiceError> {
    let Some(record) = store.get::<IntegrationRecord>(&keys::integration(tenant, integration))?
    else {
        return Ok(None);
    };
    let mcp: McpRecord = store
        .get(&keys::mcp(tenant, integration))?
        .unwrap_or_default();
    let (tools, catalog) = served_tools(store, &record, tenant)?;
    let tools = tools
        .into_iter()
        .filter(|t| {
            mcp.exposed_tool_ids
                .as_ref()
                .is_none_or(|ids| ids.contains(&t.id))
        })
        .collect();
    let mut key_entries = Vec::new();
    if let Some(id) = mcp.api_key_id
        && let Some(k) = store.get::<ApiKeyRecord>(&keys::api_key(id))?
        && k.revoked_at.is_none()
    {
        key_entries.push(KeyEntry {
            key_id: k.id,
            key_prefix: k.key_prefix,
            hash: k.hash,
        });
    }
    let mut revision = None;
    if let Some(config_id) = mcp.config_id
        && let Some(config) =
            store.get::<ConfigRecord>(&keys::config(tenant, integration, config_id))?
        && let Some(rev_id) = config.published_revision_id
    {
        let rev_key = keys::revision(tenant, integration, config_id, rev_id);
        if let Some(rev) = store.get::<RevisionRecord>(&rev_key)? {
            revision = Some(UpstreamRevision {
                revision_id: rev.id,
                version: rev.version,
                parameters: rev.parameters,
                auth: open_auth(sealer, &rev.sealed_auth, rev_key.as_str())?,
            });
        }
    }
    // Grants approved with the live key only: rotating the key retires the others.
    let oauth = if mcp.oauth_enabled {
        let live_key = key_entries.first().map(|k| k.key_id);
        let grants: Vec<GrantRecord> = store.scan(&keys::grants(tenant, integration))?;
        Some(
            grants
                .into_iter()
                .filter(|g| Some(g.key_id) == live_key)
                .map(|g| g.id)
                .collect(),
        )
    } else {
        None
    };
    let description = if mcp.description.is_empty() {
        record.description
    } else {
        mcp.description
    };
    Ok(Some(IntegrationSnapshot {
        key: IntegrationKey {
            tenant: tenant.to_owned(),
            integration_id: integration.to_owned(),
        },
        display_name: record.display_name,
        description,
        enabled: mcp.enabled,
        tools,
        carried: ToolsCarried::All,
        keys: key_entries,
        limits: mcp.limits,
        config_id: mcp.config_id,
        revision,
        oauth,
        catalog,
    }))
}

/// Opens a sealed `auth` blob.
///
/// # Errors
/// When it does not open under the master key or does not decode.
pub fn open_auth(sealer: &Sealer, sealed: &[u8], aad: &str) -> Result<Auth, ServiceError> {
    let plain = sealer.open(sealed, aad)?;
    serde_json::from_slice(&plain).map_err(|e| ServiceError::Internal(Box::new(e)))
}

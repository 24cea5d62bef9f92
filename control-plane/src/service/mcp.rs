//! MCP settings and the key lifecycle (`docs/api.md`, MCP settings rules 1–9).

use std::collections::BTreeSet;

use mcpgw_shared::secret::Secret;
use mcpgw_shared::{apikey, now_millis};
use uuid::Uuid;

use super::views::{McpPatch, McpSettingsView, OAuthSettings};
use super::{
    Change, MAX_DESCRIPTION_LEN, Service, ServiceError, authorize_integration, check_id,
    check_text, parse_uuid,
};
use crate::jwt::Caller;
use crate::store::{ApiKeyRecord, ConfigRecord, McpRecord, ToolRecord, WriteSet, keys};

/// The one scope an MCP key carries.
pub const MCP_SCOPE: &str = "mcp:invoke";

impl Service {
    /// The settings of an integration; defaults if it never had any.
    ///
    /// # Errors
    /// Forbidden tenant, unknown integration, storage.
    pub fn get_mcp_settings(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
    ) -> Result<McpSettingsView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let record = self.mcp_record(tenant, integration)?;
        self.mcp_view(tenant, integration, &record, None)
    }

    /// Applies a settings patch. The first time `enabled` becomes true a key is minted and
    /// returned once in `apiKey`; it is on disk before this returns.
    ///
    /// # Errors
    /// Invalid fields (unknown `configId` or tool ids are 400), forbidden, not found, storage.
    pub async fn update_mcp_settings(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        patch: McpPatch,
    ) -> Result<McpSettingsView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        if let Some(d) = &patch.description {
            check_text("description", d, MAX_DESCRIPTION_LEN)?;
        }
        if let Some(l) = &patch.limits {
            l.validate()?;
        }
        let config_id = patch
            .config_id
            .as_deref()
            .map(|c| parse_uuid("configId", c))
            .transpose()?;
        if let Some(ids) = &patch.exposed_tool_ids {
            for (i, id) in ids.iter().enumerate() {
                check_id(&format!("exposedToolIds[{i}]"), id)?;
            }
        }

        let guard = self.lock(tenant).await?;
        let mut record = self.mcp_record(tenant, integration)?;
        if let Some(config_id) = config_id {
            record.config_id = if config_id.is_nil() {
                None
            } else {
                let key = keys::config(tenant, integration, config_id);
                if self.store.get::<ConfigRecord>(&key)?.is_none() {
                    return Err(ServiceError::invalid(
                        "configId",
                        "does not name a config of this integration",
                    ));
                }
                Some(config_id)
            };
        }
        if let Some(ids) = patch.exposed_tool_ids {
            let ids: BTreeSet<String> = ids.into_iter().collect();
            // A tool of the draft or of the published catalog (they differ without
            // autoPublish).
            let published = self.published_tool_ids(tenant, integration)?;
            for id in &ids {
                if !published.contains(id)
                    && self
                        .store
                        .get::<ToolRecord>(&keys::tool(tenant, integration, id))?
                        .is_none()
                {
                    return Err(ServiceError::invalid(
                        "exposedToolIds",
                        format!("tool '{id}' does not exist"),
                    ));
                }
            }
            record.exposed_tool_ids = Some(ids.into_iter().collect());
        }
        if let Some(d) = patch.description {
            record.description = d;
        }
        if let Some(l) = patch.limits {
            record.limits = record.limits.patched(l);
        }
        if let Some(enabled) = patch.oauth.and_then(|o| o.enabled) {
            record.oauth_enabled = enabled;
        }
        let mut w = WriteSet::default();
        let mut minted = None;
        let mut action = "mcp.update";
        if let Some(enabled) = patch.enabled {
            if enabled && record.api_key_id.is_none() {
                let (id, raw) = self.mint_key(&mut w, tenant, integration)?;
                record.api_key_id = Some(id);
                minted = Some(raw);
                action = "mcp.enable+mint";
            }
            record.enabled = enabled;
        }
        record.modified_at = now_millis();
        w.put(&keys::mcp(tenant, integration), &record)?;
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action,
                target: format!("{integration}/mcp"),
            },
            w,
        )
        .await?;
        self.mcp_view(tenant, integration, &record, minted)
    }

    /// Mints a fresh key, binds it, and revokes the previous one; the new secret is
    /// returned once.
    ///
    /// # Errors
    /// Forbidden tenant, unknown integration, storage.
    pub async fn rotate_key(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
    ) -> Result<McpSettingsView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let guard = self.lock(tenant).await?;
        let mut record = self.mcp_record(tenant, integration)?;
        let mut w = WriteSet::default();
        if let Some(old) = record.api_key_id {
            self.revoke_key(&mut w, old)?;
        }
        let (id, raw) = self.mint_key(&mut w, tenant, integration)?;
        record.api_key_id = Some(id);
        record.modified_at = now_millis();
        w.put(&keys::mcp(tenant, integration), &record)?;
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "mcp.rotateKey",
                target: format!("{integration}/mcp"),
            },
            w,
        )
        .await?;
        self.mcp_view(tenant, integration, &record, Some(raw))
    }

    /// The stored settings, or fresh defaults (all tools exposed, disabled).
    fn mcp_record(&self, tenant: &str, integration: &str) -> Result<McpRecord, ServiceError> {
        let int = self.integration_record(tenant, integration)?;
        Ok(self
            .store
            .get(&keys::mcp(tenant, integration))?
            .unwrap_or(McpRecord {
                created_at: int.created_at,
                modified_at: int.created_at,
                ..McpRecord::default()
            }))
    }

    fn mint_key(
        &self,
        w: &mut WriteSet,
        tenant: &str,
        integration: &str,
    ) -> Result<(Uuid, Secret), ServiceError> {
        let minted = apikey::mint()?;
        let id = Uuid::now_v7();
        let record = ApiKeyRecord {
            id,
            key_prefix: minted.key_prefix,
            hash: minted.hash,
            scopes: vec![MCP_SCOPE.to_owned()],
            tenant: tenant.to_owned(),
            integration_id: integration.to_owned(),
            created_at: now_millis(),
            revoked_at: None,
        };
        w.put(&keys::api_key(id), &record)?;
        Ok((id, minted.raw))
    }

    fn mcp_view(
        &self,
        tenant: &str,
        integration: &str,
        record: &McpRecord,
        api_key: Option<Secret>,
    ) -> Result<McpSettingsView, ServiceError> {
        let key_prefix = match record.api_key_id {
            Some(id) => self
                .store
                .get::<ApiKeyRecord>(&keys::api_key(id))?
                .map(|k| k.key_prefix),
            None => None,
        };
        let base = format!(
            "{}/v1/tenants/{tenant}/integrations/{integration}",
            self.public_mcp_url
        );
        Ok(McpSettingsView {
            integration_id: integration.to_owned(),
            enabled: record.enabled,
            config_id: record.config_id.unwrap_or(mcpgw_shared::NIL_UUID),
            exposed_tool_ids: record.exposed_tool_ids.clone(),
            description: record.description.clone(),
            api_key_id: record.api_key_id,
            call_url: format!("{base}/mcp:call"),
            test_url: format!("{base}/mcp:test"),
            created_at: record.created_at,
            modified_at: record.modified_at,
            key_prefix,
            api_key,
            limits: record.limits,
            oauth: OAuthSettings {
                enabled: record.oauth_enabled,
            },
        })
    }
}

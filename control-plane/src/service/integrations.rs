//! Integrations: create, read, list, patch, delete (which also revokes the bound key).

use mcpgw_shared::now_millis;

use super::catalog::{Source, draft_of};
use super::views::{IntegrationPatch, IntegrationView, NewIntegration};
use super::{
    Change, MAX_DESCRIPTION_LEN, MAX_NAME_LEN, Service, ServiceError, authorize,
    authorize_integration, check_id, check_text,
};
use crate::jwt::Caller;
use crate::store::{ApiKeyRecord, IntegrationRecord, McpRecord, WriteSet, keys};

impl Service {
    /// Creates an integration; 409 if the id is taken in this tenant.
    ///
    /// # Errors
    /// Invalid fields, forbidden tenant, conflict, storage.
    pub async fn create_integration(
        &self,
        caller: &Caller,
        tenant: &str,
        req: NewIntegration,
    ) -> Result<IntegrationView, ServiceError> {
        authorize(caller, tenant)?;
        check_id("id", &req.id)?;
        let display_name = req.display_name.unwrap_or_else(|| req.id.clone());
        let description = req.description.unwrap_or_default();
        check_text("displayName", &display_name, MAX_NAME_LEN)?;
        check_text("description", &description, MAX_DESCRIPTION_LEN)?;
        let guard = self.lock(tenant).await?;
        let key = keys::integration(tenant, &req.id);
        if self.store.get::<IntegrationRecord>(&key)?.is_some() {
            return Err(ServiceError::Conflict {
                kind: "integration",
                id: req.id,
            });
        }
        let limit = self.quotas.integrations_per_tenant;
        if self.store.scan_keys(&keys::integrations(tenant))?.len() as u64 >= limit {
            return Err(ServiceError::Quota {
                quota: "integrationsPerTenant",
                limit,
                detail: format!("tenant '{tenant}' already has {limit} integrations"),
            });
        }
        let now = now_millis();
        let record = IntegrationRecord {
            id: req.id.clone(),
            display_name,
            description,
            created_at: now,
            modified_at: now,
            auto_publish: req.catalog.and_then(|c| c.auto_publish).unwrap_or(true),
        };
        let mut w = WriteSet::default();
        w.put(&key, &record)?;
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration: &req.id,
                action: "integration.create",
                target: req.id.clone(),
            },
            w,
        )
        .await?;
        self.view(record, tenant, true)
    }

    /// Reads an integration.
    ///
    /// # Errors
    /// Forbidden tenant, not found, storage.
    pub fn get_integration(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
    ) -> Result<IntegrationView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let record = self.integration_record(tenant, integration)?;
        self.view(record, tenant, true)
    }

    /// Lists a tenant's integrations in id order.
    ///
    /// # Errors
    /// Forbidden tenant, storage.
    pub fn list_integrations(
        &self,
        caller: &Caller,
        tenant: &str,
    ) -> Result<Vec<IntegrationView>, ServiceError> {
        authorize(caller, tenant)?;
        let records: Vec<IntegrationRecord> = self.store.scan(&keys::integrations(tenant))?;
        records
            .into_iter()
            .map(|r| self.view(r, tenant, false))
            .collect()
    }

    /// Patches an integration; absent fields are kept.
    ///
    /// # Errors
    /// Invalid fields, forbidden tenant, not found, storage.
    pub async fn update_integration(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        patch: IntegrationPatch,
    ) -> Result<IntegrationView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        if let Some(name) = &patch.display_name {
            check_text("displayName", name, MAX_NAME_LEN)?;
        }
        if let Some(d) = &patch.description {
            check_text("description", d, MAX_DESCRIPTION_LEN)?;
        }
        let guard = self.lock(tenant).await?;
        let mut record = self.integration_record(tenant, integration)?;
        if let Some(name) = patch.display_name {
            record.display_name = name;
        }
        if let Some(d) = patch.description {
            record.description = d;
        }
        record.modified_at = now_millis();
        let mut w = WriteSet::default();
        if let Some(auto) = patch.catalog.and_then(|c| c.auto_publish)
            && auto != record.auto_publish
        {
            // Turning it on publishes the draft (from now on they never differ); turning it
            // off freezes what is served as a revision, so later edits wait for a publish.
            let tools = self.draft_records(tenant, integration)?;
            let draft = draft_of(&tools);
            self.publish_into(
                &mut w,
                caller,
                (tenant, integration),
                &draft,
                Source::Publish,
                None,
            )?;
            record.auto_publish = auto;
        }
        w.put(&keys::integration(tenant, integration), &record)?;
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "integration.update",
                target: integration.to_owned(),
            },
            w,
        )
        .await?;
        self.view(record, tenant, true)
    }

    /// Deletes an integration with its tools, configs, revisions and settings, and revokes
    /// its bound key for good.
    ///
    /// # Errors
    /// Forbidden tenant, not found, storage.
    pub async fn delete_integration(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
    ) -> Result<(), ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let guard = self.lock(tenant).await?;
        self.integration_record(tenant, integration)?;
        let mut w = WriteSet::default();
        w.delete(&keys::integration(tenant, integration));
        w.delete(&keys::catalog(tenant, integration));
        for prefix in [
            keys::tools(tenant, integration),
            keys::configs(tenant, integration),
            keys::integration_revisions(tenant, integration),
            keys::grants(tenant, integration),
            keys::catalog_revisions(tenant, integration),
            keys::catalog_bodies(tenant, integration),
        ] {
            for key in self.store.scan_keys(&prefix)? {
                w.delete(&key);
            }
        }
        let mcp_key = keys::mcp(tenant, integration);
        if let Some(mcp) = self.store.get::<McpRecord>(&mcp_key)? {
            if let Some(key_id) = mcp.api_key_id {
                self.revoke_key(&mut w, key_id)?;
            }
            w.delete(&mcp_key);
        }
        // No record is left to resume from: a data plane that was behind this deletion when
        // the control plane restarts gets a full snapshot.
        w.delete(&keys::changed(tenant, integration));
        w.stamp_version(&keys::delta_floor());
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "integration.delete",
                target: integration.to_owned(),
            },
            w,
        )
        .await?;
        Ok(())
    }

    /// Adds the revocation of `key_id` to `w` (a no-op for an unknown or revoked key).
    pub(super) fn revoke_key(
        &self,
        w: &mut WriteSet,
        key_id: uuid::Uuid,
    ) -> Result<(), ServiceError> {
        let key = keys::api_key(key_id);
        if let Some(mut record) = self.store.get::<ApiKeyRecord>(&key)?
            && record.revoked_at.is_none()
        {
            record.revoked_at = Some(now_millis());
            w.put(&key, &record)?;
        }
        Ok(())
    }
}

impl Service {
    fn view(
        &self,
        r: IntegrationRecord,
        tenant: &str,
        with_draft: bool,
    ) -> Result<IntegrationView, ServiceError> {
        let catalog = self.catalog_view(&r, tenant, with_draft)?;
        Ok(IntegrationView {
            id: r.id,
            display_name: r.display_name,
            description: r.description,
            created_at: r.created_at,
            modified_at: r.modified_at,
            catalog,
        })
    }
}

//! Configs: drafts with sealed credentials, immutable published revisions, rollback.
//!
//! The draft's `auth` is sealed under the master key bound to the config's store key; each
//! revision re-seals it bound to the revision's key, so revisions stay readable whatever the
//! draft becomes later.

use mcpgw_shared::model::Auth;
use mcpgw_shared::now_millis;
use uuid::Uuid;

use super::views::{AuthView, ConfigPatch, ConfigView, NewConfig, PublishRequest, RevisionView};
use super::{
    Change, MAX_DESCRIPTION_LEN, MAX_NAME_LEN, Service, ServiceError, authorize_integration,
    check_text, parse_uuid,
};
use crate::jwt::Caller;
use crate::store::{ConfigRecord, RevisionRecord, WriteSet, keys};

/// The most configs one integration may have.
const MAX_CONFIGS: usize = 100;

impl Service {
    /// Creates a config (an unpublished draft).
    ///
    /// # Errors
    /// Invalid fields, forbidden tenant, unknown integration, storage.
    pub async fn create_config(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        req: NewConfig,
    ) -> Result<ConfigView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let display_name = req.display_name.unwrap_or_default();
        check_text("displayName", &display_name, MAX_NAME_LEN)?;
        req.parameters.validate()?;
        req.auth.validate()?;
        let guard = self.lock(tenant).await?;
        self.integration_record(tenant, integration)?;
        if self
            .store
            .scan_keys(&keys::configs(tenant, integration))?
            .len()
            >= MAX_CONFIGS
        {
            return Err(ServiceError::Precondition(format!(
                "an integration may have at most {MAX_CONFIGS} configs"
            )));
        }
        let id = Uuid::now_v7();
        let key = keys::config(tenant, integration, id);
        let now = now_millis();
        let record = ConfigRecord {
            id,
            display_name,
            parameters: req.parameters,
            auth_type: req.auth.type_name().to_owned(),
            sealed_auth: self.seal_auth(&req.auth, key.as_str())?,
            published_revision_id: None,
            next_version: 1,
            created_at: now,
            modified_at: now,
        };
        let mut w = WriteSet::default();
        w.put(&key, &record)?;
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "config.create",
                target: format!("{integration}/configs/{id}"),
            },
            w,
        )
        .await?;
        Ok(config_view(record))
    }

    /// Reads a config (without secrets).
    ///
    /// # Errors
    /// Forbidden tenant, not found, storage.
    pub fn get_config(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        config: &str,
    ) -> Result<ConfigView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let id = parse_uuid("config", config)?;
        self.config_record(tenant, integration, id).map(config_view)
    }

    /// Lists an integration's configs (oldest first).
    ///
    /// # Errors
    /// Forbidden tenant, unknown integration, storage.
    pub fn list_configs(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
    ) -> Result<Vec<ConfigView>, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        self.integration_record(tenant, integration)?;
        let records: Vec<ConfigRecord> = self.store.scan(&keys::configs(tenant, integration))?;
        Ok(records.into_iter().map(config_view).collect())
    }

    /// Patches the draft; absent fields are kept. Published revisions are not affected.
    ///
    /// # Errors
    /// Invalid fields, forbidden tenant, not found, storage.
    pub async fn update_config(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        config: &str,
        patch: ConfigPatch,
    ) -> Result<ConfigView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let id = parse_uuid("config", config)?;
        if let Some(name) = &patch.display_name {
            check_text("displayName", name, MAX_NAME_LEN)?;
        }
        if let Some(p) = &patch.parameters {
            p.validate()?;
        }
        if let Some(a) = &patch.auth {
            a.validate()?;
        }
        let guard = self.lock(tenant).await?;
        let mut record = self.config_record(tenant, integration, id)?;
        let key = keys::config(tenant, integration, id);
        if let Some(name) = patch.display_name {
            record.display_name = name;
        }
        if let Some(p) = patch.parameters {
            record.parameters = p;
        }
        if let Some(auth) = patch.auth {
            record.auth_type = auth.type_name().to_owned();
            record.sealed_auth = self.seal_auth(&auth, key.as_str())?;
        }
        record.modified_at = now_millis();
        let mut w = WriteSet::default();
        w.put(&key, &record)?;
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "config.update",
                target: format!("{integration}/configs/{id}"),
            },
            w,
        )
        .await?;
        Ok(config_view(record))
    }

    /// Freezes the draft into a new revision and publishes it.
    ///
    /// # Errors
    /// Invalid note, forbidden tenant, not found, storage.
    pub async fn publish_config(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        config: &str,
        req: PublishRequest,
    ) -> Result<RevisionView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let id = parse_uuid("config", config)?;
        if let Some(note) = &req.note {
            check_text("note", note, MAX_DESCRIPTION_LEN)?;
        }
        let guard = self.lock(tenant).await?;
        let mut record = self.config_record(tenant, integration, id)?;
        let config_key = keys::config(tenant, integration, id);
        let auth = self.open_auth(&record.sealed_auth, config_key.as_str())?;
        let rev_id = Uuid::now_v7();
        let rev_key = keys::revision(tenant, integration, id, rev_id);
        let now = now_millis();
        let revision = RevisionRecord {
            id: rev_id,
            config_id: id,
            version: record.next_version,
            parameters: record.parameters.clone(),
            auth_type: record.auth_type.clone(),
            sealed_auth: self.seal_auth(&auth, rev_key.as_str())?,
            note: req.note,
            created_at: now,
        };
        record.next_version += 1;
        record.published_revision_id = Some(rev_id);
        record.modified_at = now;
        let mut w = WriteSet::default();
        w.put(&rev_key, &revision)?;
        w.put(&config_key, &record)?;
        let target = format!("{integration}/configs/{id}/revisions/{}", revision.version);
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "config.publish",
                target,
            },
            w,
        )
        .await?;
        Ok(revision_view(revision))
    }

    /// Re-points the published revision at an earlier one (no new revision).
    ///
    /// # Errors
    /// `revisionId` not a revision of this config (400), forbidden, not found, storage.
    pub async fn rollback_config(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        config: &str,
        revision_id: &str,
    ) -> Result<RevisionView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let id = parse_uuid("config", config)?;
        let rev_id = parse_uuid("revisionId", revision_id)?;
        let guard = self.lock(tenant).await?;
        let mut record = self.config_record(tenant, integration, id)?;
        let revision: RevisionRecord = self
            .store
            .get(&keys::revision(tenant, integration, id, rev_id))?
            .ok_or_else(|| {
                ServiceError::invalid("revisionId", "is not a revision of this config")
            })?;
        record.published_revision_id = Some(rev_id);
        record.modified_at = now_millis();
        let mut w = WriteSet::default();
        w.put(&keys::config(tenant, integration, id), &record)?;
        let target = format!("{integration}/configs/{id}/revisions/{}", revision.version);
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "config.rollback",
                target,
            },
            w,
        )
        .await?;
        Ok(revision_view(revision))
    }

    /// Lists a config's revisions, oldest first.
    ///
    /// # Errors
    /// Forbidden tenant, not found, storage.
    pub fn list_revisions(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        config: &str,
    ) -> Result<Vec<RevisionView>, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        let id = parse_uuid("config", config)?;
        self.config_record(tenant, integration, id)?;
        let records: Vec<RevisionRecord> =
            self.store.scan(&keys::revisions(tenant, integration, id))?;
        Ok(records.into_iter().map(revision_view).collect())
    }

    pub(super) fn config_record(
        &self,
        tenant: &str,
        integration: &str,
        id: Uuid,
    ) -> Result<ConfigRecord, ServiceError> {
        self.integration_record(tenant, integration)?;
        self.store
            .get(&keys::config(tenant, integration, id))?
            .ok_or_else(|| ServiceError::not_found("config", id.to_string()))
    }

    fn seal_auth(&self, auth: &Auth, aad: &str) -> Result<Vec<u8>, ServiceError> {
        let json = serde_json::to_vec(auth).map_err(|e| ServiceError::Internal(Box::new(e)))?;
        Ok(self.sealer.seal(&json, aad)?)
    }

    fn open_auth(&self, sealed: &[u8], aad: &str) -> Result<Auth, ServiceError> {
        super::snapshots::open_auth(&self.sealer, sealed, aad)
    }
}

fn config_view(r: ConfigRecord) -> ConfigView {
    ConfigView {
        id: r.id,
        display_name: r.display_name,
        parameters: r.parameters,
        has_auth: r.auth_type != "NONE",
        auth: AuthView {
            auth_type: r.auth_type,
        },
        published_revision_id: r.published_revision_id,
        created_at: r.created_at,
        modified_at: r.modified_at,
    }
}

fn revision_view(r: RevisionRecord) -> RevisionView {
    RevisionView {
        id: r.id,
        config_id: r.config_id,
        version: r.version,
        parameters: r.parameters,
        auth: AuthView {
            auth_type: r.auth_type,
        },
        note: r.note,
        created_at: r.created_at,
    }
}

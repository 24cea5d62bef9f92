//! Tools: create-or-replace, read, list, delete.

use mcpgw_shared::model::ToolDef;
use mcpgw_shared::now_millis;

use super::catalog::{draft_of, tool_record};
use super::views::ToolView;
use super::{Change, Service, ServiceError, authorize_integration, check_id};
use crate::jwt::Caller;
use crate::store::{ToolRecord, WriteSet, keys};

/// The largest tool definition (its JSON), so one tool cannot bloat every data plane.
pub(super) const MAX_TOOL_BYTES: usize = 256 * 1024;
/// The most tool JSON one integration may hold in all (it travels in every snapshot).
pub(super) const MAX_INTEGRATION_TOOL_BYTES: usize = 8 * 1024 * 1024;

impl Service {
    /// Creates or replaces a tool. The body's `id` may be absent; if present it must equal
    /// the path's. Returns the tool and whether it was created (201) rather than replaced.
    ///
    /// # Errors
    /// Invalid definition, forbidden tenant, unknown integration, storage.
    pub async fn put_tool(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        tool_id: &str,
        mut body: serde_json::Value,
    ) -> Result<(ToolView, bool), ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        check_id("toolId", tool_id)?;
        let Some(obj) = body.as_object_mut() else {
            return Err(ServiceError::invalid("", "the body must be a JSON object"));
        };
        match obj.get("id") {
            None | Some(serde_json::Value::Null) => {
                obj.insert("id".into(), tool_id.into());
            }
            Some(id) if id.as_str() == Some(tool_id) => {}
            Some(_) => {
                return Err(ServiceError::invalid(
                    "id",
                    "must equal the tool id in the path",
                ));
            }
        }
        let def: ToolDef = super::parse_body(body)?;
        def.validate()?;
        let size = serde_json::to_vec(&def).map_or(usize::MAX, |v| v.len());
        if size > MAX_TOOL_BYTES {
            return Err(ServiceError::invalid(
                "",
                format!("a tool definition may be at most {MAX_TOOL_BYTES} bytes of JSON"),
            ));
        }
        let guard = self.lock(tenant).await?;
        let integration_record = self.integration_record(tenant, integration)?;
        let key = keys::tool(tenant, integration, tool_id);
        let existing: Option<ToolRecord> = self.store.get(&key)?;
        let mut tools = self.draft_records(tenant, integration)?;
        let others: usize = tools
            .iter()
            .filter(|t| t.def.id != tool_id)
            .map(|t| serde_json::to_vec(&t.def).map_or(0, |v| v.len()))
            .sum();
        if others + size > MAX_INTEGRATION_TOOL_BYTES {
            return Err(ServiceError::Precondition(format!(
                "an integration's tools may hold at most {MAX_INTEGRATION_TOOL_BYTES} bytes of JSON in all"
            )));
        }
        let limit = self.quotas.tools_per_integration;
        if existing.is_none()
            && self
                .store
                .scan_keys(&keys::tools(tenant, integration))?
                .len() as u64
                >= limit
        {
            return Err(ServiceError::Quota {
                quota: "toolsPerIntegration",
                limit,
                detail: format!("integration '{integration}' already has {limit} tools"),
            });
        }
        let now = now_millis();
        let record = tool_record(def, existing.as_ref().map_or(now, |e| e.created_at), now);
        let mut w = WriteSet::default();
        w.put(&key, &record)?;
        match tools.binary_search_by(|t| t.def.id.as_str().cmp(tool_id)) {
            Ok(i) => tools[i] = record.clone(),
            Err(i) => tools.insert(i, record.clone()),
        }
        self.draft_changed(
            &mut w,
            caller,
            &integration_record,
            tenant,
            &draft_of(&tools),
        )?;
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "tool.put",
                target: format!("{integration}/tools/{tool_id}"),
            },
            w,
        )
        .await?;
        Ok((view(record), existing.is_none()))
    }

    /// Reads a tool.
    ///
    /// # Errors
    /// Forbidden tenant, not found, storage.
    pub fn get_tool(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        tool_id: &str,
    ) -> Result<ToolView, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        check_id("toolId", tool_id)?;
        self.integration_record(tenant, integration)?;
        self.store
            .get::<ToolRecord>(&keys::tool(tenant, integration, tool_id))?
            .map(view)
            .ok_or_else(|| ServiceError::not_found("tool", tool_id))
    }

    /// Lists an integration's tools in id order.
    ///
    /// # Errors
    /// Forbidden tenant, unknown integration, storage.
    pub fn list_tools(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
    ) -> Result<Vec<ToolView>, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        self.integration_record(tenant, integration)?;
        let records: Vec<ToolRecord> = self.store.scan(&keys::tools(tenant, integration))?;
        Ok(records.into_iter().map(view).collect())
    }

    /// Deletes a tool; it also leaves the integration's `exposedToolIds`.
    ///
    /// # Errors
    /// Forbidden tenant, not found, storage.
    pub async fn delete_tool(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        tool_id: &str,
    ) -> Result<(), ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        check_id("toolId", tool_id)?;
        let guard = self.lock(tenant).await?;
        let integration_record = self.integration_record(tenant, integration)?;
        let key = keys::tool(tenant, integration, tool_id);
        let mut tools = self.draft_records(tenant, integration)?;
        let Ok(at) = tools.binary_search_by(|t| t.def.id.as_str().cmp(tool_id)) else {
            return Err(ServiceError::not_found("tool", tool_id));
        };
        tools.remove(at);
        let mut w = WriteSet::default();
        w.delete(&key);
        self.draft_changed(
            &mut w,
            caller,
            &integration_record,
            tenant,
            &draft_of(&tools),
        )?;
        self.commit_within(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "tool.delete",
                target: format!("{integration}/tools/{tool_id}"),
            },
            w,
            // The catalog revision a deletion publishes may grow what is stored a little (a
            // line per tool, until the oldest revisions are pruned): a tenant over its byte
            // quota must still be able to delete its way back under it.
            crate::store::Budget {
                tenant_bytes: u64::MAX,
            },
        )
        .await?;
        Ok(())
    }
}

fn view(r: ToolRecord) -> ToolView {
    ToolView {
        def: r.def,
        created_at: r.created_at,
        modified_at: r.modified_at,
    }
}

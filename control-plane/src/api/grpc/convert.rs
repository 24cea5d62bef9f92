//! Service views to protobuf messages (the gRPC mirror of the REST shapes).

use mcpgw_shared::pb;

use crate::service::views::{
    CatalogRevisionView, ConfigView, GrantView, IntegrationView, McpSettingsView, RevisionView,
    ToolView,
};

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl From<IntegrationView> for pb::Integration {
    fn from(v: IntegrationView) -> Self {
        pb::Integration {
            id: v.id,
            display_name: v.display_name,
            description: v.description,
            created_at: v.created_at,
            modified_at: v.modified_at,
            catalog: Some(pb::Catalog {
                auto_publish: v.catalog.auto_publish,
                revision: v.catalog.revision,
                sha256: v.catalog.sha256,
                draft_sha256: v.catalog.draft_sha256,
                draft_pending: v.catalog.draft_pending,
            }),
        }
    }
}

impl From<CatalogRevisionView> for pb::CatalogRevision {
    fn from(v: CatalogRevisionView) -> Self {
        pb::CatalogRevision {
            revision: v.revision,
            sha256: v.sha256,
            published: v.published,
            tool_ids: v.tool_ids,
            source: v.source,
            restored_from: v.restored_from,
            note: v.note,
            actor: v.actor,
            created_at: v.created_at,
            created: false,
        }
    }
}

impl From<ToolView> for pb::Tool {
    fn from(v: ToolView) -> Self {
        pb::Tool {
            id: v.def.id.clone(),
            json: json(&v.def),
            created_at: v.created_at,
            modified_at: v.modified_at,
        }
    }
}

impl From<ConfigView> for pb::Config {
    fn from(v: ConfigView) -> Self {
        pb::Config {
            id: v.id.to_string(),
            display_name: v.display_name,
            parameters_json: json(&v.parameters),
            auth_type: v.auth.auth_type,
            has_auth: v.has_auth,
            published_revision_id: v
                .published_revision_id
                .map(|r| r.to_string())
                .unwrap_or_default(),
            created_at: v.created_at,
            modified_at: v.modified_at,
        }
    }
}

impl From<RevisionView> for pb::Revision {
    fn from(v: RevisionView) -> Self {
        pb::Revision {
            id: v.id.to_string(),
            config_id: v.config_id.to_string(),
            version: v.version,
            parameters_json: json(&v.parameters),
            auth_type: v.auth.auth_type,
            note: v.note.unwrap_or_default(),
            created_at: v.created_at,
        }
    }
}

impl From<McpSettingsView> for pb::McpSettings {
    fn from(v: McpSettingsView) -> Self {
        pb::McpSettings {
            integration_id: v.integration_id,
            enabled: v.enabled,
            config_id: v.config_id.to_string(),
            exposed_tool_ids: v.exposed_tool_ids.map(|ids| pb::ToolIdList { ids }),
            description: v.description,
            api_key_id: v.api_key_id.map(|id| id.to_string()).unwrap_or_default(),
            call_url: v.call_url,
            test_url: v.test_url,
            created_at: v.created_at,
            modified_at: v.modified_at,
            key_prefix: v.key_prefix.unwrap_or_default(),
            api_key: v.api_key.map(|k| k.expose().to_owned()),
            limits: Some(v.limits.into()),
            oauth_enabled: v.oauth.enabled,
        }
    }
}

impl From<GrantView> for pb::Grant {
    fn from(g: GrantView) -> Self {
        Self {
            id: g.id.to_string(),
            client_id: g.client_id,
            client_name: g.client_name,
            key_id: g.key_id.to_string(),
            created_at: g.created_at,
            last_used_at: g.last_used_at,
        }
    }
}

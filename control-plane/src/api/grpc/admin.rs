//! The admin gRPC services: authenticate, convert, call the service layer, convert back.
//! JSON-carrying fields are decoded by the same decoder the REST facade uses.

use mcpgw_shared::pb;
use tonic::{Request, Response, Status};

use super::{Grpc, status};
use crate::service::parse_json;
use crate::service::views::{
    CatalogSettings, IntegrationPatch, McpPatch, NewIntegration, PublishRequest,
};

type Reply<T> = Result<Response<T>, Status>;

fn ok<T, U: Into<T>>(v: U) -> Reply<T> {
    Ok(Response::new(v.into()))
}

#[tonic::async_trait]
impl pb::integration_service_server::IntegrationService for Grpc {
    async fn create_integration(
        &self,
        req: Request<pb::CreateIntegrationRequest>,
    ) -> Reply<pb::Integration> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let body = NewIntegration {
            id: r.id,
            display_name: Some(r.display_name),
            description: Some(r.description),
            catalog: Some(CatalogSettings {
                auto_publish: r.auto_publish,
            }),
        };
        ok(self
            .service
            .create_integration(&caller, &r.tenant, body)
            .await
            .map_err(status)?)
    }

    async fn get_integration(&self, req: Request<pb::IntegrationRef>) -> Reply<pb::Integration> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        ok(self
            .service
            .get_integration(&caller, &r.tenant, &r.integration)
            .map_err(status)?)
    }

    async fn list_integrations(
        &self,
        req: Request<pb::ListIntegrationsRequest>,
    ) -> Reply<pb::ListIntegrationsResponse> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let list = self
            .service
            .list_integrations(&caller, &r.tenant)
            .map_err(status)?;
        ok(pb::ListIntegrationsResponse {
            integrations: list.into_iter().map(Into::into).collect(),
        })
    }

    async fn update_integration(
        &self,
        req: Request<pb::UpdateIntegrationRequest>,
    ) -> Reply<pb::Integration> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let patch = IntegrationPatch {
            display_name: r.display_name,
            description: r.description,
            catalog: Some(CatalogSettings {
                auto_publish: r.auto_publish,
            }),
        };
        ok(self
            .service
            .update_integration(&caller, &r.tenant, &r.integration, patch)
            .await
            .map_err(status)?)
    }

    async fn delete_integration(&self, req: Request<pb::IntegrationRef>) -> Reply<pb::Empty> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        self.service
            .delete_integration(&caller, &r.tenant, &r.integration)
            .await
            .map_err(status)?;
        ok(pb::Empty {})
    }
}

#[tonic::async_trait]
impl pb::tool_service_server::ToolService for Grpc {
    async fn put_tool(&self, req: Request<pb::PutToolRequest>) -> Reply<pb::Tool> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let body: serde_json::Value = parse_json(r.json.as_bytes()).map_err(status)?;
        let (view, _) = self
            .service
            .put_tool(&caller, &r.tenant, &r.integration, &r.tool_id, body)
            .await
            .map_err(status)?;
        ok(view)
    }

    async fn get_tool(&self, req: Request<pb::ToolRef>) -> Reply<pb::Tool> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        ok(self
            .service
            .get_tool(&caller, &r.tenant, &r.integration, &r.tool_id)
            .map_err(status)?)
    }

    async fn list_tools(&self, req: Request<pb::IntegrationRef>) -> Reply<pb::ListToolsResponse> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let tools = self
            .service
            .list_tools(&caller, &r.tenant, &r.integration)
            .map_err(status)?;
        ok(pb::ListToolsResponse {
            tools: tools.into_iter().map(Into::into).collect(),
        })
    }

    async fn delete_tool(&self, req: Request<pb::ToolRef>) -> Reply<pb::Empty> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        self.service
            .delete_tool(&caller, &r.tenant, &r.integration, &r.tool_id)
            .await
            .map_err(status)?;
        ok(pb::Empty {})
    }

    async fn import_tools(
        &self,
        req: Request<pb::ImportToolsRequest>,
    ) -> Reply<pb::ImportToolsResponse> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let body = parse_json(r.json.as_bytes()).map_err(status)?;
        let plan = self
            .service
            .import_tools(&caller, &r.tenant, &r.integration, body)
            .await
            .map_err(status)?;
        ok(pb::ImportToolsResponse {
            plan_json: serde_json::to_string(&plan).unwrap_or_default(),
        })
    }

    async fn publish_tools(
        &self,
        req: Request<pb::PublishToolsRequest>,
    ) -> Reply<pb::CatalogRevision> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let (view, created) = self
            .service
            .publish_tools(
                &caller,
                &r.tenant,
                &r.integration,
                PublishRequest { note: r.note },
            )
            .await
            .map_err(status)?;
        ok(pb::CatalogRevision {
            created,
            ..view.into()
        })
    }

    async fn rollback_tools(
        &self,
        req: Request<pb::RollbackToolsRequest>,
    ) -> Reply<pb::CatalogRevision> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let (view, created) = self
            .service
            .rollback_tools(&caller, &r.tenant, &r.integration, r.revision, r.note)
            .await
            .map_err(status)?;
        ok(pb::CatalogRevision {
            created,
            ..view.into()
        })
    }

    async fn list_tool_revisions(
        &self,
        req: Request<pb::IntegrationRef>,
    ) -> Reply<pb::ListToolRevisionsResponse> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let revisions = self
            .service
            .list_tool_revisions(&caller, &r.tenant, &r.integration)
            .map_err(status)?;
        ok(pb::ListToolRevisionsResponse {
            revisions: revisions.into_iter().map(Into::into).collect(),
        })
    }

    async fn get_tool_revision(
        &self,
        req: Request<pb::ToolRevisionRef>,
    ) -> Reply<pb::ToolRevision> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let (view, tools) = self
            .service
            .get_tool_revision(&caller, &r.tenant, &r.integration, r.revision)
            .map_err(status)?;
        ok(pb::ToolRevision {
            revision: Some(view.into()),
            tools: tools
                .into_iter()
                .map(|def| pb::Tool {
                    id: def.id.clone(),
                    json: serde_json::to_string(&def).unwrap_or_default(),
                    created_at: 0,
                    modified_at: 0,
                })
                .collect(),
        })
    }
}

#[tonic::async_trait]
impl pb::config_service_server::ConfigService for Grpc {
    async fn create_config(&self, req: Request<pb::CreateConfigRequest>) -> Reply<pb::Config> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let body = parse_json(r.json.as_bytes()).map_err(status)?;
        ok(self
            .service
            .create_config(&caller, &r.tenant, &r.integration, body)
            .await
            .map_err(status)?)
    }

    async fn get_config(&self, req: Request<pb::ConfigRef>) -> Reply<pb::Config> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        ok(self
            .service
            .get_config(&caller, &r.tenant, &r.integration, &r.config_id)
            .map_err(status)?)
    }

    async fn list_configs(
        &self,
        req: Request<pb::IntegrationRef>,
    ) -> Reply<pb::ListConfigsResponse> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let configs = self
            .service
            .list_configs(&caller, &r.tenant, &r.integration)
            .map_err(status)?;
        ok(pb::ListConfigsResponse {
            configs: configs.into_iter().map(Into::into).collect(),
        })
    }

    async fn update_config(&self, req: Request<pb::UpdateConfigRequest>) -> Reply<pb::Config> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let patch = parse_json(r.json.as_bytes()).map_err(status)?;
        ok(self
            .service
            .update_config(&caller, &r.tenant, &r.integration, &r.config_id, patch)
            .await
            .map_err(status)?)
    }

    async fn publish_config(&self, req: Request<pb::PublishConfigRequest>) -> Reply<pb::Revision> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let body = PublishRequest { note: r.note };
        ok(self
            .service
            .publish_config(&caller, &r.tenant, &r.integration, &r.config_id, body)
            .await
            .map_err(status)?)
    }

    async fn rollback_config(
        &self,
        req: Request<pb::RollbackConfigRequest>,
    ) -> Reply<pb::Revision> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        ok(self
            .service
            .rollback_config(
                &caller,
                &r.tenant,
                &r.integration,
                &r.config_id,
                &r.revision_id,
            )
            .await
            .map_err(status)?)
    }

    async fn list_revisions(
        &self,
        req: Request<pb::ConfigRef>,
    ) -> Reply<pb::ListRevisionsResponse> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let revisions = self
            .service
            .list_revisions(&caller, &r.tenant, &r.integration, &r.config_id)
            .map_err(status)?;
        ok(pb::ListRevisionsResponse {
            revisions: revisions.into_iter().map(Into::into).collect(),
        })
    }
}

#[tonic::async_trait]
impl pb::mcp_settings_service_server::McpSettingsService for Grpc {
    async fn get_mcp_settings(&self, req: Request<pb::IntegrationRef>) -> Reply<pb::McpSettings> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        ok(self
            .service
            .get_mcp_settings(&caller, &r.tenant, &r.integration)
            .map_err(status)?)
    }

    async fn update_mcp_settings(
        &self,
        req: Request<pb::UpdateMcpSettingsRequest>,
    ) -> Reply<pb::McpSettings> {
        let caller = self.caller(&req)?;
        let pb::UpdateMcpSettingsRequest {
            tenant,
            integration,
            enabled,
            config_id,
            exposed_tool_ids,
            description,
            limits,
            oauth_enabled,
        } = req.into_inner();
        let patch = McpPatch {
            enabled,
            config_id,
            exposed_tool_ids: exposed_tool_ids.map(|l| l.ids),
            description,
            limits: limits.map(Into::into),
            oauth: oauth_enabled.map(|enabled| crate::service::views::OAuthPatch {
                enabled: Some(enabled),
            }),
        };
        ok(self
            .service
            .update_mcp_settings(&caller, &tenant, &integration, patch)
            .await
            .map_err(status)?)
    }

    async fn rotate_key(&self, req: Request<pb::IntegrationRef>) -> Reply<pb::McpSettings> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        ok(self
            .service
            .rotate_key(&caller, &r.tenant, &r.integration)
            .await
            .map_err(status)?)
    }

    async fn list_grants(&self, req: Request<pb::IntegrationRef>) -> Reply<pb::GrantList> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        let grants = self
            .service
            .list_grants(&caller, &r.tenant, &r.integration)
            .map_err(status)?;
        ok(pb::GrantList {
            grants: grants.into_iter().map(Into::into).collect(),
        })
    }

    async fn delete_grant(&self, req: Request<pb::GrantRef>) -> Reply<pb::Empty> {
        let caller = self.caller(&req)?;
        let r = req.into_inner();
        self.service
            .delete_grant(&caller, &r.tenant, &r.integration, &r.grant_id)
            .await
            .map_err(status)?;
        ok(pb::Empty {})
    }
}

//! REST handlers: authenticate, decode, call the service, encode. Nothing else.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde::Deserialize;

use super::AppState;
use super::extract::{Admin, JsonBody};
use super::problem::ApiError;
use crate::store::AuditRecord;

type Result<T> = std::result::Result<T, ApiError>;

/// `GET /healthz`.
pub async fn healthz() -> &'static str {
    "ok"
}

#[derive(Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    limit: Option<usize>,
}

/// `GET /v1/tenants/{tenant}/audit?after=&limit=`: who changed what.
pub async fn audit(
    State(s): State<AppState>,
    Admin(caller): Admin,
    Path(tenant): Path<String>,
    Query(q): Query<AuditQuery>,
) -> Result<Json<Vec<AuditRecord>>> {
    Ok(Json(
        s.service
            .audit_log(&caller, &tenant, q.after, q.limit.unwrap_or(100))
            .await?,
    ))
}

pub mod quarantine {
    use super::*;
    use crate::store::QuarantinedRecord;

    /// `GET /v1/quarantine`: records that did not decode at startup.
    pub async fn list(
        State(s): State<AppState>,
        Admin(caller): Admin,
    ) -> Result<Json<Vec<QuarantinedRecord>>> {
        Ok(Json(s.service.list_quarantined(&caller).await?))
    }

    /// `DELETE /v1/quarantine/{key}`: deletes one for good.
    pub async fn remove(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path(key): Path<String>,
    ) -> Result<StatusCode> {
        s.service.remove_quarantined(&caller, &key).await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

pub mod integrations {
    use super::*;
    use crate::service::views::{IntegrationPatch, IntegrationView, NewIntegration};

    pub async fn create(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path(tenant): Path<String>,
        JsonBody(body): JsonBody<NewIntegration>,
    ) -> Result<impl IntoResponse> {
        let view = s.service.create_integration(&caller, &tenant, body).await?;
        Ok((StatusCode::CREATED, Json(view)))
    }

    pub async fn list(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path(tenant): Path<String>,
    ) -> Result<Json<Vec<IntegrationView>>> {
        Ok(Json(s.service.list_integrations(&caller, &tenant)?))
    }

    pub async fn get(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<Json<IntegrationView>> {
        Ok(Json(s.service.get_integration(
            &caller,
            &tenant,
            &integration,
        )?))
    }

    pub async fn update(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
        JsonBody(body): JsonBody<IntegrationPatch>,
    ) -> Result<Json<IntegrationView>> {
        Ok(Json(
            s.service
                .update_integration(&caller, &tenant, &integration, body)
                .await?,
        ))
    }

    pub async fn delete(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<StatusCode> {
        s.service
            .delete_integration(&caller, &tenant, &integration)
            .await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

pub mod tools {
    use super::*;
    use crate::service::views::{CatalogRevisionView, ToolView};

    pub async fn put(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, tool)): Path<(String, String, String)>,
        JsonBody(body): JsonBody<serde_json::Value>,
    ) -> Result<impl IntoResponse> {
        let (view, created) = s
            .service
            .put_tool(&caller, &tenant, &integration, &tool, body)
            .await?;
        Ok((
            if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            },
            Json(view),
        ))
    }

    pub async fn get(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, tool)): Path<(String, String, String)>,
    ) -> Result<Json<ToolView>> {
        Ok(Json(s.service.get_tool(
            &caller,
            &tenant,
            &integration,
            &tool,
        )?))
    }

    pub async fn list(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<Json<Vec<ToolView>>> {
        Ok(Json(s.service.list_tools(
            &caller,
            &tenant,
            &integration,
        )?))
    }

    pub async fn delete(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, tool)): Path<(String, String, String)>,
    ) -> Result<StatusCode> {
        s.service
            .delete_tool(&caller, &tenant, &integration, &tool)
            .await?;
        Ok(StatusCode::NO_CONTENT)
    }

    /// `POST .../tools:publish`: 201 with the new revision, or 200 with the published one
    /// when the draft equals it.
    pub async fn publish(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
        JsonBody(body): JsonBody<crate::service::views::PublishRequest>,
    ) -> Result<impl IntoResponse> {
        let (view, created) = s
            .service
            .publish_tools(&caller, &tenant, &integration, body)
            .await?;
        Ok((created_or_ok(created), Json(view)))
    }

    /// `POST .../tools:rollback {revision}`: that revision's tools published anew.
    pub async fn rollback(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
        JsonBody(body): JsonBody<crate::service::views::ToolsRollbackRequest>,
    ) -> Result<impl IntoResponse> {
        let (view, created) = s
            .service
            .rollback_tools(&caller, &tenant, &integration, body.revision, body.note)
            .await?;
        Ok((created_or_ok(created), Json(view)))
    }

    /// `GET .../tools/revisions`: kept revisions, newest first.
    pub async fn revisions(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<Json<Vec<CatalogRevisionView>>> {
        Ok(Json(s.service.list_tool_revisions(
            &caller,
            &tenant,
            &integration,
        )?))
    }

    /// `GET .../tools/revisions/{revision}`: one revision with its tools.
    pub async fn revision(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, revision)): Path<(String, String, String)>,
    ) -> Result<Json<serde_json::Value>> {
        let revision: u64 = revision.parse().map_err(|_| {
            ApiError::from(crate::service::ServiceError::invalid(
                "revision",
                "must be a revision number",
            ))
        })?;
        let (view, tools) =
            s.service
                .get_tool_revision(&caller, &tenant, &integration, revision)?;
        let mut body = serde_json::to_value(view).unwrap_or_default();
        body["tools"] = serde_json::to_value(tools).unwrap_or_default();
        Ok(Json(body))
    }

    /// `PUT .../tools/revisions`: the tool whose id is `revisions`.
    pub async fn put_revisions_tool(
        state: State<AppState>,
        admin: Admin,
        Path((tenant, integration)): Path<(String, String)>,
        body: JsonBody<serde_json::Value>,
    ) -> Result<impl IntoResponse> {
        put(
            state,
            admin,
            Path((tenant, integration, "revisions".into())),
            body,
        )
        .await
    }

    /// `DELETE .../tools/revisions`: the tool whose id is `revisions`.
    pub async fn delete_revisions_tool(
        state: State<AppState>,
        admin: Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<StatusCode> {
        delete(
            state,
            admin,
            Path((tenant, integration, "revisions".into())),
        )
        .await
    }

    fn created_or_ok(created: bool) -> StatusCode {
        if created {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        }
    }

    /// `POST .../tools:import`: an OpenAPI document's operations as tools.
    pub async fn import_tools(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
        JsonBody(body): JsonBody<crate::service::import::ImportRequest>,
    ) -> Result<Json<crate::service::import::ImportPlan>> {
        Ok(Json(
            s.service
                .import_tools(&caller, &tenant, &integration, body)
                .await?,
        ))
    }
}

pub mod configs {
    use super::*;
    use crate::api::rest::problem::Problem;
    use crate::service::views::{
        ConfigPatch, ConfigView, NewConfig, PublishRequest, RevisionView, RollbackRequest,
    };

    pub async fn create(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
        JsonBody(body): JsonBody<NewConfig>,
    ) -> Result<impl IntoResponse> {
        let view = s
            .service
            .create_config(&caller, &tenant, &integration, body)
            .await?;
        Ok((StatusCode::CREATED, Json(view)))
    }

    pub async fn list(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<Json<Vec<ConfigView>>> {
        Ok(Json(s.service.list_configs(
            &caller,
            &tenant,
            &integration,
        )?))
    }

    pub async fn get(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, config)): Path<(String, String, String)>,
    ) -> Result<Json<ConfigView>> {
        Ok(Json(s.service.get_config(
            &caller,
            &tenant,
            &integration,
            &config,
        )?))
    }

    pub async fn update(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, config)): Path<(String, String, String)>,
        JsonBody(body): JsonBody<ConfigPatch>,
    ) -> Result<Json<ConfigView>> {
        Ok(Json(
            s.service
                .update_config(&caller, &tenant, &integration, &config, body)
                .await?,
        ))
    }

    /// `POST .../configs/{config}:publish` and `...:rollback` (the action is part of the
    /// last path segment, Google API style).
    pub async fn action(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, segment)): Path<(String, String, String)>,
        JsonBody(body): JsonBody<serde_json::Value>,
    ) -> Result<Json<RevisionView>> {
        let bytes = serde_json::to_vec(&body).unwrap_or_default();
        match segment.split_once(':') {
            Some((config, "publish")) => {
                let req: PublishRequest = crate::service::parse_json(&bytes)?;
                Ok(Json(
                    s.service
                        .publish_config(&caller, &tenant, &integration, config, req)
                        .await?,
                ))
            }
            Some((config, "rollback")) => {
                let req: RollbackRequest = crate::service::parse_json(&bytes)?;
                Ok(Json(
                    s.service
                        .rollback_config(&caller, &tenant, &integration, config, &req.revision_id)
                        .await?,
                ))
            }
            _ => Err(ApiError::Problem(Problem::new(
                StatusCode::NOT_FOUND,
                "not-found",
                "Not found",
                "POST a config with ':publish' or ':rollback'",
            ))),
        }
    }

    pub async fn revisions(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, config)): Path<(String, String, String)>,
    ) -> Result<Json<Vec<RevisionView>>> {
        Ok(Json(s.service.list_revisions(
            &caller,
            &tenant,
            &integration,
            &config,
        )?))
    }
}

pub mod mcp {
    use super::*;
    use crate::service::views::{McpPatch, McpSettingsView};

    pub async fn get(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<Json<McpSettingsView>> {
        Ok(Json(s.service.get_mcp_settings(
            &caller,
            &tenant,
            &integration,
        )?))
    }

    pub async fn update(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
        JsonBody(body): JsonBody<McpPatch>,
    ) -> Result<Json<McpSettingsView>> {
        Ok(Json(
            s.service
                .update_mcp_settings(&caller, &tenant, &integration, body)
                .await?,
        ))
    }

    pub async fn rotate_key(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<Json<McpSettingsView>> {
        Ok(Json(
            s.service.rotate_key(&caller, &tenant, &integration).await?,
        ))
    }

    /// `GET .../mcp/grants`: the OAuth grants of an integration.
    pub async fn grants(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration)): Path<(String, String)>,
    ) -> Result<Json<Vec<crate::service::views::GrantView>>> {
        Ok(Json(s.service.list_grants(
            &caller,
            &tenant,
            &integration,
        )?))
    }

    /// `DELETE .../mcp/grants/{grant}`: revokes one (its tokens stop working everywhere).
    pub async fn delete_grant(
        State(s): State<AppState>,
        Admin(caller): Admin,
        Path((tenant, integration, grant)): Path<(String, String, String)>,
    ) -> Result<StatusCode> {
        s.service
            .delete_grant(&caller, &tenant, &integration, &grant)
            .await?;
        Ok(StatusCode::NO_CONTENT)
    }
}

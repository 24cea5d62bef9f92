//! The shapes of requests and responses (`docs/api.md`), shared by REST (as JSON) and
//! gRPC (converted in `api::grpc`). Requests refuse unknown fields so typos are reported
//! instead of silently ignored.

use mcpgw_shared::model::{Auth, ConfigParameters, Limits, ToolDef};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub created_at: i64,
    pub modified_at: i64,
    pub catalog: CatalogView,
}

/// An integration's tool catalog: its setting and the revision data planes serve.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogView {
    pub auto_publish: bool,
    /// The published revision (0: none published yet — with autoPublish the draft is served,
    /// without it nothing is).
    pub revision: u64,
    pub sha256: String,
    /// The draft's digest and whether it differs from the published revision (single
    /// reads only: lists leave them out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub draft_pending: Option<bool>,
}

/// `catalog` in an integration's create or patch.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CatalogSettings {
    #[serde(default)]
    pub auto_publish: Option<bool>,
}

/// `POST /integrations`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewIntegration {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub catalog: Option<CatalogSettings>,
}

/// `PATCH /integrations/{integration}`; absent or null fields are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntegrationPatch {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub catalog: Option<CatalogSettings>,
}

/// A published catalog revision.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogRevisionView {
    pub revision: u64,
    pub sha256: String,
    /// Whether data planes serve it.
    pub published: bool,
    pub tool_count: usize,
    pub tool_ids: Vec<String>,
    /// `edit` (published by a change under autoPublish), `publish` or `rollback`.
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<u64>,
    pub note: Option<String>,
    pub actor: String,
    pub created_at: i64,
}

/// `POST .../tools:rollback`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolsRollbackRequest {
    pub revision: u64,
    #[serde(default)]
    pub note: Option<String>,
}

/// A tool with its timestamps.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolView {
    #[serde(flatten)]
    pub def: ToolDef,
    pub created_at: i64,
    pub modified_at: i64,
}

/// The `auth` of a config as reads show it: the type only.
#[derive(Debug, Clone, Serialize)]
pub struct AuthView {
    #[serde(rename = "type")]
    pub auth_type: String,
}

/// A config as reads show it: never a secret.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigView {
    pub id: Uuid,
    pub display_name: String,
    pub parameters: ConfigParameters,
    pub auth: AuthView,
    pub has_auth: bool,
    pub published_revision_id: Option<Uuid>,
    pub created_at: i64,
    pub modified_at: i64,
}

/// `POST /configs`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NewConfig {
    #[serde(default)]
    pub display_name: Option<String>,
    pub parameters: ConfigParameters,
    #[serde(default = "no_auth")]
    pub auth: Auth,
}

fn no_auth() -> Auth {
    Auth::None
}

/// `PATCH /configs/{config}`: edits the draft; absent or null fields are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigPatch {
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub parameters: Option<ConfigParameters>,
    #[serde(default)]
    pub auth: Option<Auth>,
}

/// A published revision (secrets never shown).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RevisionView {
    pub id: Uuid,
    pub config_id: Uuid,
    pub version: u64,
    pub parameters: ConfigParameters,
    pub auth: AuthView,
    pub note: Option<String>,
    pub created_at: i64,
}

/// `POST /configs/{config}:publish`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PublishRequest {
    #[serde(default)]
    pub note: Option<String>,
}

/// `POST /configs/{config}:rollback`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RollbackRequest {
    pub revision_id: String,
}

/// The MCP settings of an integration (`docs/api.md`).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct McpSettingsView {
    pub integration_id: String,
    pub enabled: bool,
    /// The bound config, or the nil UUID when none is bound.
    pub config_id: Uuid,
    /// `null` = every tool is exposed.
    pub exposed_tool_ids: Option<Vec<String>>,
    pub description: String,
    pub api_key_id: Option<Uuid>,
    pub call_url: String,
    pub test_url: String,
    pub created_at: i64,
    pub modified_at: i64,
    pub key_prefix: Option<String>,
    /// The raw key: only in the one response that minted it.
    pub api_key: Option<mcpgw_shared::secret::Secret>,
    pub limits: Limits,
    pub oauth: OAuthSettings,
}

/// `oauth` of the MCP settings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthSettings {
    /// Whether MCP clients may connect with OAuth (API keys keep working).
    pub enabled: bool,
}

/// `oauth` in a settings patch: absent or null fields are kept.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OAuthPatch {
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// An OAuth grant, as listed to admins (never its code or tokens).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GrantView {
    pub id: Uuid,
    pub client_id: String,
    pub client_name: String,
    pub key_id: Uuid,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// `PATCH /mcp`: absent or null fields are kept.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct McpPatch {
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub config_id: Option<String>,
    #[serde(default)]
    pub exposed_tool_ids: Option<Vec<String>>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub limits: Option<Limits>,
    #[serde(default)]
    pub oauth: Option<OAuthPatch>,
}

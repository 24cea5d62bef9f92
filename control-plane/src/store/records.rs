//! The records kept in the store. Secrets are sealed (`sealed_auth`) or hashed
//! (`ApiKeyRecord::hash`); no record holds a secret in clear.

use mcpgw_shared::model::{ConfigParameters, Limits, ToolDef};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrationRecord {
    pub id: String,
    pub display_name: String,
    pub description: String,
    pub created_at: i64,
    pub modified_at: i64,
    /// `catalog.autoPublish`: every tool edit publishes a catalog revision (absent in records
    /// written before catalogs: they did).
    #[serde(default = "yes")]
    pub auto_publish: bool,
}

fn yes() -> bool {
    true
}

/// An integration's tool catalog: the revision data planes serve. The draft is the
/// integration's `tool/` records; with `autoPublish` they always equal the published
/// revision.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogRecord {
    /// The revision served.
    pub published: u64,
    /// Its SHA-256 (hex).
    pub sha256: String,
}

/// A published revision of a catalog: its tools as `(id, tool digest)` in id order; each
/// definition is stored once per integration under its digest (`keys::catalog_body`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CatalogRevisionRecord {
    pub revision: u64,
    pub sha256: String,
    pub tools: Vec<(String, String)>,
    /// What made it: `edit` (autoPublish), `publish`, `rollback`.
    pub source: String,
    /// For a rollback, the revision whose tools it restored.
    pub restored_from: Option<u64>,
    pub note: Option<String>,
    pub actor: String,
    pub created_at: i64,
}

/// A tool definition with its timestamps.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ToolRecord {
    pub def: ToolDef,
    pub created_at: i64,
    pub modified_at: i64,
    /// `tool_digest(def)`, kept so a catalog revision does not hash every tool again
    /// (absent in records written before catalogs: computed when read).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// A config's draft and its published pointer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConfigRecord {
    pub id: Uuid,
    pub display_name: String,
    pub parameters: ConfigParameters,
    /// The auth `type`, kept in clear for reads.
    pub auth_type: String,
    /// The draft's `auth` JSON, sealed with the master key (nonce || ciphertext || tag).
    pub sealed_auth: Vec<u8>,
    pub published_revision_id: Option<Uuid>,
    /// The version the next `:publish` will create.
    pub next_version: u64,
    pub created_at: i64,
    pub modified_at: i64,
}

/// An immutable published revision of a config.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevisionRecord {
    pub id: Uuid,
    pub config_id: Uuid,
    pub version: u64,
    pub parameters: ConfigParameters,
    pub auth_type: String,
    pub sealed_auth: Vec<u8>,
    pub note: Option<String>,
    pub created_at: i64,
}

/// An integration's MCP settings as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct McpRecord {
    pub enabled: bool,
    pub config_id: Option<Uuid>,
    /// `None` = every tool exposed.
    pub exposed_tool_ids: Option<Vec<String>>,
    pub description: String,
    /// The bound key; set the first time MCP is enabled and on every rotation.
    pub api_key_id: Option<Uuid>,
    pub limits: Limits,
    pub created_at: i64,
    pub modified_at: i64,
    /// OAuth for MCP clients (`oauth.enabled`); absent in records written before it.
    #[serde(default)]
    pub oauth_enabled: bool,
}

/// An OAuth grant: a client's authorization to call one integration endpoint, approved by a
/// person who proved they hold the integration's key. Its code and refresh tokens are stored
/// as SHA-256 only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GrantRecord {
    pub id: Uuid,
    pub tenant: String,
    pub integration_id: String,
    pub client_id: String,
    pub client_name: String,
    pub redirect_uri: String,
    /// The endpoint URL tokens of this grant are bound to (RFC 8707).
    pub resource: String,
    /// The key the person approved with: the grant dies when it is rotated out.
    pub key_id: Uuid,
    pub code_hash: Option<[u8; 32]>,
    /// The code was exchanged (its hash is kept, so the same code presented again is known).
    #[serde(default)]
    pub code_used: bool,
    pub code_challenge: String,
    pub code_expires_at: i64,
    /// The live refresh token, and the one it replaced (presenting that one again revokes the
    /// grant: it was stolen or replayed).
    pub refresh_hash: Option<[u8; 32]>,
    pub previous_refresh_hash: Option<[u8; 32]>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// An API key: never the secret, only its SHA-256.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    pub id: Uuid,
    pub key_prefix: String,
    pub hash: [u8; 32],
    pub scopes: Vec<String>,
    pub tenant: String,
    pub integration_id: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Who changed what, appended with every committed write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// The store version the change produced.
    pub version: u64,
    /// When (epoch ms).
    pub at: i64,
    /// The JWT `sub` of the caller.
    pub actor: String,
    /// The tenant.
    pub tenant: String,
    /// What was done (e.g. `mcp.enable`, `config.publish`).
    pub action: String,
    /// What it was done to (e.g. `crm/tools/get_user`).
    pub target: String,
    /// The integration's catalog revision served after the change (absent: not an
    /// integration's change, or the integration is gone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog_revision: Option<u64>,
}

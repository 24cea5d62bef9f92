use uuid::Uuid;

use super::{Auth, CatalogStamp, ConfigParameters, Limits, ToolDef};
use crate::apikey::KeyHash;

/// Names one integration across tenants.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IntegrationKey {
    /// The tenant.
    pub tenant: String,
    /// The integration id within the tenant.
    pub integration_id: String,
}

/// An active (not revoked) API key as data planes see it: never the secret, only its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEntry {
    /// The key's id (`apiKeyId`).
    pub key_id: Uuid,
    /// The public `mcpgw_<key id>` prefix data planes index keys by.
    pub key_prefix: String,
    /// SHA-256 of the full key.
    pub hash: KeyHash,
}

/// A published config revision, with its credentials decrypted for the upstream call.
#[derive(Debug, Clone, PartialEq)]
pub struct UpstreamRevision {
    /// The revision's id.
    pub revision_id: Uuid,
    /// Its version within the config (1, 2, 3...).
    pub version: u64,
    /// `baseUrl` and the other parameters.
    pub parameters: ConfigParameters,
    /// The credentials.
    pub auth: Auth,
}

/// Everything a data plane needs to serve one integration.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationSnapshot {
    /// Which integration.
    pub key: IntegrationKey,
    /// The integration's display name (for `serverInfo`).
    pub display_name: String,
    /// The MCP server description (settings' `description`, else the integration's).
    pub description: String,
    /// Whether MCP is enabled; a disabled integration's calls are refused with 403.
    pub enabled: bool,
    /// The exposed tools, sorted by id: all of them, or only those changed (see `carried`).
    pub tools: Vec<ToolDef>,
    /// Which tools `tools` holds.
    pub carried: ToolsCarried,
    /// The active keys bound to this integration.
    pub keys: Vec<KeyEntry>,
    /// The integration's limits (unset fields take the data plane's defaults).
    pub limits: Limits,
    /// The bound config, if any.
    pub config_id: Option<Uuid>,
    /// The bound config's published revision, if any.
    pub revision: Option<UpstreamRevision>,
    /// With OAuth enabled, the grants whose access tokens are accepted; `None`: OAuth is off.
    pub oauth: Option<Vec<Uuid>>,
    /// The published catalog revision `tools` belongs to.
    pub catalog: CatalogStamp,
}

/// Which tools an [`IntegrationSnapshot`] carries.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ToolsCarried {
    /// Every exposed tool.
    #[default]
    All,
    /// Only the tools changed since the version the receiver holds (a delta to an integration
    /// it already has); it keeps every other tool it holds for this integration.
    Changed {
        /// The new set of exposed tool ids (sorted) when the set changed; `None` = unchanged.
        ids: Option<Vec<String>>,
    },
}

/// One message of the snapshot stream, in domain terms. `T` is what each accepted integration
/// is held as: its [`IntegrationSnapshot`], or what a receiver turned it into while converting
/// (see `SnapshotUpdate::try_map`), so that it never holds every integration's parsed form at
/// once.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotUpdate<T = IntegrationSnapshot> {
    /// The control plane's version after this update; strictly increasing.
    pub version: u64,
    /// Whether this replaces everything (else it applies on top of the previous version).
    pub full: bool,
    /// Integrations added or changed.
    pub upserts: Vec<T>,
    /// Integrations deleted.
    pub removals: Vec<IntegrationKey>,
    /// Whether more messages of this version follow (a large update is split in chunks).
    pub more: bool,
    /// Integrations of this update that did not validate (a data plane older or newer than
    /// the control plane, a damaged message): served as absent, so one integration's
    /// problem never holds back every other update.
    pub rejected: Vec<RejectedIntegration>,
}

impl<T> SnapshotUpdate<T> {
    /// The same update with each accepted integration turned into `f` of it.
    #[must_use]
    pub fn map_upserts<U>(self, f: impl FnMut(T) -> U) -> SnapshotUpdate<U> {
        let Self {
            version,
            full,
            upserts,
            removals,
            more,
            rejected,
        } = self;
        SnapshotUpdate {
            version,
            full,
            upserts: upserts.into_iter().map(f).collect(),
            removals,
            more,
            rejected,
        }
    }
}

/// An integration a data plane could not accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedIntegration {
    /// Which integration.
    pub key: IntegrationKey,
    /// Why.
    pub reason: String,
}

//! The key layout of the `data` tree. Ids never contain `/` (they are validated before they
//! get here), so `/` separates components and a prefix scan of `t/acme/crm/` cannot reach
//! `t/acme/crm2/...`.

use uuid::Uuid;

/// A key in the `data` tree.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key(String);

impl Key {
    /// The key's bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The key as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(super) fn from_stored(bytes: &[u8]) -> Self {
        Key(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// The store's version counter.
#[must_use]
pub fn version() -> Key {
    Key("meta/version".into())
}

/// The store's identity: a random id given to it when it is created, which versions are
/// relative to.
#[must_use]
pub fn store_id() -> Key {
    Key("meta/store-id".into())
}

/// The version that last changed an integration, so a restarted control plane still serves
/// data planes a delta from their version (`meta/`: bookkeeping, not charged to the tenant).
#[must_use]
pub fn changed(tenant: &str, integration: &str) -> Key {
    Key(format!("meta/changed/{tenant}/{integration}"))
}

/// Every integration's last change version.
#[must_use]
pub fn all_changed() -> Key {
    Key("meta/changed/".into())
}

/// The `(tenant, integration)` a [`changed`] key names.
#[must_use]
pub fn changed_subject(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix("meta/changed/")?.split_once('/')
}

/// Deltas are served from this version on: the version the change versions were first kept
/// at, raised by every deletion (deletions leave no record behind to resume from).
#[must_use]
pub fn delta_floor() -> Key {
    Key("meta/delta-floor".into())
}

/// An audit record of a tenant, ordered by version.
#[must_use]
pub fn audit(tenant: &str, version: u64) -> Key {
    Key(format!("audit/{tenant}/{version:020}"))
}

/// All audit records of a tenant.
#[must_use]
pub fn audit_prefix(tenant: &str) -> Key {
    Key(format!("audit/{tenant}/"))
}

/// A tenant's usage counters.
#[must_use]
pub fn usage(tenant: &str) -> Key {
    Key(format!("usage/{tenant}"))
}

/// The tenant a key belongs to, when the key names it (`key/{id}` records do not).
#[must_use]
pub fn tenant_of(key: &str) -> Option<&str> {
    let mut parts = key.splitn(3, '/');
    match parts.next()? {
        "audit" | "int" | "tool" | "cfg" | "rev" | "mcp" | "usage" | "grant" | "cat" | "catrev"
        | "catbody" => parts.next(),
        _ => None,
    }
}

/// All integrations of a tenant.
#[must_use]
pub fn integrations(tenant: &str) -> Key {
    Key(format!("int/{tenant}/"))
}

/// Every integration of every tenant.
#[must_use]
pub fn all_integrations() -> Key {
    Key("int/".into())
}

/// One integration.
#[must_use]
pub fn integration(tenant: &str, integration: &str) -> Key {
    Key(format!("int/{tenant}/{integration}"))
}

/// All tools of an integration.
#[must_use]
pub fn tools(tenant: &str, integration: &str) -> Key {
    Key(format!("tool/{tenant}/{integration}/"))
}

/// One tool.
#[must_use]
pub fn tool(tenant: &str, integration: &str, tool: &str) -> Key {
    Key(format!("tool/{tenant}/{integration}/{tool}"))
}

/// An integration's catalog head (the published revision).
#[must_use]
pub fn catalog(tenant: &str, integration: &str) -> Key {
    Key(format!("cat/{tenant}/{integration}"))
}

/// All kept revisions of an integration's catalog, oldest first.
#[must_use]
pub fn catalog_revisions(tenant: &str, integration: &str) -> Key {
    Key(format!("catrev/{tenant}/{integration}/"))
}

/// One catalog revision.
#[must_use]
pub fn catalog_revision(tenant: &str, integration: &str, revision: u64) -> Key {
    Key(format!("catrev/{tenant}/{integration}/{revision:020}"))
}

/// Every tool definition kept for an integration's catalog revisions.
#[must_use]
pub fn catalog_bodies(tenant: &str, integration: &str) -> Key {
    Key(format!("catbody/{tenant}/{integration}/"))
}

/// One tool definition of a catalog revision, by its digest.
#[must_use]
pub fn catalog_body(tenant: &str, integration: &str, digest: &str) -> Key {
    Key(format!("catbody/{tenant}/{integration}/{digest}"))
}

/// All configs of an integration.
#[must_use]
pub fn configs(tenant: &str, integration: &str) -> Key {
    Key(format!("cfg/{tenant}/{integration}/"))
}

/// One config.
#[must_use]
pub fn config(tenant: &str, integration: &str, config: Uuid) -> Key {
    Key(format!("cfg/{tenant}/{integration}/{config}"))
}

/// All revisions of every config of an integration.
#[must_use]
pub fn integration_revisions(tenant: &str, integration: &str) -> Key {
    Key(format!("rev/{tenant}/{integration}/"))
}

/// All revisions of a config (ordered by creation: revision ids are UUIDv7).
#[must_use]
pub fn revisions(tenant: &str, integration: &str, config: Uuid) -> Key {
    Key(format!("rev/{tenant}/{integration}/{config}/"))
}

/// One revision.
#[must_use]
pub fn revision(tenant: &str, integration: &str, config: Uuid, revision: Uuid) -> Key {
    Key(format!("rev/{tenant}/{integration}/{config}/{revision}"))
}

/// An integration's MCP settings.
#[must_use]
pub fn mcp(tenant: &str, integration: &str) -> Key {
    Key(format!("mcp/{tenant}/{integration}"))
}

/// All OAuth grants of an integration.
#[must_use]
pub fn grants(tenant: &str, integration: &str) -> Key {
    Key(format!("grant/{tenant}/{integration}/"))
}

/// One OAuth grant.
#[must_use]
pub fn grant(tenant: &str, integration: &str, grant: Uuid) -> Key {
    Key(format!("grant/{tenant}/{integration}/{grant}"))
}

/// One API key record.
#[must_use]
pub fn api_key(id: Uuid) -> Key {
    Key(format!("key/{id}"))
}

//! What the data plane serves from: the last good snapshot, swapped atomically.
//!
//! [`Served`] is immutable. Applying an update builds a new one — reusing the compiled
//! runtime of every integration the update does not touch — and swaps it in with one
//! `ArcSwap` store. Request handlers `load()` an `Arc<Served>` and never hold a lock.

mod call;
mod cow_map;
mod entries;
mod validators;

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use arc_swap::ArcSwapOption;
use mcpgw_shared::apikey::KeyHash;
use mcpgw_shared::model::{
    IntegrationKey, IntegrationSnapshot, Limits, SnapshotUpdate, ToolsCarried,
};
use uuid::Uuid;

use mcpgw_shared::schema::SchemaError;

use crate::cpu::CpuPool;
use crate::protocol::tool_entry::{Entry, Listed};
use crate::protocol::version::Version;
use mcpgw_shared::shard::Tenants;

pub use self::call::CallSpec;
pub use self::cow_map::CowMap;

/// A tool ready to serve: its definition (held once), its `tools/list` entries rendered once
/// per snapshot (per-request rendering dominated the cost of `tools/list`), and its argument
/// validator, compiled on the tool's first call and shared by every tool with the same
/// `inputSchema` (`validators`): most of the tools served are rarely called, and a compiled
/// validator weighs many times its schema.
pub struct ToolRuntime {
    /// What calls need of the definition; the schemas, annotations, title and description
    /// live once, as text, in `listed` (parsed trees of them weighed several kilobytes per
    /// tool); [`ToolRuntime::output_schema`] parses the output schema back.
    pub call: CallSpec,
    /// Top-level arguments a 2026-07-28 call must mirror in `Mcp-Param-{Name}` headers:
    /// (argument, header name).
    pub header_params: Box<[(Box<str>, Box<str>)]>,
    /// `inputSchema`, compiled on first use.
    validator: OnceLock<Result<Arc<jsonschema::Validator>, SchemaError>>,
    /// The `tools/list` entry, its members shared with every tool served with the same one.
    listed: Entry,
}

impl ToolRuntime {
    /// The `tools/list` entry for a client of `version`, ready to splice into a response.
    #[must_use]
    pub fn listed(&self, version: Version) -> Listed<'_> {
        self.listed.for_version(&self.call.id, version)
    }

    /// The `outputSchema`, if the tool has one (parsed from its listing entry: only the
    /// sandbox's samples need it).
    #[must_use]
    pub fn output_schema(&self) -> Option<serde_json::Map<String, serde_json::Value>> {
        serde_json::from_str(self.listed.output_schema()?).ok()
    }

    /// The compiled `inputSchema`; on the tool's first use compiled on `cpu` (or taken from
    /// an identical schema already compiled), off the reactor.
    ///
    /// # Errors
    /// The schema does not compile (the control plane compiles every schema it accepts, so
    /// only a schema from a store it did not check gets here).
    pub async fn validator(
        &self,
        cpu: &CpuPool,
    ) -> Result<Arc<jsonschema::Validator>, SchemaError> {
        if let Some(compiled) = self.validator.get() {
            return compiled.clone();
        }
        let schema = serde_json::from_str(self.listed.input_schema()).unwrap_or_default();
        let compiled = cpu
            .run(move || validators::shared(&schema))
            .await
            .unwrap_or_else(|e| Err(SchemaError(e.to_string())));
        self.validator.get_or_init(|| compiled).clone()
    }
}

/// Why an integration of a snapshot cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A tool's `inputSchema` does not compile.
    #[error("tool {tool}: inputSchema does not compile: {reason}")]
    Schema {
        /// The tool id.
        tool: String,
        /// The compiler's explanation.
        reason: mcpgw_shared::schema::SchemaError,
    },
    /// A tool's `tools/list` entry could not be rendered.
    #[error("tool {tool}: {source}")]
    Render {
        /// The tool id.
        tool: String,
        /// Why.
        source: serde_json::Error,
    },
}

/// Why a snapshot update was refused as a whole (the served state stays).
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// A delta arrived with no full snapshot to apply it to.
    #[error("a delta arrived before any full snapshot")]
    DeltaBeforeFull,
    /// A delta older than the served version.
    #[error("version {version} is older than the served {served}")]
    Stale {
        /// The delta's version.
        version: u64,
        /// The served version.
        served: u64,
    },
    /// No update at all.
    #[error("an empty update")]
    Empty,
    /// A delta carried only the changed tools of an integration this data plane does not
    /// hold as the control plane expects (a full snapshot puts them back in agreement).
    #[error("a partial update of {}/{} that this data plane cannot complete", key.tenant, key.integration_id)]
    MissingBase {
        /// The integration.
        key: IntegrationKey,
    },
}

/// One integration ready to serve.
pub struct IntegrationRuntime {
    /// The snapshot it was built from (its tools moved to `tools`).
    pub snapshot: IntegrationSnapshot,
    /// The exposed tools in id order; shared with the previous runtime of the integration
    /// when a delta carried only some of them.
    pub tools: Vec<Arc<ToolRuntime>>,
}

impl IntegrationRuntime {
    /// Compiles the integration's tools.
    ///
    /// # Errors
    /// A tool whose `inputSchema` does not compile.
    pub fn build(mut snapshot: IntegrationSnapshot) -> Result<Self, BuildError> {
        // The definitions move into the runtime: held once, not in the snapshot as well.
        let tools = std::mem::take(&mut snapshot.tools)
            .into_iter()
            .map(|mut def| {
                let listed = Entry::render(&mut def, entries::intern).map_err(|source| {
                    BuildError::Render {
                        tool: def.id.clone(),
                        source,
                    }
                })?;
                // Checked against the JSON Schema meta-schema now (keyed by the text just
                // rendered), so a schema that is not one fails closed at apply; compiled at
                // first use.
                validators::check(&def.input_schema, listed.input_schema()).map_err(|reason| {
                    BuildError::Schema {
                        tool: def.id.clone(),
                        reason,
                    }
                })?;
                let header_params = header_params(&def.input_schema);
                let has_output_schema = listed.output_schema().is_some();
                let call = CallSpec::new(def, has_output_schema, entries::binding);
                Ok(Arc::new(ToolRuntime {
                    validator: OnceLock::new(),
                    listed,
                    header_params,
                    call,
                }))
            })
            .collect::<Result<Vec<_>, BuildError>>()?;
        // Collected in place into the definitions' own buffer, ten times the size it needs.
        let mut tools = tools;
        tools.shrink_to_fit();
        Ok(Self { snapshot, tools })
    }

    /// This runtime, built from a delta that carried only the changed tools
    /// ([`ToolsCarried::Changed`]), completed with the unchanged tools of `base` (shared, not
    /// rebuilt); a runtime that carried every tool is returned as it is.
    ///
    /// # Errors
    /// `base` lacks a tool the delta says it holds (the two planes disagree on what this
    /// data plane has: it needs a full snapshot).
    fn complete(mut self, base: Option<&Self>) -> Result<Self, ApplyError> {
        let ToolsCarried::Changed { ids } = std::mem::take(&mut self.snapshot.carried) else {
            return Ok(self);
        };
        let missing = || ApplyError::MissingBase {
            key: self.snapshot.key.clone(),
        };
        let Some(base) = base else {
            return Err(missing());
        };
        let changed = std::mem::take(&mut self.tools);
        let find = |id: &str| -> Option<Arc<ToolRuntime>> {
            changed
                .binary_search_by(|t| t.call.id.as_ref().cmp(id))
                .ok()
                .map(|i| changed[i].clone())
                .or_else(|| {
                    base.tools
                        .binary_search_by(|t| t.call.id.as_ref().cmp(id))
                        .ok()
                        .map(|i| base.tools[i].clone())
                })
        };
        let tools = match ids {
            Some(ids) => ids.iter().map(|id| find(id)).collect::<Option<Vec<_>>>(),
            None => base.tools.iter().map(|t| find(&t.call.id)).collect(),
        };
        let tools = tools.ok_or_else(missing)?;
        if changed.iter().any(|c| {
            tools
                .binary_search_by(|t| t.call.id.cmp(&c.call.id))
                .is_err()
        }) {
            return Err(missing());
        }
        Ok(Self {
            snapshot: self.snapshot,
            tools,
        })
    }

    /// Whether this runtime carries only the tools a delta changed.
    fn is_partial(&self) -> bool {
        matches!(self.snapshot.carried, ToolsCarried::Changed { .. })
    }

    /// The exposed tool named `name`.
    #[must_use]
    pub fn tool(&self, name: &str) -> Option<&ToolRuntime> {
        self.tools
            .binary_search_by(|t| t.call.id.as_ref().cmp(name))
            .ok()
            .map(|i| &*self.tools[i])
    }
}

/// The top-level properties of `schema` carrying `x-mcp-header`: (argument, header name).
fn header_params(
    schema: &serde_json::Map<String, serde_json::Value>,
) -> Box<[(Box<str>, Box<str>)]> {
    let Some(props) = schema
        .get("properties")
        .and_then(serde_json::Value::as_object)
    else {
        return Box::new([]);
    };
    props
        .iter()
        .filter_map(|(prop, s)| {
            let name = s.get("x-mcp-header")?.as_str()?;
            Some((prop.as_str().into(), name.into()))
        })
        .collect()
}

/// An active key, indexed by its public prefix.
#[derive(Clone)]
pub struct KeyRef {
    /// The key id.
    pub key_id: Uuid,
    /// SHA-256 of the full key.
    pub hash: KeyHash,
    /// The integration it is bound to.
    pub integration: IntegrationKey,
}

/// The whole served state at one control-plane version. Its maps are [`CowMap`]s: the next
/// state shares everything an update does not touch with this one.
pub struct Served {
    /// The control plane's version.
    pub version: u64,
    /// When this state was applied.
    pub applied_at: Instant,
    /// Tenant → integration id → runtime.
    integrations: CowMap<String, CowMap<String, Arc<IntegrationRuntime>>>,
    /// Public key prefix → the active key.
    keys: CowMap<String, KeyRef>,
    /// Integrations this data plane could not accept, and why; served as absent.
    rejected: CowMap<IntegrationKey, String>,
}

/// What applying an update did.
#[derive(Debug, Default)]
pub struct Applied {
    /// The version now served.
    pub version: u64,
    /// Whether a full snapshot was applied (everything may have changed).
    pub full: bool,
    /// What the update changed, in order: an integration now served with these limits, or
    /// (`None`) no longer served (deleted, or not accepted).
    pub changes: Vec<(IntegrationKey, Option<Limits>)>,
    /// Integrations of the update that were not accepted (they are not served), and why.
    pub rejected: Vec<(IntegrationKey, String)>,
}

impl Served {
    /// The integration at `tenant`/`integration`.
    #[must_use]
    pub fn integration(&self, tenant: &str, integration: &str) -> Option<&Arc<IntegrationRuntime>> {
        self.integrations.get(tenant)?.get(integration)
    }

    /// The active key with this public prefix.
    #[must_use]
    pub fn key(&self, prefix: &str) -> Option<&KeyRef> {
        self.keys.get(prefix)
    }

    /// Every served integration.
    pub fn integrations(&self) -> impl Iterator<Item = &Arc<IntegrationRuntime>> {
        self.integrations.values().flat_map(CowMap::values)
    }

    /// How many integrations are served.
    #[must_use]
    pub fn integration_count(&self) -> usize {
        self.integrations.values().map(CowMap::len).sum()
    }

    /// How many integrations are not served because this data plane could not accept them.
    #[must_use]
    pub fn rejected_count(&self) -> usize {
        self.rejected.len()
    }

    /// This state with `update` applied. Integrations the update does not name keep their
    /// compiled runtime and share their place in memory with this state; the cost is that of
    /// what the update carries, not of what is served. A full update rebuilds everything. An
    /// integration that does not validate or compile is left out (and recorded in `rejected`),
    /// never the whole update: one tenant's configuration cannot hold back everyone else's
    /// changes.
    ///
    /// # Errors
    /// A delta with no state to apply it to.
    pub fn apply(
        current: Option<&Served>,
        update: Prepared,
        applied: &mut Applied,
    ) -> Result<Served, ApplyError> {
        let mut next = match (current, update.full) {
            (Some(cur), false) => Served {
                version: update.version,
                applied_at: Instant::now(),
                integrations: cur.integrations.clone(),
                keys: cur.keys.clone(),
                rejected: cur.rejected.clone(),
            },
            (None, false) => return Err(ApplyError::DeltaBeforeFull),
            (_, true) => {
                applied.full = true;
                Served {
                    version: update.version,
                    applied_at: Instant::now(),
                    integrations: CowMap::default(),
                    keys: CowMap::default(),
                    rejected: CowMap::default(),
                }
            }
        };
        for key in update.removals {
            next.remove_integration(&key);
            next.rejected.remove(&key);
            applied.changes.push((key, None));
        }
        for (key, runtime) in update.built {
            let runtime = match runtime {
                // An integration this data plane did not accept stays out: a partial update
                // cannot complete it (it is accepted again with its next full form).
                Ok(r) if r.is_partial() && next.rejected.get(&key).is_some() => continue,
                Ok(r) => Ok(r.complete(
                    next.integration(&key.tenant, &key.integration_id)
                        .map(Arc::as_ref),
                )?),
                Err(reason) => Err(reason),
            };
            match runtime {
                Ok(runtime) => {
                    next.rejected.remove(&key);
                    applied
                        .changes
                        .push((key.clone(), Some(runtime.snapshot.limits)));
                    next.put_integration(key, Arc::new(runtime));
                }
                Err(reason) => {
                    next.remove_integration(&key);
                    applied.rejected.push((key.clone(), reason.clone()));
                    applied.changes.push((key.clone(), None));
                    next.rejected.insert(key, reason);
                }
            }
        }
        Ok(next)
    }

    /// Serves `runtime` at `key`, replacing (and unindexing the keys of) what was there.
    fn put_integration(&mut self, key: IntegrationKey, runtime: Arc<IntegrationRuntime>) {
        self.remove_integration(&key);
        for k in &runtime.snapshot.keys {
            self.keys.insert(
                k.key_prefix.clone(),
                KeyRef {
                    key_id: k.key_id,
                    hash: k.hash,
                    integration: key.clone(),
                },
            );
        }
        let mut tenant = self
            .integrations
            .get(&key.tenant)
            .cloned()
            .unwrap_or_default();
        tenant.insert(key.integration_id, runtime);
        self.integrations.insert(key.tenant, tenant);
    }

    /// Stops serving the integration at `key` and its keys.
    fn remove_integration(&mut self, key: &IntegrationKey) {
        let Some(mut tenant) = self.integrations.get(&key.tenant).cloned() else {
            return;
        };
        let Some(old) = tenant.remove(&key.integration_id) else {
            return;
        };
        for k in &old.snapshot.keys {
            if self
                .keys
                .get(&k.key_prefix)
                .is_some_and(|r| r.integration == *key)
            {
                self.keys.remove(&k.key_prefix);
            }
        }
        if tenant.is_empty() {
            self.integrations.remove(&key.tenant);
        } else {
            self.integrations.insert(key.tenant.clone(), tenant);
        }
    }
}

/// A snapshot message with its integrations already built: the CPU work of an update, done as
/// each message arrives so a large update never holds the parsed form of all its chunks at
/// once; applying it then only links what was built.
pub struct Prepared {
    /// The version it brings.
    pub version: u64,
    /// Whether it is (the first chunk of) a full snapshot.
    pub full: bool,
    /// Whether more chunks of the same version follow.
    pub more: bool,
    removals: Vec<IntegrationKey>,
    built: Vec<(IntegrationKey, Result<IntegrationRuntime, String>)>,
}

/// An integration built as it is converted.
type Built = (IntegrationKey, Result<IntegrationRuntime, String>);

fn build(snapshot: IntegrationSnapshot) -> Built {
    let key = snapshot.key.clone();
    (
        key,
        IntegrationRuntime::build(snapshot).map_err(|e| e.to_string()),
    )
}

impl Prepared {
    /// Builds every integration of `update` (those the control plane already refused, and
    /// those that do not build here, are kept as refusals).
    #[must_use]
    pub fn new(update: SnapshotUpdate) -> Self {
        Self::from_built(update.map_upserts(build))
    }

    /// Converts and builds a message of the stream, one integration at a time (each is built
    /// as soon as it is parsed, so the parsed form of a whole large message never exists at
    /// once), keeping only the integrations of `tenants`: a control plane that ignores the
    /// selection must not fill this memory.
    ///
    /// # Errors
    /// The message as a whole cannot be understood.
    pub fn from_message(
        message: mcpgw_shared::pb::Snapshot,
        tenants: &Tenants,
    ) -> Result<Self, mcpgw_shared::convert::InvalidSnapshot> {
        let mut update = SnapshotUpdate::try_map(message, |snapshot| {
            tenants
                .includes(&snapshot.key.tenant)
                .then(|| build(snapshot))
        })?;
        update.removals.retain(|k| tenants.includes(&k.tenant));
        update.rejected.retain(|r| tenants.includes(&r.key.tenant));
        Ok(Self::from_built(update))
    }

    fn from_built(update: SnapshotUpdate<Built>) -> Self {
        let refused = update.rejected.into_iter().map(|r| (r.key, Err(r.reason)));
        let mut built = update.upserts;
        built.extend(refused);
        Self {
            version: update.version,
            full: update.full,
            more: update.more,
            removals: update.removals,
            built,
        }
    }
}

/// The OAuth authorization server data planes accept access tokens from, as the snapshot
/// stream announces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthIssuer {
    /// The issuer URL (a token's `iss`).
    pub issuer: String,
    /// `(kid, Ed25519 public key)` of the keys tokens may be signed with.
    pub keys: Vec<(String, Vec<u8>)>,
    /// The data planes' public base URL: a token's audience is an endpoint under it.
    pub public_mcp_url: String,
}

impl OAuthIssuer {
    /// The public key named `kid`.
    #[must_use]
    pub fn key(&self, kid: &str) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, key)| key.as_slice())
    }

    /// The URL of an integration endpoint (a token's expected audience).
    #[must_use]
    pub fn resource(&self, tenant: &str, integration: &str, endpoint: &str) -> String {
        format!(
            "{}/v1/tenants/{tenant}/integrations/{integration}/{endpoint}",
            self.public_mcp_url
        )
    }

    /// Where the endpoint's protected-resource metadata is (RFC 9728).
    #[must_use]
    pub fn metadata_url(&self, tenant: &str, integration: &str, endpoint: &str) -> String {
        format!(
            "{}/.well-known/oauth-protected-resource/v1/tenants/{tenant}/integrations/{integration}/{endpoint}",
            self.public_mcp_url
        )
    }
}

/// The shared, swappable state: `None` until the first snapshot arrives.
#[derive(Default)]
pub struct SnapshotStore {
    current: ArcSwapOption<Served>,
    oauth: ArcSwapOption<OAuthIssuer>,
    /// The newest version the control plane has sent (applied or not).
    received: std::sync::atomic::AtomicU64,
    /// Since when a received version has been waiting to be applied.
    behind_since: std::sync::Mutex<Option<std::time::Instant>>,
}

impl SnapshotStore {
    /// Records that the control plane sent `version` (it may take a moment to apply).
    pub fn received(&self, version: u64) {
        use std::sync::atomic::Ordering;
        self.received.fetch_max(version, Ordering::Relaxed);
        if version > self.version() {
            self.behind().get_or_insert_with(std::time::Instant::now);
        }
    }

    /// After an apply: when everything received is applied, the lag clock stops.
    pub fn settle(&self) {
        let received = self.received.load(std::sync::atomic::Ordering::Relaxed);
        if received <= self.version() {
            *self.behind() = None;
        }
    }

    /// How far behind what the control plane sent this data plane is: versions, and seconds
    /// since the first version not yet applied arrived (zero when caught up).
    #[must_use]
    pub fn lag(&self) -> (u64, std::time::Duration) {
        self.settle();
        let received = self.received.load(std::sync::atomic::Ordering::Relaxed);
        let versions = received.saturating_sub(self.version());
        let since = *self.behind();
        (
            versions,
            since.map_or(std::time::Duration::ZERO, |s| s.elapsed()),
        )
    }

    fn behind(&self) -> std::sync::MutexGuard<'_, Option<std::time::Instant>> {
        self.behind_since
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The OAuth issuer, once the control plane has announced one (a guard: reading it takes
    /// no reference count).
    #[must_use]
    pub fn oauth(&self) -> arc_swap::Guard<Option<Arc<OAuthIssuer>>> {
        self.oauth.load()
    }

    /// Records the issuer a snapshot message announced (unchanged ones are not swapped).
    pub fn set_oauth(&self, issuer: OAuthIssuer) {
        if self.oauth.load().as_deref() != Some(&issuer) {
            self.oauth.store(Some(Arc::new(issuer)));
        }
    }

    /// The state to serve this request from, if any.
    #[must_use]
    pub fn load(&self) -> Option<Arc<Served>> {
        self.current.load_full()
    }

    /// The version served (0 = none).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.current.load().as_ref().map_or(0, |s| s.version)
    }

    /// Validates and applies `updates` (the chunks of one version, in order) and swaps the
    /// result in at once; on failure the current state stays.
    ///
    /// A delta older than the served version is refused; a full snapshot is always taken,
    /// even an older one: the control plane's store may have been restored from a backup, and
    /// refusing would pin this data plane to state that no longer exists.
    ///
    /// # Errors
    /// Why the update was refused.
    pub fn apply(&self, updates: Vec<SnapshotUpdate>) -> Result<Applied, ApplyError> {
        self.apply_prepared(updates.into_iter().map(Prepared::new).collect(), |_, _| {})
    }

    /// [`SnapshotStore::apply`] for updates already [`Prepared`]; `before_swap` sees the new
    /// state before any request can (the limiters follow it there, so no request runs under
    /// the new state with the old limits).
    ///
    /// # Errors
    /// Why the update was refused.
    pub fn apply_prepared(
        &self,
        updates: Vec<Prepared>,
        before_swap: impl FnOnce(&Served, &Applied),
    ) -> Result<Applied, ApplyError> {
        let current = self.current.load_full();
        let mut next: Option<Served> = None;
        let mut applied = Applied::default();
        for update in updates {
            if let Some(cur) = next.as_ref().or(current.as_deref())
                && update.version < cur.version
            {
                if !update.full {
                    return Err(ApplyError::Stale {
                        version: update.version,
                        served: cur.version,
                    });
                }
                tracing::warn!(
                    from = cur.version,
                    to = update.version,
                    "the control plane's version went backwards; taking its full snapshot"
                );
            }
            let base = next.as_ref().or(current.as_deref());
            next = Some(Served::apply(base, update, &mut applied)?);
        }
        let next = next.ok_or(ApplyError::Empty)?;
        applied.version = next.version;
        before_swap(&next, &applied);
        // Only the snapshot client writes, so load-then-store cannot lose an update.
        self.current.store(Some(Arc::new(next)));
        Ok(applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_served_tool_keeps_its_schemas_once_as_text_and_what_calls_need() {
        let def: ToolDef = serde_json::from_value(serde_json::json!({
            "id": "t", "title": "T", "description": "d",
            "inputSchema": {"type": "object", "properties": {
                "region": {"type": "string", "x-mcp-header": "Region"},
                "free": {"type": "string"}
            }},
            "outputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}},
            "annotations": {"readOnlyHint": true},
            "http": {"method": "GET", "path": "/x"}
        }))
        .expect("tool");
        let mut snapshot = integration("i");
        snapshot.tools = vec![def];
        let runtime = IntegrationRuntime::build(snapshot).expect("builds");
        let tool = runtime.tool("t").expect("tool");
        assert_eq!(
            tool.header_params.as_ref(),
            &[("region".into(), "Region".into())]
        );
        assert_eq!(
            serde_json::Value::Object(tool.output_schema().expect("has one")),
            serde_json::json!({"type": "object", "properties": {"n": {"type": "integer"}}})
        );
        let entry: serde_json::Value =
            serde_json::to_value(tool.listed(Version::V2026_07_28)).expect("json");
        assert_eq!(entry["title"], "T");
        assert_eq!(
            entry["inputSchema"]["properties"]["region"]["x-mcp-header"],
            "Region"
        );
        let older: serde_json::Value =
            serde_json::to_value(tool.listed(Version::V2025_03_26)).expect("json");
        assert!(older.get("title").is_none() && older.get("outputSchema").is_none());
        assert_eq!(
            older["annotations"],
            serde_json::json!({"readOnlyHint": true})
        );
    }

    #[test]
    fn tools_that_differ_in_their_description_share_their_schemas() {
        let tool = |integration: &str| -> ToolDef {
            serde_json::from_value(serde_json::json!({
                "id": "get_customer", "description": format!("A customer of {integration}."),
                "inputSchema": {"type": "object", "properties": {
                    "id": {"type": "string", "description": "shared-schema-test"}
                }},
                "outputSchema": {"type": "object"},
                "http": {"method": "GET", "path": "/x"}
            }))
            .expect("tool")
        };
        let built: Vec<IntegrationRuntime> = ["a", "b"]
            .iter()
            .map(|id| {
                let mut snapshot = integration(id);
                snapshot.tools = vec![tool(id)];
                IntegrationRuntime::build(snapshot).expect("builds")
            })
            .collect();
        let [a, b] = [&built[0].tools[0], &built[1].tools[0]];
        assert!(std::ptr::eq(
            a.listed.input_schema().as_ptr(),
            b.listed.input_schema().as_ptr()
        ));
        let (out_a, out_b) = (a.listed.output_schema(), b.listed.output_schema());
        assert!(std::ptr::eq(
            out_a.expect("a").as_ptr(),
            out_b.expect("b").as_ptr()
        ));
        let [da, db] =
            [a, b].map(|t| serde_json::to_value(t.listed(Version::V2025_11_25)).expect("entry"));
        assert_eq!(da["description"], "A customer of a.");
        assert_eq!(db["description"], "A customer of b.");
    }
    use mcpgw_shared::model::{IntegrationKey, Limits, ToolDef};

    fn integration(id: &str) -> IntegrationSnapshot {
        IntegrationSnapshot {
            key: IntegrationKey {
                tenant: "t".into(),
                integration_id: id.into(),
            },
            display_name: id.into(),
            description: String::new(),
            enabled: true,
            tools: Vec::new(),
            carried: mcpgw_shared::model::ToolsCarried::All,
            keys: Vec::new(),
            limits: Limits::default(),
            config_id: None,
            revision: None,
            oauth: None,
            catalog: Default::default(),
        }
    }

    fn update(version: u64, full: bool, more: bool, ids: &[&str]) -> SnapshotUpdate {
        SnapshotUpdate {
            version,
            full,
            upserts: ids.iter().map(|i| integration(i)).collect(),
            removals: Vec::new(),
            more,
            rejected: Vec::new(),
        }
    }

    #[test]
    fn chunks_apply_together_and_deltas_never_go_back() {
        let store = SnapshotStore::default();
        assert!(
            store.apply(vec![update(4, false, false, &["a"])]).is_err(),
            "a delta needs a base"
        );
        store
            .apply(vec![
                update(5, true, true, &["a"]),
                update(5, false, false, &["b"]),
            ])
            .expect("chunks");
        let served = store.load().expect("served");
        assert_eq!(served.version, 5);
        assert!(served.integration("t", "a").is_some() && served.integration("t", "b").is_some());
        assert!(
            store.apply(vec![update(4, false, false, &["c"])]).is_err(),
            "older delta refused"
        );
        assert_eq!(store.version(), 5);
        // A full snapshot is taken even when older: the control plane was restored.
        store
            .apply(vec![update(3, true, false, &["c"])])
            .expect("older full");
        let served = store.load().expect("served");
        assert_eq!(served.version, 3);
        assert!(served.integration("t", "a").is_none() && served.integration("t", "c").is_some());
    }

    #[test]
    fn lag_counts_what_was_received_and_not_applied_and_stops_when_caught_up() {
        let store = SnapshotStore::default();
        assert_eq!(store.lag(), (0, std::time::Duration::ZERO));
        store.received(5);
        std::thread::sleep(std::time::Duration::from_millis(5));
        let (versions, waiting) = store.lag();
        assert_eq!(versions, 5);
        assert!(waiting >= std::time::Duration::from_millis(5));
        store
            .apply(vec![update(5, true, false, &["a"])])
            .expect("applied");
        store.settle();
        assert_eq!(store.lag(), (0, std::time::Duration::ZERO));
        // A version already served does not start the clock.
        store.received(5);
        assert_eq!(store.lag(), (0, std::time::Duration::ZERO));
    }

    #[test]
    fn one_integration_that_does_not_compile_never_holds_back_the_others() {
        let store = SnapshotStore::default();
        store
            .apply(vec![update(1, true, false, &["a", "b"])])
            .expect("full");
        let mut broken = integration("b");
        broken.tools = vec![
            serde_json::from_value(serde_json::json!({
                "id": "t", "description": "d",
                "inputSchema": {"type": "object", "properties": {"x": {"type": 12}}},
                "http": {"method": "GET", "path": "/x"}
            }))
            .expect("tool"),
        ];
        let mut next = update(2, false, false, &["c"]);
        next.upserts.push(broken);
        let applied = store.apply(vec![next]).expect("applied");
        assert_eq!(applied.version, 2);
        assert_eq!(applied.rejected.len(), 1);
        assert_eq!(applied.rejected[0].0.integration_id, "b");
        let served = store.load().expect("served");
        assert!(served.integration("t", "a").is_some(), "untouched");
        assert!(
            served.integration("t", "c").is_some(),
            "the rest of the update applied"
        );
        assert!(served.integration("t", "b").is_none(), "fails closed");
        assert_eq!(served.rejected_count(), 1);
        // Fixed later: served again and no longer counted.
        store
            .apply(vec![update(3, false, false, &["b"])])
            .expect("fixed");
        let served = store.load().expect("served");
        assert!(served.integration("t", "b").is_some());
        assert_eq!(served.rejected_count(), 0);
    }

    fn tool(id: &str, description: &str) -> ToolDef {
        serde_json::from_value(serde_json::json!({
            "id": id, "description": description,
            "inputSchema": {"type": "object"},
            "http": {"method": "GET", "path": "/x"}
        }))
        .expect("tool")
    }

    fn with_tools(id: &str, tools: &[(&str, &str)], carried: ToolsCarried) -> IntegrationSnapshot {
        let mut s = integration(id);
        s.tools = tools.iter().map(|(t, d)| tool(t, d)).collect();
        s.carried = carried;
        s
    }

    fn described(served: &Served, id: &str) -> Vec<(String, String)> {
        served
            .integration("t", id)
            .expect("served")
            .tools
            .iter()
            .map(|t| {
                let entry: serde_json::Value =
                    serde_json::to_value(t.listed(Version::V2025_11_25)).expect("entry");
                (
                    t.call.id.to_string(),
                    entry["description"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn a_partial_update_keeps_the_unchanged_tools_it_does_not_carry() {
        let store = SnapshotStore::default();
        let mut full = update(1, true, false, &[]);
        full.upserts = vec![with_tools(
            "a",
            &[("x", "x1"), ("y", "y1"), ("z", "z1")],
            ToolsCarried::All,
        )];
        store.apply(vec![full]).expect("full");
        let before = store.load().expect("served");
        let kept = before
            .integration("t", "a")
            .expect("a")
            .tool("x")
            .expect("x") as *const ToolRuntime;

        // A settings change: no tool carried, the same set.
        let mut settings = with_tools("a", &[], ToolsCarried::Changed { ids: None });
        settings.enabled = false;
        let mut delta = update(2, false, false, &[]);
        delta.upserts = vec![settings];
        store.apply(vec![delta]).expect("delta");
        let served = store.load().expect("served");
        let a = served.integration("t", "a").expect("a");
        assert!(!a.snapshot.enabled);
        assert_eq!(
            described(&served, "a"),
            [
                ("x".into(), "x1".into()),
                ("y".into(), "y1".into()),
                ("z".into(), "z1".into())
            ]
        );
        assert!(
            std::ptr::eq(a.tool("x").expect("x"), kept),
            "shared, not rebuilt"
        );

        // One tool changed, one removed, one added.
        let mut delta = update(3, false, false, &[]);
        delta.upserts = vec![with_tools(
            "a",
            &[("w", "w1"), ("y", "y2")],
            ToolsCarried::Changed {
                ids: Some(vec!["w".into(), "x".into(), "y".into()]),
            },
        )];
        store.apply(vec![delta]).expect("delta");
        let served = store.load().expect("served");
        assert_eq!(
            described(&served, "a"),
            [
                ("w".into(), "w1".into()),
                ("x".into(), "x1".into()),
                ("y".into(), "y2".into())
            ]
        );

        // A partial update naming a tool this data plane does not hold is refused whole, and
        // the served state stays.
        let mut delta = update(4, false, false, &[]);
        delta.upserts = vec![with_tools(
            "a",
            &[],
            ToolsCarried::Changed {
                ids: Some(vec!["q".into()]),
            },
        )];
        assert!(matches!(
            store.apply(vec![delta]),
            Err(ApplyError::MissingBase { .. })
        ));
        let mut delta = update(4, false, false, &[]);
        delta.upserts = vec![with_tools("new", &[], ToolsCarried::Changed { ids: None })];
        assert!(matches!(
            store.apply(vec![delta]),
            Err(ApplyError::MissingBase { .. })
        ));
        assert_eq!(store.version(), 3);
    }
}

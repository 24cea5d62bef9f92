//! `POST .../tools:import`: an OpenAPI document's operations as the integration's tools, in
//! one write (`crate::openapi` does the reading). The answer is the plan — tools added,
//! changed (and which fields), removed (with `prune`), operations skipped with the reason,
//! warnings, and a suggested config — applied unless `dryRun`.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use mcpgw_shared::model::ToolDef;
use mcpgw_shared::now_millis;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::catalog::{draft_of, tool_record};
use super::tools::{MAX_INTEGRATION_TOOL_BYTES, MAX_TOOL_BYTES};
use super::{Change, Service, ServiceError, authorize_integration, check_text};
use crate::jwt::Caller;
use crate::openapi::document::{self, Include, Skipped};
use crate::store::{ToolRecord, WriteSet, keys};

/// The largest document `tools:import` reads (bytes of JSON).
pub const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;

/// The request.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImportRequest {
    /// The document: a JSON object, or a string holding JSON or YAML.
    pub document: Value,
    /// Which operations (all by default).
    #[serde(default)]
    pub include: Include,
    /// Put before every tool id.
    #[serde(default)]
    pub name_prefix: String,
    /// Answer the plan without applying it.
    #[serde(default)]
    pub dry_run: bool,
    /// Remove the integration's tools the document does not produce.
    #[serde(default)]
    pub prune: bool,
}

/// A tool the import changes, and which of its fields.
#[derive(Debug, Clone, Serialize)]
pub struct ChangedTool {
    /// The tool.
    pub id: String,
    /// The top-level fields that differ (`description`, `inputSchema`, `http`, ...).
    pub fields: Vec<String>,
    /// What changed, a line per change at its JSON pointer: `~ /description: "a" → "b"`,
    /// `+ /inputSchema/properties/limit: {...}`, `- /outputSchema` (at most
    /// [`MAX_DIFF_LINES`]).
    pub diff: Vec<String>,
}

/// Lines of diff shown per changed tool.
pub const MAX_DIFF_LINES: usize = 20;
/// Characters of a value shown in a diff line.
const MAX_DIFF_VALUE: usize = 80;

/// A warning about one tool.
#[derive(Debug, Clone, Serialize)]
pub struct ToolWarning {
    /// The tool.
    pub tool: String,
    /// What was left out, and why.
    pub message: String,
}

/// The plan (and, unless a dry run, what was applied).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportPlan {
    pub added: Vec<String>,
    pub changed: Vec<ChangedTool>,
    pub unchanged: usize,
    pub removed: Vec<String>,
    pub skipped: Vec<Skipped>,
    pub warnings: Vec<ToolWarning>,
    pub suggested_config: Value,
    pub applied: bool,
}

impl Service {
    /// Imports an OpenAPI document's operations as tools (see the module).
    ///
    /// # Errors
    /// A document that cannot be read (400), quotas, forbidden, not found, storage.
    pub async fn import_tools(
        &self,
        caller: &Caller,
        tenant: &str,
        integration: &str,
        request: ImportRequest,
    ) -> Result<ImportPlan, ServiceError> {
        authorize_integration(caller, tenant, integration)?;
        if !request.name_prefix.is_empty() {
            check_text("namePrefix", &request.name_prefix, 32)?;
        }
        // Reading a large document is seconds of CPU: charged to the tenant's write rate
        // first, one document at a time, off the async workers, and before the write lock.
        self.admit_write(tenant)?;
        let _turn = ImportTurn::take(&self.importing, tenant)?;
        let reading = self
            .import_reads
            .acquire()
            .await
            .map_err(|e| ServiceError::Internal(Box::new(e)))?;
        let (include, prefix) = (request.include.clone(), request.name_prefix.clone());
        let read = tokio::task::spawn_blocking(move || {
            let document = match request.document {
                Value::String(text) => crate::openapi::text::parse(&text)?,
                object @ Value::Object(_) => object,
                _ => return Err("must be an OpenAPI document".to_owned()),
            };
            document::read(&document, &include, &prefix)
        })
        .await
        .map_err(|e| ServiceError::Internal(Box::new(e)))?
        .map_err(|e| ServiceError::invalid("document", e))?;

        drop(reading);
        let guard = self.store.lock().await?;
        let integration_record = self.integration_record(tenant, integration)?;
        let existing: BTreeMap<String, ToolRecord> = self
            .store
            .scan::<ToolRecord>(&keys::tools(tenant, integration))?
            .into_iter()
            .map(|t| (t.def.id.clone(), t))
            .collect();
        let mut plan = ImportPlan {
            added: Vec::new(),
            changed: Vec::new(),
            unchanged: 0,
            removed: Vec::new(),
            skipped: read.skipped,
            warnings: Vec::new(),
            suggested_config: read.suggested_config,
            applied: false,
        };
        let mut w = WriteSet::default();
        // The draft as the import leaves it.
        let mut draft = existing.clone();
        let mut imported = BTreeSet::new();
        let mut imported_bytes = 0usize;
        let now = now_millis();
        for (tool, warnings) in read.tools {
            let def: ToolDef =
                serde_json::from_value(tool).map_err(|e| ServiceError::Internal(Box::new(e)))?;
            let size = serde_json::to_vec(&def).map_or(usize::MAX, |v| v.len());
            if size > MAX_TOOL_BYTES {
                plan.skipped.push(Skipped {
                    operation: def.id.clone(),
                    reason: format!("the tool would be larger than {MAX_TOOL_BYTES} bytes"),
                });
                continue;
            }
            imported_bytes += size;
            plan.warnings
                .extend(warnings.into_iter().map(|message| ToolWarning {
                    tool: def.id.clone(),
                    message,
                }));
            imported.insert(def.id.clone());
            match existing.get(&def.id) {
                Some(old) if old.def == def => plan.unchanged += 1,
                Some(old) => {
                    plan.changed.push(ChangedTool {
                        id: def.id.clone(),
                        fields: differing(&old.def, &def),
                        diff: diff(&old.def, &def),
                    });
                    let record = tool_record(def, old.created_at, now);
                    w.put(&keys::tool(tenant, integration, &record.def.id), &record)?;
                    draft.insert(record.def.id.clone(), record);
                }
                None => {
                    plan.added.push(def.id.clone());
                    let record = tool_record(def, now, now);
                    w.put(&keys::tool(tenant, integration, &record.def.id), &record)?;
                    draft.insert(record.def.id.clone(), record);
                }
            }
        }
        if request.prune {
            plan.removed = existing
                .keys()
                .filter(|id| !imported.contains(*id))
                .cloned()
                .collect();
            for id in &plan.removed {
                w.delete(&keys::tool(tenant, integration, id));
                draft.remove(id);
            }
        }
        let count = existing.len() + plan.added.len() - plan.removed.len();
        let limit = self.quotas.tools_per_integration;
        if count as u64 > limit {
            return Err(ServiceError::Quota {
                quota: "toolsPerIntegration",
                limit,
                detail: format!("the import would give integration '{integration}' {count} tools"),
            });
        }
        let total: usize = existing
            .values()
            .filter(|t| !imported.contains(&t.def.id) && !plan.removed.contains(&t.def.id))
            .map(|t| serde_json::to_vec(&t.def).map_or(0, |v| v.len()))
            .sum::<usize>()
            + imported_bytes;
        if total > MAX_INTEGRATION_TOOL_BYTES {
            return Err(ServiceError::Precondition(format!(
                "an integration's tools may hold at most {MAX_INTEGRATION_TOOL_BYTES} bytes of JSON in all; the import would make {total}"
            )));
        }
        if request.dry_run
            || (plan.added.is_empty() && plan.changed.is_empty() && plan.removed.is_empty())
        {
            return Ok(plan);
        }
        // One import is one draft change: one catalog revision under autoPublish.
        let draft = draft_of(draft.values());
        self.draft_changed(&mut w, caller, &integration_record, tenant, &draft)?;
        self.commit(
            guard,
            caller,
            Change {
                tenant,
                integration,
                action: "tools.import",
                target: format!(
                    "{integration}/tools (+{} ~{} -{})",
                    plan.added.len(),
                    plan.changed.len(),
                    plan.removed.len()
                ),
            },
            w,
        )
        .await?;
        plan.applied = true;
        Ok(plan)
    }
}

/// A readable diff of two tool definitions (see [`ChangedTool::diff`]).
fn diff(old: &ToolDef, new: &ToolDef) -> Vec<String> {
    let (Ok(a), Ok(b)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut lines = Vec::new();
    let mut more = 0usize;
    diff_into(&a, &b, &mut String::new(), &mut lines, &mut more);
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    lines
}

fn diff_into(a: &Value, b: &Value, at: &mut String, lines: &mut Vec<String>, more: &mut usize) {
    let (Value::Object(x), Value::Object(y)) = (a, b) else {
        push_line(lines, more, format!("~ {at}: {} → {}", short(a), short(b)));
        return;
    };
    let mut keys: Vec<&String> = x.keys().chain(y.keys()).collect();
    keys.sort();
    keys.dedup();
    for key in keys {
        let len = at.len();
        at.push('/');
        // JSON pointer escaping (RFC 6901).
        at.push_str(&key.replace('~', "~0").replace('/', "~1"));
        match (x.get(key), y.get(key)) {
            (Some(p), Some(q)) if p != q => diff_into(p, q, at, lines, more),
            (Some(_), None) => push_line(lines, more, format!("- {at}")),
            (None, Some(q)) => push_line(lines, more, format!("+ {at}: {}", short(q))),
            _ => {}
        }
        at.truncate(len);
    }
}

fn push_line(lines: &mut Vec<String>, more: &mut usize, text: String) {
    if lines.len() < MAX_DIFF_LINES {
        lines.push(text);
    } else {
        *more += 1;
    }
}

/// A value's JSON, cut to [`MAX_DIFF_VALUE`] characters.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= MAX_DIFF_VALUE {
        return text;
    }
    let mut cut: String = text.chars().take(MAX_DIFF_VALUE - 1).collect();
    cut.push('…');
    cut
}

/// A tenant's one import in flight (see `Service::importing`); gives the turn back on drop.
struct ImportTurn {
    tenants: Arc<Mutex<HashSet<String>>>,
    tenant: String,
}

impl ImportTurn {
    fn take(tenants: &Arc<Mutex<HashSet<String>>>, tenant: &str) -> Result<Self, ServiceError> {
        let mut set = tenants.lock().unwrap_or_else(PoisonError::into_inner);
        if !set.insert(tenant.to_owned()) {
            return Err(ServiceError::Quota {
                quota: "importsInFlight",
                limit: 1,
                detail: format!(
                    "tenant '{tenant}' already has an import being read; retry when it is done"
                ),
            });
        }
        Ok(Self {
            tenants: Arc::clone(tenants),
            tenant: tenant.to_owned(),
        })
    }
}

impl Drop for ImportTurn {
    fn drop(&mut self) {
        self.tenants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&self.tenant);
    }
}

/// The top-level fields of a tool definition that differ.
fn differing(old: &ToolDef, new: &ToolDef) -> Vec<String> {
    let (Ok(Value::Object(a)), Ok(Value::Object(b))) =
        (serde_json::to_value(old), serde_json::to_value(new))
    else {
        return Vec::new();
    };
    let mut fields: Vec<String> = a
        .keys()
        .chain(b.keys())
        .filter(|k| a.get(*k) != b.get(*k))
        .cloned()
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(v: Value) -> ToolDef {
        serde_json::from_value(v).expect("tool")
    }

    #[test]
    fn a_tenant_has_one_import_in_flight_and_others_are_not_held_up() {
        let tenants = Arc::default();
        let first = ImportTurn::take(&tenants, "acme").expect("first");
        assert!(matches!(
            ImportTurn::take(&tenants, "acme"),
            Err(ServiceError::Quota {
                quota: "importsInFlight",
                ..
            })
        ));
        let other = ImportTurn::take(&tenants, "other").expect("another tenant");
        drop(first);
        let _again = ImportTurn::take(&tenants, "acme").expect("after the first is done");
        drop(other);
    }

    #[test]
    fn the_diff_names_each_change_at_its_pointer() {
        let old = tool(json!({
            "id": "t", "description": "Lists items",
            "inputSchema": {"type": "object", "properties": {"a/b": {"type": "string"}, "gone": {}}},
            "http": {"method": "GET", "path": "/items"}
        }));
        let new = tool(json!({
            "id": "t", "description": "Lists every item",
            "inputSchema": {"type": "object", "properties": {"a/b": {"type": "integer"}, "limit": {"type": "integer"}}},
            "http": {"method": "GET", "path": "/items", "query": ["limit"]}
        }));
        assert_eq!(
            diff(&old, &new),
            [
                "~ /description: \"Lists items\" → \"Lists every item\"",
                "+ /http/query: [\"limit\"]",
                "~ /inputSchema/properties/a~1b/type: \"string\" → \"integer\"",
                "- /inputSchema/properties/gone",
                "+ /inputSchema/properties/limit: {\"type\":\"integer\"}",
            ]
        );
        let long = tool(json!({
            "id": "t", "description": "x".repeat(200),
            "inputSchema": {"type": "object", "properties": (0..30).map(|i| (format!("p{i}"), json!({}))).collect::<serde_json::Map<String, Value>>()},
            "http": {"method": "GET", "path": "/items"}
        }));
        let lines = diff(&old, &long);
        assert_eq!(lines.len(), MAX_DIFF_LINES + 1);
        assert!(lines[0].ends_with('…'), "{}", lines[0]);
        assert_eq!(lines[MAX_DIFF_LINES], "… and 13 more");
    }
}

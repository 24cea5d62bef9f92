//! A whole OpenAPI document (3.0, 3.1 or Swagger 2.0, as JSON) read into tools: every
//! operation the `include` filter selects, in path and method order (the same document always
//! yields the same tools and ids), each converted ([`super::operation`]) or skipped with its
//! reason; plus a suggested config (`baseUrl` from the servers, an auth template from the first
//! security scheme).

use serde::Deserialize;
use serde_json::{Value, json};

use super::names::Namer;
use super::operation::{self, Located};
use super::schema::Flavour;

/// Most operations one import reads (past it, the document is refused: import a part with
/// `include`).
pub const MAX_OPERATIONS: usize = 2000;

/// The most tool JSON one document may produce: each schema's expansion is bounded, and this
/// bounds their sum, so a document of many operations that each expand to the bound cannot
/// hold gigabytes while it is read. Twice what one integration may hold, so a dry run can
/// still show a plan that replaces every tool.
pub const MAX_TOOLS_BYTES: usize = 16 * 1024 * 1024;

/// The longest a document may take to read: every operation's expansion is bounded, so
/// only a hostile document gets near it, and it then gets an answer instead of a hang.
pub const MAX_READ_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Which operations to import (all when every list is empty).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Include {
    /// Operations with one of these tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Operations with one of these ids.
    #[serde(default)]
    pub operation_ids: Vec<String>,
    /// Operations under one of these path prefixes.
    #[serde(default)]
    pub paths: Vec<String>,
}

impl Include {
    fn selects(&self, path: &str, op: &Value) -> bool {
        if self.tags.is_empty() && self.operation_ids.is_empty() && self.paths.is_empty() {
            return true;
        }
        let tagged = op.get("tags").and_then(Value::as_array).is_some_and(|t| {
            t.iter()
                .any(|t| t.as_str().is_some_and(|t| self.tags.iter().any(|w| w == t)))
        });
        let named = op
            .get("operationId")
            .and_then(Value::as_str)
            .is_some_and(|id| self.operation_ids.iter().any(|w| w == id));
        let under = self.paths.iter().any(|p| path.starts_with(p.as_str()));
        tagged || named || under
    }
}

/// An operation that did not become a tool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Skipped {
    /// `METHOD path`.
    pub operation: String,
    /// Why.
    pub reason: String,
}

/// What a document gives.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The tools, with what each left out.
    pub tools: Vec<(Value, Vec<String>)>,
    /// The operations that could not be tools.
    pub skipped: Vec<Skipped>,
    /// A config to bind: `{"parameters": {"baseUrl"}, "auth": {...}}` as far as the document
    /// says.
    pub suggested_config: Value,
}

/// Reads `document`.
///
/// # Errors
/// A document that is not OpenAPI 3.x or Swagger 2.0, has no paths, or has too many
/// operations.
pub fn read(document: &Value, include: &Include, prefix: &str) -> Result<Read, String> {
    let flavour =
        match (
            document.get("openapi").and_then(Value::as_str),
            document.get("swagger").and_then(Value::as_str),
        ) {
            (Some(v), _) if v.starts_with("3.1") => Flavour::OpenApi31,
            (Some(v), _) if v.starts_with("3.0") => Flavour::OpenApi30,
            (None, Some(v)) if v.starts_with("2.") => Flavour::OpenApi30,
            _ => return Err(
                "not an OpenAPI 3.0/3.1 or Swagger 2.0 document (no openapi or swagger version)"
                    .into(),
            ),
        };
    let paths = document
        .get("paths")
        .and_then(Value::as_object)
        .ok_or("the document has no paths")?;
    let count: usize = paths
        .values()
        .filter_map(Value::as_object)
        .map(|item| {
            item.keys()
                .filter(|k| {
                    matches!(
                        k.as_str(),
                        "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace"
                    )
                })
                .count()
        })
        .sum();
    if count > MAX_OPERATIONS {
        return Err(format!(
            "the document has {count} operations, more than {MAX_OPERATIONS}: import a part of it with include"
        ));
    }
    let mut namer = Namer::default();
    let mut tools = Vec::new();
    let mut skipped = Vec::new();
    let started = std::time::Instant::now();
    let mut produced = 0usize;
    for (path, item) in paths {
        if started.elapsed() > MAX_READ_TIME {
            return Err(format!(
                "the document took longer than {} s to read",
                MAX_READ_TIME.as_secs()
            ));
        }
        let Some(item) = item.as_object() else {
            continue;
        };
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            let Some(op) = item.get(method) else { continue };
            if !include.selects(path, op) {
                continue;
            }
            let at = Located {
                path,
                method,
                operation: op,
                path_parameters: item.get("parameters"),
            };
            match operation::convert(document, flavour, at, &mut namer, prefix) {
                Ok(c) => {
                    produced += serde_json::to_vec(&c.tool).map_or(0, |b| b.len());
                    if produced > MAX_TOOLS_BYTES {
                        return Err(format!(
                            "the document's tools come to more than {} MiB of JSON (an integration holds at most 8): import a part of it with include",
                            MAX_TOOLS_BYTES / (1024 * 1024)
                        ));
                    }
                    tools.push((c.tool, c.warnings));
                }
                Err(reason) => skipped.push(Skipped {
                    operation: format!("{} {path}", method.to_ascii_uppercase()),
                    reason,
                }),
            }
        }
    }
    Ok(Read {
        tools,
        skipped,
        suggested_config: suggested_config(document),
    })
}

/// `baseUrl` from the first server (3.x) or scheme, host and base path (2.0); an auth
/// template from the first security scheme the config model can express.
fn suggested_config(document: &Value) -> Value {
    let base_url = document
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            let host = document.get("host")?.as_str()?;
            let scheme = document
                .pointer("/schemes/0")
                .and_then(Value::as_str)
                .unwrap_or("https");
            let base = document
                .get("basePath")
                .and_then(Value::as_str)
                .unwrap_or("");
            Some(format!("{scheme}://{host}{base}"))
        });
    let schemes = document
        .pointer("/components/securitySchemes")
        .or_else(|| document.get("securityDefinitions"))
        .and_then(Value::as_object);
    let auth = schemes.into_iter().flatten().find_map(|(_, s)| {
        match (s.get("type")?.as_str()?, s.get("scheme").and_then(Value::as_str)) {
            ("http", Some(scheme)) if scheme.eq_ignore_ascii_case("bearer") => {
                Some(json!({"type": "BEARER", "parameters": {"token": "<token>"}}))
            }
            ("http", Some(scheme)) if scheme.eq_ignore_ascii_case("basic") => Some(
                json!({"type": "BASIC", "parameters": {"username": "<username>", "password": "<password>"}}),
            ),
            ("basic", _) => Some(
                json!({"type": "BASIC", "parameters": {"username": "<username>", "password": "<password>"}}),
            ),
            ("apiKey", _) if s.get("in")? == "header" || s.get("in")? == "query" => Some(json!({
                "type": "API_KEY",
                "parameters": {"in": s.get("in")?, "name": s.get("name")?, "value": "<key>"}
            })),
            _ => None,
        }
    });
    let mut config = json!({});
    if let Some(url) = base_url {
        config["parameters"] = json!({"baseUrl": url});
    }
    if let Some(auth) = auth {
        config["auth"] = auth;
    }
    config
}

#[cfg(test)]
mod tests {
    use super::*;

    fn petstore() -> Value {
        json!({
            "openapi": "3.0.0",
            "servers": [{"url": "https://petstore.example.com/v1"}],
            "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
                "schemas": {"Pet": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}}}}},
            "paths": {
                "/pets": {
                    "get": {"operationId": "listPets", "tags": ["pets"], "parameters": [{"name": "limit", "in": "query", "schema": {"type": "integer"}}],
                            "responses": {"200": {"description": "ok"}}},
                    "post": {"operationId": "createPet", "tags": ["pets"], "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}},
                             "responses": {"201": {"description": "made"}}}
                },
                "/pets/{petId}": {
                    "get": {"operationId": "showPet", "tags": ["pets"], "parameters": [{"name": "petId", "in": "path", "required": true, "schema": {"type": "string"}}],
                            "responses": {"200": {"description": "ok", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}}}}}
                },
                "/stores/{storeId}/logo": {
                    "put": {"operationId": "putLogo", "tags": ["stores"], "parameters": [{"name": "storeId", "in": "path", "required": true, "type": "string"}],
                            "requestBody": {"content": {"image/png": {}}}, "responses": {}}
                }
            }
        })
    }

    #[test]
    fn a_document_reads_into_tools_skips_and_a_suggested_config() {
        let read = read(&petstore(), &Include::default(), "").expect("read");
        let ids: Vec<&str> = read
            .tools
            .iter()
            .map(|(t, _)| t["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids, ["listPets", "createPet", "showPet"]);
        assert_eq!(read.skipped.len(), 1);
        assert_eq!(read.skipped[0].operation, "PUT /stores/{storeId}/logo");
        assert_eq!(
            read.suggested_config,
            json!({"parameters": {"baseUrl": "https://petstore.example.com/v1"},
                   "auth": {"type": "BEARER", "parameters": {"token": "<token>"}}})
        );
        // The same document, the same result.
        assert_eq!(
            read,
            super::read(&petstore(), &Include::default(), "").expect("read")
        );
    }

    #[test]
    fn include_filters_by_tag_id_or_path_and_bad_documents_are_refused() {
        let only = Include {
            operation_ids: vec!["showPet".into()],
            ..Include::default()
        };
        let read = read(&petstore(), &only, "shop_").expect("read");
        assert_eq!(read.tools.len(), 1);
        assert_eq!(read.tools[0].0["id"], "shop_showPet");
        let stores = Include {
            tags: vec!["stores".into()],
            ..Include::default()
        };
        assert!(
            super::read(&petstore(), &stores, "")
                .expect("read")
                .tools
                .is_empty()
        );
        assert!(super::read(&json!({"info": {}}), &Include::default(), "").is_err());
        assert!(super::read(&json!({"openapi": "3.0.0"}), &Include::default(), "").is_err());
        let swagger = json!({"swagger": "2.0", "host": "api.example.com", "basePath": "/v2", "schemes": ["https"],
            "securityDefinitions": {"key": {"type": "apiKey", "in": "header", "name": "X-Key"}},
            "paths": {"/things": {"post": {"operationId": "make", "parameters": [
                {"name": "body", "in": "body", "schema": {"type": "object", "properties": {"n": {"type": "integer"}}}}
            ], "responses": {"200": {"description": "ok", "schema": {"type": "object"}}}}}}});
        let read = super::read(&swagger, &Include::default(), "").expect("read");
        assert_eq!(
            read.tools[0].0["inputSchema"]["properties"]["n"],
            json!({"type": "integer"})
        );
        assert_eq!(
            read.suggested_config["parameters"]["baseUrl"],
            "https://api.example.com/v2"
        );
        assert_eq!(read.suggested_config["auth"]["type"], "API_KEY");
    }
}

//! One OpenAPI operation as one tool (the rules `docs/openapi.md` will list):
//!
//! * **Id and text:** the id from `operationId` (or method and path, [`super::names`]); `title`
//!   from `summary`, `description` from `description` (else the summary, else `METHOD path`),
//!   trimmed to the tool limits, markdown kept.
//! * **Arguments:** path and query parameters (operation-level over path-level ones of the
//!   same name and place) and the properties of an `application/json` object request body (or
//!   Swagger 2.0's `in: body`) form one `inputSchema`; path parameters are required. A name
//!   used twice keeps its first use (parameters before body fields) and the other is left out
//!   with a warning. Header and cookie parameters are left out with a warning (the binding
//!   sends only fixed headers).
//! * **Binding:** method, the path with its `{placeholders}`, the query parameters; the body
//!   fields go as the JSON body.
//! * **Output:** the first 2xx `application/json` response schema that is an object becomes
//!   `outputSchema`; its example, if any, the simulation.
//! * **Annotations:** GET read-only, DELETE destructive, PUT idempotent.
//!
//! What cannot be a tool is skipped with the reason: an unsupported method, a non-JSON or
//! non-object body, a schema that does not resolve or compile.

use serde_json::{Map, Value, json};

use super::names::Namer;
use super::refs::{self, Limits};
use super::schema::{self, Flavour};

/// Longest title and description kept.
const MAX_TITLE: usize = 200;
const MAX_DESCRIPTION: usize = 4000;

/// An operation turned into a tool.
#[derive(Debug, Clone, PartialEq)]
pub struct Converted {
    /// The tool's JSON body (as `PUT .../tools/{id}` takes it).
    pub tool: Value,
    /// What was left out, and why.
    pub warnings: Vec<String>,
}

/// Where an operation is in its document.
#[derive(Debug, Clone, Copy)]
pub struct Located<'a> {
    /// The path template.
    pub path: &'a str,
    /// The method (lowercase, as the document's key).
    pub method: &'a str,
    /// The operation object.
    pub operation: &'a Value,
    /// The path item's own `parameters`.
    pub path_parameters: Option<&'a Value>,
}

fn trimmed(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Converts one operation.
///
/// # Errors
/// Why the operation cannot be a tool.
pub fn convert(
    doc: &Value,
    flavour: Flavour,
    at: Located<'_>,
    namer: &mut Namer,
    prefix: &str,
) -> Result<Converted, String> {
    let method = at.method.to_ascii_uppercase();
    if !matches!(method.as_str(), "GET" | "POST" | "PUT" | "PATCH" | "DELETE") {
        return Err(format!("the method {method} is not supported"));
    }
    let op = at.operation;
    let limits = Limits::default();
    let resolve = |v: &Value| refs::resolve(doc, v, limits).map_err(|e| e.to_string());
    let mut warnings = Vec::new();
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut query = Vec::new();

    // Parameters: the operation's override the path item's of the same name and place.
    let mut parameters: Vec<Value> = Vec::new();
    for list in [at.path_parameters, op.get("parameters")]
        .into_iter()
        .flatten()
    {
        for p in list.as_array().into_iter().flatten() {
            let p = resolve(p)?;
            let key = (p.get("name").cloned(), p.get("in").cloned());
            parameters.retain(|q| (q.get("name").cloned(), q.get("in").cloned()) != key);
            parameters.push(p);
        }
    }
    let mut body_schema = None;
    for p in &parameters {
        let (Some(name), Some(place)) = (
            p.get("name").and_then(Value::as_str),
            p.get("in").and_then(Value::as_str),
        ) else {
            return Err("a parameter without a name or a place".into());
        };
        if place == "body" {
            body_schema = p.get("schema").cloned();
            continue;
        }
        if !matches!(place, "path" | "query") {
            warnings.push(format!(
                "{place} parameter '{name}' is left out: only path and query parameters are sent"
            ));
            continue;
        }
        if properties.contains_key(name) {
            warnings.push(format!(
                "parameter '{name}' is declared twice; the first is kept"
            ));
            continue;
        }
        // Swagger 2.0 puts the schema keywords on the parameter itself.
        let mut property = match p.get("schema") {
            Some(s) => schema::translate(s, flavour),
            None => {
                let mut inline: Map<String, Value> = p
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(k, _)| {
                        !matches!(
                            k.as_str(),
                            "name" | "in" | "required" | "description" | "collectionFormat"
                        )
                    })
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                if inline.is_empty() {
                    inline.insert("type".into(), json!("string"));
                }
                schema::translate(&Value::Object(inline), flavour)
            }
        };
        if let (Some(description), Value::Object(m)) = (p.get("description"), &mut property) {
            m.entry("description")
                .or_insert_with(|| description.clone());
        }
        properties.insert(name.to_owned(), property);
        if place == "path" || p.get("required") == Some(&Value::Bool(true)) {
            required.push(json!(name));
        }
        if place == "query" {
            query.push(name.to_owned());
        }
    }

    // The request body (3.x): JSON only, an object only.
    if let Some(body) = op.get("requestBody") {
        let body = resolve(body)?;
        let content = body.get("content").and_then(Value::as_object);
        match content.and_then(|c| {
            c.iter().find(|(media, _)| {
                media.starts_with("application/json") || media.ends_with("+json")
            })
        }) {
            Some((_, media)) => body_schema = media.get("schema").cloned(),
            None => {
                let kinds: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
                return Err(format!("the request body is not JSON ({kinds:?})"));
            }
        }
    }
    if let Some(body) = body_schema {
        let body = schema::translate(&resolve(&body)?, flavour);
        let is_object =
            body.get("type") == Some(&json!("object")) || body.get("properties").is_some();
        if !is_object {
            return Err("the JSON request body is not an object".into());
        }
        for (name, property) in body
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            if properties.contains_key(name) {
                warnings.push(format!(
                    "body field '{name}' has the name of a parameter and is left out"
                ));
                continue;
            }
            properties.insert(name.clone(), property.clone());
        }
        for r in body
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if r.as_str().is_some_and(|n| properties.contains_key(n)) && !required.contains(r) {
                required.push(r.clone());
            }
        }
    }
    let mut input = Map::new();
    input.insert("type".into(), json!("object"));
    input.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        input.insert("required".into(), Value::Array(required));
    }

    // The first 2xx JSON object response.
    let mut output = None;
    let mut example = None;
    if let Some(responses) = op.get("responses").and_then(Value::as_object) {
        let mut codes: Vec<&String> = responses.keys().filter(|c| c.starts_with('2')).collect();
        codes.sort();
        if let Some(code) = codes.first() {
            let response = resolve(&responses[code.as_str()])?;
            let media = response
                .get("content")
                .and_then(Value::as_object)
                .and_then(|c| c.iter().find(|(m, _)| m.starts_with("application/json")))
                .map(|(_, m)| m.clone());
            // Swagger 2.0: the schema is on the response itself.
            let found = media
                .as_ref()
                .and_then(|m| m.get("schema"))
                .or(response.get("schema"));
            if let Some(s) = found {
                let s = schema::translate(&resolve(s)?, flavour);
                if s.get("type") == Some(&json!("object")) {
                    output = Some(s);
                }
            }
            example = media
                .as_ref()
                .and_then(|m| m.get("example").cloned())
                .or_else(|| {
                    response
                        .get("examples")
                        .and_then(|e| e.get("application/json"))
                        .cloned()
                });
        }
    }

    let summary = op
        .get("summary")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let described = op
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let description = if !described.trim().is_empty() {
        trimmed(described, MAX_DESCRIPTION)
    } else if !summary.trim().is_empty() {
        trimmed(summary, MAX_DESCRIPTION)
    } else {
        format!("{method} {}", at.path)
    };
    let id = namer.id(
        prefix,
        op.get("operationId").and_then(Value::as_str),
        &method,
        at.path,
    );
    let mut tool = json!({
        "id": id,
        "description": description,
        "inputSchema": input,
        "http": {"method": method, "path": at.path},
    });
    if !summary.trim().is_empty() {
        tool["title"] = json!(trimmed(summary, MAX_TITLE));
    }
    if !query.is_empty() {
        tool["http"]["query"] = json!(query);
    }
    if let Some(o) = output {
        tool["outputSchema"] = o;
    }
    if let Some(e) = example.filter(Value::is_object) {
        tool["simulation"] = json!({"response": e});
    }
    let hint = match method.as_str() {
        "GET" => Some(json!({"readOnlyHint": true})),
        "DELETE" => Some(json!({"destructiveHint": true})),
        "PUT" => Some(json!({"idempotentHint": true})),
        _ => None,
    };
    if let Some(h) = hint {
        tool["annotations"] = h;
    }
    // Whatever came out must be a valid tool.
    let def: mcpgw_shared::model::ToolDef =
        serde_json::from_value(tool.clone()).map_err(|e| format!("not a valid tool: {e}"))?;
    def.validate()
        .map_err(|e| format!("not a valid tool: {e}"))?;
    Ok(Converted { tool, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "openapi": "3.0.3",
            "paths": {
                "/users/{id}": {
                    "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                    "get": {
                        "operationId": "getUser",
                        "summary": "Get a user",
                        "parameters": [
                            {"name": "expand", "in": "query", "schema": {"type": "boolean"}, "description": "with details"},
                            {"name": "X-Trace", "in": "header", "schema": {"type": "string"}}
                        ],
                        "responses": {"200": {"description": "ok", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/User"},
                            "example": {"id": "u1", "name": "Ada"}
                        }}}}
                    },
                    "put": {
                        "operationId": "putUser",
                        "requestBody": {"required": true, "content": {"application/json": {"schema": {
                            "allOf": [{"$ref": "#/components/schemas/User"}, {"properties": {"note": {"type": "string", "nullable": true}}}]
                        }}}},
                        "responses": {"204": {"description": "done"}}
                    },
                    "delete": {"responses": {"204": {"description": "gone"}}},
                    "options": {"responses": {"200": {"description": "x"}}}
                },
                "/upload": {"post": {"operationId": "upload", "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}}, "responses": {}}}
            },
            "components": {"schemas": {"User": {"type": "object", "required": ["name"], "properties": {
                "id": {"type": "string"}, "name": {"type": "string"}
            }}}}
        })
    }

    fn at<'a>(doc: &'a Value, path: &'a str, method: &'a str) -> Located<'a> {
        Located {
            path,
            method,
            operation: &doc["paths"][path][method],
            path_parameters: doc["paths"][path].get("parameters"),
        }
    }

    #[test]
    fn a_get_becomes_a_read_only_tool_with_path_and_query_arguments() {
        let d = doc();
        let mut namer = Namer::default();
        let c = convert(
            &d,
            Flavour::OpenApi30,
            at(&d, "/users/{id}", "get"),
            &mut namer,
            "",
        )
        .expect("converted");
        let t = &c.tool;
        assert_eq!(t["id"], "getUser");
        assert_eq!(t["title"], "Get a user");
        assert_eq!(
            t["http"],
            json!({"method": "GET", "path": "/users/{id}", "query": ["expand"]})
        );
        assert_eq!(t["inputSchema"]["required"], json!(["id"]));
        assert_eq!(
            t["inputSchema"]["properties"]["expand"],
            json!({"type": "boolean", "description": "with details"})
        );
        assert_eq!(
            t["outputSchema"]["properties"]["name"],
            json!({"type": "string"})
        );
        assert_eq!(
            t["simulation"],
            json!({"response": {"id": "u1", "name": "Ada"}})
        );
        assert_eq!(t["annotations"], json!({"readOnlyHint": true}));
        assert_eq!(
            c.warnings.len(),
            1,
            "the header parameter: {:?}",
            c.warnings
        );
    }

    #[test]
    fn a_put_merges_its_body_and_a_delete_is_destructive() {
        let d = doc();
        let mut namer = Namer::default();
        let put = convert(
            &d,
            Flavour::OpenApi30,
            at(&d, "/users/{id}", "put"),
            &mut namer,
            "",
        )
        .expect("converted");
        let p = &put.tool["inputSchema"]["properties"];
        assert_eq!(p["note"]["type"], json!(["string", "null"]));
        assert_eq!(p["name"], json!({"type": "string"}));
        // `id` is the path parameter; the body's `id` is left out with a warning.
        assert_eq!(put.tool["inputSchema"]["required"], json!(["id", "name"]));
        assert_eq!(put.warnings.len(), 1, "{:?}", put.warnings);
        assert_eq!(put.tool["annotations"], json!({"idempotentHint": true}));
        let delete = convert(
            &d,
            Flavour::OpenApi30,
            at(&d, "/users/{id}", "delete"),
            &mut namer,
            "api_",
        )
        .expect("converted");
        assert_eq!(delete.tool["id"], "api_delete_users_id");
        assert_eq!(delete.tool["description"], "DELETE /users/{id}");
        assert_eq!(delete.tool["annotations"], json!({"destructiveHint": true}));
    }

    #[test]
    fn what_cannot_be_a_tool_says_why() {
        let d = doc();
        let mut namer = Namer::default();
        let options = convert(
            &d,
            Flavour::OpenApi30,
            at(&d, "/users/{id}", "options"),
            &mut namer,
            "",
        );
        assert!(options.unwrap_err().contains("OPTIONS"));
        let upload = convert(
            &d,
            Flavour::OpenApi30,
            at(&d, "/upload", "post"),
            &mut namer,
            "",
        );
        assert!(upload.unwrap_err().contains("not JSON"));
    }
}

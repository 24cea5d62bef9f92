//! One OpenAPI operation as one tool (the rules `docs/openapi.md` will list):
//!
//! * **Id and text:** the id from `operationId` (or method and path, [`super::names`]); `title`
//!   from `summary`, `description` from `description` (else the summary, else `METHOD path`),
//!   trimmed to the tool limits, markdown kept.
//! * **Arguments:** path, query and header parameters (operation-level over path-level ones
//!   of the same name and place) and the properties of an object request body —
//!   `application/json` (or `+json`), else `application/x-www-form-urlencoded`; Swagger 2.0's
//!   `in: body` or `in: formData` — form one `inputSchema`; path parameters are required. A
//!   name used twice keeps its first use (parameters before body fields) and the other is
//!   left out with a warning. `Accept`, `Content-Type` and `Authorization` header parameters
//!   are ignored (as OpenAPI says); headers the gateway sets itself and cookie parameters are
//!   left out with a warning.
//! * **Binding:** method, the path with its `{placeholders}`, the query parameters, header
//!   parameters as `headerArgs`; the body fields go as the JSON or form body, and an
//!   operation without a body sends none.
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

/// The header names of the document's API-key security schemes (3.x and Swagger 2.0).
fn api_key_headers(doc: &Value) -> Vec<&str> {
    [
        doc.pointer("/components/securitySchemes"),
        doc.get("securityDefinitions"),
    ]
    .into_iter()
    .flatten()
    .filter_map(Value::as_object)
    .flat_map(|schemes| schemes.values())
    .filter(|s| s.get("type").and_then(Value::as_str) == Some("apiKey"))
    .filter(|s| s.get("in").and_then(Value::as_str) == Some("header"))
    .filter_map(|s| s.get("name").and_then(Value::as_str))
    .collect()
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
    // A fragment is never sent: AWS documents tell operations on one path apart with one
    // (`/#X-Amz-Target=...`), and declare what it means as a parameter too.
    let path = at.path.split('#').next().unwrap_or_default();
    let path = if path.is_empty() { "/" } else { path };
    let limits = Limits::default();
    let cut = std::cell::Cell::new(false);
    let resolve = |v: &Value| {
        let r = refs::resolve(doc, v, limits).map_err(|e| e.to_string())?;
        if r.cut {
            cut.set(true);
        }
        Ok::<_, String>(r.value)
    };
    let mut warnings = Vec::new();
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut query = Vec::new();
    let mut header_args = Map::new();
    let mut form_fields: Vec<&Value> = Vec::new();
    let key_headers = api_key_headers(doc);

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
        if place == "formData" {
            if p.get("type").and_then(Value::as_str) == Some("file") {
                return Err(format!("form field '{name}' is a file upload"));
            }
            form_fields.push(p);
            continue;
        }
        // As OpenAPI says, and the same for a header an API-key security scheme names:
        // credentials come from the config, never from the model.
        if place == "header"
            && (["accept", "content-type", "authorization"]
                .contains(&name.to_ascii_lowercase().as_str())
                || key_headers.iter().any(|h| h.eq_ignore_ascii_case(name)))
        {
            continue;
        }
        if place == "header" && !mcpgw_shared::model::HttpBinding::may_take_header_arg(name) {
            warnings.push(if http::HeaderName::from_bytes(name.as_bytes()).is_ok() {
                format!(
                    "header parameter '{name}' is left out: an argument may not set that header"
                )
            } else {
                format!("header parameter '{name}' is left out: not a valid header name")
            });
            continue;
        }
        if !matches!(place, "path" | "query" | "header") {
            warnings.push(format!(
                "{place} parameter '{name}' is left out: only path, query and header parameters are sent"
            ));
            continue;
        }
        if place == "header"
            && header_args
                .keys()
                .any(|h: &String| h.eq_ignore_ascii_case(name))
        {
            warnings.push(format!(
                "header parameter '{name}' is declared twice; the first is kept"
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
        if let Value::Object(m) = &mut property {
            if let Some(description) = p.get("description") {
                m.entry("description")
                    .or_insert_with(|| description.clone());
            }
            // OpenAPI 3 puts a parameter's example beside its schema.
            if let Some(example) = p.get("example") {
                m.entry("examples")
                    .or_insert_with(|| json!([example.clone()]));
            }
        }
        properties.insert(name.to_owned(), property);
        if place == "path" || p.get("required") == Some(&Value::Bool(true)) {
            required.push(json!(name));
        }
        if place == "query" {
            query.push(name.to_owned());
        }
        if place == "header" {
            header_args.insert(name.to_owned(), json!(name));
        }
    }
    // Swagger 2.0 form fields: one object schema, sent as a form.
    let mut form = false;
    if !form_fields.is_empty() && body_schema.is_none() {
        let mut props = Map::new();
        let mut req = Vec::new();
        for p in form_fields {
            let name = p.get("name").and_then(Value::as_str).unwrap_or_default();
            let inline: Map<String, Value> = p
                .as_object()
                .into_iter()
                .flatten()
                .filter(|(k, _)| {
                    !matches!(k.as_str(), "name" | "in" | "required" | "collectionFormat")
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            props.insert(
                name.to_owned(),
                schema::translate(&Value::Object(inline), flavour),
            );
            if p.get("required") == Some(&Value::Bool(true)) {
                req.push(json!(name));
            }
        }
        body_schema = Some(json!({"type": "object", "properties": props, "required": req}));
        form = true;
    }

    // The request body (3.x): JSON, else a URL-encoded form; an object either way.
    if let Some(body) = op.get("requestBody") {
        let body = resolve(body)?;
        let content = body.get("content").and_then(Value::as_object);
        let json_media = content.and_then(|c| {
            c.iter().find(|(media, _)| {
                media.starts_with("application/json") || media.ends_with("+json")
            })
        });
        let form_media = content.and_then(|c| {
            c.iter()
                .find(|(media, _)| media.starts_with("application/x-www-form-urlencoded"))
        });
        match (json_media, form_media) {
            (Some((_, media)), _) => body_schema = media.get("schema").cloned(),
            (None, Some((_, media))) => {
                body_schema = media.get("schema").cloned();
                form = true;
            }
            (None, None) => {
                let kinds: Vec<&String> = content.map(|c| c.keys().collect()).unwrap_or_default();
                return Err(format!(
                    "the request body is neither JSON nor a URL-encoded form ({kinds:?})"
                ));
            }
        }
        // A body with no schema is an empty object.
        if body_schema.is_none() {
            body_schema = Some(json!({"type": "object"}));
        }
    }
    let has_body = body_schema.is_some();
    if let Some(body) = body_schema {
        let body = schema::translate(&resolve(&body)?, flavour);
        let is_object =
            body.get("type") == Some(&json!("object")) || body.get("properties").is_some();
        if !is_object {
            return Err(format!(
                "the {} request body is not an object",
                if form { "form" } else { "JSON" }
            ));
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
    let mut input = Value::Object(input);
    warnings.extend(schema::sanitize(&mut input));

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
                let mut s = schema::translate(&resolve(s)?, flavour);
                if s.get("type") == Some(&json!("object")) {
                    warnings.extend(
                        schema::sanitize(&mut s)
                            .into_iter()
                            .map(|n| format!("outputSchema: {n}")),
                    );
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
        "http": {"method": method, "path": path},
    });
    if !summary.trim().is_empty() {
        tool["title"] = json!(trimmed(summary, MAX_TITLE));
    }
    if !query.is_empty() {
        tool["http"]["query"] = json!(query);
    }
    if !header_args.is_empty() {
        tool["http"]["headerArgs"] = Value::Object(header_args);
    }
    // Say what the body is whenever the method's default would be wrong.
    let default_json = matches!(method.as_str(), "POST" | "PUT" | "PATCH");
    let body_mode = match (has_body, form) {
        (true, true) => Some("form"),
        (true, false) if !default_json => Some("json"),
        (false, _) if default_json => Some("none"),
        _ => None,
    };
    if let Some(mode) = body_mode {
        tool["http"]["body"] = json!(mode);
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
    if cut.get() {
        warnings.push(
            "a schema was too large to expand in full: its deepest references are left as {}"
                .to_owned(),
        );
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
            json!({"method": "GET", "path": "/users/{id}", "query": ["expand"],
                   "headerArgs": {"X-Trace": "X-Trace"}})
        );
        assert_eq!(
            t["inputSchema"]["properties"]["X-Trace"],
            json!({"type": "string"})
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
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
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
        assert!(
            upload
                .unwrap_err()
                .contains("neither JSON nor a URL-encoded form")
        );
    }

    fn convert_one(d: &Value, path: &str, method: &str, flavour: Flavour) -> Converted {
        convert(d, flavour, at(d, path, method), &mut Namer::default(), "").expect("converted")
    }

    #[test]
    fn form_bodies_and_header_parameters_are_sent_as_such() {
        let d = json!({
            "openapi": "3.1.0",
            "components": {"securitySchemes": {"key": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}},
            "paths": {
                "/charges": {"post": {
                    "operationId": "charge",
                    "parameters": [
                        {"name": "Idempotency-Key", "in": "header", "required": true, "schema": {"type": "string"}},
                        {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                        {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                        {"name": "Host", "in": "header", "schema": {"type": "string"}},
                        {"name": "X-Api-Key", "in": "header", "required": true, "schema": {"type": "string"}},
                        {"name": "session", "in": "cookie", "schema": {"type": "string"}}
                    ],
                    "requestBody": {"content": {"application/x-www-form-urlencoded": {"schema": {
                        "type": "object", "required": ["amount"],
                        "properties": {"amount": {"type": "integer"}, "currency": {"type": "string", "enum": ["eur", "usd"]}}
                    }}}},
                    "responses": {"200": {"description": "ok"}}
                }},
                "/ping": {"post": {"operationId": "ping", "responses": {"204": {"description": "ok"}}}},
                "/search": {"delete": {"operationId": "purge",
                    "requestBody": {"content": {"application/json": {"schema": {"type": "object", "properties": {"ids": {"type": "array"}}}}}},
                    "responses": {"204": {"description": "ok"}}}}
            }
        });
        let c = convert_one(&d, "/charges", "post", Flavour::OpenApi31);
        assert_eq!(
            c.tool["http"],
            json!({"method": "POST", "path": "/charges", "body": "form",
                   "headerArgs": {"Idempotency-Key": "Idempotency-Key"}})
        );
        assert_eq!(
            c.tool["inputSchema"]["required"],
            json!(["Idempotency-Key", "amount"])
        );
        assert_eq!(
            c.tool["inputSchema"]["properties"]["currency"]["enum"],
            json!(["eur", "usd"]),
            "enums are kept"
        );
        // Accept and Authorization are ignored as OpenAPI says; Host and the cookie are not
        // the caller's to send, and say so.
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].contains("'Host'"), "{:?}", c.warnings);
        assert!(c.warnings[1].contains("cookie"), "{:?}", c.warnings);

        // No body declared: none is sent. A DELETE with a JSON body says so.
        let ping = convert_one(&d, "/ping", "post", Flavour::OpenApi31);
        assert_eq!(ping.tool["http"]["body"], "none");
        let purge = convert_one(&d, "/search", "delete", Flavour::OpenApi31);
        assert_eq!(purge.tool["http"]["body"], "json");
    }

    #[test]
    fn long_text_is_trimmed_and_markdown_kept() {
        let long = format!("**Bold** intro.\n\n- a list\n\n{}", "word ".repeat(2000));
        let d = json!({
            "openapi": "3.0.3",
            "paths": {"/x": {"get": {
                "operationId": "x", "summary": "s".repeat(300), "description": long,
                "responses": {"200": {"description": "ok"}}
            }}}
        });
        let c = convert_one(&d, "/x", "get", Flavour::OpenApi30);
        let title = c.tool["title"].as_str().expect("title");
        assert_eq!(title.chars().count(), MAX_TITLE);
        assert!(title.ends_with('…'));
        let description = c.tool["description"].as_str().expect("description");
        assert_eq!(description.chars().count(), MAX_DESCRIPTION);
        assert!(description.starts_with("**Bold** intro.\n\n- a list"));
    }

    #[test]
    fn a_fragment_in_the_path_is_not_sent_and_parameter_examples_are_kept() {
        let d = json!({
            "openapi": "3.0.0",
            "paths": {"/#X-Amz-Target=Hub.Associate": {"post": {
                "operationId": "Associate",
                "parameters": [
                    {"name": "X-Amz-Target", "in": "header", "required": true,
                     "schema": {"type": "string", "enum": ["Hub.Associate"]}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}, "example": 10}
                ],
                "requestBody": {"content": {"application/json": {"schema": {"type": "object",
                    "properties": {"Name": {"type": "string", "pattern": "[^/:|\\000-\\037]+"}}}}}},
                "responses": {"200": {"description": "ok"}}
            }}}
        });
        let c = convert_one(
            &d,
            "/#X-Amz-Target=Hub.Associate",
            "post",
            Flavour::OpenApi30,
        );
        assert_eq!(c.tool["http"]["path"], "/");
        assert_eq!(
            c.tool["http"]["headerArgs"],
            json!({"X-Amz-Target": "X-Amz-Target"})
        );
        let p = &c.tool["inputSchema"]["properties"];
        assert_eq!(p["limit"]["examples"], json!([10]));
        assert_eq!(p["Name"]["pattern"], "[^/:|\\x{00}-\\x{1f}]+");
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    }

    #[test]
    fn swagger_form_fields_are_a_form_body_and_files_cannot_be_arguments() {
        let d = json!({
            "swagger": "2.0",
            "paths": {
                "/pets": {"post": {
                    "operationId": "addPet",
                    "consumes": ["application/x-www-form-urlencoded"],
                    "parameters": [
                        {"name": "name", "in": "formData", "required": true, "type": "string"},
                        {"name": "age", "in": "formData", "type": "integer", "minimum": 0}
                    ],
                    "responses": {"200": {"description": "ok"}}
                }},
                "/photos": {"post": {
                    "parameters": [{"name": "file", "in": "formData", "type": "file"}],
                    "responses": {"200": {"description": "ok"}}
                }}
            }
        });
        let c = convert_one(&d, "/pets", "post", Flavour::OpenApi30);
        assert_eq!(c.tool["http"]["body"], "form");
        assert_eq!(c.tool["inputSchema"]["required"], json!(["name"]));
        assert_eq!(
            c.tool["inputSchema"]["properties"]["age"],
            json!({"type": "integer", "minimum": 0})
        );
        let photo = convert(
            &d,
            Flavour::OpenApi30,
            at(&d, "/photos", "post"),
            &mut Namer::default(),
            "",
        );
        assert!(photo.unwrap_err().contains("file upload"));
    }
}

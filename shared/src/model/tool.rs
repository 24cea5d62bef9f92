use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::FieldError;
use crate::ids::is_valid_id;

/// A tool: its MCP face (`id` is the tool name) and its REST binding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ToolDef {
    /// The MCP tool name, unique in the integration.
    pub id: String,
    /// A human-readable name (shown by clients that speak 2025-06-18 or later).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the model.
    pub description: String,
    /// JSON Schema of the arguments (`type: "object"`).
    pub input_schema: Map<String, Value>,
    /// JSON Schema of the structured result, if the tool has one (`type: "object"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Map<String, Value>>,
    /// MCP tool annotations (`readOnlyHint`, `destructiveHint`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Map<String, Value>>,
    /// How a call becomes an upstream HTTP request.
    pub http: HttpBinding,
    /// What the sandbox answers instead of calling the upstream (boxed: most tools have none,
    /// and a data plane holds every tool's definition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<Box<Simulation>>,
    /// Total timeout of the upstream call, overriding the data plane's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

/// HTTP methods a tool may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET
    Get,
    /// POST
    Post,
    /// PUT
    Put,
    /// PATCH
    Patch,
    /// DELETE
    Delete,
}

impl HttpMethod {
    /// The method's name on the wire.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
        }
    }
}

/// What the arguments left over after path, query and headers become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BodyMode {
    /// The remaining arguments as a JSON object.
    Json,
    /// The remaining arguments as `application/x-www-form-urlencoded` fields (arrays repeat
    /// the field, objects are sent as their JSON text).
    Form,
    /// No body.
    None,
}

/// The REST side of a tool.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpBinding {
    /// The method.
    pub method: HttpMethod,
    /// The path under the config's `baseUrl`, with `{argName}` placeholders.
    pub path: String,
    /// Arguments sent as query parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query: Vec<String>,
    /// Fixed headers sent with every call.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Arguments sent as request headers: header name → argument name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub header_args: BTreeMap<String, String>,
    /// Body mode; absent = `json` for POST/PUT/PATCH, `none` otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BodyMode>,
}

impl HttpBinding {
    /// The body mode in force, defaults applied.
    #[must_use]
    pub fn body_mode(&self) -> BodyMode {
        self.body.unwrap_or(match self.method {
            HttpMethod::Post | HttpMethod::Put | HttpMethod::Patch => BodyMode::Json,
            HttpMethod::Get | HttpMethod::Delete => BodyMode::None,
        })
    }

    /// Whether an argument may be sent as the header `name` (not a routing, framing,
    /// hop-by-hop or credential header, and a valid name).
    #[must_use]
    pub fn may_take_header_arg(name: &str) -> bool {
        http::HeaderName::from_bytes(name.as_bytes()).is_ok_and(|h| {
            !RESERVED_HEADERS.contains(&h.as_str()) && !CREDENTIAL_HEADERS.contains(&h.as_str())
        })
    }

    /// The path split into literal text and placeholder names, in order.
    #[must_use]
    pub fn path_segments(&self) -> Vec<PathPart<'_>> {
        let mut parts = Vec::new();
        let mut rest = self.path.as_str();
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(PathPart::Literal(&rest[..open]));
            }
            let Some(close) = rest[open..].find('}') else {
                parts.push(PathPart::Literal(&rest[open..]));
                return parts;
            };
            parts.push(PathPart::Placeholder(&rest[open + 1..open + close]));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(PathPart::Literal(rest));
        }
        parts
    }
}

/// A piece of a tool's path template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathPart<'a> {
    /// Text copied as is.
    Literal(&'a str),
    /// An argument name, filled in percent-encoded.
    Placeholder(&'a str),
}

/// What the sandbox answers for a tool.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Simulation {
    /// A JSON value, mapped like an upstream JSON response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<Value>,
    /// MCP content blocks returned verbatim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<Vec<Value>>,
    /// Whether the result is an error result.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_error: bool,
    /// Simulated latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<u64>,
}

/// The longest simulated latency.
pub const MAX_SIMULATED_LATENCY_MS: u64 = 60_000;
/// The longest per-tool timeout.
pub const MAX_TIMEOUT_MS: u64 = 300_000;
const CONTENT_TYPES: [&str; 5] = ["text", "image", "audio", "resource", "resource_link"];

impl ToolDef {
    /// Checks every rule of a tool definition, compiling its schemas: nothing malformed
    /// reaches the store.
    ///
    /// # Errors
    /// The first [`FieldError`] found.
    pub fn validate(&self) -> Result<(), FieldError> {
        self.check(true)
    }

    /// Every rule of [`ToolDef::validate`] but compiling the schemas (they must still be
    /// objects of `"type": "object"`): what a data plane checks of a definition the control
    /// plane validated in full when it was written — compiling 100,000 schemas at every full
    /// sync cost seconds. The data plane checks the schemas against the meta-schema instead,
    /// and compiles an `inputSchema` on its tool's first call.
    ///
    /// # Errors
    /// The first [`FieldError`] found.
    pub fn validate_shape(&self) -> Result<(), FieldError> {
        self.check(false)
    }

    fn check(&self, compile: bool) -> Result<(), FieldError> {
        if !is_valid_id(&self.id) {
            return Err(FieldError::new("id", "must match [A-Za-z0-9_-]{1,64}"));
        }
        if self.description.trim().is_empty() {
            return Err(FieldError::new("description", "must not be empty"));
        }
        require_object_type("inputSchema", &self.input_schema)?;
        if compile {
            compile_schema("inputSchema", &self.input_schema)?;
        }
        if let Some(schema) = &self.output_schema {
            require_object_type("outputSchema", schema)?;
            if compile {
                compile_schema("outputSchema", schema)?;
            }
        }
        self.validate_http().map_err(|e| e.under("http"))?;
        if let Some(sim) = &self.simulation {
            sim.validate().map_err(|e| e.under("simulation"))?;
        }
        if let Some(t) = self.timeout_ms
            && !(1..=MAX_TIMEOUT_MS).contains(&t)
        {
            return Err(FieldError::new("timeoutMs", "must be between 1 and 300000"));
        }
        Ok(())
    }

    /// The names declared in `inputSchema.properties`.
    fn property_names(&self) -> impl Iterator<Item = &str> {
        self.input_schema
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|p| p.keys().map(String::as_str))
    }

    fn is_required(&self, name: &str) -> bool {
        self.input_schema
            .get("required")
            .and_then(Value::as_array)
            .is_some_and(|r| r.iter().any(|v| v.as_str() == Some(name)))
    }

    fn validate_http(&self) -> Result<(), FieldError> {
        let http = &self.http;
        if !http.path.starts_with('/') {
            return Err(FieldError::new("path", "must start with '/'"));
        }
        // Whole segments of the template: `/{id}.{format}` has a literal `.` but no `.`
        // segment (placeholders are filled percent-encoded, so they never make one).
        if http.path.split('/').any(|s| s == "." || s == "..") {
            return Err(FieldError::new(
                "path",
                "must not hold '.' or '..' segments",
            ));
        }
        let declared = |name: &str| self.property_names().any(|p| p == name);
        for part in http.path_segments() {
            match part {
                PathPart::Literal(text) => {
                    if text.contains('}') || !text.bytes().all(is_path_char) {
                        return Err(FieldError::new(
                            "path",
                            "may hold only URL path characters and {argName} placeholders",
                        ));
                    }
                }
                PathPart::Placeholder(name) => {
                    if !declared(name) || !self.is_required(name) {
                        return Err(FieldError::new(
                            "path",
                            format!(
                                "placeholder {{{name}}} must be a required property of inputSchema"
                            ),
                        ));
                    }
                }
            }
        }
        for name in &http.query {
            if !declared(name) {
                return Err(FieldError::new(
                    "query",
                    format!("'{name}' is not a property of inputSchema"),
                ));
            }
        }
        let in_path = |arg: &str| http.path_segments().contains(&PathPart::Placeholder(arg));
        for (name, arg) in &http.header_args {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(FieldError::new(
                    "headerArgs",
                    format!("'{name}' is not a valid header"),
                ));
            }
            if !HttpBinding::may_take_header_arg(name) {
                return Err(FieldError::new(
                    "headerArgs",
                    format!(
                        "'{name}' is set by the gateway (routing, framing, hop-by-hop and credential headers cannot come from arguments)"
                    ),
                ));
            }
            if http.headers.keys().any(|h| h.eq_ignore_ascii_case(name)) {
                return Err(FieldError::new(
                    "headerArgs",
                    format!("'{name}' is also a fixed header"),
                ));
            }
            if !declared(arg) {
                return Err(FieldError::new(
                    "headerArgs",
                    format!("'{arg}' is not a property of inputSchema"),
                ));
            }
            if in_path(arg) || http.query.contains(arg) {
                return Err(FieldError::new(
                    "headerArgs",
                    format!("'{arg}' is already sent in the path or query"),
                ));
            }
        }
        if http.header_args.len()
            != http
                .header_args
                .keys()
                .map(|k| k.to_ascii_lowercase())
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        {
            return Err(FieldError::new(
                "headerArgs",
                "names a header twice (header names are case-insensitive)",
            ));
        }
        for (name, value) in &http.headers {
            let Ok(parsed) = http::HeaderName::from_bytes(name.as_bytes()) else {
                return Err(FieldError::new(
                    "headers",
                    format!("'{name}' is not a valid header"),
                ));
            };
            if http::HeaderValue::from_str(value).is_err() {
                return Err(FieldError::new(
                    "headers",
                    format!("'{name}' is not a valid header"),
                ));
            }
            if RESERVED_HEADERS.contains(&parsed.as_str()) {
                return Err(FieldError::new(
                    "headers",
                    format!(
                        "'{name}' is set by the gateway (routing, framing and hop-by-hop headers cannot be fixed by a tool)"
                    ),
                ));
            }
        }
        Ok(())
    }
}

impl Simulation {
    fn validate(&self) -> Result<(), FieldError> {
        if self.response.is_some() && self.content.is_some() {
            return Err(FieldError::new(
                "",
                "set either response or content, not both",
            ));
        }
        for (i, block) in self.content.iter().flatten().enumerate() {
            let kind = block.get("type").and_then(Value::as_str);
            if !kind.is_some_and(|k| CONTENT_TYPES.contains(&k)) {
                return Err(FieldError::new(
                    format!("content[{i}].type"),
                    "must be one of text, image, audio, resource, resource_link",
                ));
            }
        }
        if self
            .latency_ms
            .is_some_and(|l| l > MAX_SIMULATED_LATENCY_MS)
        {
            return Err(FieldError::new("latencyMs", "must be at most 60000"));
        }
        Ok(())
    }
}

/// Headers a tool may not fix: where the request goes (`host`), how its body is framed, and
/// hop-by-hop headers. A tool setting them could smuggle a second request past the upstream
/// or route the call to another virtual host.
const RESERVED_HEADERS: [&str; 11] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
    "expect",
];

/// Headers an argument may not set: those that carry the upstream credentials, and those
/// common frameworks and proxies read to change a request's method, path or origin (an
/// argument could otherwise reroute the call past its binding).
const CREDENTIAL_HEADERS: [&str; 12] = [
    "authorization",
    "cookie",
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-forwarded-prefix",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
];

/// RFC 3986 `pchar` plus `/`, without `%` (literal text is not pre-encoded).
fn is_path_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b)
}

fn require_object_type(field: &str, schema: &Map<String, Value>) -> Result<(), FieldError> {
    if schema.get("type").and_then(Value::as_str) != Some("object") {
        return Err(FieldError::new(
            field,
            "must be a JSON Schema with \"type\": \"object\"",
        ));
    }
    Ok(())
}

fn compile_schema(field: &str, schema: &Map<String, Value>) -> Result<(), FieldError> {
    let value = Value::Object(schema.clone());
    crate::schema::compile(&value)
        .map(drop)
        .map_err(|e| FieldError::new(field, format!("is not a valid JSON Schema: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_shape_check_skips_only_compiling_the_schemas() {
        let t: ToolDef = serde_json::from_value(json!({
            "id": "t", "description": "d",
            "inputSchema": {"type": "object", "properties": {"x": {"type": 12}}},
            "http": {"method": "GET", "path": "/x"}
        }))
        .expect("tool");
        assert_eq!(t.validate().map_err(|e| e.field), Err("inputSchema".into()));
        assert!(t.validate_shape().is_ok());
        let not_object = ToolDef {
            input_schema: json!({"type": "string"}).as_object().cloned().expect("obj"),
            ..t
        };
        assert_eq!(
            not_object.validate_shape().map_err(|e| e.field),
            Err("inputSchema".into())
        );
    }

    fn tool(v: Value) -> Result<ToolDef, String> {
        let t: ToolDef = serde_json::from_value(v).map_err(|e| e.to_string())?;
        t.validate().map_err(|e| e.to_string())?;
        Ok(t)
    }

    fn base() -> Value {
        json!({
            "id": "get_user",
            "description": "Fetch a user",
            "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}, "q": {"type": "string"}}, "required": ["id"]},
            "http": {"method": "GET", "path": "/users/{id}", "query": ["q"]}
        })
    }

    #[test]
    fn a_dot_between_placeholders_is_not_a_dot_segment() {
        let mut v = base();
        v["inputSchema"]["properties"]["fmt"] = json!({"type": "string"});
        v["inputSchema"]["required"] = json!(["id", "fmt"]);
        v["http"]["path"] = json!("/users/{id}.{fmt}");
        assert!(tool(v).is_ok());
    }

    #[test]
    fn accepts_a_good_tool() {
        let t = tool(base()).expect("valid");
        assert_eq!(
            t.http.path_segments(),
            vec![PathPart::Literal("/users/"), PathPart::Placeholder("id")]
        );
        assert_eq!(t.http.body_mode(), BodyMode::None);
    }

    #[test]
    fn names_the_bad_field() {
        let cases = [
            ("/description", json!(""), "description"),
            ("/inputSchema", json!({"type": "string"}), "inputSchema"),
            (
                "/inputSchema",
                json!({"type": "object", "properties": 3}),
                "inputSchema",
            ),
            ("/http/path", json!("users"), "http.path"),
            ("/http/path", json!("/users/{nope}"), "http.path"),
            ("/http/path", json!("/a/../b"), "http.path"),
            ("/http/path", json!("/users/{id}/.."), "http.path"),
            ("/http/path", json!("/a?x=1"), "http.path"),
            ("/http/query", json!(["zzz"]), "http.query"),
            ("/id", json!("bad id"), "id"),
        ];
        for (ptr, value, field) in cases {
            let mut v = base();
            *v.pointer_mut(ptr).expect("ptr") = value;
            let err = tool(v).expect_err(ptr);
            assert!(err.starts_with(field), "{ptr}: {err}");
        }
    }

    #[test]
    fn rejects_routing_framing_and_hop_by_hop_headers() {
        for name in [
            "Host",
            "content-length",
            "Transfer-Encoding",
            "Connection",
            "TE",
            "Upgrade",
        ] {
            let mut v = base();
            v["http"]["headers"] = json!({name: "x"});
            let err = tool(v).expect_err(name);
            assert!(err.starts_with("http.headers"), "{name}: {err}");
        }
        let mut v = base();
        v["http"]["headers"] = json!({"X-Api-Version": "2", "Accept-Language": "en"});
        assert!(tool(v).is_ok());
    }

    #[test]
    fn header_arguments_follow_their_rules() {
        let with = |header_args: Value| {
            let mut v = base();
            v["inputSchema"]["properties"]["trace"] = json!({"type": "string"});
            v["http"]["headerArgs"] = header_args;
            tool(v)
        };
        assert!(with(json!({"X-Request-Id": "trace"})).is_ok());
        for (bad, why) in [
            (json!({"Authorization": "trace"}), "credential"),
            (json!({"Host": "trace"}), "routing"),
            (
                json!({"X-HTTP-Method-Override": "trace"}),
                "method override",
            ),
            (json!({"X-Original-URL": "trace"}), "path override"),
            (json!({"X-A": "nope"}), "undeclared"),
            (json!({"X-A": "id"}), "already in the path"),
            (json!({"X-A": "q"}), "already in the query"),
            (json!({"X-A": "trace", "x-a": "trace"}), "twice"),
            (json!({"bad header": "trace"}), "invalid name"),
        ] {
            let err = with(bad).expect_err(why);
            assert!(err.starts_with("http.headerArgs"), "{why}: {err}");
        }
        let mut v = base();
        v["http"]["headers"] = json!({"X-A": "1"});
        v["inputSchema"]["properties"]["trace"] = json!({"type": "string"});
        v["http"]["headerArgs"] = json!({"x-a": "trace"});
        assert!(
            tool(v).is_err(),
            "a fixed header cannot also be an argument"
        );
    }

    #[test]
    fn rejects_unknown_fields_and_bad_simulations() {
        let mut v = base();
        v["bogus"] = json!(1);
        assert!(tool(v).is_err());
        let mut v = base();
        v["simulation"] = json!({"response": {}, "content": []});
        assert!(tool(v).is_err());
        let mut v = base();
        v["simulation"] = json!({"content": [{"type": "video"}]});
        assert!(tool(v).unwrap_err().contains("simulation.content[0].type"));
    }
}

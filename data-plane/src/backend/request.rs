//! Builds the upstream HTTP request for a tool call from the tool's `http` binding, the
//! validated arguments and the published revision's credentials.
//!
//! Path placeholders are percent-encoded as one segment, so an argument such as
//! `../../admin?x=1` stays inside its segment; query values are encoded the same way; the
//! arguments not used in the path or query form the JSON body. Nothing of the client's own
//! request is carried over.

use base64::Engine;
use http::{HeaderName, HeaderValue, Method, Request, header};
use http_body_util::Full;
use hyper::body::Bytes;
use mcpgw_shared::model::{ApiKeyLocation, Auth, BodyMode, HttpMethod, PathPart};

use crate::state::CallSpec;
use serde_json::{Map, Value};

/// Builds the upstream request for `tool`.
///
/// # Errors
/// A message when an argument cannot be placed (e.g. a header value with a newline).
pub fn build_request(
    base_url: &str,
    tool: &CallSpec,
    arguments: &Map<String, Value>,
    auth: &Auth,
) -> Result<Request<Full<Bytes>>, String> {
    let binding = &tool.http;
    let mut used: Vec<&str> = Vec::new();
    let mut path = String::new();
    for part in binding.path_segments() {
        match part {
            PathPart::Literal(text) => path.push_str(text),
            PathPart::Placeholder(name) => {
                let value = arguments
                    .get(name)
                    .ok_or_else(|| format!("missing path argument '{name}'"))?;
                path.push_str(&encode(&scalar_text(value)));
                used.push(name);
            }
        }
    }
    let mut query: Vec<(String, String)> = Vec::new();
    for name in &binding.query {
        used.push(name);
        match arguments.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                query.extend(items.iter().map(|v| (name.clone(), scalar_text(v))))
            }
            Some(v) => query.push((name.clone(), scalar_text(v))),
        }
    }
    if let Auth::ApiKey {
        location: ApiKeyLocation::Query,
        name,
        value,
    } = auth
    {
        query.push((name.clone(), value.expose().to_owned()));
    }
    let mut url = base_url.trim_end_matches('/').to_owned();
    url.push_str(&path);
    if !query.is_empty() {
        url.push('?');
        let pairs: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
            .collect();
        url.push_str(&pairs.join("&"));
    }
    let method = match binding.method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    };
    let mut builder = Request::builder().method(method).uri(&url).header(
        header::USER_AGENT,
        HeaderValue::from_static(concat!("mcpgw/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in &binding.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    match auth {
        Auth::None
        | Auth::ApiKey {
            location: ApiKeyLocation::Query,
            ..
        } => {}
        Auth::ApiKey {
            location: ApiKeyLocation::Header,
            name,
            value,
        } => {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| "invalid API key header name".to_owned())?;
            let mut value = HeaderValue::from_str(value.expose())
                .map_err(|_| "invalid API key value".to_owned())?;
            value.set_sensitive(true);
            builder = builder.header(name, value);
        }
        Auth::Bearer { token } => {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| "invalid bearer token".to_owned())?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
        Auth::Basic { username, password } => {
            let raw = format!("{username}:{}", password.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(|_| "invalid basic credentials".to_owned())?;
            value.set_sensitive(true);
            builder = builder.header(header::AUTHORIZATION, value);
        }
    }
    let body = if binding.body_mode() == BodyMode::Json {
        let rest: Map<String, Value> = arguments
            .iter()
            .filter(|(k, _)| !used.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        builder = builder.header(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Bytes::from(serde_json::to_vec(&Value::Object(rest)).unwrap_or_default())
    } else {
        Bytes::new()
    };
    builder = builder
        .header(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/*;q=0.9, */*;q=0.8"),
        )
        // Bodies are never decoded here: ask for them plain (see `response`).
        .header(
            header::ACCEPT_ENCODING,
            HeaderValue::from_static("identity"),
        );
    builder
        .body(Full::new(body))
        .map_err(|e| format!("invalid request: {e}"))
}

/// A scalar argument as text (strings unquoted, everything else as JSON).
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved bytes — `/`, `?`, `#`, `%`, `&`, `=`
/// and `.` sequences included — so a value stays inside its path segment or query component.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    // A segment of only dots would still be interpreted as "." or ".." by the upstream.
    if !out.is_empty() && out.bytes().all(|b| b == b'.') {
        return out.replace('.', "%2E");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgw_shared::secret::Secret;
    use serde_json::json;

    fn tool(v: Value) -> CallSpec {
        serde_json::from_value::<mcpgw_shared::model::ToolDef>(v)
            .expect("tool")
            .into()
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    fn get_user() -> CallSpec {
        tool(json!({
            "id": "get_user", "description": "d",
            "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}, "q": {"type": "string"}, "x": {}}, "required": ["id"]},
            "http": {"method": "GET", "path": "/users/{id}/profile", "query": ["q"], "headers": {"X-Fixed": "1"}}
        }))
    }

    #[test]
    fn hostile_path_arguments_stay_in_their_segment() {
        let r = build_request(
            "https://api.example.com/v1",
            &get_user(),
            &args(json!({"id": "../../admin?x=1#f", "q": "a b&c=d"})),
            &Auth::None,
        )
        .expect("request");
        assert_eq!(
            r.uri().path(),
            "/v1/users/..%2F..%2Fadmin%3Fx%3D1%23f/profile"
        );
        assert_eq!(r.uri().query(), Some("q=a%20b%26c%3Dd"));
        let r = build_request(
            "https://api.example.com",
            &get_user(),
            &args(json!({"id": ".."})),
            &Auth::None,
        )
        .expect("request");
        assert_eq!(r.uri().path(), "/users/%2E%2E/profile");
        assert_eq!(r.headers()["x-fixed"], "1");
    }

    #[test]
    fn injects_each_auth_type() {
        let t = get_user();
        let a = args(json!({"id": "7"}));
        let r = build_request(
            "https://x",
            &t,
            &a,
            &Auth::Bearer {
                token: Secret::new("tok"),
            },
        )
        .expect("bearer");
        assert_eq!(r.headers()["authorization"], "Bearer tok");
        let r = build_request(
            "https://x",
            &t,
            &a,
            &Auth::Basic {
                username: "u".into(),
                password: Secret::new("p"),
            },
        )
        .expect("basic");
        assert_eq!(r.headers()["authorization"], "Basic dTpw");
        let r = build_request(
            "https://x",
            &t,
            &a,
            &Auth::ApiKey {
                location: ApiKeyLocation::Header,
                name: "X-Key".into(),
                value: Secret::new("k"),
            },
        )
        .expect("header key");
        assert_eq!(r.headers()["x-key"], "k");
        let r = build_request(
            "https://x",
            &t,
            &a,
            &Auth::ApiKey {
                location: ApiKeyLocation::Query,
                name: "api key".into(),
                value: Secret::new("k&1"),
            },
        )
        .expect("query key");
        assert_eq!(r.uri().query(), Some("api%20key=k%261"));
    }

    #[test]
    fn json_body_holds_the_remaining_arguments() {
        let t = tool(json!({
            "id": "create", "description": "d",
            "inputSchema": {"type": "object", "properties": {"org": {"type": "string"}, "name": {"type": "string"}, "n": {"type": "integer"}}, "required": ["org"]},
            "http": {"method": "POST", "path": "/orgs/{org}/items"}
        }));
        let r = build_request(
            "http://h",
            &t,
            &args(json!({"org": "acme", "name": "x", "n": 2})),
            &Auth::None,
        )
        .expect("request");
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.uri().path(), "/orgs/acme/items");
    }
}

//! Builds the upstream HTTP request for a tool call from the tool's `http` binding, the
//! validated arguments and the published revision's credentials.
//!
//! Path placeholders are percent-encoded as one segment, so an argument such as
//! `../../admin?x=1` stays inside its segment; query values and form fields are encoded the
//! same way; header arguments must be valid header values (no line breaks); the arguments
//! not used in the path, query or headers form the JSON or form body. Nothing of the
//! client's own request is carried over.

use base64::Engine;
use std::borrow::Cow;

use http::{HeaderName, HeaderValue, Method, Request, Uri, header};
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
    let binding = &*tool.http;
    let mut used: Vec<&str> = Vec::new();
    let mut url = String::with_capacity(base_url.len() + binding.path.len() + 64);
    url.push_str(base_url.trim_end_matches('/'));
    for part in binding.path_segments() {
        match part {
            PathPart::Literal(text) => url.push_str(text),
            PathPart::Placeholder(name) => {
                let value = arguments
                    .get(name)
                    .ok_or_else(|| format!("missing path argument '{name}'"))?;
                encode_into(&mut url, &scalar_text(value));
                used.push(name);
            }
        }
    }
    let mut separator = '?';
    let mut pair = |url: &mut String, name: &str, value: &str| {
        url.push(separator);
        separator = '&';
        encode_into(url, name);
        url.push('=');
        encode_into(url, value);
    };
    for name in &binding.query {
        used.push(name);
        match arguments.get(name) {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    pair(&mut url, name, &scalar_text(item));
                }
            }
            Some(v) => pair(&mut url, name, &scalar_text(v)),
        }
    }
    if let Auth::ApiKey {
        location: ApiKeyLocation::Query,
        name,
        value,
    } = auth
    {
        pair(&mut url, name, value.expose());
    }
    let uri: Uri = url.parse().map_err(|e| format!("invalid request: {e}"))?;
    let mut header_args = Vec::with_capacity(binding.header_args.len());
    for (name, arg) in &binding.header_args {
        used.push(arg);
        let text = match arguments.get(arg) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(items)) => items
                .iter()
                .map(|i| scalar_text(i).into_owned())
                .collect::<Vec<_>>()
                .join(","),
            Some(v) => scalar_text(v).into_owned(),
        };
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("invalid request: {e}"))?;
        let value = HeaderValue::from_str(&text)
            .map_err(|_| format!("argument '{arg}' cannot be sent as the header {name}"))?;
        header_args.push((name, value));
    }
    let mode = binding.body_mode();
    let body = match mode {
        // The arguments not placed in the path, query or headers, serialised straight from
        // the validated arguments (no copy of them).
        BodyMode::Json => Bytes::from(
            serde_json::to_vec(&Rest {
                arguments,
                used: &used,
            })
            .unwrap_or_default(),
        ),
        BodyMode::Form => Bytes::from(form_body(arguments, &used)),
        BodyMode::None => Bytes::new(),
    };
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = match binding.method {
        HttpMethod::Get => Method::GET,
        HttpMethod::Post => Method::POST,
        HttpMethod::Put => Method::PUT,
        HttpMethod::Patch => Method::PATCH,
        HttpMethod::Delete => Method::DELETE,
    };
    *request.uri_mut() = uri;
    let headers = request.headers_mut();
    headers.reserve(6 + binding.headers.len());
    headers.insert(
        header::USER_AGENT,
        HeaderValue::from_static(concat!("mcpgw/", env!("CARGO_PKG_VERSION"))),
    );
    for (name, value) in &binding.headers {
        let name =
            HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("invalid request: {e}"))?;
        let value = HeaderValue::from_str(value).map_err(|e| format!("invalid request: {e}"))?;
        headers.append(name, value);
    }
    for (name, value) in header_args {
        headers.append(name, value);
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
            // Replaces any header argument of that name: the credential is the config's.
            headers.insert(name, value);
        }
        Auth::Bearer { token } => {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose()))
                .map_err(|_| "invalid bearer token".to_owned())?;
            value.set_sensitive(true);
            headers.append(header::AUTHORIZATION, value);
        }
        Auth::Basic { username, password } => {
            let raw = format!("{username}:{}", password.expose());
            let encoded = base64::engine::general_purpose::STANDARD.encode(raw);
            let mut value = HeaderValue::from_str(&format!("Basic {encoded}"))
                .map_err(|_| "invalid basic credentials".to_owned())?;
            value.set_sensitive(true);
            headers.append(header::AUTHORIZATION, value);
        }
    }
    let content_type = match mode {
        BodyMode::Json => Some("application/json"),
        BodyMode::Form => Some("application/x-www-form-urlencoded"),
        BodyMode::None => None,
    };
    if let Some(ct) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    }
    headers.insert(
        header::ACCEPT,
        HeaderValue::from_static("application/json, text/*;q=0.9, */*;q=0.8"),
    );
    // Bodies are never decoded here: ask for them plain (see `response`).
    headers.insert(
        header::ACCEPT_ENCODING,
        HeaderValue::from_static("identity"),
    );
    Ok(request)
}

/// The JSON body: the arguments not `used` in the path or query.
struct Rest<'a> {
    arguments: &'a Map<String, Value>,
    used: &'a [&'a str],
}

impl serde::Serialize for Rest<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(
            self.arguments
                .iter()
                .filter(|(k, _)| !self.used.contains(&k.as_str())),
        )
    }
}

/// The form body: the arguments not `used`, as `name=value` pairs (arrays repeat the name,
/// nulls are left out, objects go as their JSON text).
fn form_body(arguments: &Map<String, Value>, used: &[&str]) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &Value| {
        if !out.is_empty() {
            out.push('&');
        }
        encode_into(&mut out, name);
        out.push('=');
        encode_into(&mut out, &scalar_text(value));
    };
    for (name, value) in arguments
        .iter()
        .filter(|(k, _)| !used.contains(&k.as_str()))
    {
        match value {
            Value::Null => {}
            Value::Array(items) => items.iter().for_each(|i| field(name, i)),
            v => field(name, v),
        }
    }
    out
}

/// A scalar argument as text (strings unquoted, everything else as JSON).
fn scalar_text(v: &Value) -> Cow<'_, str> {
    match v {
        Value::String(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.to_string()),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved bytes — `/`, `?`, `#`, `%`, `&`, `=`
/// and `.` sequences included — so a value stays inside its path segment or query component.
pub(super) fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    encode_into(&mut out, s);
    out
}

/// [`encode`], appended to `out`.
fn encode_into(out: &mut String, s: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    // A segment of only dots would still be interpreted as "." or ".." by the upstream.
    let only_dots = !s.is_empty() && s.bytes().all(|b| b == b'.');
    for b in s.bytes() {
        if (b.is_ascii_alphanumeric() || b"-_~".contains(&b)) || (b == b'.' && !only_dots) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xF)]));
        }
    }
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

    fn body_text(r: Request<Full<Bytes>>) -> String {
        use http_body_util::BodyExt;
        let bytes = block_on(r.into_body().collect()).expect("body").to_bytes();
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(f)
    }

    #[test]
    fn header_arguments_go_as_headers_and_the_rest_as_a_form() {
        let t = tool(json!({
            "id": "charge", "description": "d",
            "inputSchema": {"type": "object", "properties": {
                "idem": {"type": "string"}, "amount": {"type": "integer"},
                "tags": {"type": "array"}, "meta": {"type": "object"}, "gone": {}
            }},
            "http": {"method": "POST", "path": "/charges", "body": "form",
                     "headerArgs": {"Idempotency-Key": "idem"}}
        }));
        let r = build_request(
            "http://h",
            &t,
            &args(json!({"idem": "k-1", "amount": 5, "tags": ["a b", "c&d"], "meta": {"x": 1}, "gone": null})),
            &Auth::None,
        )
        .expect("request");
        assert_eq!(r.headers()["idempotency-key"], "k-1");
        assert_eq!(
            r.headers()["content-type"],
            "application/x-www-form-urlencoded"
        );
        assert_eq!(
            body_text(r),
            "amount=5&meta=%7B%22x%22%3A1%7D&tags=a%20b&tags=c%26d"
        );
        // A header argument named like the API key header never rides along with it.
        let keyed = tool(json!({
            "id": "k", "description": "d",
            "inputSchema": {"type": "object", "properties": {"key": {"type": "string"}}},
            "http": {"method": "GET", "path": "/x", "headerArgs": {"X-Api-Key": "key"}}
        }));
        let r = build_request(
            "http://h",
            &keyed,
            &args(json!({"key": "the caller's"})),
            &Auth::ApiKey {
                location: ApiKeyLocation::Header,
                name: "X-Api-Key".into(),
                value: Secret::new("the config's"),
            },
        )
        .expect("request");
        let sent: Vec<_> = r.headers().get_all("x-api-key").iter().collect();
        assert_eq!(sent, ["the config's"]);
        // A header argument is never a way to smuggle a second header line.
        let refused = build_request(
            "http://h",
            &t,
            &args(json!({"idem": "k\r\nX-Evil: 1"})),
            &Auth::None,
        );
        assert!(refused.is_err());
    }
}

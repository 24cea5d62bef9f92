//! Production calls (`mcp:call`): the tool's HTTP binding filled from the arguments and sent
//! to the bound config's *published* revision, with its credentials.
//!
//! The request is built from scratch — nothing of the client's request (its MCP key above
//! all) is forwarded. Path placeholders are percent-encoded as one segment, so an argument
//! such as `../../admin?x=1` stays inside its segment. Redirects are not followed. Responses
//! are capped in size; every failure becomes an `isError` result that names its cause.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use http::{HeaderName, HeaderValue, Method, Request, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use mcpgw_shared::model::{
    ApiKeyLocation, Auth, BodyMode, HttpMethod, IntegrationKey, IntegrationSnapshot, PathPart,
    ToolDef,
};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::ToolOutput;
use super::resolver::{BlockList, GuardedResolver, ResolveError};

/// How much of an error body is quoted back.
const EXCERPT_BYTES: usize = 512;

/// Upstream client settings.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamSettings {
    /// Time to establish a connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Default total time of a call (a tool's `timeoutMs` overrides it).
    pub total_timeout: Duration,
    /// Largest upstream response body read.
    pub max_response_bytes: usize,
    /// Upstream requests in flight per integration (further calls wait).
    pub max_connections_per_integration: usize,
    /// Allow link-local and cloud metadata addresses (off by default).
    pub allow_link_local: bool,
}

/// The pooled upstream client.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector<GuardedResolver>>, Full<Bytes>>,
    settings: UpstreamSettings,
    blocklist: BlockList,
    per_integration: Mutex<HashMap<IntegrationKey, Arc<Semaphore>>>,
}

/// Why the call failed before a response arrived.
enum Failure {
    Timeout,
    Dns,
    Connect,
    Tls,
    Blocked,
    Other,
}

impl Upstream {
    /// A client with `settings`.
    ///
    /// # Errors
    /// When TLS cannot be configured.
    pub fn new(settings: UpstreamSettings) -> Result<Self, rustls::Error> {
        let blocklist = BlockList {
            allow_link_local: settings.allow_link_local,
        };
        let mut http = HttpConnector::new_with_resolver(GuardedResolver::new(blocklist));
        http.enforce_http(false);
        http.set_connect_timeout(Some(settings.connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .pool_max_idle_per_host(32)
            .build(https);
        Ok(Self {
            client,
            settings,
            blocklist,
            per_integration: Mutex::new(HashMap::new()),
        })
    }

    /// Calls the upstream for `tool` with validated `arguments`.
    pub async fn run(
        &self,
        integration: &IntegrationSnapshot,
        tool: &ToolDef,
        arguments: &Map<String, Value>,
    ) -> ToolOutput {
        let Some(config_id) = integration.config_id else {
            return ToolOutput::error(
                "This integration has no config bound: set configId in its MCP settings to a published config.",
            );
        };
        let Some(revision) = &integration.revision else {
            return ToolOutput::error(format!(
                "Config {config_id} has no published revision: publish it before calling the production endpoint."
            ));
        };
        let request = match build_request(
            &revision.parameters.base_url,
            tool,
            arguments,
            &revision.auth,
        ) {
            Ok(r) => r,
            Err(e) => {
                return ToolOutput::error(format!("Could not build the upstream request: {e}"));
            }
        };
        if let Some(host) = request.uri().host()
            && let Ok(ip) = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
            && self.blocklist.is_blocked(ip)
        {
            return ToolOutput::error(failure_text(&Failure::Blocked, ""));
        }
        let slots = self.slots(&integration.key);
        let timeout = tool
            .timeout_ms
            .map_or(self.settings.total_timeout, Duration::from_millis);
        let outcome = tokio::time::timeout(timeout, async {
            let _slot = slots.acquire().await;
            let response = self.client.request(request).await.map_err(classify)?;
            let status = response.status();
            let content_type = response
                .headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase();
            let location = response
                .headers()
                .get(header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let body = Limited::new(response.into_body(), self.settings.max_response_bytes)
                .collect()
                .await;
            Ok::<_, Failure>((status, content_type, location, body.map(|b| b.to_bytes())))
        })
        .await;
        match outcome {
            Err(_) => ToolOutput::error(failure_text(
                &Failure::Timeout,
                &format!("{} ms", timeout.as_millis()),
            )),
            Ok(Err(f)) => ToolOutput::error(failure_text(&f, "")),
            Ok(Ok((_, _, _, Err(_)))) => ToolOutput::error(format!(
                "The upstream response exceeded the {} byte limit.",
                self.settings.max_response_bytes
            )),
            Ok(Ok((status, content_type, location, Ok(body)))) => {
                map_response(tool, status, &content_type, location, &body, &revision.auth)
            }
        }
    }

    fn slots(&self, key: &IntegrationKey) -> Arc<Semaphore> {
        let mut map = self
            .per_integration
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(slots) = map.get(key) {
            return slots.clone();
        }
        let slots = Arc::new(Semaphore::new(
            self.settings.max_connections_per_integration.max(1),
        ));
        map.insert(key.clone(), slots.clone());
        slots
    }
}

fn failure_text(f: &Failure, detail: &str) -> String {
    match f {
        Failure::Timeout => format!("The upstream did not answer in time (timeout after {detail})."),
        Failure::Dns => "The upstream host name could not be resolved (DNS failure).".into(),
        Failure::Connect => "Could not connect to the upstream (connection refused or unreachable).".into(),
        Failure::Tls => "The TLS handshake with the upstream failed (certificate or protocol error).".into(),
        Failure::Blocked => {
            "The upstream address is link-local or a cloud metadata endpoint, which this gateway does not call.".into()
        }
        Failure::Other => "The upstream request failed before a response arrived.".into(),
    }
}

/// Names the cause of a failed request by walking its error chain for the typed errors of
/// our resolver and of rustls.
fn classify(e: hyper_util::client::legacy::Error) -> Failure {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<ResolveError>() {
            return match r {
                ResolveError::Blocked => Failure::Blocked,
                ResolveError::Lookup(_) => Failure::Dns,
            };
        }
        if s.downcast_ref::<rustls::Error>().is_some() {
            return Failure::Tls;
        }
        // tokio-rustls reports TLS failures as (nested) io::Errors wrapping the rustls error.
        source = match s.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => s.source(),
        };
    }
    if e.is_connect() {
        Failure::Connect
    } else {
        Failure::Other
    }
}

/// Builds the upstream request for `tool` (public for tests of hostile arguments).
///
/// # Errors
/// A message when an argument cannot be placed (e.g. a header value with a newline).
pub fn build_request(
    base_url: &str,
    tool: &ToolDef,
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
                path.push_str(&encode(&scalar_text(value), SEGMENT));
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
            .map(|(k, v)| format!("{}={}", encode(k, QUERY), encode(v, QUERY)))
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
        concat!("mcpgw/", env!("CARGO_PKG_VERSION")),
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
        builder = builder.header(header::CONTENT_TYPE, "application/json");
        Bytes::from(serde_json::to_vec(&Value::Object(rest)).unwrap_or_default())
    } else {
        Bytes::new()
    };
    builder = builder.header(header::ACCEPT, "application/json, text/*;q=0.9, */*;q=0.8");
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

/// Bytes left as they are in a path segment: RFC 3986 unreserved. Everything else —
/// `/`, `?`, `#`, `%`, `.` sequences included — is percent-encoded.
const SEGMENT: fn(u8) -> bool = |b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b);
/// Bytes left as they are in a query key or value.
const QUERY: fn(u8) -> bool = |b| b.is_ascii_alphanumeric() || b"-_.~".contains(&b);

fn encode(s: &str, keep: fn(u8) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if keep(b) {
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

/// Maps an upstream response to a tool result.
fn map_response(
    tool: &ToolDef,
    status: StatusCode,
    content_type: &str,
    location: Option<String>,
    body: &Bytes,
    auth: &Auth,
) -> ToolOutput {
    if status.is_redirection() {
        // Without its query: a redirect may carry a query-parameter credential along.
        let to = location
            .as_deref()
            .and_then(|l| l.split(['?', '#']).next())
            .unwrap_or("(no Location)")
            .to_owned();
        return ToolOutput::error(format!(
            "The upstream answered {status} redirecting to {to}; redirects are not followed."
        ));
    }
    if !status.is_success() {
        let excerpt = redacted_excerpt(body, auth);
        let more = if body.len() > EXCERPT_BYTES {
            " …"
        } else {
            ""
        };
        return ToolOutput::error(format!(
            "The upstream answered HTTP {status}: {excerpt}{more}"
        ));
    }
    let mime = content_type.split(';').next().unwrap_or_default().trim();
    if mime == "application/json"
        || mime.ends_with("+json")
        || (mime.is_empty() && looks_like_json(body))
    {
        if tool.output_schema.is_none() {
            // Without an outputSchema the result is only a text block: pass the upstream's
            // JSON through unchanged instead of parsing and re-serialising it.
            return text(body);
        }
        return match serde_json::from_slice::<Value>(body) {
            Ok(value) => ToolOutput::from_json(tool, value, false),
            Err(_) => text(body),
        };
    }
    if let Some(kind) = ["image", "audio"]
        .into_iter()
        .find(|k| mime.starts_with(&format!("{k}/")))
    {
        let data = base64::engine::general_purpose::STANDARD.encode(body);
        return ToolOutput {
            content: vec![json!({"type": kind, "data": data, "mimeType": mime})],
            structured: None,
            is_error: false,
        };
    }
    if mime.starts_with("text/") || mime.is_empty() || std::str::from_utf8(body).is_ok() {
        return text(body);
    }
    let data = base64::engine::general_purpose::STANDARD.encode(body);
    ToolOutput {
        content: vec![
            json!({"type": "resource", "resource": {"uri": "upstream://response", "mimeType": mime, "blob": data}}),
        ],
        structured: None,
        is_error: false,
    }
}

/// The start of an error body, with the revision's secrets blanked out: an upstream may
/// echo the credential it rejected.
fn redacted_excerpt(body: &Bytes, auth: &Auth) -> String {
    // Look a little past the cut so a secret straddling it is still found.
    let window = String::from_utf8_lossy(&body[..body.len().min(EXCERPT_BYTES + 512)]).into_owned();
    let mut text = auth
        .secrets()
        .into_iter()
        .filter(|s| !s.is_empty())
        .fold(window, |t, secret| t.replace(secret, "[redacted]"));
    if let Some((cut, _)) = text.char_indices().nth(EXCERPT_BYTES) {
        text.truncate(cut);
    }
    text
}

fn looks_like_json(body: &Bytes) -> bool {
    body.iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|b| *b == b'{' || *b == b'[')
}

fn text(body: &Bytes) -> ToolOutput {
    ToolOutput {
        content: vec![json!({"type": "text", "text": String::from_utf8_lossy(body)})],
        structured: None,
        is_error: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mcpgw_shared::secret::Secret;

    fn tool(v: Value) -> ToolDef {
        serde_json::from_value(v).expect("tool")
    }

    fn args(v: Value) -> Map<String, Value> {
        v.as_object().cloned().expect("object")
    }

    fn get_user() -> ToolDef {
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

    #[test]
    fn maps_responses() {
        let t = get_user();
        let out = map_response(
            &t,
            StatusCode::OK,
            "application/json; charset=utf-8",
            None,
            &Bytes::from_static(b"{\"a\":1}"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["text"], "{\"a\":1}");
        let out = map_response(
            &t,
            StatusCode::OK,
            "image/png",
            None,
            &Bytes::from_static(b"\x89PNG"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["type"], "image");
        assert_eq!(out.content[0]["mimeType"], "image/png");
        let out = map_response(
            &t,
            StatusCode::OK,
            "audio/wav",
            None,
            &Bytes::from_static(b"RIFF"),
            &Auth::None,
        );
        assert_eq!(out.content[0]["type"], "audio");
        let out = map_response(
            &t,
            StatusCode::OK,
            "text/plain",
            None,
            &Bytes::from_static(b"hello"),
            &Auth::None,
        );
        assert_eq!(out.content[0], json!({"type": "text", "text": "hello"}));
        let big = Bytes::from(vec![b'x'; 5000]);
        let out = map_response(
            &t,
            StatusCode::NOT_FOUND,
            "text/plain",
            None,
            &big,
            &Auth::None,
        );
        assert!(out.is_error);
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(text.contains("404") && text.len() < 700, "{text}");
        let out = map_response(
            &t,
            StatusCode::FOUND,
            "",
            Some("https://elsewhere".into()),
            &Bytes::new(),
            &Auth::None,
        );
        assert!(
            out.is_error
                && out.content[0]["text"]
                    .as_str()
                    .expect("t")
                    .contains("not followed")
        );
    }

    #[test]
    fn never_quotes_credentials_back() {
        let t = get_user();
        let auth = Auth::ApiKey {
            location: ApiKeyLocation::Query,
            name: "api_key".into(),
            value: Secret::new("S3CRET-value"),
        };
        let out = map_response(
            &t,
            StatusCode::MOVED_PERMANENTLY,
            "",
            Some("https://api.x/users/1?api_key=S3CRET-value".into()),
            &Bytes::new(),
            &auth,
        );
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(
            text.contains("https://api.x/users/1") && !text.contains("S3CRET"),
            "{text}"
        );
        let body = Bytes::from(format!("{}invalid key S3CRET-value", "x".repeat(490)));
        let out = map_response(
            &t,
            StatusCode::UNAUTHORIZED,
            "text/plain",
            None,
            &body,
            &auth,
        );
        let text = out.content[0]["text"].as_str().expect("text");
        assert!(!text.contains("S3CRET"), "{text}");
    }
}

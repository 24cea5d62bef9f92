//! Test support: a real control plane and real data planes on loopback ports, a recording
//! upstream, and a raw MCP-over-HTTP client.
#![allow(dead_code)]

pub mod e2e;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcpgw_control_plane::api::ratelimit::AdminRate;
use mcpgw_control_plane::jwt::Caller;
use mcpgw_control_plane::secrets::Secrets;
use mcpgw_control_plane::server::{
    self as cp_server, Running as CpRunning, Settings as CpSettings,
};
use mcpgw_control_plane::service::Service;
use mcpgw_control_plane::service::views::{McpPatch, NewConfig, NewIntegration};
use mcpgw_data_plane::backend::upstream::UpstreamSettings;
use mcpgw_data_plane::config::{HttpLimits, LimitDefaults};
use mcpgw_data_plane::{Running as DpRunning, Settings as DpSettings, mcp};
use mcpgw_shared::secret::Secret;
use serde_json::{Value, json};

pub const DP_TOKEN: &str = "dp-test-token";

pub fn secrets() -> Secrets {
    Secrets {
        jwt_secret: Secret::new("jwt-test-secret"),
        data_plane_token: Secret::new(DP_TOKEN),
        master_key: Secret::new("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
        sources: Vec::new(),
    }
}

pub async fn start_cp(dir: &Path, grpc: SocketAddr) -> CpRunning {
    start_cp_with_tls(dir, grpc, None).await
}

pub async fn start_cp_with_tls(
    dir: &Path,
    grpc: SocketAddr,
    grpc_tls: Option<cp_server::GrpcTls>,
) -> CpRunning {
    cp_server::start(CpSettings {
        data_dir: dir.to_owned(),
        grpc_listen: grpc,
        http_listen: "127.0.0.1:0".parse().expect("addr"),
        public_mcp_url: "http://127.0.0.1:8081".into(),
        admin_rate: AdminRate {
            per_second: 0,
            burst: 0,
        },
        secrets: secrets(),
        grpc_tls,
        listener: mcpgw_control_plane::config::ListenerBounds {
            header_timeout_ms: 5_000,
            ..Default::default()
        },
        ..CpSettings::default()
    })
    .await
    .expect("control plane")
}

pub struct DpOptions {
    pub limits: LimitDefaults,
    pub max_body_bytes: usize,
    pub page_size: usize,
    pub upstream_ca: Option<Vec<u8>>,
    pub max_connections: usize,
    pub header_timeout_ms: u64,
    pub request_timeout_ms: u64,
    /// Ranges upstream calls may reach (the tests' upstreams listen on loopback).
    pub upstream_allow: Vec<ipnet::IpNet>,
    /// Serve `/readyz` and `/metrics` on a listener of their own.
    pub admin_listener: bool,
}

impl Default for DpOptions {
    fn default() -> Self {
        Self {
            limits: LimitDefaults {
                requests_per_second: 1000.0,
                burst: 1000,
                max_concurrent_calls: 64,
                ..LimitDefaults::default()
            },
            max_body_bytes: 64 * 1024,
            page_size: 100,
            upstream_ca: None,
            max_connections: 1_000,
            header_timeout_ms: 5_000,
            request_timeout_ms: 10_000,
            upstream_allow: vec!["127.0.0.0/8".parse().expect("cidr")],
            admin_listener: false,
        }
    }
}

pub async fn start_dp(grpc: SocketAddr, opts: DpOptions) -> DpRunning {
    start_dp_at(format!("http://{grpc}"), None, opts).await
}

pub async fn start_dp_at(
    control_plane: String,
    control_plane_ca: Option<Vec<u8>>,
    opts: DpOptions,
) -> DpRunning {
    mcpgw_data_plane::start(DpSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        admin_listen: opts
            .admin_listener
            .then(|| "127.0.0.1:0".parse().expect("addr")),
        control_plane,
        token: Secret::new(DP_TOKEN),
        control_plane_ca,
        id: "test-dp".into(),
        limits: opts.limits,
        http: HttpLimits {
            max_body_bytes: opts.max_body_bytes,
            header_timeout_ms: opts.header_timeout_ms,
            request_timeout_ms: opts.request_timeout_ms,
            idle_timeout_ms: 60_000,
            max_connections: opts.max_connections,
        },
        protocol: mcp::Settings {
            page_size: opts.page_size,
            list_ttl_ms: 30_000,
        },
        upstream: UpstreamSettings {
            connect_timeout: Duration::from_secs(2),
            total_timeout: Duration::from_secs(5),
            max_response_bytes: 64 * 1024,
            allow_cidrs: opts.upstream_allow,
            extra_ca_pem: opts.upstream_ca,
        },
        allowed_origins: Vec::new(),
    })
    .await
    .expect("data plane")
}

/// A control plane and one data plane, connected.
pub struct Gw {
    pub cp: Option<CpRunning>,
    pub dp: DpRunning,
    pub dir: tempfile::TempDir,
    pub grpc: SocketAddr,
}

impl Gw {
    pub async fn start() -> Self {
        Self::start_with(DpOptions::default()).await
    }

    pub async fn start_with(opts: DpOptions) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = start_cp(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
        let grpc = cp.grpc_addr;
        let dp = start_dp(grpc, opts).await;
        let gw = Self {
            cp: Some(cp),
            dp,
            dir,
            grpc,
        };
        gw.wait_ready().await;
        gw
    }

    pub async fn wait_ready(&self) {
        assert!(
            eventually(Duration::from_secs(10), || async {
                self.dp.store.load().is_some()
            })
            .await,
            "data plane never got a snapshot"
        );
    }

    pub fn service(&self) -> &Arc<Service> {
        &self.cp.as_ref().expect("control plane running").service
    }

    pub fn url(&self, tenant: &str, integration: &str, endpoint: &str) -> String {
        format!(
            "http://{}/v1/tenants/{tenant}/integrations/{integration}/{endpoint}",
            self.dp.addr
        )
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.dp.addr)
    }

    /// Waits until the data plane serves the control plane's current version.
    pub async fn synced(&self) {
        let target = self.service().publisher().version();
        assert!(
            eventually(Duration::from_secs(10), || async {
                self.dp.store.version() >= target
            })
            .await,
            "data plane did not reach version {target}"
        );
    }
}

pub fn admin() -> Caller {
    Caller::system("tests")
}

/// Creates an integration with `tools` (JSON bodies, `id` included), enables MCP, waits for
/// the data plane, and returns the raw API key.
pub async fn integration(gw: &Gw, tenant: &str, id: &str, tools: &[Value]) -> String {
    let s = gw.service();
    s.create_integration(
        &admin(),
        tenant,
        NewIntegration {
            id: id.into(),
            display_name: Some(format!("{id} API")),
            description: Some(format!("Tools of {id}")),
        },
    )
    .await
    .expect("integration");
    for t in tools {
        let tool_id = t["id"].as_str().expect("tool id").to_owned();
        s.put_tool(&admin(), tenant, id, &tool_id, t.clone())
            .await
            .expect("tool");
    }
    let v = s
        .update_mcp_settings(
            &admin(),
            tenant,
            id,
            McpPatch {
                enabled: Some(true),
                ..McpPatch::default()
            },
        )
        .await
        .expect("enable");
    gw.synced().await;
    v.api_key.expect("minted").expose().to_owned()
}

/// Binds a published config with `base_url` and `auth` to the integration.
pub async fn bind_config(gw: &Gw, tenant: &str, id: &str, base_url: &str, auth: Value) -> String {
    let s = gw.service();
    let cfg: NewConfig = serde_json::from_value(
        json!({"displayName": "test", "parameters": {"baseUrl": base_url}, "auth": auth}),
    )
    .expect("config");
    let c = s
        .create_config(&admin(), tenant, id, cfg)
        .await
        .expect("config");
    s.publish_config(&admin(), tenant, id, &c.id.to_string(), Default::default())
        .await
        .expect("publish");
    s.update_mcp_settings(
        &admin(),
        tenant,
        id,
        McpPatch {
            config_id: Some(c.id.to_string()),
            ..McpPatch::default()
        },
    )
    .await
    .expect("bind");
    gw.synced().await;
    c.id.to_string()
}

pub fn echo_tool(id: &str) -> Value {
    json!({
        "id": id,
        "title": format!("Tool {id}"),
        "description": format!("Echoes for {id}"),
        "inputSchema": {"type": "object", "properties": {"x": {"type": "integer"}, "s": {"type": "string"}}},
        "http": {"method": "POST", "path": "/echo"}
    })
}

/// A tool with an `outputSchema` whose simulation answers `{"n": 5}`.
pub fn typed_tool(id: &str) -> Value {
    json!({
        "id": id,
        "title": format!("Tool {id}"),
        "description": format!("Typed tool {id}"),
        "inputSchema": {"type": "object"},
        "outputSchema": {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]},
        "http": {"method": "GET", "path": "/typed"},
        "simulation": {"response": {"n": 5}}
    })
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} {}", self.status, self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a JSON-RPC error with `code` at HTTP `status`, and returns the error.
    pub fn rpc_error(&self, status: u16, code: i64) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        let body = self.json();
        assert_eq!(body["error"]["code"], code, "{body}");
        body["error"].clone()
    }
}

pub async fn send(method: &str, url: &str, headers: &[(&str, &str)], body: Option<String>) -> Resp {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .expect("in time")
        .expect("response");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    Resp {
        status,
        headers,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

/// POSTs a JSON-RPC message with the API key and extra headers.
pub async fn rpc(url: &str, key: &str, extra: &[(&str, &str)], body: &Value) -> Resp {
    let auth = format!("Bearer {key}");
    let mut headers = vec![
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
        ("accept", "application/json, text/event-stream"),
    ];
    headers.extend_from_slice(extra);
    send("POST", url, &headers, Some(body.to_string())).await
}

pub fn request(id: i64, method: &str, params: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params})
}

/// An initialize-era `ping` (id 1).
pub fn ping() -> Value {
    request(1, "ping", json!({}))
}

/// A 2026-07-28 request with `_meta` and the matching headers.
pub async fn modern(url: &str, key: &str, id: i64, method: &str, mut params: Value) -> Resp {
    params["_meta"] = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"}
    });
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let mut extra = vec![
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", method),
    ];
    if method == "tools/call" {
        extra.push(("mcp-name", name.as_str()));
    }
    rpc(url, key, &extra, &request(id, method, params)).await
}

/// This process's resident memory (KiB), from /proc.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// Polls `check` until it holds or `within` passes.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A local upstream that records every request it receives and answers from a script.
#[derive(Clone, Default)]
pub struct Recorded {
    pub requests: Arc<Mutex<Vec<RecordedRequest>>>,
}

#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    pub uri: String,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Recorded {
    pub fn all(&self) -> Vec<RecordedRequest> {
        self.requests.lock().expect("lock").clone()
    }
}

pub type Script =
    Arc<dyn Fn(&RecordedRequest) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync>;

/// Starts the upstream on a loopback port; returns its base URL and the recorder.
pub async fn upstream(script: Script) -> (String, Recorded) {
    serve_upstream(script, true).await
}

/// An upstream like [`upstream`] that keeps no record (for long runs).
pub async fn quiet_upstream(script: Script) -> String {
    serve_upstream(script, false).await.0
}

async fn serve_upstream(script: Script, record: bool) -> (String, Recorded) {
    use hyper::service::service_fn;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let recorded = Recorded::default();
    let rec = recorded.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let rec = rec.clone();
            let script = script.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let rec = rec.clone();
                    let script = script.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let body = body
                            .collect()
                            .await
                            .map(|b| b.to_bytes())
                            .unwrap_or_default();
                        let r = RecordedRequest {
                            method: parts.method.to_string(),
                            uri: parts.uri.to_string(),
                            headers: parts.headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        };
                        let (status, headers, body) = script(&r);
                        if record {
                            rec.requests.lock().expect("lock").push(r);
                        }
                        let mut resp = http::Response::new(Full::new(Bytes::from(body)));
                        *resp.status_mut() = http::StatusCode::from_u16(status).expect("status");
                        for (k, v) in headers {
                            resp.headers_mut().insert(
                                http::HeaderName::from_bytes(k.as_bytes()).expect("name"),
                                v.parse().expect("value"),
                            );
                        }
                        Ok::<_, std::convert::Infallible>(resp)
                    }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}"), recorded)
}

//! Test support: a real control plane and real data planes on loopback ports, and a raw
//! MCP-over-HTTP client. Secrets, the HTTP client, the recording upstream and `eventually`
//! come from the workspace's `mcpgw-test-support`.
#![allow(dead_code, unused_imports)]

pub mod e2e;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use mcpgw_control_plane::api::ratelimit::AdminRate;
use mcpgw_control_plane::server::{
    self as cp_server, Running as CpRunning, Settings as CpSettings,
};
use mcpgw_control_plane::service::Service;
use mcpgw_control_plane::service::views::{McpPatch, NewConfig, NewIntegration};
use mcpgw_data_plane::backend::upstream::UpstreamSettings;
use mcpgw_data_plane::config::{HttpLimits, LimitDefaults};
use mcpgw_data_plane::{Running as DpRunning, Settings as DpSettings, mcp};
use mcpgw_shared::secret::Secret;
pub use mcpgw_test_support::http::{Resp, send};
pub use mcpgw_test_support::secrets::{DP_TOKEN, MASTER_KEY, admin, secrets};
pub use mcpgw_test_support::upstream::{
    Recorded, RecordedRequest, Script, quiet_upstream, upstream,
};
pub use mcpgw_test_support::{eventually, rss_kib};
use serde_json::{Value, json};

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
        // Tests and benchmarks write as fast as they can from one tenant.
        quotas: mcpgw_control_plane::service::Quotas {
            writes_per_second: 0,
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
    /// The tenants served.
    pub tenants: mcpgw_shared::shard::Tenants,
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
            tenants: mcpgw_shared::shard::Tenants::All,
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
        tenants: opts.tenants,
        // Connections served by worker event loops, as the binary does.
        workers: 2,
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

/// Creates an integration with `tools` (JSON bodies, `id` included), enables MCP, waits for
/// the data plane, and returns the raw API key.
pub async fn integration(gw: &Gw, tenant: &str, id: &str, tools: &[Value]) -> String {
    let key = create_enabled(gw.service(), tenant, id, tools).await;
    gw.synced().await;
    key
}

/// Creates an integration with `tools` on the control plane and enables MCP; returns the raw
/// API key (the benchmarks wait for their own data planes).
pub async fn create_enabled(s: &Service, tenant: &str, id: &str, tools: &[Value]) -> String {
    s.create_integration(
        &admin(),
        tenant,
        NewIntegration {
            id: id.into(),
            display_name: Some(format!("{id} API")),
            description: Some(format!("Tools of {id}")),
            catalog: None,
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
    v.api_key.expect("minted").expose().to_owned()
}

/// Binds a published config with `base_url` and `auth` to the integration.
pub async fn bind_config(gw: &Gw, tenant: &str, id: &str, base_url: &str, auth: Value) -> String {
    let config = publish_and_bind(gw.service(), tenant, id, base_url, auth).await;
    gw.synced().await;
    config
}

/// Creates, publishes and binds a config with `base_url` and `auth`; returns its id.
pub async fn publish_and_bind(
    s: &Service,
    tenant: &str,
    id: &str,
    base_url: &str,
    auth: Value,
) -> String {
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

//! Test support: a real control plane on loopback ports in a temp dir, and a REST client
//! bound to it. Secrets, tokens, the HTTP client and `eventually` come from the workspace's
//! `mcpgw-test-support`.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use mcpgw_control_plane::api::ratelimit::AdminRate;
use mcpgw_control_plane::config::ListenerBounds;
use mcpgw_control_plane::server::{self, Running, Settings};
pub use mcpgw_test_support::eventually;
pub use mcpgw_test_support::http::Resp;
pub use mcpgw_test_support::secrets::{
    DP_TOKEN, JWT_SECRET, MASTER_KEY, secrets, token, token_with,
};
use serde_json::Value;

pub const PUBLIC_MCP_URL: &str = "https://mcp.example.test";

/// A control plane running in-process on `127.0.0.1:0`.
pub struct Cp {
    pub running: Option<Running>,
    pub dir: PathBuf,
    pub base: String,
    pub grpc: String,
    _tmp: Option<tempfile::TempDir>,
}

pub fn settings(dir: &Path, admin_rate: u32) -> Settings {
    Settings {
        data_dir: dir.to_owned(),
        grpc_listen: "127.0.0.1:0".parse().expect("addr"),
        http_listen: "127.0.0.1:0".parse().expect("addr"),
        public_mcp_url: PUBLIC_MCP_URL.into(),
        admin_rate: AdminRate {
            per_second: admin_rate,
            burst: admin_rate,
        },
        secrets: secrets(),
        listener: ListenerBounds {
            header_timeout_ms: 5_000,
            ..ListenerBounds::default()
        },
        // Tests write as fast as they can from one tenant (the write rate has its own test).
        quotas: mcpgw_control_plane::service::Quotas {
            writes_per_second: 0,
            ..Default::default()
        },
        ..Settings::default()
    }
}

pub async fn start_in(dir: &Path, admin_rate: u32) -> Running {
    server::start(settings(dir, admin_rate))
        .await
        .expect("control plane starts")
}

impl Cp {
    pub async fn start() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let dir = tmp.path().to_owned();
        let mut cp = Self::start_at(&dir, 0).await;
        cp._tmp = Some(tmp);
        cp
    }

    pub async fn start_at(dir: &Path, admin_rate: u32) -> Self {
        Self::start_with(settings(dir, admin_rate)).await
    }

    /// A control plane with `settings` (its data dir is the caller's).
    pub async fn start_with(settings: Settings) -> Self {
        let dir = settings.data_dir.clone();
        let running = server::start(settings).await.expect("control plane starts");
        Self {
            base: format!("http://{}", running.http_addr),
            grpc: format!("http://{}", running.grpc_addr),
            running: Some(running),
            dir,
            _tmp: None,
        }
    }

    /// A control plane whose store is the PostgreSQL database at `url` (polling the change
    /// log every 50 ms, so a lost notification shows as a slow test, not a hang).
    pub async fn start_on_database(url: &str) -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut settings = settings(tmp.path(), 0);
        settings.database = Some(mcpgw_control_plane::store::DatabaseSettings {
            poll_interval: std::time::Duration::from_millis(50),
            ..mcpgw_control_plane::store::DatabaseSettings::new(url)
        });
        let mut cp = Self::start_with(settings).await;
        cp._tmp = Some(tmp);
        cp
    }

    /// Stops and starts again on the same data dir (new ports).
    pub async fn restart(&mut self) {
        self.running.take().expect("running").shutdown().await;
        let running = start_in(&self.dir, 0).await;
        self.base = format!("http://{}", running.http_addr);
        self.grpc = format!("http://{}", running.grpc_addr);
        self.running = Some(running);
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("running")
    }

    pub fn grpc_addr(&self) -> SocketAddr {
        self.running().grpc_addr
    }
}

pub async fn call(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
    call_raw(method, url, token, body.map(|b| b.to_string())).await
}

pub async fn call_raw(method: &str, url: &str, token: Option<&str>, body: Option<String>) -> Resp {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = Vec::new();
    if let Some(auth) = &auth {
        headers.push(("authorization", auth.as_str()));
    }
    if body.is_some() {
        headers.push(("content-type", "application/json"));
    }
    mcpgw_test_support::http::send(method, url, &headers, body).await
}

/// A REST client bound to one control plane and token.
pub struct Api<'a> {
    pub base: &'a str,
    pub token: String,
}

impl Api<'_> {
    pub async fn get(&self, path: &str) -> Resp {
        call(
            "GET",
            &format!("{}{path}", self.base),
            Some(&self.token),
            None,
        )
        .await
    }
    pub async fn post(&self, path: &str, body: Value) -> Resp {
        call(
            "POST",
            &format!("{}{path}", self.base),
            Some(&self.token),
            Some(&body),
        )
        .await
    }
    pub async fn put(&self, path: &str, body: Value) -> Resp {
        call(
            "PUT",
            &format!("{}{path}", self.base),
            Some(&self.token),
            Some(&body),
        )
        .await
    }
    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        call(
            "PATCH",
            &format!("{}{path}", self.base),
            Some(&self.token),
            Some(&body),
        )
        .await
    }
    pub async fn delete(&self, path: &str) -> Resp {
        call(
            "DELETE",
            &format!("{}{path}", self.base),
            Some(&self.token),
            None,
        )
        .await
    }
}

/// A typical tool body.
pub fn tool_body(id: &str) -> Value {
    serde_json::json!({
        "description": format!("Tool {id}"),
        "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
        "http": {"method": "GET", "path": "/items/{id}"}
    })
}

/// Creates integration `id` in `tenant` with tools `a` and `b`; returns its base path.
pub async fn seed_integration(api: &Api<'_>, tenant: &str, id: &str) -> String {
    let r = api
        .post(
            &format!("/v1/tenants/{tenant}/integrations"),
            serde_json::json!({"id": id, "displayName": "CRM", "description": "d"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let base = format!("/v1/tenants/{tenant}/integrations/{id}");
    for tool in ["a", "b"] {
        let r = api
            .put(&format!("{base}/tools/{tool}"), tool_body(tool))
            .await;
        assert_eq!(r.status, 201, "{}", r.text);
    }
    base
}

//! Test support: a real control plane on loopback ports in a temp dir, and a tiny HTTP
//! client for its REST API.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mcpgw_control_plane::api::ratelimit::AdminRate;
use mcpgw_control_plane::config::ListenerBounds;
use mcpgw_control_plane::jwt::{Claims, JwtAuth, now_secs};
use mcpgw_control_plane::secrets::Secrets;
use mcpgw_control_plane::server::{self, Running, Settings};
use mcpgw_shared::secret::Secret;
use serde_json::Value;

pub const JWT_SECRET: &str = "test-jwt-secret-0123456789";
pub const DP_TOKEN: &str = "test-data-plane-token";
pub const MASTER_KEY: &str = "8f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0";
pub const PUBLIC_MCP_URL: &str = "https://mcp.example.test";

/// A control plane running in-process on `127.0.0.1:0`.
pub struct Cp {
    pub running: Option<Running>,
    pub dir: PathBuf,
    pub base: String,
    pub grpc: String,
    _tmp: Option<tempfile::TempDir>,
}

pub fn secrets() -> Secrets {
    Secrets {
        jwt_secret: Secret::new(JWT_SECRET),
        data_plane_token: Secret::new(DP_TOKEN),
        master_key: Secret::new(MASTER_KEY),
        sources: Vec::new(),
    }
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

pub fn token(tenants: &[&str]) -> String {
    token_with(tenants, now_secs() + 600, JWT_SECRET)
}

pub fn token_with(tenants: &[&str], exp: u64, secret: &str) -> String {
    JwtAuth::new(&Secret::new(secret))
        .issue(&Claims {
            sub: "tester".into(),
            exp,
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
            iat: None,
            nbf: None,
        })
        .expect("issue")
        .expose()
        .to_owned()
}

/// A REST response.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn content_type(&self) -> &str {
        self.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }

    /// Asserts a problem+json body of `status` and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type(),
            "application/problem+json",
            "{}",
            self.text
        );
        let p = self.json();
        assert_eq!(p["status"], status);
        for f in ["type", "title", "detail", "instance"] {
            assert!(p[f].is_string(), "problem lacks {f}: {p}");
        }
        assert!(
            p["instance"].as_str().unwrap_or_default().starts_with('/'),
            "{p}"
        );
        p
    }
}

pub async fn call(method: &str, url: &str, token: Option<&str>, body: Option<&Value>) -> Resp {
    call_raw(method, url, token, body.map(|b| b.to_string())).await
}

pub async fn call_raw(method: &str, url: &str, token: Option<&str>, body: Option<String>) -> Resp {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = http::Request::builder().method(method).uri(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if body.is_some() {
        req = req.header("content-type", "application/json");
    }
    let req = req
        .body(Full::new(Bytes::from(body.unwrap_or_default())))
        .expect("request");
    let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .expect("response in time")
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

/// Polls `check` until it returns true or `within` passes.
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
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

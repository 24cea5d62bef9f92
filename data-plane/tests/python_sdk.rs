//! The data plane driven end to end by the official MCP Python SDK (`mcp` on PyPI, 2.x), in
//! both of its connection modes, against the real upstream path (`mcp:call`, a local
//! recording upstream) and the simulator (`mcp:test`).
//!
//! The client is `tests/python/mcp_client.py`, run with the interpreter of a venv that this
//! test builds itself (`target/e2e/python-venv`, from `tests/python/requirements.txt`, which
//! pins the SDK and its whole dependency closure), so `cargo test --workspace` on a fresh
//! machine needs nothing but `python3` with the `venv` module and PyPI.
//!
//! How the SDK picks its lifecycle (`mcp/client/client.py`, `Client.mode`):
//! - default (`mode="auto"`): sends `server/discover` at its newest stateless revision
//!   (2026-07-28) and adopts the result, falling back to `initialize` only if the server
//!   does not answer the probe. Against this gateway it must not fall back.
//! - `mode="legacy"`: the `initialize` handshake, proposing the SDK's newest handshake-era
//!   revision (`LATEST_HANDSHAKE_VERSION`, 2025-11-25).
//!
//! The API key reaches the gateway as `Authorization: Bearer <key>` through the default
//! headers of the `httpx2.AsyncClient` the script hands to `streamable_http_client`.

mod support;

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde_json::{Value, json};
use support::e2e::{manifest_dir, python_venv, run_bounded};
use support::{Gw, RecordedRequest, bind_config, integration, upstream};

/// Bounds one run of the Python client (interpreter start-up and SDK import included).
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// The SDK release pinned in `requirements.txt`, as the script reports it.
const SDK_VERSION: &str = "2.3.0";

/// The bearer token of the published config: what the upstream must receive.
const UPSTREAM_TOKEN: &str = "tok-python-sdk";

fn python_dir() -> PathBuf {
    manifest_dir().join("tests").join("python")
}

/// The venv's interpreter, building the venv first if it is missing or stale (once per test
/// binary).
fn venv_python() -> PathBuf {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    PYTHON
        .get_or_init(|| python_venv("python-venv", &python_dir().join("requirements.txt")))
        .clone()
}

/// Runs the script: connect to `url` with the SDK in `mode` (`default` or `legacy`), list the
/// tools, call `tool` with `arguments`.
async fn run_sdk_client(url: &str, key: &str, mode: &str, tool: &str, arguments: Value) -> Output {
    let python = tokio::task::spawn_blocking(venv_python)
        .await
        .expect("venv");
    let mut cmd = Command::new(python);
    cmd.arg(python_dir().join("mcp_client.py"))
        .args([url, key, mode, tool])
        .arg(arguments.to_string())
        .env_remove("PYTHONPATH")
        .env_remove("PYTHONHOME")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    tokio::task::spawn_blocking(move || run_bounded(&mut cmd, CLIENT_LIMIT))
        .await
        .expect("client thread")
}

/// [`run_sdk_client`], which must succeed; returns the script's one-line JSON report.
async fn sdk_client(url: &str, key: &str, mode: &str, tool: &str, arguments: Value) -> Value {
    let out = run_sdk_client(url, key, mode, tool, arguments).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK client ({mode}, {tool}) failed ({})\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "one JSON line expected:\n{stdout}\nstderr:\n{stderr}"
    );
    eprintln!("{mode} {tool}: {}", lines[0]);
    serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("not JSON ({e}): {}", lines[0]))
}

/// The tools, created out of id order (`tools/list` answers in id order).
fn tools() -> Vec<Value> {
    vec![
        json!({
            "id": "quote",
            "title": "Quote",
            "description": "Quotes a price",
            "inputSchema": {"type": "object", "properties": {"symbol": {"type": "string"}}},
            "outputSchema": {
                "type": "object",
                "properties": {"symbol": {"type": "string"}, "price": {"type": "number"}},
                "required": ["symbol", "price"]
            },
            "http": {"method": "GET", "path": "/quote"},
            "simulation": {"response": {"symbol": "ACME", "price": 42.5}}
        }),
        json!({
            "id": "get_item",
            "description": "Fetches an item",
            "inputSchema": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "q": {"type": "string"}},
                "required": ["id"]
            },
            "http": {"method": "GET", "path": "/items/{id}", "query": ["q"]}
        }),
        json!({
            "id": "add_note",
            "description": "Adds a note",
            "inputSchema": {
                "type": "object",
                "properties": {"id": {"type": "string"}, "note": {"type": "string"}},
                "required": ["id"]
            },
            "http": {"method": "POST", "path": "/items/{id}/notes"}
        }),
    ]
}

const TOOL_NAMES: [&str; 3] = ["add_note", "get_item", "quote"];

/// The upstream's answer to `r`: what it saw, as JSON.
fn upstream_body(r: &RecordedRequest) -> Value {
    json!({"upstream": true, "method": r.method, "uri": r.uri, "body": r.body})
}

/// A gateway with `acme/crm` bound to a recording upstream through a bearer-token config.
async fn gateway() -> (Gw, String, support::Recorded) {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    let (base, rec) = upstream(Arc::new(|r: &RecordedRequest| {
        (
            200,
            vec![("content-type".to_owned(), "application/json".to_owned())],
            upstream_body(r).to_string().into_bytes(),
        )
    }))
    .await;
    bind_config(
        &gw,
        "acme",
        "crm",
        &base,
        json!({"type": "BEARER", "parameters": {"token": UPSTREAM_TOKEN}}),
    )
    .await;
    (gw, key, rec)
}

/// Asserts what every report carries: the SDK, the negotiated lifecycle and the tool names.
fn assert_connection(report: &Value, mode: &str) {
    assert_eq!(report["sdk"], SDK_VERSION, "{report}");
    assert_eq!(report["mode"], mode, "{report}");
    let (version, era) = match mode {
        "default" => ("2026-07-28", "discover"),
        "legacy" => ("2025-11-25", "initialize"),
        other => panic!("unknown mode {other}"),
    };
    assert_eq!(report["protocolVersion"], version, "{report}");
    assert_eq!(report["era"], era, "{report}");
    // Both lifecycles carry the server's identity: `serverInfo` of `initialize`, the
    // `serverInfo` stamp in the `_meta` of `server/discover`.
    assert_eq!(
        report["serverInfo"],
        json!({"name": "crm", "title": "crm API", "version": env!("CARGO_PKG_VERSION")}),
        "{report}"
    );
    assert_eq!(report["tools"], json!(TOOL_NAMES), "{report}");
}

/// The only content block of a report's result, which must be text.
fn only_text(report: &Value) -> &str {
    let content = &report["result"]["content"];
    assert_eq!(content.as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(content[0]["type"], "text", "{report}");
    content[0]["text"].as_str().expect("text")
}

async fn sandbox(mode: &str) {
    let (gw, key, rec) = gateway().await;
    let url = gw.url("acme", "crm", "mcp:test");

    let report = sdk_client(&url, &key, mode, "quote", json!({"symbol": "ACME"})).await;
    assert_connection(&report, mode);
    let result = &report["result"];
    assert_eq!(result["isError"], false, "{report}");
    // The scripted response, as compact JSON text.
    assert_eq!(only_text(&report), r#"{"price":42.5,"symbol":"ACME"}"#);
    assert_eq!(
        result["structuredContent"],
        json!({"symbol": "ACME", "price": 42.5}),
        "{report}"
    );
    // The simulator never reaches the bound upstream.
    assert!(rec.all().is_empty(), "{:?}", rec.all());
}

async fn upstream_call(mode: &str) {
    let (gw, key, rec) = gateway().await;
    let url = gw.url("acme", "crm", "mcp:call");

    let report = sdk_client(
        &url,
        &key,
        mode,
        "get_item",
        json!({"id": "42", "q": "blue"}),
    )
    .await;
    assert_connection(&report, mode);

    let seen = rec.all();
    assert_eq!(seen.len(), 1, "{seen:?}");
    let r = &seen[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.uri, "/items/42?q=blue");
    assert_eq!(
        r.headers.get("authorization").and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {UPSTREAM_TOKEN}").as_str()),
        "{r:?}"
    );
    // The client's API key stops at the gateway.
    for (name, value) in &r.headers {
        let value = value.to_str().unwrap_or_default();
        assert!(!value.contains(&key), "API key forwarded in {name}: {r:?}");
    }

    let result = &report["result"];
    assert_eq!(result["isError"], false, "{report}");
    let text: Value = serde_json::from_str(only_text(&report)).expect("JSON text");
    assert_eq!(text, upstream_body(r), "{report}");
    assert_eq!(text["uri"], "/items/42?q=blue");
    // No outputSchema: the upstream's JSON comes back as text only.
    assert_eq!(result["structuredContent"], Value::Null, "{report}");
}

#[tokio::test]
async fn python_sdk_default_mode_on_the_simulator() {
    sandbox("default").await;
}

#[tokio::test]
async fn python_sdk_legacy_mode_on_the_simulator() {
    sandbox("legacy").await;
}

#[tokio::test]
async fn python_sdk_default_mode_through_the_upstream() {
    upstream_call("default").await;
}

#[tokio::test]
async fn python_sdk_legacy_mode_through_the_upstream() {
    upstream_call("legacy").await;
}

#[tokio::test]
async fn python_sdk_rejected_with_a_wrong_key() {
    let (gw, key, rec) = gateway().await;
    for endpoint in ["mcp:test", "mcp:call"] {
        let url = gw.url("acme", "crm", endpoint);
        for mode in ["default", "legacy"] {
            let out =
                run_sdk_client(&url, "not-the-key", mode, "get_item", json!({"id": "1"})).await;
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!out.status.success(), "{mode} {endpoint}: {stderr}");
            assert!(out.stdout.is_empty(), "{mode} {endpoint}: {:?}", out.stdout);
            // The gateway's JSON-RPC error (on a 401), surfaced by the SDK as an `MCPError`.
            // In the default mode the SDK falls back from `server/discover` to `initialize`
            // on the same keep-alive connection, which the gateway may have closed after
            // the 401 without saying so: then the fallback fails with "Server disconnected
            // without sending a response" instead (see the ignored test below). Either way
            // no report comes out; the message is pinned for the legacy mode only.
            if mode == "legacy" {
                assert!(
                    stderr.contains("mcp.shared.exceptions.MCPError: the API key is not valid"),
                    "{mode} {endpoint}: {stderr}"
                );
            }
        }
    }
    assert!(rec.all().is_empty(), "{:?}", rec.all());
    // The same client with the key gets through.
    let url = gw.url("acme", "crm", "mcp:call");
    let report = sdk_client(&url, &key, "legacy", "get_item", json!({"id": "1"})).await;
    assert_eq!(report["result"]["isError"], false, "{report}");
    assert_eq!(rec.all().len(), 1);
}

/// On one HTTP/1.1 connection: the head and, `pause` later, the body of a POST with a wrong
/// key, then a `GET /healthz`. Returns the first response and the second (or how it failed).
fn refused_then_reused(
    addr: std::net::SocketAddr,
    path: &str,
    pause: Duration,
) -> (String, Result<String, String>) {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream.set_nodelay(true).expect("nodelay");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#;
    let head = format!(
        "POST {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer not-the-key\r\ncontent-type: application/json\r\naccept: application/json, text/event-stream\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    std::thread::sleep(pause);
    stream.write_all(body.as_bytes()).expect("body");
    let read_response = |stream: &mut std::net::TcpStream| -> Result<String, String> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let text = String::from_utf8_lossy(&buf).into_owned();
            if let Some(end) = text.find("\r\n\r\n") {
                let len = text[..end]
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length: ")
                            .map(|v| v.trim().parse::<usize>().expect("length"))
                    })
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    return Ok(text);
                }
            }
            match stream.read(&mut chunk) {
                Ok(0) => {
                    return Err(format!(
                        "connection closed after {} bytes: {text:?}",
                        buf.len()
                    ));
                }
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("{e}: {text:?}")),
            }
        }
    };
    let first = read_response(&mut stream).expect("the refusal");
    let second = stream
        .write_all(format!("GET /healthz HTTP/1.1\r\nhost: {addr}\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())
        .and_then(|()| read_response(&mut stream));
    (first, second)
}

/// A refusal sent before the body has arrived (the body is sent late here): hyper cannot
/// drain a body it has not received and closes the connection after the response, so the
/// refusal must announce `Connection: close` — otherwise a client that pools connections
/// (httpx2 does) sends its next request into a closed socket. Found through the Python SDK's
/// intermittent failures with a wrong key.
#[tokio::test]
async fn refusal_before_the_body_keeps_or_closes_the_connection_cleanly() {
    let (gw, _key, _rec) = gateway().await;
    let addr = gw.dp.addr;
    let path = "/v1/tenants/acme/integrations/crm/mcp:test".to_owned();
    let (first, second) = tokio::task::spawn_blocking(move || {
        refused_then_reused(addr, &path, Duration::from_millis(200))
    })
    .await
    .expect("raw client");
    eprintln!("first:\n{first}\nsecond: {second:?}");
    assert!(first.starts_with("HTTP/1.1 401"), "{first}");
    let announced_close = first
        .to_ascii_lowercase()
        .contains("\r\nconnection: close\r\n");
    assert!(
        announced_close || second.is_ok(),
        "the 401 kept the connection alive, but the next request on it got: {second:?}\n{first}"
    );
}

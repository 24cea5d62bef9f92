//! Edges of the MCP request path: ids echoed byte for byte, a request timeout that bounds the
//! whole request, a client gone mid-body, batches larger than the burst, and headers that
//! are sent twice.

mod support;

use std::time::Duration;

use serde_json::json;
use support::{DpOptions, Gw, echo_tool, eventually, integration, modern, request, rpc, send};
use tokio::io::AsyncWriteExt;

/// A sandbox tool that takes `ms` to answer.
fn slow_tool(id: &str, ms: u64) -> serde_json::Value {
    json!({
        "id": id,
        "description": "slow",
        "inputSchema": {"type": "object"},
        "http": {"method": "GET", "path": "/slow"},
        "simulation": {"response": {"ok": true}, "latencyMs": ms}
    })
}

#[tokio::test]
async fn ids_come_back_exactly_as_sent() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    for id in ["18446744073709551616", "1.50", "1.0e2", "-0"] {
        for method in ["ping", "tools/list"] {
            let body = format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"{method}"}}"#);
            let r = send(
                "POST",
                &url,
                &[
                    ("authorization", &format!("Bearer {key}")),
                    ("content-type", "application/json"),
                    ("mcp-protocol-version", "2025-06-18"),
                ],
                Some(body),
            )
            .await;
            assert_eq!(r.status, 200, "{}", r.text);
            assert!(
                r.text.contains(&format!("\"id\":{id},"))
                    || r.text.contains(&format!("\"id\":{id}}}")),
                "{method} {id}: {}",
                r.text
            );
        }
    }
}

#[tokio::test]
async fn the_request_timeout_bounds_the_whole_request() {
    let gw = Gw::start_with(DpOptions {
        request_timeout_ms: 1_500,
        ..DpOptions::default()
    })
    .await;
    let key = integration(
        &gw,
        "acme",
        "crm",
        &[slow_tool("slow", 4_000), slow_tool("quick", 500)],
    )
    .await;
    let url = gw.url("acme", "crm", "mcp:test");
    let started = std::time::Instant::now();
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2025-06-18")],
        &request(7, "tools/call", json!({"name": "slow", "arguments": {}})),
    )
    .await;
    let err = r.rpc_error(504, -32000);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("1500 ms"),
        "{err}"
    );
    assert_eq!(r.json()["id"], 7);
    assert!(
        started.elapsed() < Duration::from_millis(3_900),
        "cut at the timeout"
    );

    // A 2025-03-26 batch: each message is quick, all of them together are not.
    let batch = json!([
        request(1, "tools/call", json!({"name": "quick", "arguments": {}})),
        request(2, "tools/call", json!({"name": "quick", "arguments": {}})),
        request(3, "tools/call", json!({"name": "quick", "arguments": {}})),
        request(4, "tools/call", json!({"name": "quick", "arguments": {}})),
    ]);
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2025-03-26")],
        &batch,
    )
    .await;
    assert_eq!(r.status, 504, "{}", r.text);

    // A progress stream (its first tick at a quarter of the 4 s latency) ends with an error at
    // the timeout, not when the call finishes.
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2025-06-18")],
        &request(
            9,
            "tools/call",
            json!({"name": "slow", "arguments": {}, "_meta": {"progressToken": "p"}}),
        ),
    )
    .await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let last = r
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back()
        .expect("events");
    let last: serde_json::Value = serde_json::from_str(last).expect("json");
    assert_eq!(last["id"], 9);
    assert_eq!(last["error"]["code"], -32000, "{last}");
}

#[tokio::test]
async fn a_client_gone_mid_body_is_counted_as_aborted_not_as_too_large() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let mut s = tokio::net::TcpStream::connect(gw.dp.addr)
        .await
        .expect("connect");
    let head = format!(
        "POST /v1/tenants/acme/integrations/crm/mcp:test HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"jsonrpc\""
    );
    s.write_all(head.as_bytes()).await.expect("write");
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(s);
    let counted = eventually(Duration::from_secs(5), || async {
        gw.dp.metrics.render().contains(
            "mcpgw_requests_total{endpoint=\"test\",method=\"other\",outcome=\"aborted\"} 1",
        )
    })
    .await;
    assert!(counted, "{}", gw.dp.metrics.render());
}

#[tokio::test]
async fn a_batch_larger_than_the_burst_is_refused_for_good_not_rate_limited() {
    let mut opts = DpOptions::default();
    opts.limits.burst = 3;
    let gw = Gw::start_with(opts).await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let (url, key) = (&url, &key);
    let pings = |n: i64| async move {
        let batch = json!(
            (1..=n)
                .map(|i| request(i, "ping", json!({})))
                .collect::<Vec<_>>()
        );
        let legacy = [("mcp-protocol-version", "2025-03-26")];
        rpc(url, key, &legacy, &batch).await
    };
    let r = pings(5).await;
    let err = r.rpc_error(400, -32600);
    assert_eq!(err["data"]["burst"], 3);
    assert!(
        r.header("retry-after").is_none(),
        "waiting would never help"
    );
    // Within the burst it passes.
    let r = pings(3).await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn headers_sent_twice_are_refused() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo"), echo_tool("other")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let params = json!({
        "name": "echo",
        "arguments": {},
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {}
        }
    });
    let body = request(1, "tools/call", params);
    // The first Mcp-Name matches the body; a proxy routing on the second would disagree.
    let r = rpc(
        &url,
        &key,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-name", "echo"),
            ("mcp-name", "other"),
        ],
        &body,
    )
    .await;
    let err = r.rpc_error(400, -32020);
    assert!(
        err["message"]
            .as_str()
            .unwrap_or_default()
            .contains("more than once"),
        "{err}"
    );
    let r = rpc(
        &url,
        &key,
        &[
            ("mcp-protocol-version", "2026-07-28"),
            ("mcp-method", "tools/call"),
            ("mcp-method", "tools/list"),
            ("mcp-name", "echo"),
        ],
        &body,
    )
    .await;
    r.rpc_error(400, -32020);
    // The well-formed request passes.
    let r = modern(
        &url,
        &key,
        2,
        "tools/call",
        json!({"name": "echo", "arguments": {}}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // Two keys are ambiguous: refused even though the first one is valid.
    let r = send(
        "POST",
        &url,
        &[
            ("authorization", &format!("Bearer {key}")),
            ("x-api-key", "mcpgw_somebody_else"),
            ("content-type", "application/json"),
        ],
        Some(request(3, "ping", json!({})).to_string()),
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

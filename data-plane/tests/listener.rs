//! The MCP listener reaps connections that send nothing, and past its connection cap keeps
//! `/healthz` answering while MCP calls get a clear JSON-RPC refusal.

mod support;

use std::time::Duration;

use support::{DpOptions, Gw};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn exchange(addr: std::net::SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(request.as_bytes()).await.expect("write");
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn silent_connections_are_reaped() {
    let gw = Gw::start_with(DpOptions {
        header_timeout_ms: 300,
        ..DpOptions::default()
    })
    .await;
    let mut s = TcpStream::connect(gw.dp.addr).await.expect("connect");
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        let mut buf = [0u8; 64];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "a connection that sent nothing was closed");
}

#[tokio::test]
async fn past_the_cap_healthz_answers_and_mcp_gets_a_json_rpc_refusal() {
    let gw = Gw::start_with(DpOptions {
        max_connections: 2,
        ..DpOptions::default()
    })
    .await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(gw.dp.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let health = exchange(
        gw.dp.addr,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let refused = exchange(
        gw.dp.addr,
        &format!(
            "POST /v1/tenants/t/integrations/i/mcp:call HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        ),
    )
    .await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("retry-after: 1"), "{refused}");
    assert!(refused.contains("\"code\":-32000"), "{refused}");
    assert!(refused.contains("connection limit"), "{refused}");
    let metrics = gw.dp.metrics.render();
    assert!(
        metrics.contains("mcpgw_connections_over_cap_total{listener=\"mcp\"} 2"),
        "{metrics}"
    );
    drop(held);
}

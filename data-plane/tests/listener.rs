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

#[tokio::test]
async fn an_admin_listener_takes_metrics_and_readiness_off_the_mcp_port() {
    let gw = Gw::start_with(DpOptions {
        admin_listener: true,
        ..DpOptions::default()
    })
    .await;
    gw.wait_ready().await;
    let (mcp, admin) = (gw.dp.addr, gw.dp.admin_addr);
    assert_ne!(mcp, admin);
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
    // The operator's paths answer on the admin port only.
    for path in ["/metrics", "/readyz"] {
        let on_admin = exchange(admin, &get(path)).await;
        assert!(on_admin.starts_with("HTTP/1.1 200"), "{path}: {on_admin}");
        let on_mcp = exchange(mcp, &get(path)).await;
        assert!(on_mcp.starts_with("HTTP/1.1 404"), "{path}: {on_mcp}");
    }
    assert!(
        exchange(admin, &get("/metrics"))
            .await
            .contains("# TYPE mcpgw_")
    );
    // Liveness answers on both; MCP on the MCP port only.
    assert!(
        exchange(mcp, &get("/healthz"))
            .await
            .starts_with("HTTP/1.1 200")
    );
    assert!(
        exchange(admin, &get("/healthz"))
            .await
            .starts_with("HTTP/1.1 200")
    );
    let mcp_path = "/v1/tenants/acme/integrations/crm/mcp:call";
    let post = format!(
        "POST {mcp_path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}"
    );
    assert!(exchange(admin, &post).await.starts_with("HTTP/1.1 404"));
    assert!(exchange(mcp, &post).await.starts_with("HTTP/1.1 401"));
}

#[tokio::test]
async fn without_an_admin_listener_everything_is_on_the_mcp_port() {
    let gw = Gw::start().await;
    gw.wait_ready().await;
    assert_eq!(gw.dp.addr, gw.dp.admin_addr);
    let r = exchange(
        gw.dp.addr,
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
}

#[tokio::test]
async fn an_empty_token_is_refused_at_start() {
    let refused = mcpgw_data_plane::start(mcpgw_data_plane::Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        ..mcpgw_data_plane::Settings::default()
    })
    .await
    .err()
    .expect("refused");
    assert!(matches!(refused, mcpgw_data_plane::StartError::NoToken));
}

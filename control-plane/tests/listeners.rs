//! The control plane's two listeners reap connections that send nothing, refuse clearly past
//! their connection cap while `/healthz` keeps answering, and export their counters.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use mcpgw_control_plane::server::{self, Running, Settings};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A control plane whose listeners time out after `timeout_ms` (header, idle and body).
async fn start(dir: &std::path::Path, max_connections: usize, timeout_ms: u64) -> Running {
    server::start(Settings {
        data_dir: dir.to_owned(),
        grpc_listen: "127.0.0.1:0".parse().expect("addr"),
        http_listen: "127.0.0.1:0".parse().expect("addr"),
        public_mcp_url: support::PUBLIC_MCP_URL.into(),
        admin_rate: mcpgw_control_plane::api::ratelimit::AdminRate {
            per_second: 0,
            burst: 0,
        },
        secrets: support::secrets(),
        listener: mcpgw_control_plane::config::ListenerBounds {
            max_connections,
            header_timeout_ms: timeout_ms,
            idle_timeout_ms: timeout_ms,
            body_timeout_ms: timeout_ms,
        },
        ..Settings::default()
    })
    .await
    .expect("control plane starts")
}

/// Reads until the server closes the connection; false if it is still open after `within`.
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    tokio::time::timeout(within, async {
        let mut buf = [0u8; 1024];
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await
    .is_ok()
}

async fn get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = vec![0u8; 8192];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("answered")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[tokio::test]
async fn silent_connections_are_reaped_on_both_listeners() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cp = start(tmp.path(), 100, 300).await;
    for addr in [cp.http_addr, cp.grpc_addr] {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        assert!(
            closed_within(&mut s, Duration::from_secs(5)).await,
            "{addr} closed a connection that sent nothing"
        );
    }
    // A slow request body on REST is cut off too.
    let mut s = TcpStream::connect(cp.http_addr).await.expect("connect");
    s.write_all(b"POST /v1/tenants/acme/integrations HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\nContent-Type: application/json\r\n\r\n{")
        .await
        .expect("write");
    assert!(closed_within(&mut s, Duration::from_secs(5)).await);
    let metrics = get(cp.http_addr, "/metrics").await;
    assert!(
        metrics.contains(
            "mcpgw_connections_closed_total{listener=\"grpc\",reason=\"header_timeout\"} 1"
        ),
        "{metrics}"
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn past_the_cap_healthz_answers_and_the_api_refuses_with_a_problem() {
    let tmp = tempfile::tempdir().expect("tempdir");
    // Held connections must outlive the test's requests, however loaded the machine.
    let cp = start(tmp.path(), 2, 10_000).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(TcpStream::connect(cp.http_addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let health = get(cp.http_addr, "/healthz").await;
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let refused = get(cp.http_addr, "/v1/tenants/acme/integrations").await;
    assert!(refused.starts_with("HTTP/1.1 503"), "{refused}");
    assert!(refused.contains("application/problem+json"), "{refused}");
    assert!(
        refused.contains("urn:mcpgw:problem:connection-limit"),
        "{refused}"
    );
    drop(held);
    cp.shutdown().await;
}

#[tokio::test]
async fn an_admin_listener_takes_metrics_off_the_rest_port() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = server::start(Settings {
        admin_listen: Some("127.0.0.1:0".parse().expect("addr")),
        ..support::settings(dir.path(), 0)
    })
    .await
    .expect("control plane starts");
    assert_ne!(cp.admin_addr, cp.http_addr);
    let on_admin = get(cp.admin_addr, "/metrics").await;
    assert!(on_admin.starts_with("HTTP/1.1 200"), "{on_admin}");
    assert!(on_admin.contains("# TYPE mcpgw_"), "{on_admin}");
    let on_rest = get(cp.http_addr, "/metrics").await;
    assert!(on_rest.starts_with("HTTP/1.1 404"), "{on_rest}");
    for addr in [cp.admin_addr, cp.http_addr] {
        assert!(get(addr, "/healthz").await.starts_with("HTTP/1.1 200"));
    }
    // The admin API stays on the REST port only.
    assert!(
        get(cp.admin_addr, "/v1/quarantine")
            .await
            .starts_with("HTTP/1.1 404")
    );
    cp.shutdown().await;

    // Without one, /metrics is on the REST port.
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = support::start_in(dir.path(), 0).await;
    assert_eq!(cp.admin_addr, cp.http_addr);
    assert!(
        get(cp.http_addr, "/metrics")
            .await
            .starts_with("HTTP/1.1 200")
    );
    cp.shutdown().await;
}

#[tokio::test]
async fn empty_secrets_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut settings = support::settings(dir.path(), 0);
    settings.secrets.jwt_secret = mcpgw_shared::secret::Secret::default();
    let err = server::start(settings).await.err().expect("refused");
    assert!(err.to_string().contains("MCPGW_JWT_SECRET"), "{err}");
}

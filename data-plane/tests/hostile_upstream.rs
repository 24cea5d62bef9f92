//! A hostile upstream — endless and dripping bodies, resets, huge headers, a gzip bomb,
//! redirects to loopback and metadata — cannot hold the data plane's memory or threads: every
//! call is answered with a clear `isError` result, in bounded time, and memory stays flat.

mod support;

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{Gw, bind_config, integration, modern, rss_kib};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The misbehaviours, by path, each with what the result must say.
const CASES: [(&str, &str); 9] = [
    ("endless", "byte limit"),
    ("drip", "timeout"),
    ("silent", "timeout"),
    ("reset", "before a response arrived"),
    ("huge-headers", "before a response arrived"),
    ("gzip", "'gzip'"),
    ("redirect-loopback", "redirects are not followed"),
    ("redirect-metadata", "redirects are not followed"),
    // A reset right after a partial response: whether the head was read before the reset
    // arrived is a race of the two sockets, and either answer is the right one.
    (
        "truncated",
        "connection failed while sending the body|failed before a response arrived",
    ),
];

async fn read_head(s: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut buf).await.ok()?;
        if n == 0 || head.len() > 64 * 1024 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    text.split_whitespace().nth(1).map(str::to_owned)
}

/// Serves every misbehaviour on one loopback port; returns its base URL.
async fn hostile_upstream() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Some(path) = read_head(&mut s).await else {
                    return;
                };
                let _ = misbehave(&mut s, path.trim_start_matches('/'), addr).await;
            });
        }
    });
    format!("http://{addr}")
}

async fn misbehave(s: &mut TcpStream, path: &str, me: std::net::SocketAddr) -> std::io::Result<()> {
    match path {
        "endless" => {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await?;
            let chunk = format!("10000\r\n{}\r\n", "x".repeat(0x10000));
            loop {
                s.write_all(chunk.as_bytes()).await?;
            }
        }
        "drip" => {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n").await?;
            loop {
                s.write_all(b"x").await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        "silent" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        }
        "reset" => {
            s.set_zero_linger()?;
            Ok(())
        }
        "huge-headers" => {
            s.write_all(b"HTTP/1.1 200 OK\r\n").await?;
            for i in 0..20_000 {
                s.write_all(format!("X-Padding-{i}: {}\r\n", "y".repeat(100)).as_bytes()).await?;
            }
            s.write_all(b"Content-Length: 0\r\n\r\n").await
        }
        "gzip" => {
            // A gzip stream that would inflate to gigabytes: it must not be inflated.
            let mut bomb = vec![0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03];
            bomb.extend(std::iter::repeat_n(0u8, 4096));
            s.write_all(format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: {}\r\n\r\n", bomb.len()).as_bytes()).await?;
            s.write_all(&bomb).await
        }
        "redirect-loopback" => {
            s.write_all(format!("HTTP/1.1 302 Found\r\nLocation: http://{me}/admin?token=x\r\nContent-Length: 0\r\n\r\n").as_bytes()).await
        }
        "redirect-metadata" => {
            s.write_all(b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/latest/meta-data/\r\nContent-Length: 0\r\n\r\n").await
        }
        "truncated" => {
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5000\r\n\r\nonly a little").await?;
            s.set_zero_linger()
        }
        _ => s.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await,
    }
}

fn tools() -> Vec<Value> {
    CASES
        .iter()
        .map(|(path, _)| {
            json!({
                "id": path.replace('-', "_"),
                "description": format!("misbehaves: {path}"),
                "inputSchema": {"type": "object"},
                "http": {"method": "GET", "path": format!("/{path}")},
                "timeoutMs": 800
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_upstream_gets_clear_errors_and_cannot_grow_memory() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    bind_config(
        &gw,
        "acme",
        "crm",
        &hostile_upstream().await,
        json!({"type": "NONE"}),
    )
    .await;
    let url = gw.url("acme", "crm", "mcp:call");

    let round = || async {
        let calls = CASES.iter().map(|(path, expect)| {
            let (url, key) = (url.clone(), key.clone());
            async move {
                let started = Instant::now();
                let r = modern(
                    &url,
                    &key,
                    1,
                    "tools/call",
                    json!({"name": path.replace('-', "_"), "arguments": {}}),
                )
                .await;
                assert_eq!(r.status, 200, "{path}: {}", r.text);
                let result = &r.json()["result"];
                let text = result["content"][0]["text"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                assert_eq!(result["isError"], true, "{path}: {result}");
                assert!(
                    expect.split('|').any(|e| text.contains(e)),
                    "{path}: {text}"
                );
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "{path} took {:?}",
                    started.elapsed()
                );
            }
        });
        futures_join_all(calls).await;
    };
    // Warm up (allocator pools, connection pools), then measure over repeated rounds.
    round().await;
    let before = rss_kib();
    for _ in 0..15 {
        round().await;
    }
    let after = rss_kib();
    println!(
        "hostile upstream: 15 rounds of {} misbehaviours, RSS {before} -> {after} KiB",
        CASES.len()
    );
    assert!(
        after.saturating_sub(before) < 64 * 1024,
        "memory grew by {} KiB over 15 rounds ({before} -> {after} KiB)",
        after.saturating_sub(before)
    );
}

/// Runs futures concurrently (a tiny join_all, so the test needs no futures crate).
async fn futures_join_all<F: std::future::Future<Output = ()> + Send + 'static>(
    futures: impl Iterator<Item = F>,
) {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    for h in handles {
        h.await.expect("call task");
    }
}

//! Load benchmark against the real servers on loopback (not run in CI):
//!
//! * `tools/list` through the gateway vs a trivial hyper server returning the same bytes;
//! * `tools/call` through the gateway to an upstream vs the same upstream called directly.
//!
//! Both sides of each pair are measured in the same run, so the ratio is what to read.
//! Run with `cargo bench -p mcpgw-data-plane --bench load` (`LOAD_SECS`, `LOAD_CONNS` tune it;
//! `LOAD_ONLY=list` or `LOAD_ONLY=call` runs one pair).

#[path = "../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use mcpgw_data_plane::config::LimitDefaults;
use serde_json::{Value, json};
use support::{DpOptions, Gw, bind_config, integration, request};

/// A server answering every request with `body`.
async fn fixed_server(body: Bytes, content_type: &'static str) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let svc =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let body = body.clone();
                        async move {
                            let _ = req.into_body().collect().await;
                            let mut r = http::Response::new(Full::new(body));
                            r.headers_mut().insert(
                                "content-type",
                                http::HeaderValue::from_static(content_type),
                            );
                            Ok::<_, Infallible>(r)
                        }
                    });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    format!("http://{addr}")
}

struct Report {
    rps: f64,
    p50_us: u64,
    p99_us: u64,
    errors: u64,
}

/// `conns` keep-alive connections POSTing `body` to `url` for `secs`.
async fn load(
    url: &str,
    headers: Arc<Vec<(String, String)>>,
    body: Bytes,
    conns: usize,
    secs: f64,
) -> Report {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (url, headers, body) = (url.to_owned(), headers.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let uri: http::Uri = url.parse().expect("uri");
            let host = format!(
                "{}:{}",
                uri.host().expect("host"),
                uri.port_u16().expect("port")
            );
            let stream = tokio::net::TcpStream::connect(&host)
                .await
                .expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                    .await
                    .expect("handshake");
            tokio::spawn(conn);
            let mut lat = Vec::new();
            let mut errors = 0u64;
            while Instant::now() < deadline {
                let mut req = http::Request::builder()
                    .method("POST")
                    .uri(uri.path())
                    .header("host", &host);
                for (k, v) in headers.iter() {
                    req = req.header(k.as_str(), v.as_str());
                }
                let req = req.body(Full::new(body.clone())).expect("request");
                let t = Instant::now();
                match sender.send_request(req).await {
                    Ok(resp) => {
                        let ok = resp.status().is_success();
                        let _ = resp.into_body().collect().await;
                        lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                        errors += u64::from(!ok);
                    }
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            (lat, errors)
        }));
    }
    let started = Instant::now();
    let mut all = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let (lat, e) = t.await.expect("task");
        all.extend(lat);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64().max(secs);
    all.sort_unstable();
    let pct = |p: f64| {
        all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    Report {
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        errors,
    }
}

fn print(name: &str, r: &Report) {
    println!(
        "{name:<44} {:>9.0} req/s   p50 {:>6} us   p99 {:>6} us   errors {}",
        r.rps, r.p50_us, r.p99_us, r.errors
    );
}

fn main() {
    let secs: f64 = std::env::var("LOAD_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let conns: usize = std::env::var("LOAD_CONNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(32);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let gw = Gw::start_with(DpOptions {
            limits: LimitDefaults {
                requests_per_second: 1e6,
                burst: 1_000_000,
                max_concurrent_calls: 100_000,
                max_concurrent_calls_cap: 100_000,
            },
            ..DpOptions::default()
        })
        .await;
        let tools: Vec<Value> = (0..10)
            .map(|i| json!({
                "id": format!("tool_{i}"), "title": format!("Tool {i}"), "description": "Fetch an item by id",
                "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
                "http": {"method": "GET", "path": "/items/{id}"}
            }))
            .collect();
        let key = integration(&gw, "bench", "api", &tools).await;
        let mcp_headers = |version: &str| {
            Arc::new(vec![
                ("authorization".to_owned(), format!("Bearer {key}")),
                ("content-type".to_owned(), "application/json".to_owned()),
                ("mcp-protocol-version".to_owned(), version.to_owned()),
            ])
        };
        println!("load: {conns} connections, {secs} s per run, loopback, one process (2 worker threads)");

        let only = std::env::var("LOAD_ONLY").unwrap_or_default();
        // tools/list vs a trivial server returning the same bytes.
        let list = Bytes::from(request(1, "tools/list", json!({})).to_string());
        let test_url = gw.url("bench", "api", "mcp:test");
        let sample = support::rpc(&test_url, &key, &[("mcp-protocol-version", "2025-11-25")], &request(1, "tools/list", json!({}))).await;
        let trivial = fixed_server(Bytes::from(sample.text.clone()), "application/json").await;
        if only != "call" {
            let base = load(&trivial, Arc::new(vec![]), list.clone(), conns, secs).await;
            let gwr = load(&test_url, mcp_headers("2025-11-25"), list, conns, secs).await;
            print("baseline: trivial hyper, same bytes", &base);
            print("gateway: tools/list (mcp:test)", &gwr);
            println!("tools/list throughput ratio gateway/baseline: {:.2}", gwr.rps / base.rps);
        }

        // tools/call through the gateway vs the upstream directly.
        let upstream = fixed_server(Bytes::from_static(b"{\"id\":\"42\",\"name\":\"widget\"}"), "application/json").await;
        bind_config(&gw, "bench", "api", &upstream, json!({"type": "BEARER", "parameters": {"token": "t"}})).await;
        let call = Bytes::from(request(2, "tools/call", json!({"name": "tool_3", "arguments": {"id": "42"}})).to_string());
        if only != "list" {
            let direct = load(&format!("{upstream}/items/42"), Arc::new(vec![]), Bytes::new(), conns, secs).await;
            let via = load(&gw.url("bench", "api", "mcp:call"), mcp_headers("2025-11-25"), call, conns, secs).await;
            print("baseline: upstream called directly", &direct);
            print("gateway: tools/call (mcp:call -> upstream)", &via);
            println!("tools/call throughput ratio gateway/direct: {:.2}", via.rps / direct.rps);
        }
    });
}

//! Load benchmark (not run in CI): `wrk` against the release `data-plane` binary on loopback,
//! with nginx as the baseline measured in the same run.
//!
//! * `tools/list`: the gateway vs nginx serving the same response bytes;
//! * `tools/call`: the gateway calling an nginx upstream vs that upstream called directly;
//! * for each, the data plane's CPU time (user + system, from `/proc`) per request;
//! * at one connection, the latency p50 / p99 of both sides and what the gateway adds.
//!
//! `cargo bench -p mcpgw-data-plane --bench load` (`LOAD_SECS`, default 5 per run;
//! `LOAD_CONNS`, default 32; `LOAD_ONLY=list` or `LOAD_ONLY=call` runs one pair; `LOAD_WRAPPER` runs the data plane under a profiler, e.g.
//! `valgrind --tool=callgrind --callgrind-out-file=/tmp/dp.cg`). `wrk` and `nginx` come from
//! Debian's packages and are installed when missing.

#[path = "../tests/support/mod.rs"]
mod support;

#[path = "process/mod.rs"]
mod process;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use mcpgw_control_plane::service::Service;
use mcpgw_control_plane::service::views::{McpPatch, NewConfig, NewIntegration};
use process::{cpu_time, wait_version};
use serde_json::{Value, json};
use support::{admin, request, rpc, start_cp};

/// Installs `wrk` and `nginx` from Debian's packages when they are missing.
fn ensure_tools() {
    let have = |bin: &str| {
        Command::new("sh")
            .args(["-c", &format!("command -v {bin}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if have("wrk") && have("nginx") {
        return;
    }
    println!("installing wrk and nginx from Debian's packages ...");
    let ok = Command::new("sh")
        .args([
            "-c",
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light",
        ])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok && have("wrk") && have("nginx"),
        "wrk and nginx are needed: apt-get install wrk nginx-light"
    );
}

/// nginx with `workers` processes on a free loopback port: `/list.json` is a static file
/// (answered to POST too) and `/items/...` a small fixed JSON body, as a REST upstream.
struct Nginx {
    child: Child,
    url: String,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-QUIT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

fn start_nginx(dir: &Path, list_body: &str) -> Nginx {
    std::fs::write(dir.join("list.json"), list_body).expect("list.json");
    let port = free_port();
    let d = dir.display();
    let conf = format!(
        r#"daemon off;
master_process on;
user root;
worker_processes 2;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  keepalive_requests 100000000;
  server {{
    listen 127.0.0.1:{port};
    location = /list.json {{ root {d}; default_type application/json; error_page 405 =200 $uri; }}
    location /items/ {{ default_type application/json; return 200 '{{"id":"42","name":"widget","tags":["a","b"]}}'; }}
  }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("nginx.conf");
    let child = Command::new("nginx")
        .args([
            "-c",
            &path.display().to_string(),
            "-e",
            &format!("{d}/error.log"),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    let limit = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(std::time::Instant::now() < limit, "nginx did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    Nginx {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

/// What one `wrk` run measured.
struct Run {
    requests: u64,
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    errors: u64,
}

fn micros(s: &str) -> f64 {
    let s = s.trim();
    let (num, scale) = if let Some(v) = s.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e6)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * scale
}

/// Runs `wrk` POSTing `body` with `headers` to `url` over `conns` connections for `secs`.
fn wrk(
    dir: &Path,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    conns: usize,
    secs: f64,
) -> Run {
    let body_path = dir.join("body.json");
    std::fs::write(&body_path, body).expect("body");
    let mut lua = format!(
        "wrk.method = \"POST\"\nlocal f = io.open(\"{}\", \"rb\")\nwrk.body = f:read(\"*a\")\nf:close()\n",
        body_path.display()
    );
    for (k, v) in headers {
        lua.push_str(&format!("wrk.headers[\"{k}\"] = \"{v}\"\n"));
    }
    let script = dir.join("post.lua");
    std::fs::write(&script, lua).expect("script");
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--timeout",
            "5s",
            "--latency",
            "-s",
            &script.display().to_string(),
            url,
        ])
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut run = Run {
        requests: 0,
        rps: 0.0,
        p50_us: f64::NAN,
        p99_us: f64::NAN,
        errors: 0,
    };
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["50%", v] => run.p50_us = micros(v),
            ["99%", v] => run.p99_us = micros(v),
            [n, "requests", "in", ..] => run.requests = n.parse().unwrap_or(0),
            ["Requests/sec:", v] => run.rps = v.parse().unwrap_or(0.0),
            ["Non-2xx", "or", "3xx", "responses:", n] => {
                run.errors += n.parse::<u64>().unwrap_or(0)
            }
            ["Socket", "errors:", rest @ ..] => {
                run.errors += rest
                    .iter()
                    .filter_map(|w| w.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>();
            }
            _ => {}
        }
    }
    assert!(run.requests > 0, "wrk measured nothing:\n{text}");
    run
}

/// A `wrk` run against the data plane (process `pid`), with its CPU time per request.
fn wrk_gateway(
    dir: &Path,
    pid: u32,
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    conns: usize,
    secs: f64,
) -> (Run, Cpu) {
    let (user, system) = cpu_time(pid);
    let run = wrk(dir, url, headers, body, conns, secs);
    let (user_after, system_after) = cpu_time(pid);
    let per_request = |d: Duration| d.as_secs_f64() * 1e6 / run.requests as f64;
    let cpu = Cpu {
        user: per_request(user_after.saturating_sub(user)),
        system: per_request(system_after.saturating_sub(system)),
    };
    (run, cpu)
}

/// The data plane's CPU time per request, microseconds.
#[derive(Clone, Copy)]
struct Cpu {
    user: f64,
    system: f64,
}

impl std::fmt::Display for Cpu {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.1} us (user {:.1}, system {:.1})",
            self.user + self.system,
            self.user,
            self.system
        )
    }
}

fn row(name: &str, r: &Run, cpu: Option<Cpu>) {
    let cpu = cpu.map_or_else(|| "—".to_owned(), |c| c.to_string());
    println!(
        "| {name} | {:.0} | {:.0} us | {:.0} us | {cpu} | {} |",
        r.rps, r.p50_us, r.p99_us, r.errors
    );
}

/// Ten realistic tools; `get_item` is the one called.
fn tools() -> Vec<Value> {
    (0..10)
        .map(|i| {
            let id = if i == 3 { "get_item".to_owned() } else { format!("tool_{i}") };
            json!({
                "id": id,
                "title": format!("Tool {i}"),
                "description": "Fetches one item of the catalog by its id, with its name, tags and current state. Use it before updating an item.",
                "inputSchema": {"type": "object", "properties": {
                    "id": {"type": "string", "description": "The item's id", "maxLength": 64},
                    "expand": {"type": "array", "items": {"type": "string", "enum": ["tags", "owner", "history"]}}
                }, "required": ["id"], "additionalProperties": false},
                "http": {"method": "GET", "path": "/items/{id}"}
            })
        })
        .collect()
}

async fn setup(service: &Service, upstream: &str) -> String {
    let (t, i) = ("bench", "api");
    service
        .create_integration(
            &admin(),
            t,
            NewIntegration {
                id: i.into(),
                display_name: Some("Bench API".into()),
                description: Some("Items".into()),
            },
        )
        .await
        .expect("integration");
    for tool in tools() {
        let id = tool["id"].as_str().expect("id").to_owned();
        service
            .put_tool(&admin(), t, i, &id, tool)
            .await
            .expect("tool");
    }
    let cfg: NewConfig = serde_json::from_value(json!({
        "displayName": "bench", "parameters": {"baseUrl": upstream},
        "auth": {"type": "BEARER", "parameters": {"token": "upstream-token"}}
    }))
    .expect("config");
    let c = service
        .create_config(&admin(), t, i, cfg)
        .await
        .expect("config");
    service
        .publish_config(&admin(), t, i, &c.id.to_string(), Default::default())
        .await
        .expect("publish");
    let v = service
        .update_mcp_settings(
            &admin(),
            t,
            i,
            McpPatch {
                enabled: Some(true),
                config_id: Some(c.id.to_string()),
                ..McpPatch::default()
            },
        )
        .await
        .expect("enable");
    v.api_key.expect("minted").expose().to_owned()
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
    ensure_tools();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let work = dir.path();
        let nginx_dir = work.join("nginx");
        std::fs::create_dir_all(&nginx_dir).expect("nginx dir");
        // nginx starts first (its list.json is rewritten once the gateway has answered).
        let nginx = start_nginx(&nginx_dir, "{}");
        let cp = start_cp(&work.join("cp"), "127.0.0.1:0".parse().expect("addr")).await;
        let key = setup(&cp.service, &nginx.url).await;
        let grpc = format!("http://{}", cp.grpc_addr);
        let dp = process::start_data_plane(
            &grpc,
            &["--upstream-allow-cidr", "127.0.0.0/8", "--max-concurrent-calls-cap", "100000", "--default-max-concurrent-calls", "100000"],
            "LOAD_WRAPPER",
        );
        wait_version(&dp.url, cp.service.publisher().version()).await;
        let pid = dp.child.id();
        let base = format!("{}/v1/tenants/bench/integrations/api", dp.url);
        let auth = format!("Bearer {key}");
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2025-11-25"),
        ];

        // The baseline for tools/list serves exactly the gateway's answer.
        let list = request(1, "tools/list", json!({})).to_string();
        let sample = rpc(&format!("{base}/mcp:call"), &key, &[("mcp-protocol-version", "2025-11-25")], &request(1, "tools/list", json!({}))).await;
        assert_eq!(sample.status, 200, "{}", sample.text);
        std::fs::write(nginx_dir.join("list.json"), &sample.text).expect("list.json");
        let call = request(2, "tools/call", json!({"name": "get_item", "arguments": {"id": "42"}})).to_string();
        let answer = rpc(&format!("{base}/mcp:call"), &key, &[("mcp-protocol-version", "2025-11-25")], &serde_json::from_str(&call).expect("call")).await;
        assert!(answer.text.contains("widget") && answer.json()["result"]["isError"] != true, "{}", answer.text);

        println!("load: wrk (1 thread), {conns} connections then 1, {secs} s per run; nginx {} and the data plane (pid {pid}) on 2 cores", nginx.url);
        println!();
        println!("| run | req/s | p50 | p99 | data-plane CPU per request | errors |");
        println!("|---|---|---|---|---|---|");
        // Each pair: (what, the baseline's URL, headers and body, the gateway's body).
        let only = std::env::var("LOAD_ONLY").unwrap_or_default();
        let list_url = format!("{}/list.json", nginx.url);
        let item_url = format!("{}/items/42", nginx.url);
        let pairs = [
            ("tools/list", "nginx: the same bytes", list_url.as_str(), &headers[..], list.as_str(), list.as_str()),
            ("tools/call", "nginx upstream called directly", item_url.as_str(), &[][..], "", call.as_str()),
        ];
        let mut summary = Vec::new();
        for (what, baseline, url, base_headers, base_body, body) in pairs {
            if !only.is_empty() && !what.ends_with(only.as_str()) {
                continue;
            }
            for c in [conns, 1] {
                let base_run = wrk(work, url, base_headers, base_body, c, secs);
                row(&format!("{baseline} ({c} conns)"), &base_run, None);
                let (gw, cpu) = wrk_gateway(work, pid, &format!("{base}/mcp:call"), &headers, body, c, secs);
                row(&format!("gateway: {what} ({c} conns)"), &gw, Some(cpu));
                summary.push(if c == 1 {
                    format!(
                        "{what}, 1 connection: the gateway adds p50 {:.0} us, p99 {:.0} us (its p99: {:.0} us); data-plane CPU {cpu} per request",
                        gw.p50_us - base_run.p50_us,
                        gw.p99_us - base_run.p99_us,
                        gw.p99_us,
                    )
                } else {
                    format!(
                        "{what}, {c} connections: throughput {:.2}x of the baseline; data-plane CPU {cpu} per request",
                        gw.rps / base_run.rps
                    )
                });
            }
        }
        println!();
        for line in summary {
            println!("{line}");
        }
        drop(dp);
        drop(nginx);
        cp.shutdown().await;
    });
}

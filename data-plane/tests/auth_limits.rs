//! Key auth, origin and host checks, readiness, body bounds and limits, each with its HTTP
//! status and JSON-RPC error.

mod support;

use std::time::Duration;

use mcpgw_control_plane::service::views::McpPatch;
use mcpgw_data_plane::config::LimitDefaults;
use mcpgw_shared::model::Limits;
use serde_json::json;
use support::{DpOptions, Gw, admin, echo_tool, integration, ping, request, rpc, send};

/// `key` with its last character changed (always to a different one: a fixed replacement
/// would leave the key intact whenever it already ends in that character).
fn typo(key: &str) -> String {
    let (head, last) = key.split_at(key.len() - 1);
    format!("{head}{}", if last == "x" { "y" } else { "x" })
}

#[tokio::test]
async fn key_auth_failures() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let other_key = integration(&gw, "acme", "billing", &[echo_tool("echo")]).await;
    let foreign_key = integration(&gw, "globex", "crm", &[echo_tool("echo")]).await;
    let url = gw.url("acme", "crm", "mcp:call");

    // Missing / malformed / made-up keys: 401 with the realm challenge.
    for headers in [
        vec![],
        vec![("authorization", "Bearer nope".to_owned())],
        vec![("x-api-key", typo(&key))],
    ] {
        let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut all = h.clone();
        all.push(("content-type", "application/json"));
        let r = send("POST", &url, &all, Some(ping().to_string())).await;
        r.rpc_error(401, -32001);
        assert_eq!(r.header("www-authenticate"), Some("Bearer realm=\"mcp\""));
        assert!(!r.text.contains(&key), "the key is never echoed");
    }
    // X-API-Key works like Authorization: Bearer.
    let r = send(
        "POST",
        &url,
        &[("x-api-key", &key), ("content-type", "application/json")],
        Some(ping().to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);

    // A valid key of another integration or tenant: 403.
    rpc(&url, &other_key, &[], &ping())
        .await
        .rpc_error(403, -32003);
    rpc(&url, &foreign_key, &[], &ping())
        .await
        .rpc_error(403, -32003);
    // Unknown integration path: 404.
    rpc(&gw.url("acme", "nope", "mcp:call"), &key, &[], &ping())
        .await
        .rpc_error(404, -32004);
    assert_eq!(
        send(
            "POST",
            &format!("{}/v1/tenants/acme/integrations/crm/other", gw.base()),
            &[],
            None
        )
        .await
        .status,
        404
    );
    // No OAuth discovery.
    for p in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server",
    ] {
        assert_eq!(
            send("GET", &format!("{}{p}", gw.base()), &[], None)
                .await
                .status,
            404
        );
    }
    // GET and DELETE: 405, never a session.
    for m in ["GET", "DELETE"] {
        let r = send(
            m,
            &url,
            &[("authorization", &format!("Bearer {key}"))],
            None,
        )
        .await;
        assert_eq!(r.status, 405);
        assert_eq!(r.header("allow"), Some("POST"));
    }

    // Disabled integration: 403 that says so; the key stays bound, re-enabling restores it.
    gw.service()
        .update_mcp_settings(
            &admin(),
            "acme",
            "crm",
            McpPatch {
                enabled: Some(false),
                ..McpPatch::default()
            },
        )
        .await
        .expect("disable");
    gw.synced().await;
    let e = rpc(&url, &key, &[], &ping()).await.rpc_error(403, -32003);
    assert!(e["message"].as_str().expect("msg").contains("disabled"));
    rpc(&gw.url("acme", "crm", "mcp:test"), &key, &[], &ping())
        .await
        .rpc_error(403, -32003);
    gw.service()
        .update_mcp_settings(
            &admin(),
            "acme",
            "crm",
            McpPatch {
                enabled: Some(true),
                ..McpPatch::default()
            },
        )
        .await
        .expect("enable");
    gw.synced().await;
    assert_eq!(rpc(&url, &key, &[], &ping()).await.status, 200);

    // Rotation revokes the old key.
    let rotated = gw
        .service()
        .rotate_key(&admin(), "acme", "crm")
        .await
        .expect("rotate");
    gw.synced().await;
    rpc(&url, &key, &[], &ping()).await.rpc_error(401, -32001);
    let new_key = rotated.api_key.expect("new").expose().to_owned();
    assert_eq!(rpc(&url, &new_key, &[], &ping()).await.status, 200);
}

#[tokio::test]
async fn origin_host_and_body_bounds() {
    let gw = Gw::start_with(DpOptions {
        max_body_bytes: 1024,
        ..DpOptions::default()
    })
    .await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let auth = format!("Bearer {key}");
    let port = gw.dp.addr.port();
    let own = format!("http://127.0.0.1:{port}");
    let r = send(
        "POST",
        &url,
        &[
            ("authorization", &auth),
            ("origin", "http://evil.example.com"),
        ],
        Some(ping().to_string()),
    )
    .await;
    r.rpc_error(403, -32003);
    let r = send(
        "POST",
        &url,
        &[("authorization", &auth), ("origin", &own)],
        Some(ping().to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    // DNS rebinding: a foreign Host on a loopback listener.
    let r = send(
        "POST",
        &url,
        &[("authorization", &auth), ("host", "evil.example.com")],
        Some(ping().to_string()),
    )
    .await;
    assert_eq!(r.status, 403);
    // Body over the limit: 413.
    let big = request(
        1,
        "tools/call",
        json!({"name": "echo", "arguments": {"s": "x".repeat(4096)}}),
    );
    rpc(&url, &key, &[], &big).await.rpc_error(413, -32005);
}

#[tokio::test]
async fn not_ready_until_the_first_snapshot() {
    // A data plane whose control plane is not there yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    let dp = support::start_dp(port, DpOptions::default()).await;
    let base = format!("http://{}", dp.addr);
    assert_eq!(
        send("GET", &format!("{base}/healthz"), &[], None)
            .await
            .status,
        200
    );
    assert_eq!(
        send("GET", &format!("{base}/readyz"), &[], None)
            .await
            .status,
        503
    );
    let r = send(
        "POST",
        &format!("{base}/v1/tenants/a/integrations/b/mcp:call"),
        &[("content-type", "application/json")],
        Some(ping().to_string()),
    )
    .await;
    r.rpc_error(503, -32000);
    // The control plane appears on that port: the data plane connects and becomes ready.
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = support::start_cp(dir.path(), port).await;
    assert!(
        support::eventually(Duration::from_secs(15), || async {
            dp.store.load().is_some()
        })
        .await
    );
    assert_eq!(
        send("GET", &format!("{base}/readyz"), &[], None)
            .await
            .status,
        200
    );
    dp.shutdown().await;
    cp.shutdown().await;
}

#[tokio::test]
async fn rate_and_concurrency_limits_answer_429() {
    let gw = Gw::start_with(DpOptions {
        limits: LimitDefaults {
            requests_per_second: 0.1,
            burst: 3,
            max_concurrent_calls: 64,
            ..LimitDefaults::default()
        },
        ..DpOptions::default()
    })
    .await;
    let slow = json!({
        "id": "slow", "description": "Takes a while",
        "inputSchema": {"type": "object"},
        "http": {"method": "GET", "path": "/slow"},
        "simulation": {"response": {"done": true}, "latencyMs": 800}
    });
    let key = integration(&gw, "acme", "crm", &[slow]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    // Rate: burst of 3, then 429 with Retry-After and the request id.
    for _ in 0..3 {
        assert_eq!(rpc(&url, &key, &[], &ping()).await.status, 200);
    }
    let r = rpc(&url, &key, &[], &request(42, "ping", json!({}))).await;
    r.rpc_error(429, -32029);
    assert_eq!(r.json()["id"], 42);
    assert!(
        r.header("retry-after")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|s| s >= 1)
    );

    // Per-integration limits override the defaults: a large rate, one call in flight.
    let limits = Limits {
        requests_per_second: Some(1000.0),
        burst: Some(1000),
        max_concurrent_calls: Some(1),
    };
    gw.service()
        .update_mcp_settings(
            &admin(),
            "acme",
            "crm",
            McpPatch {
                limits: Some(limits),
                ..McpPatch::default()
            },
        )
        .await
        .expect("limits");
    gw.synced().await;
    // The tool's first call compiles its argument validator; done here, so the holder below
    // reaches the slot before the probes do.
    let warm = rpc(
        &url,
        &key,
        &[],
        &request(6, "tools/call", json!({"name": "slow"})),
    )
    .await;
    assert_eq!(warm.status, 200, "{}", warm.text);
    let call = request(7, "tools/call", json!({"name": "slow"}));
    // Two calls at once, each 800 ms long: whichever arrives second is refused.
    let concurrent = || {
        let (u, k, c) = (url.clone(), key.clone(), call.clone());
        tokio::spawn(async move { rpc(&u, &k, &[], &c).await })
    };
    let (a, b) = (concurrent(), concurrent());
    let (a, b) = (a.await.expect("task"), b.await.expect("task"));
    let (admitted, refused) = if a.status == 429 { (b, a) } else { (a, b) };
    assert_eq!(admitted.status, 200, "{}", admitted.text);
    refused.rpc_error(429, -32000);
    assert!(refused.header("retry-after").is_some());
    // The slot is released afterwards.
    assert_eq!(rpc(&url, &key, &[], &call).await.status, 200);

    // Inside a batch the refusal is one item's error under a 200, and it is counted all the
    // same (the HTTP status says nothing of it). The holder is given a head start; should the
    // batch still arrive first (a loaded machine), the attempt is repeated.
    let metrics_url = format!("{}/metrics", gw.base());
    let refusals = |text: &str| counter(text, "mcpgw_refusals_total{reason=\"concurrency\"}");
    let mut checked = false;
    for _ in 0..10 {
        let before = refusals(&send("GET", &metrics_url, &[], None).await.text);
        let holder = concurrent();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = rpc(
            &url,
            &key,
            &[],
            &json!([request(8, "tools/call", json!({"name": "slow"}))]),
        )
        .await;
        let holder = holder.await.expect("task");
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json()[0]["id"], 8);
        if holder.status == 429 {
            continue;
        }
        assert_eq!(holder.status, 200, "{}", holder.text);
        assert_eq!(r.json()[0]["error"]["code"], -32000, "{}", r.text);
        let after = refusals(&send("GET", &metrics_url, &[], None).await.text);
        assert_eq!(
            after,
            before + 1.0,
            "the refusal inside the batch is counted"
        );
        checked = true;
        break;
    }
    assert!(checked, "the holder never took the slot first");

    let metrics = send("GET", &format!("{}/metrics", gw.base()), &[], None)
        .await
        .text;
    assert!(
        metrics.contains("mcpgw_limit_rejections_total{reason=\"rate\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("mcpgw_limit_rejections_total{reason=\"concurrency\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_batch_costs_one_request_per_message() {
    let gw = Gw::start_with(DpOptions {
        limits: LimitDefaults {
            requests_per_second: 0.05,
            burst: 4,
            max_concurrent_calls: 64,
            ..LimitDefaults::default()
        },
        ..DpOptions::default()
    })
    .await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let batch = |n: usize| {
        serde_json::Value::Array(
            (0..n)
                .map(|i| request(i as i64, "ping", json!({})))
                .collect(),
        )
    };
    // More than the burst can never pass: refused for good (400), not rate limited.
    rpc(&url, &key, &[], &batch(5)).await.rpc_error(400, -32600);
    let r = rpc(&url, &key, &[], &batch(3)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json().as_array().map(Vec::len), Some(3));
    // One token left: a second batch of two is over the rate.
    assert_eq!(rpc(&url, &key, &[], &batch(2)).await.status, 429);
    // Oversized batches are refused outright.
    let too_big = batch(mcpgw_data_plane::mcp::MAX_BATCH + 1);
    let gw2 = Gw::start().await;
    let key2 = integration(&gw2, "acme", "crm", &[echo_tool("echo")]).await;
    rpc(&gw2.url("acme", "crm", "mcp:test"), &key2, &[], &too_big)
        .await
        .rpc_error(400, -32600);
}

/// The value of the sample `series` (name and labels, exactly) in an OpenMetrics text.
fn counter(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// How many data planes `dp` shares the limits with, from its metrics.
fn sharing(dp: &mcpgw_data_plane::Running) -> f64 {
    counter(&dp.metrics.render(), "mcpgw_limit_sharing_data_planes ")
}

/// Pings `urls` in turn, 100 a second, for `secs`; returns (admitted, seconds taken).
async fn round_robin(urls: &[String], key: &str, secs: u64) -> (u32, f64) {
    let started = std::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut admitted = 0;
    for i in 0..secs * 100 {
        tick.tick().await;
        let url = &urls[usize::try_from(i).expect("index") % urls.len()];
        match rpc(url, key, &[], &ping()).await.status {
            200 => admitted += 1,
            429 => {}
            other => panic!("unexpected status {other}"),
        }
    }
    (admitted, started.elapsed().as_secs_f64())
}

/// Round-robin over `urls` for `secs` admits the key's 30 rps, within 15 %.
async fn assert_the_limit_holds(urls: &[String], key: &str, secs: u64) {
    let (admitted, secs) = round_robin(urls, key, secs).await;
    let limit = 30.0 * secs;
    eprintln!(
        "{} data planes: {admitted} admitted in {secs:.1} s (limit {limit:.0})",
        urls.len()
    );
    assert!(
        (f64::from(admitted) - limit).abs() <= 0.15 * limit,
        "{admitted} admitted against a limit of {limit:.0}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_limit_holds_across_data_planes_and_rebalances_when_one_leaves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cp = support::start_cp(dir.path(), "127.0.0.1:0".parse().expect("addr")).await;
    let opts = || DpOptions {
        limits: LimitDefaults {
            requests_per_second: 30.0,
            burst: 6,
            max_concurrent_calls: 64,
            ..LimitDefaults::default()
        },
        ..DpOptions::default()
    };
    let mut dps = Vec::new();
    for _ in 0..3 {
        dps.push(support::start_dp(cp.grpc_addr, opts()).await);
    }
    let key = support::create_enabled(&cp.service, "acme", "crm", &[echo_tool("e")]).await;
    let target = cp.service.publisher().version();
    let settled = |n: u32, dps: &[mcpgw_data_plane::Running]| {
        dps.iter()
            .all(|dp| dp.store.version() >= target && sharing(dp) == f64::from(n))
    };
    assert!(
        support::eventually(Duration::from_secs(10), || async { settled(3, &dps) }).await,
        "three data planes share the limits"
    );
    let url = |dp: &mcpgw_data_plane::Running| {
        format!(
            "http://{}/v1/tenants/acme/integrations/crm/mcp:test",
            dp.addr
        )
    };

    // 100 requests a second round-robin over the three, against a 30 rps key limit.
    assert_the_limit_holds(&dps.iter().map(url).collect::<Vec<_>>(), &key, 10).await;

    // One leaves; the other two take half each (the bound is a timeout, not the measure: the
    // time it took is printed).
    let left = dps.remove(0);
    let stopped = std::time::Instant::now();
    left.shutdown().await;
    assert!(
        support::eventually(Duration::from_secs(5), || async { settled(2, &dps) }).await,
        "the remaining two re-balance"
    );
    eprintln!(
        "re-balanced {:.0} ms after a data plane stopped",
        stopped.elapsed().as_secs_f64() * 1000.0
    );
    assert_the_limit_holds(&dps.iter().map(url).collect::<Vec<_>>(), &key, 5).await;
    for dp in dps {
        dp.shutdown().await;
    }
    cp.shutdown().await;
}

//! Changes on the control plane reach the data plane quickly; the data plane keeps serving
//! while the control plane is down and catches up when it returns.

mod support;

use std::time::{Duration, Instant};

use mcpgw_control_plane::service::views::McpPatch;
use serde_json::json;
use support::{Gw, admin, echo_tool, eventually, integration, ping, request, rpc, send};

/// Time from the control plane's acknowledgement until `check` holds on the data plane.
async fn propagation<F, Fut>(check: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    assert!(
        eventually(Duration::from_secs(5), check).await,
        "change not visible within 5 s"
    );
    start.elapsed()
}

#[tokio::test]
async fn enable_disable_rotate_and_exposure_propagate() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("a"), echo_tool("b")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let svc = gw.service();
    let mut figures = Vec::new();

    svc.update_mcp_settings(
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
    figures.push((
        "disable",
        propagation(|| async { rpc(&url, &key, &[], &ping()).await.status == 403 }).await,
    ));
    svc.update_mcp_settings(
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
    figures.push((
        "enable",
        propagation(|| async { rpc(&url, &key, &[], &ping()).await.status == 200 }).await,
    ));

    svc.update_mcp_settings(
        &admin(),
        "acme",
        "crm",
        McpPatch {
            exposed_tool_ids: Some(vec!["b".into()]),
            ..McpPatch::default()
        },
    )
    .await
    .expect("expose");
    let names = || async {
        let r = rpc(&url, &key, &[], &request(2, "tools/list", json!({})))
            .await
            .json();
        r["result"]["tools"].as_array().map(|t| {
            t.iter()
                .map(|t| t["name"].as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        })
    };
    figures.push((
        "exposedToolIds",
        propagation(|| async { names().await == Some(vec!["b".to_owned()]) }).await,
    ));
    // A hidden tool is an unknown tool.
    let r = rpc(
        &url,
        &key,
        &[],
        &request(3, "tools/call", json!({"name": "a"})),
    )
    .await;
    r.rpc_error(200, -32602);

    let rotated = svc
        .rotate_key(&admin(), "acme", "crm")
        .await
        .expect("rotate");
    figures.push((
        "rotateKey (old key refused)",
        propagation(|| async { rpc(&url, &key, &[], &ping()).await.status == 401 }).await,
    ));
    let new_key = rotated.api_key.expect("new key").expose().to_owned();
    assert_eq!(rpc(&url, &new_key, &[], &ping()).await.status, 200);

    for (what, d) in &figures {
        eprintln!("propagation {what}: {:.1} ms", d.as_secs_f64() * 1000.0);
    }
}

/// Tool edits, removals, additions and a wider exposure reach the data plane as deltas that
/// carry only the changed tools; what they do not carry is still served as before.
#[tokio::test]
async fn tool_changes_arrive_as_partial_deltas_and_the_rest_is_kept() {
    let gw = Gw::start().await;
    let tools = [echo_tool("a"), echo_tool("b"), echo_tool("c")];
    let key = integration(&gw, "acme", "crm", &tools).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let svc = gw.service();
    let listed = || async {
        let r = rpc(&url, &key, &[], &request(2, "tools/list", json!({})))
            .await
            .json();
        r["result"]["tools"]
            .as_array()
            .map(|t| {
                t.iter()
                    .map(|t| {
                        format!(
                            "{}:{}",
                            t["name"].as_str().unwrap_or_default(),
                            t["description"].as_str().unwrap_or_default()
                        )
                    })
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
    };
    let before = listed().await;
    assert_eq!(before.len(), 3);

    // One tool edited.
    let mut edited = echo_tool("b");
    edited["description"] = json!("Edited b");
    svc.put_tool(&admin(), "acme", "crm", "b", edited)
        .await
        .expect("edit");
    propagation(|| async { listed().await.get(1).is_some_and(|b| b == "b:Edited b") }).await;
    let now = listed().await;
    assert_eq!(
        (&now[0], &now[2]),
        (&before[0], &before[2]),
        "the others kept"
    );

    // Narrowed, a tool deleted, a tool added, then widened again.
    svc.update_mcp_settings(
        &admin(),
        "acme",
        "crm",
        McpPatch {
            exposed_tool_ids: Some(vec!["a".into()]),
            ..McpPatch::default()
        },
    )
    .await
    .expect("narrow");
    propagation(|| async { listed().await.len() == 1 }).await;
    svc.delete_tool(&admin(), "acme", "crm", "c")
        .await
        .expect("delete tool");
    svc.put_tool(&admin(), "acme", "crm", "d", echo_tool("d"))
        .await
        .expect("add");
    svc.update_mcp_settings(
        &admin(),
        "acme",
        "crm",
        McpPatch {
            exposed_tool_ids: Some(vec!["a".into(), "b".into(), "d".into()]),
            ..McpPatch::default()
        },
    )
    .await
    .expect("widen");
    propagation(|| async {
        let names: Vec<String> = listed()
            .await
            .iter()
            .map(|t| t.split(':').next().unwrap_or_default().to_owned())
            .collect();
        names == ["a", "b", "d"]
    })
    .await;
    assert_eq!(listed().await[1], "b:Edited b");
    let r = rpc(
        &url,
        &key,
        &[],
        &request(
            3,
            "tools/call",
            json!({"name": "d", "arguments": {"s": "hi"}}),
        ),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_ne!(r.json()["result"]["isError"], true, "{}", r.text);
}

#[tokio::test]
async fn serves_while_the_control_plane_is_down_and_catches_up() {
    let mut gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("a")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let before = gw.dp.store.version();

    gw.cp.take().expect("cp").shutdown().await;
    // Still serving from the last snapshot.
    for _ in 0..3 {
        assert_eq!(rpc(&url, &key, &[], &ping()).await.status, 200);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        send("GET", &format!("{}/readyz", gw.base()), &[], None)
            .await
            .status,
        200
    );

    // Restart on the same data dir and port; change something; the data plane catches up.
    let cp = support::start_cp(gw.dir.path(), gw.grpc).await;
    cp.service
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
    gw.cp = Some(cp);
    let d = propagation(|| async { rpc(&url, &key, &[], &ping()).await.status == 403 }).await;
    eprintln!(
        "caught up after control-plane restart in {:.1} ms (incl. reconnect backoff)",
        d.as_secs_f64() * 1000.0
    );
    assert!(gw.dp.store.version() > before);
    let metrics = send("GET", &format!("{}/metrics", gw.base()), &[], None)
        .await
        .text;
    assert!(metrics.contains("mcpgw_snapshot_version"), "{metrics}");
    let served = gw.dp.store.version();
    assert!(
        metrics
            .lines()
            .any(|l| l == format!("mcpgw_snapshot_version {served}")),
        "the gauge shows the served version {served}: {metrics}"
    );
    assert!(
        metrics.contains("mcpgw_requests_total{endpoint=\"test\",method=\"ping\",outcome=\"ok\"}"),
        "{metrics}"
    );
}

#[tokio::test]
async fn moves_to_the_next_control_plane_and_never_resumes_across_stores() {
    // Two control planes on two stores (as a misconfigured fleet would have them): the data
    // plane follows the first, then, when it stops, moves to the second. The second's
    // version is past the first's, so a resume by version alone would take a delta of the
    // wrong history and keep serving what only the first store holds.
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let a = support::start_cp(dir_a.path(), any).await;
    let b = support::start_cp(dir_b.path(), any).await;
    let key_a = support::create_enabled(&a.service, "acme", "only-a", &[echo_tool("e")]).await;
    for i in 0..3 {
        support::create_enabled(&b.service, "acme", &format!("b{i}"), &[echo_tool("e")]).await;
    }
    let key_b = support::create_enabled(&b.service, "acme", "only-b", &[echo_tool("e")]).await;
    assert!(b.service.publisher().version() > a.service.publisher().version());
    let dp = support::start_dp_at(
        format!("http://{}, http://{}", a.grpc_addr, b.grpc_addr),
        None,
        support::DpOptions::default(),
    )
    .await;
    let url = |id: &str| {
        format!(
            "http://{}/v1/tenants/acme/integrations/{id}/mcp:test",
            dp.addr
        )
    };
    let (url_a, url_b) = (url("only-a"), url("only-b"));
    assert!(
        eventually(Duration::from_secs(10), || async {
            rpc(&url_a, &key_a, &[], &ping()).await.status == 200
        })
        .await,
        "served from the first control plane"
    );
    // What the data plane answers for an integration it does not serve.
    let unknown = rpc(&url("never-existed"), &key_b, &[], &ping())
        .await
        .status;
    assert_ne!(unknown, 200);
    assert_eq!(rpc(&url_b, &key_b, &[], &ping()).await.status, unknown);

    a.shutdown().await;
    let started = Instant::now();
    assert!(
        eventually(Duration::from_secs(10), || async {
            rpc(&url_b, &key_b, &[], &ping()).await.status == 200
        })
        .await,
        "the data plane moved to the second control plane"
    );
    eprintln!(
        "moved to the second control plane in {:.0} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
    assert_eq!(dp.store.version(), b.service.publisher().version());
    assert_eq!(
        rpc(&url_a, &key_a, &[], &ping()).await.status,
        unknown,
        "nothing of the first store is left"
    );
    b.shutdown().await;
}

#[tokio::test]
async fn large_snapshots_arrive_in_chunks() {
    let gw = Gw::start().await;
    // Two integrations of ~2.5 MiB of tools each: the full snapshot exceeds one 4 MiB chunk.
    let big_tool = |i: usize| {
        let mut t = echo_tool(&format!("t{i}"));
        t["description"] = json!("d".repeat(200 * 1024));
        t
    };
    let tools: Vec<serde_json::Value> = (0..12).map(big_tool).collect();
    let key_a = integration(&gw, "acme", "big_a", &tools).await;
    let key_b = integration(&gw, "acme", "big_b", &tools).await;
    // A second data plane joining now gets the whole state as one chunked full snapshot.
    let dp = support::start_dp(gw.grpc, support::DpOptions::default()).await;
    assert!(
        eventually(Duration::from_secs(10), || async {
            dp.store.version() >= gw.dp.store.version()
        })
        .await
    );
    for (integration_id, key) in [("big_a", &key_a), ("big_b", &key_b)] {
        let url = format!(
            "http://{}/v1/tenants/acme/integrations/{integration_id}/mcp:test",
            dp.addr
        );
        let r = rpc(&url, key, &[], &request(1, "tools/list", json!({})))
            .await
            .json();
        assert_eq!(r["result"]["tools"].as_array().map(Vec::len), Some(12));
    }
    dp.shutdown().await;
}

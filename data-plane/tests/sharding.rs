//! A data plane serving a subset of tenants (`--tenants`, `--shard K/N`) receives only their
//! integrations from the control plane, and answers requests for any other tenant with 404
//! and a JSON-RPC error that says so.

mod support;

use mcpgw_shared::shard::{Tenants, shard_of};
use support::{DpOptions, Gw, echo_tool, eventually, integration, ping, rpc, send, start_dp};

#[tokio::test]
async fn a_data_plane_serves_its_tenants_only() {
    let gw = Gw::start_with(DpOptions {
        tenants: Tenants::Only(["acme".to_owned()].into()),
        ..DpOptions::default()
    })
    .await;
    let acme = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let globex = integration(&gw, "globex", "erp", &[echo_tool("echo")]).await;

    assert_eq!(
        rpc(&gw.url("acme", "crm", "mcp:test"), &acme, &[], &ping())
            .await
            .status,
        200
    );
    let r = rpc(&gw.url("globex", "erp", "mcp:test"), &globex, &[], &ping()).await;
    let e = r.rpc_error(404, -32004);
    assert_eq!(e["data"]["tenant"], "globex");
    assert!(
        e["message"].as_str().is_some_and(|m| m.contains("shard")),
        "{e}"
    );

    // Nothing of the other tenant is held: not even its keys.
    let served = gw.dp.store.load().expect("served");
    assert_eq!(served.integration_count(), 1);
    assert!(served.integration("globex", "erp").is_none());
    let metrics = send("GET", &format!("{}/metrics", gw.base()), &[], None)
        .await
        .text;
    assert!(
        metrics.contains("mcpgw_refusals_total{reason=\"not_served_here\"} 1"),
        "{metrics}"
    );
}

#[tokio::test]
async fn shards_split_the_tenants_between_data_planes() {
    let gw = Gw::start().await;
    let tenants: Vec<String> = (0..8).map(|i| format!("tenant{i}")).collect();
    let mut keys = Vec::new();
    for t in &tenants {
        keys.push(integration(&gw, t, "api", &[echo_tool("echo")]).await);
    }
    let shards = [
        start_dp(
            gw.grpc,
            DpOptions {
                tenants: Tenants::Shard { index: 0, count: 2 },
                ..DpOptions::default()
            },
        )
        .await,
        start_dp(
            gw.grpc,
            DpOptions {
                tenants: Tenants::Shard { index: 1, count: 2 },
                ..DpOptions::default()
            },
        )
        .await,
    ];
    let target = gw.service().publisher().version();
    for dp in &shards {
        assert!(
            eventually(std::time::Duration::from_secs(10), || async {
                dp.store.version() >= target
            })
            .await
        );
    }
    for (t, key) in tenants.iter().zip(&keys) {
        let home = shard_of(t, 2) as usize;
        for (k, dp) in shards.iter().enumerate() {
            let url = format!(
                "http://{}/v1/tenants/{t}/integrations/api/mcp:test",
                dp.addr
            );
            let status = rpc(&url, key, &[], &ping()).await.status;
            assert_eq!(
                status,
                if k == home { 200 } else { 404 },
                "{t} on shard {k}"
            );
        }
    }
    let held: usize = shards
        .iter()
        .map(|dp| dp.store.load().expect("served").integration_count())
        .sum();
    assert_eq!(held, tenants.len(), "every tenant on exactly one shard");
}

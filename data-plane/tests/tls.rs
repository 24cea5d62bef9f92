//! The snapshot stream over TLS: it carries decrypted upstream credentials, so off-host it
//! must be encrypted and the data plane must verify whom it talks to.

mod support;

use std::path::PathBuf;
use std::time::Duration;

use mcpgw_control_plane::server::GrpcTls;
use serde_json::json;
use support::{DpOptions, eventually, request, rpc};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/tls")
        .join(name)
}

#[tokio::test]
async fn data_plane_follows_a_tls_control_plane_it_trusts_and_only_that() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tls = GrpcTls {
        cert: fixture("server.pem"),
        key: fixture("server.key"),
    };
    let cp =
        support::start_cp_with_tls(dir.path(), "127.0.0.1:0".parse().expect("addr"), Some(tls))
            .await;
    let port = cp.grpc_addr.port();
    let ca = std::fs::read(fixture("ca.pem")).expect("ca");

    // Trusting the test CA: the stream works.
    let dp = support::start_dp_at(
        format!("https://localhost:{port}"),
        Some(ca),
        DpOptions::default(),
    )
    .await;
    let svc = &cp.service;
    let admin = support::admin();
    svc.create_integration(
        &admin,
        "acme",
        serde_json::from_value(json!({"id": "crm"})).expect("new"),
    )
    .await
    .expect("create");
    svc.put_tool(&admin, "acme", "crm", "echo", support::echo_tool("echo"))
        .await
        .expect("tool");
    let settings = svc
        .update_mcp_settings(
            &admin,
            "acme",
            "crm",
            serde_json::from_value(json!({"enabled": true})).expect("patch"),
        )
        .await
        .expect("enable");
    let key = settings.api_key.expect("key").expose().to_owned();
    let target = svc.publisher().version();
    assert!(
        eventually(Duration::from_secs(10), || async {
            dp.store.version() >= target
        })
        .await,
        "synced over TLS"
    );
    let url = format!(
        "http://{}/v1/tenants/acme/integrations/crm/mcp:test",
        dp.addr
    );
    assert_eq!(
        rpc(&url, &key, &[], &request(1, "ping", json!({})))
            .await
            .status,
        200
    );

    // Public roots only (the test CA is not one of them) or plaintext: no snapshot, ever.
    let untrusting = support::start_dp_at(
        format!("https://localhost:{port}"),
        None,
        DpOptions::default(),
    )
    .await;
    let plaintext = support::start_dp_at(
        format!("http://127.0.0.1:{port}"),
        None,
        DpOptions::default(),
    )
    .await;
    for refused in [&untrusting, &plaintext] {
        let retried = eventually(Duration::from_secs(10), || async {
            refused.metrics.snapshot_stream_failures() >= 2
        })
        .await;
        assert!(retried, "the data plane keeps trying");
        assert!(
            refused.store.load().is_none(),
            "an unverified or plaintext control plane is never followed"
        );
    }
    for dp in [dp, untrusting, plaintext] {
        dp.shutdown().await;
    }
    cp.shutdown().await;
}

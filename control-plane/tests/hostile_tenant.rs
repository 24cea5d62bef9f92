//! One tenant must not be able to break the control plane for the others: what is accepted
//! is always readable again, an unreadable record is quarantined instead of stopping the
//! control plane, quotas bound what a tenant stores, and a full disk refuses writes (503)
//! while reads keep working.

mod support;

use std::time::Duration;

use serde_json::{Value, json};
use support::{Api, Cp, seed_integration, settings, token, tool_body};

/// A tool whose `simulation.response` nests `levels` deep (the body nests `levels + 2`).
fn deep_tool(levels: usize) -> String {
    let body = tool_body("deep");
    let text = body.to_string();
    let nested = format!("{}1{}", "[".repeat(levels), "]".repeat(levels));
    format!(
        "{},\"simulation\":{{\"response\":{nested}}}}}",
        &text[..text.len() - 1]
    )
}

#[tokio::test]
async fn documents_too_deep_to_store_are_refused_at_the_edge_and_restart_works() {
    let mut cp = Cp::start().await;
    let api = Api {
        base: &cp.base.clone(),
        token: token(&["acme"]),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    // 125 levels: the body (127 deep) parses, but the stored record would be 128 deep, one
    // past what the decoder reads back. It used to be committed, answered 500, and stop the
    // next start.
    let r = support::call_raw(
        "PUT",
        &format!("{}{int}/tools/deep", cp.base),
        Some(&api.token),
        Some(deep_tool(125)),
    )
    .await;
    let p = r.problem(400);
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("nests deeper than 64"),
        "{p}"
    );
    // Within the limit: stored, and readable after a restart.
    let r = support::call_raw(
        "PUT",
        &format!("{}{int}/tools/deep", cp.base),
        Some(&api.token),
        Some(deep_tool(60)),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    cp.restart().await;
    let api = Api {
        base: &cp.base,
        token: token(&["acme"]),
    };
    let tool = api.get(&format!("{int}/tools/deep")).await;
    assert_eq!(tool.status, 200, "{}", tool.text);
    // gRPC carries JSON in fields: the same edge applies there.
    let mut client =
        mcpgw_shared::pb::tool_service_client::ToolServiceClient::connect(cp.grpc.clone())
            .await
            .expect("connect");
    let mut req = tonic::Request::new(mcpgw_shared::pb::PutToolRequest {
        tenant: "acme".into(),
        integration: "crm".into(),
        tool_id: "deep2".into(),
        json: deep_tool(125),
    });
    req.metadata_mut().insert(
        "authorization",
        format!("Bearer {}", token(&["acme"]))
            .parse()
            .expect("meta"),
    );
    let status = client.put_tool(req).await.expect_err("refused");
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
}

#[tokio::test]
async fn an_unreadable_record_is_quarantined_and_every_other_tenant_is_served() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let admin = token(&["*"]);
    {
        let cp = Cp::start_at(tmp.path(), 0).await;
        let api = Api {
            base: &cp.base,
            token: admin.clone(),
        };
        seed_integration(&api, "acme", "crm").await;
        seed_integration(&api, "other", "erp").await;
        cp.running.expect("running").shutdown().await;
    }
    // Damage one of acme's records behind the control plane's back.
    {
        let db = sled::open(tmp.path().join("store")).expect("open sled");
        let data = db.open_tree("data").expect("tree");
        data.insert("tool/acme/crm/a", &b"{\"def\": [not json"[..])
            .expect("insert");
        db.flush().expect("flush");
    }
    let cp = Cp::start_at(tmp.path(), 0).await;
    let api = Api {
        base: &cp.base,
        token: admin.clone(),
    };
    // Both tenants are served; acme's integration without the damaged tool.
    let tools = api
        .get("/v1/tenants/other/integrations/erp/tools")
        .await
        .json();
    assert_eq!(tools.as_array().map(Vec::len), Some(2));
    let tools = api
        .get("/v1/tenants/acme/integrations/crm/tools")
        .await
        .json();
    assert_eq!(tools.as_array().map(Vec::len), Some(1));
    // Reported: listed (to acme's admins, not to other's), counted.
    let listed = api.get("/v1/quarantine").await.json();
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["key"], "tool/acme/crm/a");
    assert_eq!(listed[0]["tenant"], "acme");
    assert!(listed[0]["reason"].is_string());
    let other = Api {
        base: &cp.base,
        token: token(&["other"]),
    };
    assert_eq!(other.get("/v1/quarantine").await.json(), json!([]));
    assert_eq!(
        other.delete("/v1/quarantine/tool/acme/crm/a").await.status,
        404,
        "another tenant's admin cannot remove it"
    );
    let metrics = support::call("GET", &format!("{}/metrics", cp.base), None, None).await;
    assert!(
        metrics.text.contains("mcpgw_store_quarantined_records 1"),
        "{}",
        metrics.text
    );
    let acme = Api {
        base: &cp.base,
        token: token(&["acme"]),
    };
    assert_eq!(
        acme.delete("/v1/quarantine/tool/acme/crm/a").await.status,
        204
    );
    assert_eq!(api.get("/v1/quarantine").await.json(), json!([]));
}

#[tokio::test]
async fn quotas_bound_what_one_tenant_stores() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = settings(tmp.path(), 0);
    s.quotas = mcpgw_control_plane::service::Quotas {
        integrations_per_tenant: 2,
        tools_per_integration: 3,
        bytes_per_tenant: 32 * 1024,
        ..Default::default()
    };
    let cp = Cp::start_with(s).await;
    let api = Api {
        base: &cp.base,
        token: token(&["acme", "other"]),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    seed_integration(&api, "acme", "erp").await;
    let r = api
        .post("/v1/tenants/acme/integrations", json!({"id": "third"}))
        .await;
    let p = r.problem(422);
    assert_eq!(p["quota"], "integrationsPerTenant");
    assert_eq!(p["limit"], 2);
    // Another tenant is not affected by acme's count.
    seed_integration(&api, "other", "crm").await;

    assert_eq!(
        api.put(&format!("{int}/tools/c"), tool_body("c"))
            .await
            .status,
        201
    );
    let p = api
        .put(&format!("{int}/tools/d"), tool_body("d"))
        .await
        .problem(422);
    assert_eq!(p["quota"], "toolsPerIntegration");
    // Replacing an existing tool is not a new tool.
    assert_eq!(
        api.put(&format!("{int}/tools/c"), tool_body("c"))
            .await
            .status,
        200
    );

    // Bytes: large tools until the tenant's 32 KiB are used up. A published tool is stored
    // twice (the draft, and its catalog revision's copy), so 10 KiB of description takes 20.
    let mut big = tool_body("big");
    big["description"] = Value::String("x".repeat(10 * 1024));
    let erp = "/v1/tenants/acme/integrations/erp";
    assert_eq!(
        api.put(&format!("{erp}/tools/a"), big.clone()).await.status,
        200
    );
    let p = api.put(&format!("{erp}/tools/b"), big).await.problem(422);
    assert_eq!(p["quota"], "bytesPerTenant");
    assert_eq!(p["limit"], 32 * 1024);
    // Shrinking is always possible, and other tenants keep writing.
    assert_eq!(
        api.put(&format!("{erp}/tools/a"), tool_body("a"))
            .await
            .status,
        200
    );
    assert_eq!(
        api.put("/v1/tenants/other/integrations/crm/tools/c", tool_body("c"))
            .await
            .status,
        201
    );
}

#[tokio::test]
async fn below_the_disk_reserve_writes_get_503_and_reads_keep_working() {
    let tmp = tempfile::tempdir().expect("tempdir");
    {
        let cp = Cp::start_at(tmp.path(), 0).await;
        let api = Api {
            base: &cp.base,
            token: token(&["acme"]),
        };
        seed_integration(&api, "acme", "crm").await;
        cp.running.expect("running").shutdown().await;
    }
    let mut s = settings(tmp.path(), 0);
    s.store.min_free_bytes = u64::MAX;
    let cp = Cp::start_with(s).await;
    let api = Api {
        base: &cp.base,
        token: token(&["acme"]),
    };
    let r = api
        .post("/v1/tenants/acme/integrations", json!({"id": "new"}))
        .await;
    let p = r.problem(503);
    assert_eq!(p["type"], "urn:mcpgw:problem:storage-unavailable");
    assert!(r.headers.contains_key("retry-after"));
    assert_eq!(
        api.get("/v1/tenants/acme/integrations/crm").await.status,
        200
    );
    assert_eq!(
        api.get("/v1/tenants/acme/integrations")
            .await
            .json()
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        api.get("/v1/tenants/acme/integrations/new").await.status,
        404
    );
    tokio::time::sleep(Duration::from_millis(10)).await;
}

#[tokio::test]
async fn one_tenant_writing_fast_is_slowed_down_and_others_are_not() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut s = settings(tmp.path(), 0);
    // Slow refill: no token comes back while the test runs, however loaded the machine.
    s.quotas = mcpgw_control_plane::service::Quotas {
        writes_per_second: 1,
        write_burst: 5,
        ..Default::default()
    };
    let cp = Cp::start_with(s).await;
    let api = Api {
        base: &cp.base,
        token: token(&["acme", "other"]),
    };
    let create = |tenant: &'static str, id: String| {
        let api = &api;
        async move {
            api.post(
                &format!("/v1/tenants/{tenant}/integrations"),
                serde_json::json!({"id": id}),
            )
            .await
        }
    };
    for i in 0..5 {
        assert_eq!(create("acme", format!("i{i}")).await.status, 201);
    }
    let refused = create("acme", "i5".into()).await;
    let problem = refused.problem(429);
    assert_eq!(problem["quota"], "tenantWriteRate");
    assert!(refused.header("retry-after").is_some());
    // Nothing was written, and another tenant writes on.
    assert_eq!(
        api.get("/v1/tenants/acme/integrations/i5").await.status,
        404
    );
    assert_eq!(create("other", "x".into()).await.status, 201);
}

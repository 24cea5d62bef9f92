//! The tool catalog through both front doors: an integration created without `autoPublish`
//! serves nothing until a publish; an import is one draft change; `tools:publish` freezes
//! revision N (201; 200 when the draft equals it); `tools/revisions` lists what is kept;
//! `tools:rollback` publishes an older revision anew; the audit log names the revision of
//! every change; a tool whose id is `revisions` is still written and deleted. The same
//! lifecycle over gRPC.

mod support;

use mcpgw_shared::pb;
use pb::tool_service_client::ToolServiceClient;
use serde_json::{Value, json};
use support::{Api, Cp, token};
use tonic::Request;

const INT: &str = "/v1/tenants/acme/integrations/pets";

fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Pets", "version": "1"},
        "paths": {
            "/pets": {"get": {"operationId": "listPets", "summary": "List pets", "responses": {"200": {"description": "ok"}}}},
            "/pets/{id}": {"get": {"operationId": "getPet", "summary": "Read a pet",
                "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
                "responses": {"200": {"description": "ok"}}}}
        }
    })
}

fn served(cp: &Cp) -> mcpgw_shared::model::IntegrationSnapshot {
    cp.running()
        .service
        .snapshot_of("acme", "pets")
        .expect("build")
        .expect("exists")
}

#[tokio::test]
async fn the_catalog_lifecycle_over_rest() {
    let cp = Cp::start().await;
    let api = Api {
        base: &cp.base,
        token: token(&["acme"]),
    };
    let r = api
        .post(
            "/v1/tenants/acme/integrations",
            json!({"id": "pets", "catalog": {"autoPublish": false}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    assert_eq!(r.json()["catalog"]["autoPublish"], false);
    assert_eq!(r.json()["catalog"]["revision"], 0);

    // An import is one draft change; nothing is served before a publish.
    let plan = api
        .post(
            &format!("{INT}/tools:import"),
            json!({"document": document()}),
        )
        .await;
    assert_eq!(plan.status, 200, "{}", plan.text);
    assert!(served(&cp).tools.is_empty());
    let view = api.get(INT).await.json();
    assert_eq!(view["catalog"]["draftPending"], true);

    let published = api
        .post(
            &format!("{INT}/tools:publish"),
            json!({"note": "first review"}),
        )
        .await;
    assert_eq!(published.status, 201, "{}", published.text);
    let published = published.json();
    assert_eq!(published["revision"], 1);
    assert_eq!(published["toolIds"], json!(["getPet", "listPets"]));
    assert_eq!(published["note"], "first review");
    let snapshot = served(&cp);
    assert_eq!(snapshot.tools.len(), 2);
    assert_eq!(snapshot.catalog.revision, 1);
    assert_eq!(
        snapshot.catalog.sha256,
        published["sha256"].as_str().unwrap()
    );

    // An unchanged draft: 200 with the published revision, nothing written.
    let again = api.post(&format!("{INT}/tools:publish"), json!({})).await;
    assert_eq!(again.status, 200, "{}", again.text);
    assert_eq!(again.json()["revision"], 1);

    // An edit waits for the next publish.
    let r = api
        .put(
            &format!("{INT}/tools/listPets"),
            support::tool_body("listPets"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(served(&cp).catalog.revision, 1);
    let second = api.post(&format!("{INT}/tools:publish"), json!({})).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.json()["revision"], 2);

    let revisions = api.get(&format!("{INT}/tools/revisions")).await;
    assert_eq!(revisions.status, 200, "{}", revisions.text);
    let revisions = revisions.json();
    let numbers: Vec<u64> = revisions
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["revision"].as_u64().expect("n"))
        .collect();
    assert_eq!(numbers, [2, 1]);
    assert_eq!(revisions[0]["published"], true);
    let one = api.get(&format!("{INT}/tools/revisions/1")).await.json();
    assert_eq!(one["tools"][1]["description"], "List pets");

    let rolled = api
        .post(&format!("{INT}/tools:rollback"), json!({"revision": 1}))
        .await;
    assert_eq!(rolled.status, 201, "{}", rolled.text);
    let rolled = rolled.json();
    assert_eq!(rolled["revision"], 3);
    assert_eq!(rolled["restoredFrom"], 1);
    assert_eq!(rolled["sha256"], published["sha256"]);
    let snapshot = served(&cp);
    assert_eq!(snapshot.catalog.revision, 3);
    assert!(snapshot.tools.iter().any(|t| t.description == "List pets"));
    // Without autoPublish, the draft keeps the edit for a later publish.
    assert_eq!(api.get(INT).await.json()["catalog"]["draftPending"], true);

    // Clear errors for revisions that are not there.
    let missing = api
        .post(&format!("{INT}/tools:rollback"), json!({"revision": 42}))
        .await;
    assert_eq!(missing.problem(400)["field"], "revision");
    api.get(&format!("{INT}/tools/revisions/42"))
        .await
        .problem(404);
    api.get(&format!("{INT}/tools/revisions/x"))
        .await
        .problem(400);

    // A tool may still be called `revisions`.
    let r = api
        .put(
            &format!("{INT}/tools/revisions"),
            support::tool_body("revisions"),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let ids: Vec<String> = api
        .get(&format!("{INT}/tools"))
        .await
        .json()
        .as_array()
        .expect("tools")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(ids.contains(&"revisions".to_owned()));
    let r = api.delete(&format!("{INT}/tools/revisions")).await;
    assert_eq!(r.status, 204, "{}", r.text);

    // The audit log names the revision served after each change.
    let audit = api.get("/v1/tenants/acme/audit").await.json();
    let named: Vec<(String, Value)> = audit
        .as_array()
        .expect("audit")
        .iter()
        .map(|a| {
            (
                a["action"].as_str().expect("action").to_owned(),
                a["catalogRevision"].clone(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("integration.create".to_owned(), json!(0)),
            ("tools.import".to_owned(), json!(0)),
            ("tools.publish".to_owned(), json!(1)),
            ("tool.put".to_owned(), json!(1)),
            ("tools.publish".to_owned(), json!(2)),
            ("tools.rollback".to_owned(), json!(3)),
            ("tool.put".to_owned(), json!(3)),
            ("tool.delete".to_owned(), json!(3)),
        ]
    );
}

fn authed<T>(msg: T, bearer: &str) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert(
        "authorization",
        format!("Bearer {bearer}").parse().expect("metadata"),
    );
    r
}

#[tokio::test]
async fn the_catalog_lifecycle_over_grpc() {
    let cp = Cp::start().await;
    let tok = token(&["acme"]);
    let api = Api {
        base: &cp.base,
        token: tok.clone(),
    };
    let r = api
        .post("/v1/tenants/acme/integrations", json!({"id": "pets"}))
        .await;
    assert_eq!(r.status, 201);
    let mut tools = ToolServiceClient::connect(cp.grpc.clone())
        .await
        .expect("connect");
    // Import over gRPC (autoPublish: one revision for the whole import).
    let plan = tools
        .import_tools(authed(
            pb::ImportToolsRequest {
                tenant: "acme".into(),
                integration: "pets".into(),
                json: json!({"document": document()}).to_string(),
            },
            &tok,
        ))
        .await
        .expect("import")
        .into_inner();
    let plan: Value = serde_json::from_str(&plan.plan_json).expect("plan");
    assert_eq!(plan["added"], json!(["listPets", "getPet"]));
    let iref = pb::IntegrationRef {
        tenant: "acme".into(),
        integration: "pets".into(),
    };
    let list = tools
        .list_tool_revisions(authed(iref.clone(), &tok))
        .await
        .expect("revisions")
        .into_inner();
    assert_eq!(list.revisions.len(), 1);
    assert_eq!(list.revisions[0].source, "edit");
    assert_eq!(list.revisions[0].tool_ids, ["getPet", "listPets"]);

    let same = tools
        .publish_tools(authed(
            pb::PublishToolsRequest {
                tenant: "acme".into(),
                integration: "pets".into(),
                note: None,
            },
            &tok,
        ))
        .await
        .expect("publish")
        .into_inner();
    assert!(!same.created, "autoPublish already published the draft");
    assert_eq!(same.revision, 1);

    tools
        .delete_tool(authed(
            pb::ToolRef {
                tenant: "acme".into(),
                integration: "pets".into(),
                tool_id: "getPet".into(),
            },
            &tok,
        ))
        .await
        .expect("delete");
    let rolled = tools
        .rollback_tools(authed(
            pb::RollbackToolsRequest {
                tenant: "acme".into(),
                integration: "pets".into(),
                revision: 1,
                note: Some("undo".into()),
            },
            &tok,
        ))
        .await
        .expect("rollback")
        .into_inner();
    assert!(rolled.created);
    assert_eq!((rolled.revision, rolled.restored_from), (3, Some(1)));
    let one = tools
        .get_tool_revision(authed(
            pb::ToolRevisionRef {
                tenant: "acme".into(),
                integration: "pets".into(),
                revision: 3,
            },
            &tok,
        ))
        .await
        .expect("revision")
        .into_inner();
    assert_eq!(one.tools.len(), 2);
    // With autoPublish the draft follows the rollback.
    let draft = tools
        .list_tools(authed(iref, &tok))
        .await
        .expect("tools")
        .into_inner();
    assert_eq!(draft.tools.len(), 2);
    let missing = tools
        .rollback_tools(authed(
            pb::RollbackToolsRequest {
                tenant: "acme".into(),
                integration: "pets".into(),
                revision: 99,
                note: None,
            },
            &tok,
        ))
        .await
        .expect_err("not kept");
    assert_eq!(missing.code(), tonic::Code::InvalidArgument);
}

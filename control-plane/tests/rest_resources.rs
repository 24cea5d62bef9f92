//! Integrations, tools, configs and revisions through the REST facade; admin auth failure
//! modes; problem+json bodies; secrets never returned.

mod support;

use serde_json::{Value, json};
use support::{
    Api, Cp, JWT_SECRET, call, call_raw, seed_integration, token, token_with, tool_body,
};

const SECRET_TOKEN: &str = "upstream-bearer-s3cr3t-value";
const SECRET_PASSWORD: &str = "upstream-basic-pa55word";

#[tokio::test]
async fn integration_and_tool_crud() {
    let cp = Cp::start().await;
    let api = Api {
        base: &cp.base,
        token: token(&["acme"]),
    };
    let r = api
        .post(
            "/v1/tenants/acme/integrations",
            json!({"id": "crm", "displayName": "CRM", "description": "desc"}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let created = r.json();
    assert_eq!(created["id"], "crm");
    assert_eq!(created["createdAt"], created["modifiedAt"]);

    let p = api
        .post("/v1/tenants/acme/integrations", json!({"id": "crm"}))
        .await
        .problem(409);
    assert!(p["detail"].as_str().expect("detail").contains("crm"));
    let p = api
        .post("/v1/tenants/acme/integrations", json!({"id": "bad/id"}))
        .await
        .problem(400);
    assert_eq!(p["field"], "id");
    let p = api
        .post(
            "/v1/tenants/acme/integrations",
            json!({"id": "x", "bogus": 1}),
        )
        .await
        .problem(400);
    assert!(
        p["detail"].as_str().expect("detail").contains("bogus"),
        "{p}"
    );
    let p = api
        .post("/v1/tenants/acme/integrations", json!({"displayName": "x"}))
        .await
        .problem(400);
    assert!(p["detail"].as_str().expect("detail").contains("id"), "{p}");
    let r = call_raw(
        "POST",
        &format!("{}/v1/tenants/acme/integrations", cp.base),
        Some(&api.token),
        Some("{not json".into()),
    )
    .await;
    r.problem(400);

    let r = api
        .patch(
            "/v1/tenants/acme/integrations/crm",
            json!({"description": "new", "displayName": null}),
        )
        .await;
    assert_eq!(r.status, 200);
    let patched = r.json();
    assert_eq!(patched["description"], "new");
    assert_eq!(patched["displayName"], "CRM");
    assert!(patched["modifiedAt"].as_i64() >= created["modifiedAt"].as_i64());
    let list = api.get("/v1/tenants/acme/integrations").await.json();
    assert_eq!(list.as_array().expect("list").len(), 1);
    api.get("/v1/tenants/acme/integrations/nope")
        .await
        .problem(404);
    api.get("/v1/tenants/acme/integrations/a%2Fb")
        .await
        .problem(400);

    // Tools: create (201), replace (200), read, list, delete.
    let t = "/v1/tenants/acme/integrations/crm/tools/get_item";
    assert_eq!(api.put(t, tool_body("get_item")).await.status, 201);
    let mut replaced = tool_body("get_item");
    replaced["title"] = json!("Get item");
    let r = api.put(t, replaced).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(api.get(t).await.json()["title"], "Get item");
    let mut mismatched = tool_body("x");
    mismatched["id"] = json!("other");
    assert_eq!(api.put(t, mismatched).await.problem(400)["field"], "id");
    let mut bad = tool_body("x");
    bad["inputSchema"] = json!({"type": "object", "properties": {"n": {"type": 12}}});
    assert_eq!(api.put(t, bad).await.problem(400)["field"], "inputSchema");
    let mut bad = tool_body("x");
    bad["http"]["path"] = json!("/items/{missing}");
    assert_eq!(api.put(t, bad).await.problem(400)["field"], "http.path");
    let tools = api
        .get("/v1/tenants/acme/integrations/crm/tools")
        .await
        .json();
    assert_eq!(tools.as_array().expect("tools").len(), 1);
    api.put("/v1/tenants/acme/integrations/nope/tools/x", tool_body("x"))
        .await
        .problem(404);
    assert_eq!(api.delete(t).await.status, 204);
    api.get(t).await.problem(404);
    api.delete(t).await.problem(404);

    // Unknown route and wrong method are problems too.
    api.get("/v1/nowhere").await.problem(404);
    call(
        "PUT",
        &format!("{}/v1/tenants/acme/integrations", cp.base),
        Some(&api.token),
        Some(&json!({})),
    )
    .await
    .problem(405);
}

#[tokio::test]
async fn configs_publish_rollback_and_never_return_secrets() {
    let cp = Cp::start().await;
    let api = Api {
        base: &cp.base,
        token: token(&["acme"]),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    let mut bodies = Vec::new();

    let r = api
        .post(
            &format!("{int}/configs"),
            json!({
                "displayName": "prod",
                "parameters": {"baseUrl": "https://api.example.com/v1", "region": "eu"},
                "auth": {"type": "BEARER", "parameters": {"token": SECRET_TOKEN}}
            }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text);
    bodies.push(r.text.clone());
    let cfg = r.json();
    let id = cfg["id"].as_str().expect("id").to_owned();
    assert_eq!(cfg["hasAuth"], true);
    assert_eq!(cfg["auth"], json!({"type": "BEARER"}));
    assert_eq!(cfg["publishedRevisionId"], Value::Null);
    assert_eq!(cfg["parameters"]["region"], "eu");
    let c = format!("{int}/configs/{id}");

    let bad = api
        .post(
            &format!("{int}/configs"),
            json!({"parameters": {"baseUrl": "ftp://x"}}),
        )
        .await
        .problem(400);
    assert_eq!(bad["field"], "parameters.baseUrl");
    let bad = api
        .post(&format!("{int}/configs"), json!({"parameters": {"baseUrl": "https://x"}, "auth": {"type": "BEARER", "parameters": {"token": ""}}}))
        .await
        .problem(400);
    assert_eq!(bad["field"], "auth.parameters.token");
    api.get(&format!("{int}/configs/not-a-uuid"))
        .await
        .problem(400);
    api.get(&format!("{int}/configs/{}", uuid::Uuid::now_v7()))
        .await
        .problem(404);

    // Publish v1, edit the draft, publish v2, roll back to v1.
    let r = api
        .post(&format!("{c}:publish"), json!({"note": "first"}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    bodies.push(r.text.clone());
    let v1 = r.json();
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["note"], "first");
    assert_eq!(v1["configId"], id.as_str());
    let r = api
        .patch(&c, json!({"auth": {"type": "BASIC", "parameters": {"username": "u", "password": SECRET_PASSWORD}}}))
        .await;
    bodies.push(r.text.clone());
    assert_eq!(r.json()["auth"]["type"], "BASIC");
    assert_eq!(
        r.json()["publishedRevisionId"],
        v1["id"],
        "editing the draft does not publish"
    );
    let r = api.post(&format!("{c}:publish"), json!({})).await;
    bodies.push(r.text.clone());
    let v2 = r.json();
    assert_eq!(v2["version"], 2);
    assert_eq!(api.get(&c).await.json()["publishedRevisionId"], v2["id"]);
    let r = api
        .post(&format!("{c}:rollback"), json!({"revisionId": v1["id"]}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.json()["version"], 1);
    assert_eq!(api.get(&c).await.json()["publishedRevisionId"], v1["id"]);
    let revs = api.get(&format!("{c}/revisions")).await;
    bodies.push(revs.text.clone());
    let versions: Vec<i64> = revs
        .json()
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["version"].as_i64().expect("v"))
        .collect();
    assert_eq!(versions, [1, 2], "rollback creates no revision");
    let p = api
        .post(
            &format!("{c}:rollback"),
            json!({"revisionId": uuid::Uuid::now_v7().to_string()}),
        )
        .await
        .problem(400);
    assert_eq!(p["field"], "revisionId");
    api.post(&format!("{c}:explode"), json!({}))
        .await
        .problem(404);

    // The snapshot carries the published revision's credentials (v1 = BEARER after rollback).
    let mcp = api
        .patch(
            &format!("{int}/mcp"),
            json!({"configId": id, "enabled": true}),
        )
        .await;
    bodies.push(mcp.text.clone());
    let full = cp.running().service.publisher().full();
    let rev = full.upserts[0]
        .revision
        .as_ref()
        .expect("published revision in snapshot");
    assert_eq!(rev.version, 1);
    assert!(rev.auth_json.contains(SECRET_TOKEN));

    for path in [c.clone(), format!("{int}/configs"), format!("{int}/mcp")] {
        bodies.push(api.get(&path).await.text);
    }
    for body in &bodies {
        assert!(
            !body.contains(SECRET_TOKEN) && !body.contains(SECRET_PASSWORD),
            "secret leaked: {body}"
        );
    }
    // Not in the store in clear either.
    let mut leaked = false;
    for entry in walk(&cp.dir) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        leaked |= bytes
            .windows(SECRET_TOKEN.len())
            .any(|w| w == SECRET_TOKEN.as_bytes());
    }
    assert!(!leaked, "credentials must be sealed at rest");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p))
        } else {
            out.push(p)
        }
    }
    out
}

#[tokio::test]
async fn admin_auth_failure_modes() {
    let cp = Cp::start().await;
    let url = format!("{}/v1/tenants/acme/integrations", cp.base);
    let check_401 = |r: support::Resp| {
        r.problem(401);
        assert_eq!(
            r.headers
                .get("www-authenticate")
                .and_then(|v| v.to_str().ok()),
            Some("Bearer")
        );
    };
    check_401(call("GET", &url, None, None).await);
    check_401(call("GET", &url, Some("not-a-jwt"), None).await);
    let now = mcpgw_control_plane::jwt::now_secs();
    check_401(
        call(
            "GET",
            &url,
            Some(&token_with(&["acme"], now - 3600, JWT_SECRET)),
            None,
        )
        .await,
    );
    check_401(
        call(
            "GET",
            &url,
            Some(&token_with(&["acme"], now + 600, "wrong-secret")),
            None,
        )
        .await,
    );
    // alg: none with a valid-looking payload.
    let enc = |s: &str| b64url(s.as_bytes());
    let none = format!(
        "{}.{}.",
        enc(r#"{"alg":"none","typ":"JWT"}"#),
        enc(&format!(
            r#"{{"sub":"x","exp":{},"tenants":["*"]}}"#,
            now + 600
        ))
    );
    check_401(call("GET", &url, Some(&none), None).await);

    // Valid token, wrong tenant → 403; "*" → allowed.
    let p = call("GET", &url, Some(&token(&["other"])), None)
        .await
        .problem(403);
    assert!(p["detail"].as_str().expect("detail").contains("acme"));
    assert_eq!(
        call("GET", &url, Some(&token(&["*"])), None).await.status,
        200
    );
    assert_eq!(
        call("GET", &url, Some(&token(&["other", "acme"])), None)
            .await
            .status,
        200
    );
    // The health check needs no token.
    assert_eq!(
        call("GET", &format!("{}/healthz", cp.base), None, None)
            .await
            .status,
        200
    );
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[((n >> (18 - 6 * i)) & 63) as usize]));
        }
    }
    out
}

#[tokio::test]
async fn admin_rate_limit_answers_429_problem() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let cp = Cp::start_at(tmp.path(), 2).await;
    let url = format!("{}/healthz", cp.base);
    let mut statuses = Vec::new();
    let mut limited = None;
    for _ in 0..10 {
        let r = call("GET", &url, None, None).await;
        statuses.push(r.status);
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let r = limited.unwrap_or_else(|| panic!("no 429 in {statuses:?}"));
    r.problem(429);
    assert!(r.headers.contains_key("retry-after"));
}

//! How the MCP settings rules 1–9 of `docs/api.md` map onto the REST facade (statuses, JSON
//! field names, the key shown once, durability across a restart), through the real server on a
//! loopback port. The rules themselves are unit-tested on the service
//! (`control-plane/src/service/tests.rs`).

mod support;

use mcpgw_shared::{apikey, pb};
use serde_json::{Value, json};
use support::{Api, Cp, PUBLIC_MCP_URL, seed_integration, token};

fn snapshot(cp: &Cp, tenant: &str, integration: &str) -> Option<pb::IntegrationSnapshot> {
    cp.running()
        .service
        .publisher()
        .full()
        .upserts
        .into_iter()
        .find(|s| s.tenant == tenant && s.integration_id == integration)
}

fn tool_ids(s: &pb::IntegrationSnapshot) -> Vec<String> {
    s.tools_json
        .iter()
        .map(|t| {
            serde_json::from_str::<Value>(t).expect("json")["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn settings_lifecycle_follows_every_rule() {
    let mut cp = Cp::start().await;
    let tok = token(&["acme"]);
    let base = cp.base.clone();
    let api = Api {
        base: &base,
        token: tok.clone(),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    let mcp = format!("{int}/mcp");

    // Defaults: disabled, all tools exposed, no key, nil config, URLs from --public-mcp-url (rule 7).
    let r = api.get(&mcp).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = r.json();
    assert_eq!(s["enabled"], false);
    assert_eq!(s["exposedToolIds"], Value::Null);
    assert_eq!(s["apiKey"], Value::Null);
    assert_eq!(s["apiKeyId"], Value::Null);
    assert_eq!(s["configId"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(s["integrationId"], "crm");
    assert_eq!(
        s["callUrl"],
        format!("{PUBLIC_MCP_URL}/v1/tenants/acme/integrations/crm/mcp:call")
    );
    assert_eq!(
        s["testUrl"],
        format!("{PUBLIC_MCP_URL}/v1/tenants/acme/integrations/crm/mcp:test")
    );
    for f in ["createdAt", "modifiedAt"] {
        assert!(
            s[f].as_i64().is_some_and(|t| t > 1_600_000_000_000),
            "{f} in ms: {s}"
        );
    }
    assert_eq!(
        tool_ids(&snapshot(&cp, "acme", "crm").expect("snapshot")),
        ["a", "b"]
    );

    // A patch without `enabled` does not mint.
    let s = api
        .patch(&mcp, json!({"description": "CRM tools"}))
        .await
        .json();
    assert_eq!(s["apiKey"], Value::Null);
    assert_eq!(s["description"], "CRM tools");

    // docs/api.md, MCP settings rule 1: first enable mints one key, returned once, bound to tenant + integration.
    let r = api.patch(&mcp, json!({"enabled": true})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = r.json();
    let raw = s["apiKey"]
        .as_str()
        .expect("apiKey on first enable")
        .to_owned();
    let prefix = apikey::parse(&raw).expect("well-formed key");
    assert_eq!(s["keyPrefix"], prefix);
    let key_id = s["apiKeyId"].as_str().expect("apiKeyId").to_owned();
    assert_eq!(s["enabled"], true);
    assert_eq!(s["description"], "CRM tools", "absent fields are kept");
    let snap = snapshot(&cp, "acme", "crm").expect("snapshot");
    assert!(snap.enabled);
    assert_eq!(snap.keys.len(), 1);
    assert_eq!(snap.keys[0].hash, apikey::hash(&raw).to_vec());
    assert_eq!(snap.keys[0].key_id, key_id);

    // ...and never again.
    for r in [
        api.get(&mcp).await,
        api.patch(&mcp, json!({"enabled": true})).await,
    ] {
        assert_eq!(r.json()["apiKey"], Value::Null);
        assert!(
            !r.text.contains(&raw),
            "raw key must appear in exactly one response"
        );
    }

    // docs/api.md, MCP settings rule 3: disabling keeps the key bound and not revoked.
    let s = api
        .patch(&mcp, json!({"enabled": false, "description": null}))
        .await
        .json();
    assert_eq!(s["enabled"], false);
    assert_eq!(s["apiKeyId"], key_id.as_str());
    assert_eq!(s["description"], "CRM tools", "null keeps the value");
    let snap = snapshot(&cp, "acme", "crm").expect("snapshot");
    assert!(!snap.enabled);
    assert_eq!(snap.keys.len(), 1, "the key stays active while disabled");

    // docs/api.md, MCP settings rule 2: re-enabling does not mint.
    let s = api.patch(&mcp, json!({"enabled": true})).await.json();
    assert_eq!(s["apiKey"], Value::Null);
    assert_eq!(s["apiKeyId"], key_id.as_str());

    // docs/api.md, MCP settings rule 6: exposedToolIds — unknown ids rejected, a list exposes exactly those.
    let p = api
        .patch(&mcp, json!({"exposedToolIds": ["a", "nope"]}))
        .await
        .problem(400);
    assert_eq!(p["field"], "exposedToolIds");
    let p = api
        .patch(&mcp, json!({"exposedToolIds": ["bad id"]}))
        .await
        .problem(400);
    assert_eq!(p["field"], "exposedToolIds[0]");
    let s = api
        .patch(&mcp, json!({"exposedToolIds": ["b"]}))
        .await
        .json();
    assert_eq!(s["exposedToolIds"], json!(["b"]));
    assert_eq!(
        tool_ids(&snapshot(&cp, "acme", "crm").expect("snapshot")),
        ["b"]
    );
    // A tool deleted later silently drops out.
    assert_eq!(api.delete(&format!("{int}/tools/b")).await.status, 204);
    assert_eq!(api.get(&mcp).await.json()["exposedToolIds"], json!([]));
    assert!(tool_ids(&snapshot(&cp, "acme", "crm").expect("snapshot")).is_empty());
    let s = api
        .patch(&mcp, json!({"exposedToolIds": ["a"]}))
        .await
        .json();
    assert_eq!(s["exposedToolIds"], json!(["a"]));

    // docs/api.md, MCP settings rule 5: configId must name a config of this integration; the nil UUID clears it.
    let cfg = api
        .post(
            &format!("{int}/configs"),
            json!({"displayName": "prod", "parameters": {"baseUrl": "https://api.example.com"}}),
        )
        .await
        .json();
    let cfg_id = cfg["id"].as_str().expect("config id").to_owned();
    let p = api
        .patch(&mcp, json!({"configId": uuid::Uuid::now_v7().to_string()}))
        .await
        .problem(400);
    assert_eq!(p["field"], "configId");
    let p = api
        .patch(&mcp, json!({"configId": "not-a-uuid"}))
        .await
        .problem(400);
    assert_eq!(p["field"], "configId");
    let other = seed_integration(&api, "acme", "other").await;
    let other_cfg = api
        .post(
            &format!("{other}/configs"),
            json!({"parameters": {"baseUrl": "https://x.example.com"}}),
        )
        .await
        .json();
    let p = api
        .patch(&mcp, json!({"configId": other_cfg["id"]}))
        .await
        .problem(400);
    assert_eq!(
        p["field"], "configId",
        "a config of another integration is refused"
    );
    let s = api.patch(&mcp, json!({"configId": cfg_id})).await.json();
    assert_eq!(s["configId"], cfg_id.as_str());
    assert_eq!(
        snapshot(&cp, "acme", "crm").expect("snapshot").config_id,
        cfg_id
    );
    let s = api
        .patch(
            &mcp,
            json!({"configId": "00000000-0000-0000-0000-000000000000"}),
        )
        .await
        .json();
    assert_eq!(s["configId"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(
        snapshot(&cp, "acme", "crm").expect("snapshot").config_id,
        ""
    );

    // docs/api.md, MCP settings rule 9: limits are patchable field by field and validated.
    let s = api
        .patch(
            &mcp,
            json!({"limits": {"requestsPerSecond": 5.0, "burst": 10}}),
        )
        .await
        .json();
    assert_eq!(
        s["limits"],
        json!({"requestsPerSecond": 5.0, "burst": 10, "maxConcurrentCalls": null})
    );
    let s = api
        .patch(&mcp, json!({"limits": {"maxConcurrentCalls": 3}}))
        .await
        .json();
    assert_eq!(
        s["limits"],
        json!({"requestsPerSecond": 5.0, "burst": 10, "maxConcurrentCalls": 3})
    );
    let p = api
        .patch(&mcp, json!({"limits": {"burst": 0}}))
        .await
        .problem(400);
    assert_eq!(p["field"], "limits.burst");
    let p = api
        .patch(&mcp, json!({"limits": {"burst": "many"}}))
        .await
        .problem(400);
    assert_eq!(p["field"], "limits.burst");
    let snap = snapshot(&cp, "acme", "crm").expect("snapshot");
    assert_eq!(snap.limits.and_then(|l| l.max_concurrent_calls), Some(3));

    // docs/api.md, MCP settings rule 4: rotation mints a fresh key, returns it once, revokes the old one.
    let r = api.post(&format!("{mcp}:rotateKey"), json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let s = r.json();
    let new_raw = s["apiKey"].as_str().expect("new key").to_owned();
    assert_ne!(new_raw, raw);
    assert_ne!(s["apiKeyId"], key_id.as_str());
    assert_eq!(
        s["keyPrefix"],
        apikey::parse(&new_raw).expect("well-formed")
    );
    let snap = snapshot(&cp, "acme", "crm").expect("snapshot");
    assert_eq!(snap.keys.len(), 1);
    assert_eq!(
        snap.keys[0].hash,
        apikey::hash(&new_raw).to_vec(),
        "only the new key is active"
    );
    assert_eq!(api.get(&mcp).await.json()["apiKey"], Value::Null);

    // Everything acknowledged survives a restart on the same data dir.
    let before = api.get(&mcp).await.json();
    cp.restart().await;
    let base = cp.base.clone();
    let api = Api {
        base: &base,
        token: tok,
    };
    let after = api.get(&mcp).await.json();
    assert_eq!(before, after);
    let snap = snapshot(&cp, "acme", "crm").expect("snapshot after restart");
    assert_eq!(snap.keys[0].hash, apikey::hash(&new_raw).to_vec());
    assert!(snap.enabled);

    // Deleting the integration revokes its key.
    assert_eq!(api.delete(&int).await.status, 204);
    assert!(snapshot(&cp, "acme", "crm").is_none());
    api.get(&mcp).await.problem(404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_enables_mint_exactly_one_key() {
    let cp = Cp::start().await;
    let tok = token(&["*"]);
    let api = Api {
        base: &cp.base,
        token: tok.clone(),
    };
    let int = seed_integration(&api, "acme", "crm").await;
    let url = format!("{}{int}/mcp", cp.base);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (url, tok) = (url.clone(), tok.clone());
        set.spawn(async move {
            support::call("PATCH", &url, Some(&tok), Some(&json!({"enabled": true}))).await
        });
    }
    let mut responses = Vec::new();
    while let Some(r) = set.join_next().await {
        let r = r.expect("task");
        assert_eq!(r.status, 200, "{}", r.text);
        responses.push(r.json());
    }
    let minted: Vec<&str> = responses
        .iter()
        .filter_map(|r| r["apiKey"].as_str())
        .collect();
    assert_eq!(
        minted.len(),
        1,
        "exactly one response carries a key: {responses:?}"
    );
    let ids: std::collections::BTreeSet<String> = responses
        .iter()
        .map(|r| r["apiKeyId"].as_str().expect("bound").to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "every response names the same key");
    let full = cp.running().service.publisher().full();
    assert_eq!(full.upserts[0].keys.len(), 1);
    assert_eq!(
        full.upserts[0].keys[0].hash,
        apikey::hash(minted[0]).to_vec()
    );
}

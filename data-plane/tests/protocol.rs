//! Every protocol era end to end against a real control plane and data plane.

mod support;

use serde_json::{Value, json};
use support::{DpOptions, Gw, echo_tool, integration, modern, request, rpc, send, typed_tool};

#[tokio::test]
async fn initialize_era_versions() {
    let gw = Gw::start().await;
    let key = integration(
        &gw,
        "acme",
        "crm",
        &[echo_tool("echo"), typed_tool("typed")],
    )
    .await;
    let url = gw.url("acme", "crm", "mcp:test");

    for v in ["2025-03-26", "2025-06-18", "2025-11-25"] {
        let r = rpc(&url, &key, &[], &request(1, "initialize", json!({"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert!(
            r.header("mcp-session-id").is_none(),
            "no session is ever issued"
        );
        let res = r.json()["result"].clone();
        assert_eq!(res["protocolVersion"], v);
        assert_eq!(res["capabilities"]["tools"], json!({"listChanged": false}));
        assert_eq!(res["serverInfo"]["name"], "crm");
        assert_eq!(res["instructions"], "Tools of crm");
        assert!(
            res.get("resultType").is_none(),
            "no 2026 fields for legacy clients"
        );
        assert_eq!(res["serverInfo"].get("title").is_some(), v != "2025-03-26");
    }
    // Unknown (or stateless-era) versions in initialize get the newest initialize-era one.
    for v in ["1999-01-01", "2026-07-28"] {
        let r = rpc(&url, &key, &[], &request(2, "initialize", json!({"protocolVersion": v, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}))).await;
        assert_eq!(r.json()["result"]["protocolVersion"], "2025-11-25");
    }
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2025-06-18")],
        &json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
    )
    .await;
    assert_eq!(r.status, 202);
    assert!(r.text.is_empty());
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2025-06-18")],
        &json!({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}}),
    )
    .await;
    assert_eq!(r.status, 202);
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2025-11-25")],
        &request(3, "ping", json!({})),
    )
    .await;
    assert_eq!(r.json(), json!({"jsonrpc": "2.0", "id": 3, "result": {}}));

    // Tool shapes per era.
    let list = |v: &'static str| {
        let (url, key) = (url.clone(), key.clone());
        async move {
            rpc(
                &url,
                &key,
                &[("mcp-protocol-version", v)],
                &request(4, "tools/list", json!({})),
            )
            .await
            .json()["result"]["tools"][1]
                .clone()
        }
    };
    let t = list("2025-03-26").await;
    assert_eq!(t["name"], "typed");
    assert!(
        t.get("title").is_none() && t.get("outputSchema").is_none(),
        "{t}"
    );
    let t = list("2025-06-18").await;
    assert_eq!(t["title"], "Tool typed");
    assert_eq!(t["outputSchema"]["required"], json!(["n"]));
    // No header = 2025-03-26.
    let r = rpc(&url, &key, &[], &request(5, "tools/list", json!({}))).await;
    assert!(r.json()["result"]["tools"][0].get("title").is_none());

    // tools/call through the simulator: the echo, and structuredContent from 2025-06-18 on
    // for a tool with an outputSchema.
    let call = request(
        6,
        "tools/call",
        json!({"name": "echo", "arguments": {"x": 2}}),
    );
    let r = rpc(&url, &key, &[("mcp-protocol-version", "2025-06-18")], &call)
        .await
        .json();
    assert_eq!(
        r["result"]["content"][0],
        json!({"type": "text", "text": "{\"x\":2}"})
    );
    assert!(
        r["result"].get("structuredContent").is_none(),
        "no outputSchema"
    );
    let typed = request(6, "tools/call", json!({"name": "typed"}));
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2025-06-18")],
        &typed,
    )
    .await
    .json();
    assert_eq!(r["result"]["structuredContent"], json!({"n": 5}));
    assert_eq!(r["result"]["content"][0]["text"], "{\"n\":5}");
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2025-03-26")],
        &typed,
    )
    .await
    .json();
    assert!(r["result"].get("structuredContent").is_none());

    // Header rules: an unknown version is a 400.
    let r = rpc(
        &url,
        &key,
        &[("mcp-protocol-version", "2024-01-01")],
        &request(7, "tools/list", json!({})),
    )
    .await;
    r.rpc_error(400, -32600);
}

#[tokio::test]
async fn batches_only_in_2025_03_26() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let batch = json!([
        request(1, "ping", json!({})),
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        request(2, "tools/list", json!({})),
        request(3, "initialize", json!({"protocolVersion": "2025-03-26"})),
        {"jsonrpc": "1.0", "id": 4, "method": "x"}
    ]);
    let r = rpc(&url, &key, &[], &batch).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let out = r.json();
    let out = out.as_array().expect("batch response");
    assert_eq!(out.len(), 4, "one response per request: {out:?}");
    assert_eq!(out[0]["result"], json!({}));
    assert_eq!(out[1]["result"]["tools"][0]["name"], "echo");
    assert_eq!(
        out[2]["error"]["code"], -32600,
        "initialize must not be batched"
    );
    assert_eq!(out[3]["id"], 4);
    let only_notes = json!([{"jsonrpc": "2.0", "method": "notifications/initialized"}]);
    assert_eq!(rpc(&url, &key, &[], &only_notes).await.status, 202);
    for v in ["2025-06-18", "2025-11-25", "2026-07-28"] {
        rpc(&url, &key, &[("mcp-protocol-version", v)], &batch)
            .await
            .rpc_error(400, -32600);
    }
    rpc(&url, &key, &[], &json!([]))
        .await
        .rpc_error(400, -32600);
}

#[tokio::test]
async fn stateless_era() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo"), echo_tool("zeta")]).await;
    let url = gw.url("acme", "crm", "mcp:test");

    let r = modern(&url, &key, 1, "server/discover", json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let res = r.json()["result"].clone();
    assert_eq!(res["resultType"], "complete");
    assert_eq!(
        res["supportedVersions"],
        json!(["2026-07-28", "2025-11-25", "2025-06-18", "2025-03-26"])
    );
    assert_eq!(res["capabilities"]["tools"], json!({"listChanged": false}));
    assert_eq!(res["cacheScope"], "private");
    assert!(res["ttlMs"].as_u64().is_some());
    assert_eq!(
        res["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "crm"
    );

    let r = modern(&url, &key, 2, "tools/list", json!({})).await.json();
    assert_eq!(r["result"]["resultType"], "complete");
    assert_eq!(r["result"]["cacheScope"], "private");
    assert_eq!(r["result"]["tools"].as_array().expect("tools").len(), 2);
    assert_eq!(r["result"]["tools"][0]["title"], "Tool echo");

    let r = modern(
        &url,
        &key,
        3,
        "tools/call",
        json!({"name": "echo", "arguments": {"x": 1}}),
    )
    .await
    .json();
    assert_eq!(r["id"], 3);
    assert_eq!(r["result"]["resultType"], "complete");
    assert_eq!(r["result"]["content"][0]["text"], "{\"x\":1}");

    // Removed methods are 404 + -32601, with the id.
    for m in ["initialize", "ping", "logging/setLevel", "unknown/method"] {
        let e = modern(&url, &key, 9, m, json!({})).await;
        e.rpc_error(404, -32601);
        assert_eq!(e.json()["id"], 9);
    }

    let meta = json!({"io.modelcontextprotocol/protocolVersion": "2026-07-28", "io.modelcontextprotocol/clientCapabilities": {}});
    let h = [
        ("mcp-protocol-version", "2026-07-28"),
        ("mcp-method", "server/discover"),
    ];
    // Missing _meta fields → 400 -32602.
    rpc(&url, &key, &h, &request(10, "server/discover", json!({})))
        .await
        .rpc_error(400, -32602);
    rpc(
        &url,
        &key,
        &h,
        &request(
            11,
            "server/discover",
            json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}}),
        ),
    )
    .await
    .rpc_error(400, -32602);
    // Client info is optional.
    assert_eq!(
        rpc(
            &url,
            &key,
            &h,
            &request(12, "server/discover", json!({"_meta": meta}))
        )
        .await
        .status,
        200
    );
    // Header/meta mismatch → -32020 before version support; unsupported → -32022.
    let v999 = json!({"_meta": {"io.modelcontextprotocol/protocolVersion": "v999.0.0", "io.modelcontextprotocol/clientCapabilities": {}}});
    rpc(
        &url,
        &key,
        &h,
        &request(13, "server/discover", v999.clone()),
    )
    .await
    .rpc_error(400, -32020);
    let e = rpc(
        &url,
        &key,
        &[
            ("mcp-protocol-version", "v999.0.0"),
            ("mcp-method", "server/discover"),
        ],
        &request(14, "server/discover", v999),
    )
    .await
    .rpc_error(400, -32022);
    assert_eq!(e["data"]["requested"], "v999.0.0");
    assert!(
        e["data"]["supported"]
            .as_array()
            .expect("supported")
            .contains(&json!("2026-07-28"))
    );
    // Mcp-Method and Mcp-Name must match the body.
    rpc(
        &url,
        &key,
        &[h[0], ("mcp-method", "tools/list")],
        &request(15, "server/discover", json!({"_meta": meta})),
    )
    .await
    .rpc_error(400, -32020);
    rpc(
        &url,
        &key,
        &[h[0]],
        &request(16, "server/discover", json!({"_meta": meta})),
    )
    .await
    .rpc_error(400, -32020);
    let call = request(17, "tools/call", json!({"_meta": meta, "name": "echo"}));
    rpc(
        &url,
        &key,
        &[h[0], ("mcp-method", "tools/call"), ("mcp-name", "zeta")],
        &call,
    )
    .await
    .rpc_error(400, -32020);
    rpc(&url, &key, &[h[0], ("mcp-method", "tools/call")], &call)
        .await
        .rpc_error(400, -32020);
    let ok = rpc(
        &url,
        &key,
        &[
            h[0],
            ("mcp-method", "tools/call"),
            ("mcp-name", "=?base64?ZWNobw==?="),
        ],
        &call,
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text);
    // _meta without the header → -32020.
    rpc(
        &url,
        &key,
        &[("mcp-method", "server/discover")],
        &request(18, "server/discover", json!({"_meta": meta})),
    )
    .await
    .rpc_error(400, -32020);
}

#[tokio::test]
async fn json_rpc_errors_and_pagination() {
    let gw = Gw::start_with(DpOptions {
        page_size: 2,
        ..DpOptions::default()
    })
    .await;
    let strict = json!({
        "id": "strict", "description": "Needs an integer n",
        "inputSchema": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}, "required": ["n"], "additionalProperties": false},
        "http": {"method": "GET", "path": "/n"}
    });
    let tools: Vec<Value> = ["a", "b", "c", "d", "e"]
        .iter()
        .map(|t| echo_tool(t))
        .chain([strict])
        .collect();
    let key = integration(&gw, "acme", "crm", &tools).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let legacy = [("mcp-protocol-version", "2025-06-18")];

    // Parse error, invalid request, method not found — all with the id where there is one.
    let r = send(
        "POST",
        &url,
        &[
            ("authorization", &format!("Bearer {key}")),
            ("content-type", "application/json"),
        ],
        Some("{oops".into()),
    )
    .await;
    let e = r.rpc_error(400, -32700);
    assert!(
        e["message"]
            .as_str()
            .expect("msg")
            .starts_with("Parse error")
    );
    rpc(&url, &key, &legacy, &json!({"jsonrpc": "2.0", "id": 5}))
        .await
        .rpc_error(400, -32600);
    let r = rpc(
        &url,
        &key,
        &legacy,
        &request(6, "completion/complete", json!({})),
    )
    .await;
    r.rpc_error(200, -32601);
    assert_eq!(r.json()["id"], 6);

    // Pagination: deterministic order, page size 2, cursor = last id.
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let params = cursor.as_ref().map_or(json!({}), |c| json!({"cursor": c}));
        let page = rpc(&url, &key, &legacy, &request(7, "tools/list", params))
            .await
            .json()["result"]
            .clone();
        names.extend(
            page["tools"]
                .as_array()
                .expect("tools")
                .iter()
                .map(|t| t["name"].as_str().expect("name").to_owned()),
        );
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(names, ["a", "b", "c", "d", "e", "strict"]);
    rpc(
        &url,
        &key,
        &legacy,
        &request(8, "tools/list", json!({"cursor": "%%%"})),
    )
    .await
    .rpc_error(200, -32602);

    // Unknown tool → -32602 with the id; arguments not an object → -32602.
    let r = rpc(
        &url,
        &key,
        &legacy,
        &request(9, "tools/call", json!({"name": "nope"})),
    )
    .await;
    let e = r.rpc_error(200, -32602);
    assert_eq!(e["message"], "Unknown tool: nope");
    assert_eq!(r.json()["id"], 9);
    rpc(
        &url,
        &key,
        &legacy,
        &request(10, "tools/call", json!({"name": "a", "arguments": [1]})),
    )
    .await
    .rpc_error(200, -32602);
    // Schema violations: -32602 with details for older clients, an isError result from 2025-11-25.
    let bad = request(
        11,
        "tools/call",
        json!({"name": "strict", "arguments": {"n": "x", "extra": 1}}),
    );
    let e = rpc(&url, &key, &legacy, &bad).await.rpc_error(200, -32602);
    assert!(
        e["data"]["errors"].as_array().expect("errors").len() >= 2,
        "{e}"
    );
    let r = rpc(&url, &key, &[("mcp-protocol-version", "2025-11-25")], &bad)
        .await
        .json();
    assert_eq!(r["result"]["isError"], true);
    assert!(
        r["result"]["content"][0]["text"]
            .as_str()
            .expect("text")
            .contains("Invalid arguments")
    );
    let r = rpc(
        &url,
        &key,
        &legacy,
        &request(
            12,
            "tools/call",
            json!({"name": "strict", "arguments": {"n": 3}}),
        ),
    )
    .await
    .json();
    assert_eq!(r["result"]["content"][0]["text"], "{\"n\":3}");
}

#[tokio::test]
async fn empty_prompt_and_resource_lists_and_logging_level() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[echo_tool("echo")]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    let legacy = [("mcp-protocol-version", "2025-11-25")];
    for (method, field) in [
        ("prompts/list", "prompts"),
        ("resources/list", "resources"),
        ("resources/templates/list", "resourceTemplates"),
    ] {
        let r = rpc(&url, &key, &legacy, &request(1, method, json!({})))
            .await
            .json();
        assert_eq!(r["result"], json!({field: []}), "{method}");
        let r = modern(&url, &key, 2, method, json!({})).await.json();
        assert_eq!(r["result"][field], json!([]));
        assert_eq!(r["result"]["cacheScope"], "private");
        assert!(r["result"]["ttlMs"].is_u64());
    }
    let r = rpc(
        &url,
        &key,
        &legacy,
        &request(3, "prompts/get", json!({"name": "x"})),
    )
    .await;
    r.rpc_error(200, -32602);
    let r = rpc(
        &url,
        &key,
        &legacy,
        &request(4, "resources/read", json!({"uri": "test://nope"})),
    )
    .await;
    assert_eq!(r.rpc_error(200, -32602)["data"]["uri"], "test://nope");
    assert_eq!(
        rpc(
            &url,
            &key,
            &legacy,
            &request(5, "logging/setLevel", json!({"level": "info"}))
        )
        .await
        .json()["result"],
        json!({})
    );
    let init = rpc(
        &url,
        &key,
        &[],
        &request(6, "initialize", json!({"protocolVersion": "2025-11-25"})),
    )
    .await
    .json();
    assert_eq!(init["result"]["capabilities"]["logging"], json!({}));
    let discover = modern(&url, &key, 7, "server/discover", json!({}))
        .await
        .json();
    assert!(
        discover["result"]["capabilities"].get("logging").is_none(),
        "no logging in the stateless era"
    );
    assert!(discover["result"]["capabilities"]["prompts"].is_object());
}

//! The data plane driven end to end by a third-party MCP client: the `rmcp` crate's client
//! over Streamable HTTP (its reqwest backend, plain HTTP on loopback, no TLS backend
//! compiled in), authenticating with the integration's API key as a bearer token.
//!
//! rmcp picks the lifecycle, not the transport: `ServiceExt::serve` always runs the
//! `initialize` handshake, proposing the client config's protocol version (rmcp's
//! `ProtocolVersion::LATEST`, 2026-07-28, unless pinned); `ClientServiceExt::serve_with_lifecycle`
//! with `ClientLifecycleMode::Discover` / `Auto` probes with `server/discover` and then sends
//! per-request `_meta` plus the `Mcp-Method` / `Mcp-Name` headers. Either way rmcp puts a
//! `progressToken` in every request's `_meta` and accepts `text/event-stream`, so every
//! `tools/call` here is answered over SSE.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{
    CallToolRequestParams, CallToolResult, ClientCapabilities, ClientConfig, ErrorCode,
    Implementation, JsonObject, ProgressNotificationParam, ProtocolVersion,
};
use rmcp::service::{
    ClientInitializeError, ClientLifecycleMode, ClientServiceExt, NotificationContext, RoleClient,
};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::{ClientHandler, Peer, ServiceError, ServiceExt};
use serde_json::{Value, json};
use support::{DpOptions, Gw, eventually, integration};

/// Bounds every client operation, so a hung exchange fails the test instead of hanging it.
const LIMIT: Duration = Duration::from_secs(20);

/// The tools of every test, created out of id order: `tools/list` answers in id order.
/// Defined here rather than with `support::echo_tool` so the assertions below pin their exact
/// shape: `echo` has no `simulation` and no `outputSchema`, so the sandbox echoes the
/// arguments (as text only); `quote` has both, so its scripted response also comes back as
/// `structuredContent` to clients that know it.
fn tools() -> Vec<Value> {
    vec![
        json!({
            "id": "quote",
            "title": "Quote",
            "description": "Quotes a price",
            "inputSchema": {"type": "object", "properties": {"symbol": {"type": "string"}}},
            "outputSchema": {
                "type": "object",
                "properties": {"symbol": {"type": "string"}, "price": {"type": "number"}},
                "required": ["symbol", "price"]
            },
            "http": {"method": "GET", "path": "/quote"},
            "simulation": {"response": {"symbol": "ACME", "price": 42.5}}
        }),
        json!({
            "id": "echo",
            "title": "Tool echo",
            "description": "Echoes for echo",
            "inputSchema": {"type": "object", "properties": {"x": {"type": "integer"}, "s": {"type": "string"}}},
            "http": {"method": "POST", "path": "/echo"}
        }),
        json!({
            "id": "fail",
            "description": "Always fails",
            "inputSchema": {"type": "object"},
            "http": {"method": "POST", "path": "/fail"},
            "simulation": {"content": [{"type": "text", "text": "boom"}], "isError": true}
        }),
    ]
}

/// The transport config: the sandbox URL and, if given, the API key, which rmcp sends as
/// `Authorization: Bearer <key>`.
fn transport_config(url: &str, key: Option<&str>) -> StreamableHttpClientTransportConfig {
    let config = StreamableHttpClientTransportConfig::with_uri(url.to_owned());
    match key {
        Some(key) => config.auth_header(key),
        None => config,
    }
}

fn client_config(version: ProtocolVersion) -> ClientConfig {
    ClientConfig::new(
        ClientCapabilities::default(),
        Implementation::new("rmcp-e2e", "1.0.0"),
    )
    .with_protocol_version(version)
}

/// Connects `config` with `lifecycle`.
async fn connect(
    url: &str,
    key: Option<&str>,
    config: ClientConfig,
    lifecycle: ClientLifecycleMode,
) -> Result<rmcp::service::RunningService<RoleClient, ClientConfig>, ClientInitializeError> {
    let transport = StreamableHttpClientTransport::from_config(transport_config(url, key));
    tokio::time::timeout(LIMIT, config.serve_with_lifecycle(transport, lifecycle))
        .await
        .expect("handshake in time")
}

fn args(v: Value) -> JsonObject {
    v.as_object().cloned().expect("arguments object")
}

async fn call(
    peer: &Peer<RoleClient>,
    name: &str,
    arguments: Value,
) -> Result<CallToolResult, ServiceError> {
    let params = CallToolRequestParams::new(name.to_owned()).with_arguments(args(arguments));
    tokio::time::timeout(LIMIT, peer.call_tool(params))
        .await
        .expect("call in time")
}

/// The text of the only content block of `result`.
fn only_text(result: &CallToolResult) -> String {
    let content = serde_json::to_value(&result.content).expect("content");
    assert_eq!(content.as_array().map(Vec::len), Some(1), "{content}");
    assert_eq!(content[0]["type"], "text", "{content}");
    content[0]["text"].as_str().expect("text").to_owned()
}

/// Asserts the server identity `peer` recorded at startup, whichever lifecycle produced it.
fn assert_server(peer: &Peer<RoleClient>, version: &ProtocolVersion) {
    let info = peer.peer_info().expect("peer info after startup");
    assert_eq!(&info.protocol_version, version);
    let server = info.server_info.as_ref().expect("server info");
    assert_eq!(server.name, "crm");
    assert_eq!(info.instructions.as_deref(), Some("Tools of crm"));
    let tools = info.capabilities.tools.as_ref().expect("tools capability");
    assert_eq!(tools.list_changed, Some(false));
}

/// Lists and calls the tools of [`tools`] through `peer`, negotiated at `version`, with a
/// page size of 2.
async fn exercise(peer: &Peer<RoleClient>, version: &ProtocolVersion) {
    let structured = *version >= ProtocolVersion::V_2025_06_18;

    // One page, then every page through the cursor.
    let page = tokio::time::timeout(LIMIT, peer.list_tools(None))
        .await
        .expect("list in time")
        .expect("tools/list");
    let names: Vec<&str> = page.tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["echo", "fail"]);
    assert_eq!(page.next_cursor.as_deref(), Some("fail"));
    let all = tokio::time::timeout(LIMIT, peer.list_all_tools())
        .await
        .expect("list in time")
        .expect("all tools");
    let names: Vec<&str> = all.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names, ["echo", "fail", "quote"]);
    let echo = &all[0];
    assert_eq!(echo.description.as_deref(), Some("Echoes for echo"));
    assert_eq!(
        Value::Object((*echo.input_schema).clone()),
        json!({"type": "object", "properties": {"x": {"type": "integer"}, "s": {"type": "string"}}})
    );
    assert!(echo.output_schema.is_none(), "{echo:?}");
    let quote = &all[2];
    let schema = quote.output_schema.as_deref().cloned().map(Value::Object);
    if structured {
        assert_eq!(echo.title.as_deref(), Some("Tool echo"));
        assert_eq!(quote.title.as_deref(), Some("Quote"));
        assert_eq!(
            schema.expect("outputSchema")["required"],
            json!(["symbol", "price"])
        );
    } else {
        // 2025-03-26 knows neither `title` nor `outputSchema`.
        assert!(
            echo.title.is_none() && quote.title.is_none() && schema.is_none(),
            "{quote:?}"
        );
    }

    // The sandbox echoes the validated arguments.
    let r = call(peer, "echo", json!({"x": 7, "s": "hi"}))
        .await
        .expect("echo");
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let text: Value = serde_json::from_str(&only_text(&r)).expect("JSON text");
    assert_eq!(text, json!({"x": 7, "s": "hi"}));
    assert_eq!(
        r.structured_content, None,
        "no outputSchema, no structuredContent"
    );

    // A simulated response maps like an upstream JSON body.
    let r = call(peer, "quote", json!({"symbol": "ACME"}))
        .await
        .expect("quote");
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let text: Value = serde_json::from_str(&only_text(&r)).expect("JSON text");
    assert_eq!(text, json!({"symbol": "ACME", "price": 42.5}));
    let expected = structured.then(|| json!({"symbol": "ACME", "price": 42.5}));
    assert_eq!(r.structured_content, expected);

    // Simulated content comes back verbatim, flagged as a tool error (a result, not an Err).
    let r = call(peer, "fail", json!({}))
        .await
        .expect("fail is a result");
    assert_eq!(r.is_error, Some(true));
    assert_eq!(only_text(&r), "boom");

    // Invalid arguments: a tool error from 2025-11-25 on, a protocol error before.
    let bad = call(peer, "echo", json!({"x": "seven"})).await;
    if *version >= ProtocolVersion::V_2025_11_25 {
        let r = bad.expect("invalid arguments are a tool error");
        assert_eq!(r.is_error, Some(true));
        assert!(
            only_text(&r).starts_with("Invalid arguments for tool echo"),
            "{r:?}"
        );
    } else {
        match bad {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{e:?}")
            }
            other => panic!("expected -32602, got {other:?}"),
        }
    }

    // An unknown tool is a JSON-RPC error, surfaced as an Err.
    match call(peer, "nope", json!({})).await {
        Err(ServiceError::McpError(e)) => {
            assert_eq!(e.code, ErrorCode::INVALID_PARAMS, "{e:?}");
            assert_eq!(e.message, "Unknown tool: nope");
        }
        other => panic!("expected -32602 for an unknown tool, got {other:?}"),
    }
}

/// Starts a gateway with a page size of 2 and the tools of [`tools`] on `acme/crm`.
async fn sandbox() -> (Gw, String, String) {
    let gw = Gw::start_with(DpOptions {
        page_size: 2,
        ..DpOptions::default()
    })
    .await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    let url = gw.url("acme", "crm", "mcp:test");
    (gw, url, key)
}

#[tokio::test]
async fn rmcp_client_lists_and_calls_tools_on_the_sandbox() {
    let (_gw, url, key) = sandbox().await;

    // rmcp's defaults: `serve` runs `initialize` proposing 2026-07-28 (rmcp's LATEST); the
    // gateway answers with its newest initialize-era version.
    assert_eq!(ProtocolVersion::default(), ProtocolVersion::V_2026_07_28);
    let transport = StreamableHttpClientTransport::from_config(transport_config(&url, Some(&key)));
    let client = tokio::time::timeout(LIMIT, ().serve(transport))
        .await
        .expect("handshake in time")
        .expect("initialize");
    assert_server(client.peer(), &ProtocolVersion::V_2025_11_25);
    exercise(client.peer(), &ProtocolVersion::V_2025_11_25).await;
    let quit = tokio::time::timeout(LIMIT, client.cancel())
        .await
        .expect("close in time")
        .expect("closed cleanly");
    assert!(
        matches!(quit, rmcp::service::QuitReason::Cancelled),
        "{quit:?}"
    );
}

#[tokio::test]
async fn rmcp_client_with_discover_lifecycle() {
    let (_gw, url, key) = sandbox().await;

    // 2026-07-28: `server/discover`, then `_meta` and `Mcp-*` headers on every request.
    let modern = vec![ProtocolVersion::V_2026_07_28];
    let client = connect(
        &url,
        Some(&key),
        client_config(ProtocolVersion::V_2026_07_28),
        ClientLifecycleMode::Discover {
            preferred_versions: modern.clone(),
        },
    )
    .await
    .expect("discover");
    assert_server(client.peer(), &ProtocolVersion::V_2026_07_28);
    exercise(client.peer(), &ProtocolVersion::V_2026_07_28).await;
    client.cancel().await.expect("closed cleanly");

    // Auto mode takes the same path against this server: discovery succeeds, no fallback.
    let client = connect(
        &url,
        Some(&key),
        client_config(ProtocolVersion::V_2026_07_28),
        ClientLifecycleMode::Auto {
            preferred_versions: modern,
            legacy_version: Some(ProtocolVersion::V_2025_11_25),
        },
    )
    .await
    .expect("auto");
    assert_server(client.peer(), &ProtocolVersion::V_2026_07_28);
    let r = call(client.peer(), "quote", json!({"symbol": "ACME"}))
        .await
        .expect("quote");
    assert_eq!(
        r.structured_content,
        Some(json!({"symbol": "ACME", "price": 42.5}))
    );
    client.cancel().await.expect("closed cleanly");
}

#[tokio::test]
async fn rmcp_client_with_legacy_handshake() {
    let (_gw, url, key) = sandbox().await;

    // Pinned initialize-era versions are honoured as proposed.
    for version in [
        ProtocolVersion::LATEST_WITH_INITIALIZE,
        ProtocolVersion::V_2025_06_18,
        ProtocolVersion::V_2025_03_26,
    ] {
        let client = connect(
            &url,
            Some(&key),
            client_config(version.clone()),
            ClientLifecycleMode::Initialize,
        )
        .await
        .unwrap_or_else(|e| panic!("initialize at {version}: {e}"));
        assert_eq!(
            client
                .peer()
                .peer_info()
                .expect("peer info")
                .protocol_version,
            version
        );
        exercise(client.peer(), &version).await;
        client.cancel().await.expect("closed cleanly");
    }
    assert_eq!(
        ProtocolVersion::LATEST_WITH_INITIALIZE,
        ProtocolVersion::V_2025_11_25
    );
}

#[tokio::test]
async fn rmcp_client_rejected_without_key() {
    let (_gw, url, key) = sandbox().await;

    let lifecycles = [
        ClientLifecycleMode::Initialize,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
        ClientLifecycleMode::Auto {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            legacy_version: None,
        },
    ];
    for lifecycle in lifecycles {
        for bad in [None, Some("not-the-key")] {
            let err = match connect(
                &url,
                bad,
                client_config(ProtocolVersion::default()),
                lifecycle.clone(),
            )
            .await
            {
                Ok(_) => panic!("{lifecycle:?} connected with key {bad:?}"),
                Err(e) => e,
            };
            assert!(
                err.is_authorization_required(),
                "{lifecycle:?} {bad:?}: {err:?}"
            );
            assert_eq!(
                err.auth_challenge(),
                Some("Bearer realm=\"mcp\""),
                "{err:?}"
            );
        }
    }
    // The same client config with the key connects.
    let client = connect(
        &url,
        Some(&key),
        client_config(ProtocolVersion::default()),
        ClientLifecycleMode::Initialize,
    )
    .await
    .expect("with the key");
    client.cancel().await.expect("closed cleanly");
}

/// A client that records the progress notifications it receives.
#[derive(Clone, Default)]
struct ProgressRecorder {
    notes: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ProgressRecorder {
    fn notes(&self) -> Vec<ProgressNotificationParam> {
        self.notes.lock().expect("lock").clone()
    }
}

impl ClientHandler for ProgressRecorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.notes.lock().expect("lock").push(params);
    }

    fn get_info(&self) -> ClientConfig {
        client_config(ProtocolVersion::V_2026_07_28)
    }
}

#[tokio::test]
async fn rmcp_client_receives_progress_over_sse() {
    let gw = Gw::start().await;
    let slow = json!({
        "id": "slow",
        "description": "Takes a while",
        "inputSchema": {"type": "object"},
        "http": {"method": "POST", "path": "/slow"},
        "simulation": {"response": {"done": true}, "latencyMs": 200}
    });
    let key = integration(&gw, "acme", "ops", &[slow]).await;
    let url = gw.url("acme", "ops", "mcp:test");

    // The legacy handshake (rmcp's default) and discovery.
    let lifecycles = [
        ClientLifecycleMode::Initialize,
        ClientLifecycleMode::Discover {
            preferred_versions: vec![ProtocolVersion::V_2026_07_28],
        },
    ];
    for lifecycle in lifecycles {
        let recorder = ProgressRecorder::default();
        let transport =
            StreamableHttpClientTransport::from_config(transport_config(&url, Some(&key)));
        let client = tokio::time::timeout(
            LIMIT,
            recorder
                .clone()
                .serve_with_lifecycle(transport, lifecycle.clone()),
        )
        .await
        .expect("handshake in time")
        .unwrap_or_else(|e| panic!("{lifecycle:?}: {e}"));
        let r = call(client.peer(), "slow", json!({})).await.expect("slow");
        assert_ne!(r.is_error, Some(true), "{r:?}");
        let text: Value = serde_json::from_str(&only_text(&r)).expect("JSON text");
        assert_eq!(text, json!({"done": true}));

        // Notifications are handled off the response path: wait for them to land.
        assert!(
            eventually(Duration::from_secs(5), || async {
                !recorder.notes().is_empty()
            })
            .await,
            "{lifecycle:?}: no progress notification"
        );
        let notes = recorder.notes();
        let token = &notes[0].progress_token;
        let mut last = -1.0;
        for n in &notes {
            assert_eq!(&n.progress_token, token, "one call, one token: {notes:?}");
            assert_eq!(n.total, Some(200.0), "{n:?}");
            assert!(n.progress > last && n.progress < 200.0, "{notes:?}");
            assert_eq!(n.message.as_deref(), Some("simulating"));
            last = n.progress;
        }
        client.cancel().await.expect("closed cleanly");
    }
}

/// The catalog stamp of a `tools/list` result.
fn listed_stamp(result: &rmcp::model::ListToolsResult) -> Value {
    let meta = serde_json::to_value(&result.meta).expect("meta");
    meta["io.mcpgw/catalog"].clone()
}

/// A call pinned to `stamp` through the request's `_meta`, as a client that reviewed the
/// catalog sends it.
async fn pinned_call(
    peer: &Peer<RoleClient>,
    stamp: &Value,
) -> Result<CallToolResult, ServiceError> {
    let mut params = CallToolRequestParams::new("quote").with_arguments(args(json!({})));
    let mut meta = rmcp::model::MetaObject::new();
    meta.0.insert("io.mcpgw/catalog".into(), stamp.clone());
    params.meta = Some(rmcp::model::RequestMetaObject(meta));
    tokio::time::timeout(LIMIT, peer.call_tool(params))
        .await
        .expect("call in time")
}

#[tokio::test]
async fn rmcp_client_pins_the_tool_catalog_on_both_eras() {
    let (gw, url, key) = sandbox().await;
    let eras = [
        (
            ProtocolVersion::V_2026_07_28,
            ClientLifecycleMode::Discover {
                preferred_versions: vec![ProtocolVersion::V_2026_07_28],
            },
        ),
        (
            ProtocolVersion::V_2025_11_25,
            ClientLifecycleMode::Initialize,
        ),
    ];
    for (round, (version, lifecycle)) in eras.into_iter().enumerate() {
        let client = connect(&url, Some(&key), client_config(version.clone()), lifecycle)
            .await
            .expect("connect");
        let peer = client.peer();
        let listed = tokio::time::timeout(LIMIT, peer.list_tools(None))
            .await
            .expect("in time")
            .expect("list");
        let stamp = listed_stamp(&listed);
        let catalog = gw
            .service()
            .get_integration(&support::admin(), "acme", "crm")
            .expect("integration")
            .catalog;
        assert_eq!(stamp["revision"], catalog.revision, "{version:?}");
        assert_eq!(stamp["sha256"], catalog.sha256.as_str(), "{version:?}");
        if version == ProtocolVersion::V_2026_07_28 {
            let discovered = support::modern(&url, &key, 1, "server/discover", json!({})).await;
            assert_eq!(
                discovered.json()["result"]["_meta"]["io.mcpgw/catalog"],
                stamp
            );
        }

        // Pinned to what was listed: the call goes through.
        let r = pinned_call(peer, &stamp).await.expect("pinned call");
        assert_ne!(r.is_error, Some(true), "{r:?}");

        // The catalog moves under the client (a changed description: a rug pull).
        let mut quote = tools()[0].clone();
        quote["description"] = json!(format!("Quotes a price, and more ({round})"));
        gw.service()
            .put_tool(&support::admin(), "acme", "crm", "quote", quote)
            .await
            .expect("edit");
        gw.synced().await;
        match pinned_call(peer, &stamp).await {
            Err(ServiceError::McpError(e)) => {
                assert_eq!(e.code, ErrorCode(-32010), "{e:?}");
                let data = e.data.expect("data");
                assert_eq!(data["pinned"], stamp);
                assert_eq!(
                    data["current"]["revision"],
                    stamp["revision"].as_u64().expect("revision") + 1
                );
            }
            other => panic!("a moved catalog must refuse the pinned call: {other:?}"),
        }
        // Listing again shows the new revision, and pinning that one works. rmcp keeps a
        // 2026-07-28 listing for its `ttlMs`; the error is the client's cue to drop it.
        peer.clear_response_cache().await;
        let listed = tokio::time::timeout(LIMIT, peer.list_tools(None))
            .await
            .expect("in time")
            .expect("list");
        let fresh = listed_stamp(&listed);
        assert_ne!(fresh, stamp);
        pinned_call(peer, &fresh)
            .await
            .expect("pinned to the new revision");
        client.cancel().await.expect("closed cleanly");
    }
}

//! Tool execution against a real local upstream that records what it receives: credentials,
//! request building (hostile arguments included), response mapping, failures, publish and
//! rollback, and the sandbox never touching the upstream.

mod support;

use std::sync::Arc;
use std::time::Duration;

use mcpgw_control_plane::service::views::{ConfigPatch, McpPatch};
use serde_json::{Value, json};
use support::{
    DpOptions, Gw, RecordedRequest, Script, admin, bind_config, integration, request, rpc, upstream,
};

fn script(
    f: impl Fn(&RecordedRequest) -> (u16, Vec<(String, String)>, Vec<u8>) + Send + Sync + 'static,
) -> Script {
    Arc::new(f)
}

fn json_ok(body: Value) -> (u16, Vec<(String, String)>, Vec<u8>) {
    (
        200,
        vec![("content-type".into(), "application/json".into())],
        body.to_string().into_bytes(),
    )
}

/// An upstream that routes on the path.
fn api() -> Script {
    script(|r| {
        let path = r.uri.split('?').next().unwrap_or_default().to_owned();
        match path.as_str() {
            "/text" => (
                200,
                vec![("content-type".into(), "text/plain".into())],
                b"plain text".to_vec(),
            ),
            "/image" => (
                200,
                vec![("content-type".into(), "image/png".into())],
                vec![0x89, b'P', b'N', b'G'],
            ),
            "/audio" => (
                200,
                vec![("content-type".into(), "audio/wav".into())],
                b"RIFF....".to_vec(),
            ),
            "/missing" => (
                404,
                vec![("content-type".into(), "text/plain".into())],
                "no such thing ".repeat(200).into_bytes(),
            ),
            "/redirect" => (
                302,
                vec![("location".into(), "http://169.254.169.254/latest".into())],
                Vec::new(),
            ),
            "/huge" => (
                200,
                vec![("content-type".into(), "text/plain".into())],
                vec![b'x'; 200 * 1024],
            ),
            _ => json_ok(json!({"path": path, "method": r.method, "body": r.body})),
        }
    })
}

fn tool(id: &str, method: &str, path: &str, extra: Value) -> Value {
    let mut t = json!({
        "id": id,
        "description": format!("{method} {path}"),
        "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}, "q": {"type": "string"}, "note": {"type": "string"}, "n": {"type": "integer"}}},
        "http": {"method": method, "path": path}
    });
    if path.contains("{id}") {
        t["inputSchema"]["required"] = json!(["id"]);
    }
    if let (Some(obj), Some(extra)) = (t.as_object_mut(), extra.as_object()) {
        obj.extend(extra.clone());
    }
    t
}

fn tools() -> Vec<Value> {
    vec![
        tool(
            "get_item",
            "GET",
            "/items/{id}",
            json!({"http": {"method": "GET", "path": "/items/{id}", "query": ["q"], "headers": {"X-Team": "gw"}}}),
        ),
        tool(
            "create",
            "POST",
            "/items/{id}/notes",
            json!({"outputSchema": {"type": "object"}}),
        ),
        tool("text", "GET", "/text", json!({})),
        tool("image", "GET", "/image", json!({})),
        tool("audio", "GET", "/audio", json!({})),
        tool("missing", "GET", "/missing", json!({})),
        tool("redirect", "GET", "/redirect", json!({})),
        tool("huge", "GET", "/huge", json!({})),
        tool(
            "typed",
            "GET",
            "/typed",
            json!({"outputSchema": {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string", "format": "email"}}, "required": ["a", "b"]}}),
        ),
    ]
}

async fn call(gw: &Gw, key: &str, endpoint: &str, name: &str, args: Value) -> Value {
    let url = gw.url("acme", "crm", endpoint);
    let r = rpc(
        &url,
        key,
        &[("mcp-protocol-version", "2025-06-18")],
        &request(1, "tools/call", json!({"name": name, "arguments": args})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.json()["result"].clone()
}

fn text_of(result: &Value) -> String {
    result["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn builds_requests_and_injects_each_auth_type() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    let (base, rec) = upstream(api()).await;

    let auths = [
        (
            json!({"type": "BEARER", "parameters": {"token": "tok-1"}}),
            "authorization",
            "Bearer tok-1",
        ),
        (
            json!({"type": "BASIC", "parameters": {"username": "u", "password": "p"}}),
            "authorization",
            "Basic dTpw",
        ),
        (
            json!({"type": "API_KEY", "parameters": {"in": "header", "name": "X-Api-Key", "value": "k-1"}}),
            "x-api-key",
            "k-1",
        ),
    ];
    for (auth, header, expected) in auths {
        bind_config(&gw, "acme", "crm", &format!("{base}/api"), auth).await;
        let result = call(
            &gw,
            &key,
            "mcp:call",
            "get_item",
            json!({"id": "7", "q": "x"}),
        )
        .await;
        assert_ne!(result["isError"], true, "{result}");
        let last = rec.all().pop().expect("recorded");
        assert_eq!(
            last.headers.get(header).and_then(|v| v.to_str().ok()),
            Some(expected)
        );
        assert_eq!(
            last.headers.get("x-team").and_then(|v| v.to_str().ok()),
            Some("gw")
        );
        assert!(
            last.headers
                .values()
                .all(|v| v.to_str().map_or(true, |s| !s.contains(&key))),
            "the MCP key is never forwarded"
        );
    }
    bind_config(&gw, "acme", "crm", &format!("{base}/api"), json!({"type": "API_KEY", "parameters": {"in": "query", "name": "api_key", "value": "q k"}})).await;
    call(&gw, &key, "mcp:call", "get_item", json!({"id": "7"})).await;
    let last = rec.all().pop().expect("recorded");
    assert_eq!(last.uri, "/api/items/7?api_key=q%20k");
    assert!(last.headers.get("authorization").is_none());

    // Hostile arguments stay inside their path segment and query value.
    call(
        &gw,
        &key,
        "mcp:call",
        "get_item",
        json!({"id": "../../admin?x=1", "q": "a&b=c#d"}),
    )
    .await;
    let last = rec.all().pop().expect("recorded");
    assert_eq!(
        last.uri,
        "/api/items/..%2F..%2Fadmin%3Fx%3D1?q=a%26b%3Dc%23d&api_key=q%20k"
    );
    // A JSON body of the arguments not used in the path.
    let result = call(
        &gw,
        &key,
        "mcp:call",
        "create",
        json!({"id": "9", "note": "hi", "n": 3}),
    )
    .await;
    let last = rec.all().pop().expect("recorded");
    assert_eq!(last.method, "POST");
    assert_eq!(last.uri, "/api/items/9/notes?api_key=q%20k");
    assert_eq!(
        serde_json::from_str::<Value>(&last.body).expect("json body"),
        json!({"note": "hi", "n": 3})
    );
    assert_eq!(
        last.headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    // JSON responses: a text block and, with an outputSchema, structuredContent.
    assert_eq!(result["structuredContent"]["path"], "/api/items/9/notes");
    assert!(text_of(&result).contains("\"method\":\"POST\""));
}

#[tokio::test]
async fn maps_responses_and_failures() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    let (base, _rec) = upstream(api()).await;
    bind_config(&gw, "acme", "crm", &base, json!({"type": "NONE"})).await;

    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert_eq!(
        r["content"][0],
        json!({"type": "text", "text": "plain text"})
    );
    let r = call(&gw, &key, "mcp:call", "image", json!({})).await;
    assert_eq!(
        r["content"][0],
        json!({"type": "image", "data": "iVBORw==", "mimeType": "image/png"})
    );
    let r = call(&gw, &key, "mcp:call", "audio", json!({})).await;
    assert_eq!(r["content"][0]["type"], "audio");
    assert_eq!(r["content"][0]["mimeType"], "audio/wav");
    let r = call(&gw, &key, "mcp:call", "missing", json!({})).await;
    assert_eq!(r["isError"], true);
    let t = text_of(&r);
    assert!(
        t.contains("404") && t.contains("no such thing") && t.len() < 700,
        "{t}"
    );
    let r = call(&gw, &key, "mcp:call", "redirect", json!({})).await;
    assert_eq!(r["isError"], true);
    assert!(text_of(&r).contains("not followed"));
    let r = call(&gw, &key, "mcp:call", "huge", json!({})).await;
    assert!(r["isError"] == true && text_of(&r).contains("limit"), "{r}");

    // Connection refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr");
    bind_config(
        &gw,
        "acme",
        "crm",
        &format!("http://{closed}"),
        json!({"type": "NONE"}),
    )
    .await;
    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert!(
        r["isError"] == true && text_of(&r).contains("connect"),
        "{r}"
    );
    // DNS failure.
    bind_config(
        &gw,
        "acme",
        "crm",
        "http://does-not-exist.invalid",
        json!({"type": "NONE"}),
    )
    .await;
    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert!(r["isError"] == true && text_of(&r).contains("DNS"), "{r}");
    // TLS failure: https to a plain-HTTP server.
    bind_config(
        &gw,
        "acme",
        "crm",
        &base.replace("http://", "https://"),
        json!({"type": "NONE"}),
    )
    .await;
    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert!(r["isError"] == true && text_of(&r).contains("TLS"), "{r}");
    // Timeout: a server that accepts and never answers, with a per-tool timeout.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let mut slow = tool("slow", "GET", "/slow", json!({"timeoutMs": 300}));
    slow["id"] = json!("slow");
    gw.service()
        .put_tool(&admin(), "acme", "crm", "slow", slow)
        .await
        .expect("tool");
    bind_config(
        &gw,
        "acme",
        "crm",
        &format!("http://{silent_addr}"),
        json!({"type": "NONE"}),
    )
    .await;
    let r = call(&gw, &key, "mcp:call", "slow", json!({})).await;
    assert!(
        r["isError"] == true && text_of(&r).contains("timeout after 300 ms"),
        "{r}"
    );
    // Link-local / metadata addresses are refused without a connection attempt.
    bind_config(
        &gw,
        "acme",
        "crm",
        "http://169.254.169.254",
        json!({"type": "NONE"}),
    )
    .await;
    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert!(
        r["isError"] == true && text_of(&r).contains("metadata"),
        "{r}"
    );
}

/// With the default policy, loopback in every spelling is refused before any connection: the
/// upstream (listening on 127.0.0.1) never sees a request. Opening 127.0.0.0/8 lets the same
/// spellings through, so the refusal is the policy's and not a failure to parse them.
#[tokio::test]
async fn private_networks_are_refused_in_every_spelling() {
    let gw = Gw::start_with(DpOptions {
        upstream_allow: Vec::new(),
        ..DpOptions::default()
    })
    .await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    let (base, rec) = upstream(api()).await;
    let port = base.rsplit(':').next().expect("port").to_owned();
    let spellings = [
        format!("http://127.0.0.1:{port}"),
        format!("http://127.1:{port}"),
        format!("http://2130706433:{port}"),
        format!("http://0x7f000001:{port}"),
        format!("http://0.0.0.0:{port}"),
        format!("http://localhost:{port}"),
        format!("http://[::ffff:127.0.0.1]:{port}"),
        format!("http://[::ffff:7f00:1]:{port}"),
        format!("http://[::1]:{port}"),
    ];
    for url in &spellings {
        bind_config(&gw, "acme", "crm", url, json!({"type": "NONE"})).await;
        let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
        assert!(
            r["isError"] == true && text_of(&r).contains("network policy"),
            "{url}: {r}"
        );
    }
    assert!(rec.all().is_empty(), "not one request reached the upstream");

    let open = Gw::start().await;
    let key = integration(&open, "acme", "crm", &tools()).await;
    for url in &spellings[..3] {
        bind_config(&open, "acme", "crm", url, json!({"type": "NONE"})).await;
        let r = call(&open, &key, "mcp:call", "text", json!({})).await;
        assert!(r["isError"] != true, "{url}: {r}");
    }
    assert_eq!(rec.all().len(), 3);
}

#[tokio::test]
async fn publish_rollback_and_binding_errors() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    let (base, rec) = upstream(api()).await;

    // No config bound: a clear error, not a 5xx.
    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert!(
        r["isError"] == true && text_of(&r).contains("no config bound"),
        "{r}"
    );
    // Bound but never published.
    let svc = gw.service();
    let cfg = svc
        .create_config(&admin(), "acme", "crm", serde_json::from_value(json!({"parameters": {"baseUrl": base}, "auth": {"type": "BEARER", "parameters": {"token": "v1"}}})).expect("cfg"))
        .await
        .expect("config");
    let cfg_id = cfg.id.to_string();
    svc.update_mcp_settings(
        &admin(),
        "acme",
        "crm",
        McpPatch {
            config_id: Some(cfg_id.clone()),
            ..McpPatch::default()
        },
    )
    .await
    .expect("bind");
    gw.synced().await;
    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert!(
        r["isError"] == true && text_of(&r).contains("no published revision"),
        "{r}"
    );

    // Publish v1, then v2 with other credentials, then roll back: live calls follow.
    let v1 = svc
        .publish_config(&admin(), "acme", "crm", &cfg_id, Default::default())
        .await
        .expect("v1");
    gw.synced().await;
    let token = || {
        rec.all().pop().and_then(|r| {
            r.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
    };
    call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert_eq!(token().as_deref(), Some("Bearer v1"));
    let patch: ConfigPatch =
        serde_json::from_value(json!({"auth": {"type": "BEARER", "parameters": {"token": "v2"}}}))
            .expect("patch");
    svc.update_config(&admin(), "acme", "crm", &cfg_id, patch)
        .await
        .expect("draft");
    gw.synced().await;
    call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert_eq!(
        token().as_deref(),
        Some("Bearer v1"),
        "editing the draft changes nothing live"
    );
    svc.publish_config(&admin(), "acme", "crm", &cfg_id, Default::default())
        .await
        .expect("v2");
    gw.synced().await;
    call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert_eq!(token().as_deref(), Some("Bearer v2"));
    svc.rollback_config(&admin(), "acme", "crm", &cfg_id, &v1.id.to_string())
        .await
        .expect("rollback");
    gw.synced().await;
    call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert_eq!(token().as_deref(), Some("Bearer v1"));

    // Clearing the binding gives the clear error again.
    svc.update_mcp_settings(
        &admin(),
        "acme",
        "crm",
        McpPatch {
            config_id: Some(mcpgw_shared::NIL_UUID.to_string()),
            ..McpPatch::default()
        },
    )
    .await
    .expect("clear");
    gw.synced().await;
    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert!(
        r["isError"] == true && text_of(&r).contains("no config bound"),
        "{r}"
    );
}

#[tokio::test]
async fn sandbox_never_reaches_the_upstream_and_samples_deterministically() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    let (base, rec) = upstream(api()).await;
    bind_bearer(&gw, &base).await;
    for name in ["get_item", "create", "text", "missing", "typed"] {
        let args = if name == "get_item" || name == "create" {
            json!({"id": "1"})
        } else {
            json!({})
        };
        call(&gw, &key, "mcp:test", name, args).await;
    }
    assert!(
        rec.all().is_empty(),
        "the simulator must never call the upstream: {:?}",
        rec.all()
    );

    let a = call(&gw, &key, "mcp:test", "typed", json!({"q": "one"})).await;
    let again = call(&gw, &key, "mcp:test", "typed", json!({"q": "one"})).await;
    let b = call(&gw, &key, "mcp:test", "typed", json!({"q": "two"})).await;
    assert_eq!(a, again, "same arguments, same sample");
    assert_ne!(a["structuredContent"], b["structuredContent"]);
    let schema = json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string", "format": "email"}}, "required": ["a", "b"]});
    let validator = jsonschema::validator_for(&schema).expect("schema");
    for s in [&a, &b] {
        assert!(validator.is_valid(&s["structuredContent"]), "{s}");
    }
    // Without an outputSchema: the validated arguments echoed back.
    let e = call(&gw, &key, "mcp:test", "get_item", json!({"id": "42"})).await;
    assert_eq!(text_of(&e), "{\"id\":\"42\"}");
}

#[tokio::test]
async fn progress_notifications_over_sse() {
    let gw = Gw::start().await;
    let slow = json!({
        "id": "slow", "description": "Slow simulated tool",
        "inputSchema": {"type": "object"},
        "http": {"method": "GET", "path": "/slow"},
        "simulation": {"content": [{"type": "text", "text": "done"}], "latencyMs": 400}
    });
    let key = integration(&gw, "acme", "crm", &[slow]).await;
    let url = gw.url("acme", "crm", "mcp:test");
    for (headers, meta_version) in [
        (vec![("mcp-protocol-version", "2025-11-25")], None),
        (
            vec![
                ("mcp-protocol-version", "2026-07-28"),
                ("mcp-method", "tools/call"),
                ("mcp-name", "slow"),
            ],
            Some("2026-07-28"),
        ),
    ] {
        let mut meta = json!({"progressToken": "tok-7"});
        if let Some(v) = meta_version {
            meta["io.modelcontextprotocol/protocolVersion"] = json!(v);
            meta["io.modelcontextprotocol/clientCapabilities"] = json!({});
        }
        let body = request(5, "tools/call", json!({"name": "slow", "_meta": meta}));
        let r = rpc(&url, &key, &headers, &body).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.header("content-type"), Some("text/event-stream"));
        let events: Vec<Value> = r
            .text
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .map(|d| serde_json::from_str(d).expect("one JSON message per data line"))
            .collect();
        let (last, notes) = events.split_last().expect("events");
        assert!(
            notes.len() >= 3,
            "at least three progress notifications: {events:?}"
        );
        let mut previous = -1.0;
        for n in notes {
            assert_eq!(n["method"], "notifications/progress");
            assert_eq!(n["params"]["progressToken"], "tok-7");
            let p = n["params"]["progress"].as_f64().expect("progress");
            assert!(p > previous, "progress increases");
            previous = p;
        }
        assert_eq!(last["id"], 5);
        assert_eq!(last["result"]["content"][0]["text"], "done");
    }
    // Without a progress token (or without SSE in Accept) the answer is plain JSON.
    let body = request(6, "tools/call", json!({"name": "slow"}));
    let r = rpc(&url, &key, &[], &body).await;
    assert_eq!(r.header("content-type"), Some("application/json"));
    tokio::time::sleep(Duration::from_millis(1)).await;
}

/// An HTTPS upstream on loopback with the test certificate (CN/SAN localhost, signed by the
/// test CA in tests/tls).
async fn tls_upstream() -> String {
    tls_upstream_with(false).await.0
}

/// [`tls_upstream`], offering HTTP/2 by ALPN when `h2`; it answers with the HTTP version of
/// each request, and counts the connections it accepts.
async fn tls_upstream_with(h2: bool) -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tls");
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("server.pem"))
        .expect("cert file")
        .collect::<Result<_, _>>()
        .expect("certs");
    let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).expect("key");
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .expect("server config");
    let mut config = config;
    if h2 {
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    }
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let svc = hyper::service::service_fn(
                    |req: http::Request<hyper::body::Incoming>| async move {
                        let body = json!({"secure": true, "path": req.uri().path(), "version": format!("{:?}", req.version())}).to_string();
                        let mut r = http::Response::new(http_body_util::Full::new(
                            hyper::body::Bytes::from(body),
                        ));
                        r.headers_mut().insert(
                            "content-type",
                            http::HeaderValue::from_static("application/json"),
                        );
                        Ok::<_, std::convert::Infallible>(r)
                    },
                );
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
            });
        }
    });
    (format!("https://localhost:{port}"), accepted)
}

/// Binds a published config calling `base` with a bearer token to acme/crm.
async fn bind_bearer(gw: &Gw, base: &str) {
    bind_config(
        gw,
        "acme",
        "crm",
        base,
        json!({"type": "BEARER", "parameters": {"token": "t"}}),
    )
    .await;
}

/// A gateway that trusts the test CA (tests/tls) for upstream calls.
async fn trusting_the_test_ca() -> Gw {
    let ca = std::fs::read(
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/tls/ca.pem"),
    )
    .expect("ca");
    Gw::start_with(support::DpOptions {
        upstream_ca: Some(ca),
        ..support::DpOptions::default()
    })
    .await
}

#[tokio::test]
async fn https_upstreams_verified_against_public_roots_and_the_operator_ca() {
    let gw = trusting_the_test_ca().await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    let base = tls_upstream().await;
    bind_bearer(&gw, &base).await;
    let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
    assert_ne!(r["isError"], true, "{r}");
    assert!(text_of(&r).contains("\"secure\":true"), "{r}");

    // Without the operator's CA the private certificate is not trusted.
    let strict = Gw::start().await;
    let key = integration(&strict, "acme", "crm", &tools()).await;
    bind_config(&strict, "acme", "crm", &base, json!({"type": "NONE"})).await;
    let r = call(&strict, &key, "mcp:call", "text", json!({})).await;
    assert!(r["isError"] == true && text_of(&r).contains("TLS"), "{r}");
}

/// Upstream connections are pooled and reused (one pool per connection worker), and an
/// upstream that offers HTTP/2 is spoken to in HTTP/2.
#[tokio::test]
async fn upstream_connections_are_reused_and_http2_is_used_when_offered() {
    let gw = trusting_the_test_ca().await;
    let key = integration(&gw, "acme", "crm", &tools()).await;
    for h2 in [true, false] {
        let (base, accepted) = tls_upstream_with(h2).await;
        bind_bearer(&gw, &base).await;
        for _ in 0..20 {
            let r = call(&gw, &key, "mcp:call", "text", json!({})).await;
            assert_ne!(r["isError"], true, "{r}");
            let expected = if h2 { "HTTP/2.0" } else { "HTTP/1.1" };
            assert!(text_of(&r).contains(expected), "{r}");
        }
        // 20 calls, each over a new client connection: at most one upstream connection per
        // worker (the test data plane runs two).
        let opened = accepted.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            (1..=2).contains(&opened),
            "{opened} upstream connections for 20 calls"
        );
    }
}

/// An upstream that answers the first request of each connection, keeps the connection open
/// as HTTP/1.1 allows, and closes it without answering when a second request arrives on it:
/// the keep-alive race a gateway meets when an upstream drops idle connections unannounced.
async fn one_answer_per_connection() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let received = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = received.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut seen = Vec::new();
                let mut buf = [0u8; 4096];
                let mut answered = false;
                loop {
                    let Ok(n) = s.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 {
                        return;
                    }
                    seen.extend_from_slice(&buf[..n]);
                    if !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        continue;
                    }
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if answered {
                        // The second request on this connection: closed, unanswered.
                        return;
                    }
                    answered = true;
                    seen.clear();
                    let _ = s
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}")
                        .await;
                }
            });
        }
    });
    (format!("http://{addr}"), received)
}

/// A GET (idempotent) whose pooled connection was closed under it is sent again on a fresh
/// one; a POST is not (the upstream may have acted on it), and says why it failed.
#[tokio::test]
async fn idempotent_calls_survive_an_upstream_closing_a_reused_connection() {
    let gw = Gw::start().await;
    let tools = [
        json!({"id": "read", "description": "d", "inputSchema": {"type": "object"},
               "http": {"method": "GET", "path": "/items"}}),
        json!({"id": "write", "description": "d", "inputSchema": {"type": "object"},
               "http": {"method": "POST", "path": "/items"}}),
    ];
    let key = integration(&gw, "acme", "crm", &tools).await;
    let (base, received) = one_answer_per_connection().await;
    bind_config(&gw, "acme", "crm", &base, json!({"type": "NONE"})).await;
    for _ in 0..10 {
        let r = call(&gw, &key, "mcp:call", "read", json!({})).await;
        assert_ne!(r["isError"], true, "{r}");
        assert!(text_of(&r).contains("\"ok\":true"), "{r}");
    }
    // Some calls met a closed connection and were sent again.
    assert!(
        received.load(std::sync::atomic::Ordering::SeqCst) > 10,
        "the race was never met"
    );
    let mut refused = 0;
    for _ in 0..10 {
        let r = call(&gw, &key, "mcp:call", "write", json!({})).await;
        if r["isError"] == true {
            assert!(text_of(&r).contains("before a response arrived"), "{r}");
            refused += 1;
        }
    }
    assert!(
        refused > 0,
        "a POST on a closed connection is not sent again"
    );
}

/// An imported OpenAPI operation reaches its upstream as the document describes it: header
/// parameters as headers, a URL-encoded form body, query parameters; and its sandbox answers
/// from the document's example.
#[tokio::test]
async fn imported_operations_send_header_parameters_and_form_bodies() {
    let gw = Gw::start().await;
    let key = integration(&gw, "acme", "crm", &[]).await;
    let document = r##"
openapi: 3.0.3
paths:
  /charges:
    post:
      operationId: createCharge
      parameters:
        - {name: Idempotency-Key, in: header, required: true, schema: {type: string}}
        - {name: expand, in: query, schema: {type: array, items: {type: string}}}
      requestBody:
        content:
          application/x-www-form-urlencoded:
            schema:
              type: object
              required: [amount]
              properties:
                amount: {type: integer}
                currency: {type: string, enum: [eur, usd]}
      responses:
        200:
          description: ok
          content:
            application/json:
              schema: {type: object, properties: {id: {type: string}}}
              example: {id: ch_1}
"##;
    let request = serde_json::from_value(json!({"document": document})).expect("request");
    let plan = gw
        .service()
        .import_tools(&admin(), "acme", "crm", request)
        .await
        .expect("import");
    assert_eq!(plan.added, ["createCharge"]);
    gw.synced().await;
    let (base, rec) = upstream(api()).await;
    bind_config(
        &gw,
        "acme",
        "crm",
        &format!("{base}/v1"),
        json!({"type": "BEARER", "parameters": {"token": "sk"}}),
    )
    .await;

    let args = json!({"Idempotency-Key": "k-42", "expand": ["customer", "fees"], "amount": 500, "currency": "eur"});
    let result = call(&gw, &key, "mcp:call", "createCharge", args.clone()).await;
    assert_ne!(result["isError"], true, "{result}");
    let last = rec.all().pop().expect("recorded");
    assert_eq!(last.method, "POST");
    assert_eq!(last.uri, "/v1/charges?expand=customer&expand=fees");
    let header = |name: &str| {
        last.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(header("idempotency-key").as_deref(), Some("k-42"));
    assert_eq!(header("authorization").as_deref(), Some("Bearer sk"));
    assert_eq!(
        header("content-type").as_deref(),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(last.body, "amount=500&currency=eur");

    // The sandbox answers from the document's example without touching the upstream.
    let before = rec.all().len();
    let result = call(&gw, &key, "mcp:test", "createCharge", args).await;
    assert_eq!(result["structuredContent"], json!({"id": "ch_1"}));
    assert_eq!(rec.all().len(), before);
}

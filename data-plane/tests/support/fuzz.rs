//! Fuzzing harness of the data plane: the request path after the socket (origin and key
//! parsing, JSON-RPC parsing, id handling, dispatch, argument validation, the simulator) and
//! snapshot decoding. Shared by the proptest run in the test suite (`tests/fuzz_smoke.rs`)
//! and the `cargo fuzz` targets (`fuzz/`), so both exercise the same code.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, HeaderName, HeaderValue};
use mcpgw_data_plane::backend::Backend;
use mcpgw_data_plane::config::LimitDefaults;
use mcpgw_data_plane::limits::Limiters;
use mcpgw_data_plane::mcp::{self, Ctx, Outcome};
use mcpgw_data_plane::metrics::Metrics;
use mcpgw_data_plane::origin::OriginPolicy;
use mcpgw_data_plane::protocol::jsonrpc::RawIds;
use mcpgw_data_plane::shared::model::{
    IntegrationKey, IntegrationSnapshot, Limits, SnapshotUpdate, ToolDef, ToolsCarried,
};
use mcpgw_data_plane::shared::pb;
use mcpgw_data_plane::state::{IntegrationRuntime, SnapshotStore};
use prost::Message;
use serde_json::{Value, json};

/// Tools covering every path of the sandbox: echo, scripted response, content blocks,
/// samples of an output schema, patterns and header-mirrored arguments.
fn tools() -> Vec<ToolDef> {
    [
        json!({"id": "echo", "description": "echo", "inputSchema": {"type": "object", "properties": {"x": {"type": "integer"}, "s": {"type": "string", "pattern": "^(a+)+$", "x-mcp-header": "S"}}}, "http": {"method": "POST", "path": "/echo"}}),
        json!({"id": "typed", "description": "typed", "inputSchema": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}, "outputSchema": {"type": "object", "properties": {"n": {"type": "integer"}, "items": {"type": "array", "items": {"type": "string", "format": "uuid"}}}}, "http": {"method": "GET", "path": "/t/{id}"}}),
        json!({"id": "scripted", "description": "scripted", "inputSchema": {"type": "object"}, "http": {"method": "GET", "path": "/s"}, "simulation": {"response": {"ok": true}}}),
        json!({"id": "blocks", "description": "blocks", "inputSchema": {"type": "object"}, "http": {"method": "GET", "path": "/b"}, "simulation": {"content": [{"type": "resource_link", "uri": "x://y", "name": "y"}], "isError": true}}),
    ]
    .into_iter()
    .map(|t| serde_json::from_value(t).expect("tool"))
    .collect()
}

/// One integration served from the simulator, and a runtime to drive it.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    ctx: Ctx,
    origins: OriginPolicy,
}

impl Default for Harness {
    fn default() -> Self {
        Self::new()
    }
}

impl Harness {
    pub fn new() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let snapshot = IntegrationSnapshot {
            key: IntegrationKey {
                tenant: "acme".into(),
                integration_id: "crm".into(),
            },
            display_name: "CRM".into(),
            description: "fuzzed".into(),
            enabled: true,
            tools: tools(),
            carried: ToolsCarried::All,
            keys: Vec::new(),
            limits: Limits::default(),
            config_id: None,
            revision: None,
            oauth: None,
            catalog: Default::default(),
        };
        let integration = Arc::new(IntegrationRuntime::build(snapshot).expect("compiles"));
        let cpu = mcpgw_data_plane::cpu::CpuPool::default();
        let shared = Arc::new(mcp::Shared {
            cpu: cpu.clone(),
            limiters: Arc::new(Limiters::new(LimitDefaults {
                requests_per_second: 1e6,
                burst: 1_000_000,
                max_concurrent_calls: 1_000_000,
                max_concurrent_calls_cap: 1_000_000,
            })),
            settings: mcp::Settings {
                page_size: 2,
                list_ttl_ms: 1000,
            },
            metrics: Arc::new(Metrics::new(Arc::new(SnapshotStore::default()))),
        });
        let ctx = Ctx {
            integration,
            backend: Backend::Simulator(cpu),
            shared,
            accepts_sse: false,
            body_bytes: 0,
            deadline: tokio::time::Instant::now() + Duration::from_secs(3600),
            timeout_ms: 3_600_000,
        };
        Self {
            rt,
            ctx,
            origins: OriginPolicy {
                loopback: true,
                allowed: Vec::new(),
            },
        }
    }

    /// Runs one request: `data` is header lines (`name: value`), a blank line, then the body.
    /// Panics only if the request path misbehaves: a panic anywhere, or a response that is not
    /// JSON.
    pub fn request(&self, data: &[u8]) {
        let (head, body) = split(data);
        let mut headers = HeaderMap::new();
        for line in head.split(|b| *b == b'\n') {
            let Some(colon) = line.iter().position(|b| *b == b':') else {
                continue;
            };
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(&line[..colon]),
                HeaderValue::from_bytes(line[colon + 1..].trim_ascii()),
            ) {
                headers.append(name, value);
            }
        }
        let _ = self.origins.check(&headers, None);
        if let Ok(Some(key)) = mcpgw_data_plane::auth::presented_key(&headers) {
            let _ = mcpgw_data_plane::shared::apikey::parse(key);
        }
        let Ok(mut message) = serde_json::from_slice::<Value>(body) else {
            return;
        };
        let ids = RawIds::extract(body, &mut message);
        let ctx = Ctx {
            accepts_sse: headers
                .get("accept")
                .is_some_and(|a| a.as_bytes().windows(17).any(|w| w == b"text/event-stream")),
            body_bytes: body.len(),
            ..self.ctx.clone()
        };
        let outcome = self.rt.block_on(async {
            tokio::time::timeout(
                Duration::from_secs(10),
                mcp::handle(&ctx, &headers, &message),
            )
            .await
            .expect("answered in bounded time")
        });
        let bytes = match outcome {
            Outcome::Accepted => return,
            Outcome::Stream(mut rx) => {
                let mut all = Vec::new();
                while let Some(m) = self.rt.block_on(rx.recv()) {
                    all.push(m);
                }
                serde_json::to_vec(&all).expect("serialises")
            }
            Outcome::Raw(body) => body,
            Outcome::Json(body) | Outcome::Invalid { body, .. } => {
                serde_json::to_vec(&body).expect("serialises")
            }
            Outcome::Refused { refusal, id } => {
                serde_json::to_vec(&refusal.to_response(&id)).expect("serialises")
            }
        };
        let restored = ids.restore(bytes);
        serde_json::from_slice::<Value>(&restored).expect("every answer is JSON");
    }
}

fn split(data: &[u8]) -> (&[u8], &[u8]) {
    match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (&[], data),
    }
}

/// Decodes `data` as a snapshot message and applies it to an empty data plane state (and on
/// top of a served one). Panics only on a panic inside.
pub fn snapshot(data: &[u8]) {
    let Ok(msg) = pb::Snapshot::decode(data) else {
        return;
    };
    let Ok(update) = SnapshotUpdate::try_from(msg) else {
        return;
    };
    let store = SnapshotStore::default();
    let full = SnapshotUpdate {
        full: true,
        ..update.clone()
    };
    let _ = store.apply(vec![full]);
    let _ = store.apply(vec![update]);
}

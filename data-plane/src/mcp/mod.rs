//! The MCP protocol over one Streamable HTTP endpoint, every revision from 2025-03-26 to the
//! stateless 2026-07-28, chosen per request.
//!
//! * `lifecycle` — `initialize`, `server/discover`, empty prompt and resource lists.
//! * [`modern`] — 2026-07-28 `_meta` and header validation.
//! * [`catalog`] — the catalog stamp on listings, and requests pinned to it.
//! * [`tools`] — `tools/list` and `tools/call`, shaped per revision.
//! * [`progress`] — a long `tools/call` answered as an SSE stream of progress.
//!
//! The wire types (JSON-RPC, revisions, tool entries) are in [`crate::protocol`]; what a call
//! runs against is the [`Backend`] chosen at routing.
//!
//! No session is ever created: each request carries everything needed to answer it, so any
//! replica can serve any request.

pub mod catalog;
mod lifecycle;
pub mod modern;
pub mod progress;
pub mod tools;

use http::{HeaderMap, StatusCode};
use serde_json::{Value, json};

use std::sync::Arc;

use self::lifecycle::{decorate_modern, discover, empty_list, initialize, server_info};
use crate::backend::Backend;
use crate::limits::Limiters;
use crate::metrics::Metrics;
use crate::protocol::jsonrpc::{self, Message, RpcError, classify};
use crate::protocol::version::Version;
use crate::refusal::Refusal;
use crate::state::IntegrationRuntime;

/// The most messages one 2025-03-26 batch may hold.
pub const MAX_BATCH: usize = 64;

/// Protocol settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Tools per `tools/list` page.
    pub page_size: usize,
    /// `ttlMs` on `server/discover` and `tools/list`.
    pub list_ttl_ms: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            page_size: 100,
            list_ttl_ms: 30_000,
        }
    }
}

/// What every request shares.
pub struct Shared {
    /// Where CPU-heavy work runs.
    pub cpu: crate::cpu::CpuPool,
    /// Rate and concurrency limits.
    pub limiters: Arc<Limiters>,
    /// Protocol settings.
    pub settings: Settings,
    /// Where refusals made inside a request (a call over the concurrency limit in a batch or
    /// a stream) are counted.
    pub metrics: Arc<Metrics>,
}

/// Everything a request is answered with. Owned (cheap `Arc` clones), so a streamed call
/// can run in its own task.
#[derive(Clone)]
pub struct Ctx {
    /// The integration, from the served snapshot.
    pub integration: Arc<IntegrationRuntime>,
    /// What `tools/call` runs against (`mcp:call`: upstream, `mcp:test`: simulator).
    pub backend: Backend,
    /// Shared state.
    pub shared: Arc<Shared>,
    /// Whether the client accepts `text/event-stream` (needed to stream progress).
    pub accepts_sse: bool,
    /// Size of the request body (large arguments are validated on the CPU pool).
    pub body_bytes: usize,
    /// When the whole request must be answered (a progress stream ends there too).
    pub deadline: tokio::time::Instant,
    /// The request timeout that set `deadline`, for the refusal that names it.
    pub timeout_ms: u64,
}

/// How to answer the HTTP request.
#[derive(Debug)]
pub enum Outcome {
    /// 202 Accepted, no body (notifications and responses).
    Accepted,
    /// A `text/event-stream` of JSON-RPC messages: notifications, then the response.
    Stream(tokio::sync::mpsc::Receiver<Value>),
    /// 200 with a response serialised without an intermediate `Value` (the hot `tools/list`
    /// path).
    Raw(Vec<u8>),
    /// 200 with a JSON-RPC response (or a batch of them), results and errors alike.
    Json(Value),
    /// A protocol error the transport answers with a non-200 status (400 for a malformed
    /// message or header, 404 for a method the stateless revision does not have).
    Invalid {
        /// HTTP status.
        status: StatusCode,
        /// The JSON-RPC error response.
        body: Value,
    },
    /// Refused by the gateway (a call over the integration's concurrency limit).
    Refused {
        /// Why.
        refusal: Refusal,
        /// The request's id.
        id: Value,
    },
}

impl Outcome {
    fn invalid(body: Value) -> Self {
        Outcome::Invalid {
            status: StatusCode::BAD_REQUEST,
            body,
        }
    }
}

/// The JSON-RPC method of a message, for spans and metrics.
#[must_use]
pub fn method_of(body: &Value) -> &str {
    match body {
        Value::Array(_) => "batch",
        Value::Object(o) => o.get("method").and_then(Value::as_str).unwrap_or("invalid"),
        _ => "invalid",
    }
}

/// Answers one POSTed body: a message, or (2025-03-26 only) a batch of them.
pub async fn handle(ctx: &Ctx, headers: &HeaderMap, body: &Value) -> Outcome {
    let Value::Array(items) = body else {
        return single(ctx, headers, body).await;
    };
    let header = match modern::header(headers, "mcp-protocol-version") {
        Ok(h) => h,
        Err(e) => return Outcome::invalid(e.to_response(&Value::Null)),
    };
    if header.is_some_and(|h| h != Version::V2025_03_26.as_str()) {
        return Outcome::invalid(
            RpcError::invalid_request(
                "JSON-RPC batches are only allowed in protocol version 2025-03-26",
            )
            .to_response(&Value::Null),
        );
    }
    if items.is_empty() || items.len() > MAX_BATCH {
        let e = RpcError::invalid_request(format!("a batch must hold 1 to {MAX_BATCH} messages"));
        return Outcome::invalid(e.to_response(&Value::Null));
    }
    let mut responses = Vec::new();
    let ctx = &Ctx {
        accepts_sse: false,
        ..ctx.clone()
    };
    for item in items {
        let response = match classify(item) {
            Err((id, e)) => Some(e.to_response(&id)),
            Ok(Message::Request {
                method: "initialize",
                id,
                ..
            }) => Some(
                RpcError::invalid_request("initialize must not be part of a batch").to_response(id),
            ),
            Ok(Message::Request { id, method, params }) => {
                match dispatch(ctx, Version::V2025_03_26, id, method, params).await {
                    Outcome::Json(body) | Outcome::Invalid { body, .. } => Some(body),
                    Outcome::Raw(body) => serde_json::from_slice(&body).ok(),
                    Outcome::Refused { refusal, id } => Some(refusal.to_response(&id)),
                    Outcome::Accepted | Outcome::Stream(_) => None,
                }
            }
            Ok(Message::Notification { .. } | Message::Response) => None,
        };
        responses.extend(response);
    }
    if responses.is_empty() {
        Outcome::Accepted
    } else {
        Outcome::Json(Value::Array(responses))
    }
}

async fn single(ctx: &Ctx, headers: &HeaderMap, body: &Value) -> Outcome {
    let (id, method, params) = match classify(body) {
        Err((id, e)) => return Outcome::invalid(e.to_response(&id)),
        Ok(Message::Response | Message::Notification { .. }) => return Outcome::Accepted,
        Ok(Message::Request { id, method, params }) => (id, method, params),
    };
    let header = match modern::header(headers, "mcp-protocol-version") {
        Ok(h) => h,
        Err(e) => return Outcome::invalid(e.to_response(id)),
    };
    let modern = header == Some(Version::V2026_07_28.as_str())
        || modern::meta_version(params).is_some()
        || (header.is_none() && method == "server/discover");
    if modern {
        if let Err((status, e)) = modern::check(headers, method, params) {
            return Outcome::Invalid {
                status,
                body: e.to_response(id),
            };
        }
        if method == "tools/call"
            && let Some(tool) = params
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .and_then(|n| ctx.integration.tool(n))
            && let Err(e) = modern::check_param_headers(
                headers,
                &tool.header_params,
                params.and_then(|p| p.get("arguments")),
            )
        {
            return Outcome::invalid(e.to_response(id));
        }
        return dispatch(ctx, Version::V2026_07_28, id, method, params).await;
    }
    let version = match header {
        // Without the header a server should assume 2025-03-26.
        None => Version::V2025_03_26,
        Some(h) => match Version::parse(h) {
            Some(v) if !v.is_modern() => v,
            _ => {
                let e = RpcError::invalid_request(format!(
                    "Unsupported MCP-Protocol-Version header '{h}'"
                ))
                .with_data(json!({"supported": Version::all_strings(), "requested": h}));
                return Outcome::invalid(e.to_response(id));
            }
        },
    };
    dispatch(ctx, version, id, method, params).await
}

async fn dispatch(
    ctx: &Ctx,
    version: Version,
    id: &Value,
    method: &str,
    params: Option<&Value>,
) -> Outcome {
    let modern = version.is_modern();
    if let Err(e) = catalog::check_pin(params, &ctx.integration.snapshot.catalog) {
        return Outcome::Json(e.to_response(id));
    }
    let result = match (method, modern) {
        ("server/discover", true) => Ok(discover(ctx)),
        ("initialize", false) => Ok(initialize(ctx, params)),
        ("ping", false) => Ok(json!({})),
        // The gateway emits no log messages; accepting the level keeps clients that set
        // one working.
        ("logging/setLevel", false) => Ok(json!({})),
        // An integration exposes tools only; its prompt and resource lists are honestly empty.
        ("prompts/list", _) => Ok(empty_list(ctx, version, "prompts")),
        ("resources/list", _) => Ok(empty_list(ctx, version, "resources")),
        ("resources/templates/list", _) => Ok(empty_list(ctx, version, "resourceTemplates")),
        ("prompts/get", _) => Err(RpcError::invalid_params(format!(
            "Unknown prompt: {}",
            params
                .and_then(|p| p.get("name"))
                .and_then(Value::as_str)
                .unwrap_or_default()
        ))),
        ("resources/read", _) => {
            let uri = params
                .and_then(|p| p.get("uri"))
                .and_then(Value::as_str)
                .unwrap_or_default();
            Err(
                RpcError::invalid_params(format!("Resource not found: {uri}"))
                    .with_data(json!({"uri": uri})),
            )
        }
        ("tools/list", _) => {
            return match tools::list(ctx, version, params) {
                Ok(page) => list_outcome(ctx, version, id, page),
                Err(e) => Outcome::Json(e.to_response(id)),
            };
        }
        ("tools/call", _) if ctx.accepts_sse && progress_token(params).is_some() => {
            return progress::run(ctx.clone(), version, id.clone(), params.cloned()).await;
        }
        ("tools/call", _) => {
            let result = tools::call(ctx, version, params).await;
            return call_outcome(ctx, version, id, result);
        }
        _ => {
            // Removed and unknown methods: 404 on the stateless revision, a plain JSON-RPC
            // error otherwise.
            let body = RpcError::method_not_found(method).to_response(id);
            return if modern {
                Outcome::Invalid {
                    status: StatusCode::NOT_FOUND,
                    body,
                }
            } else {
                Outcome::Json(body)
            };
        }
    };
    match result {
        Ok(mut value) => {
            if modern {
                decorate_modern(ctx, &mut value);
            }
            Outcome::Json(jsonrpc::result(id, value))
        }
        Err(e) => Outcome::Json(e.to_response(id)),
    }
}

/// A `tools/list` page as its JSON-RPC response, serialised in one pass.
fn list_outcome(ctx: &Ctx, version: Version, id: &Value, page: tools::ListPage<'_>) -> Outcome {
    #[derive(serde::Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Modern {
        ttl_ms: u64,
        cache_scope: &'static str,
        result_type: &'static str,
    }
    #[derive(serde::Serialize)]
    struct ListResult<'a> {
        #[serde(flatten)]
        page: tools::ListPage<'a>,
        #[serde(flatten)]
        modern: Option<Modern>,
        #[serde(rename = "_meta", skip_serializing_if = "ListMeta::is_empty")]
        meta: ListMeta<'a>,
    }
    /// Serialised straight from the served stamp: nothing is built per listing for it.
    #[derive(serde::Serialize)]
    struct ListMeta<'a> {
        #[serde(rename = "io.mcpgw/catalog", skip_serializing_if = "Option::is_none")]
        catalog: Option<&'a mcpgw_shared::model::CatalogStamp>,
        #[serde(
            rename = "io.modelcontextprotocol/serverInfo",
            skip_serializing_if = "Option::is_none"
        )]
        server_info: Option<Value>,
    }
    impl ListMeta<'_> {
        fn is_empty(&self) -> bool {
            self.catalog.is_none() && self.server_info.is_none()
        }
    }
    #[derive(serde::Serialize)]
    struct Envelope<'a> {
        jsonrpc: &'static str,
        id: &'a Value,
        result: ListResult<'a>,
    }
    let meta = ListMeta {
        catalog: catalog::served(&ctx.integration.snapshot.catalog),
        server_info: version
            .is_modern()
            .then(|| server_info(ctx, Version::V2026_07_28)),
    };
    let modern = version.is_modern().then(|| Modern {
        ttl_ms: ctx.shared.settings.list_ttl_ms,
        cache_scope: "private",
        result_type: "complete",
    });
    let envelope = Envelope {
        jsonrpc: "2.0",
        id,
        result: ListResult { page, modern, meta },
    };
    match serde_json::to_vec(&envelope) {
        Ok(body) => Outcome::Raw(body),
        Err(e) => Outcome::Json(RpcError::internal(e.to_string()).to_response(id)),
    }
}

/// The `progressToken` a request asks progress for, if any.
fn progress_token(params: Option<&Value>) -> Option<&Value> {
    params?
        .get("_meta")?
        .get("progressToken")
        .filter(|t| t.is_string() || t.is_number())
}

/// How a finished tools/call is answered over plain HTTP.
fn call_outcome(
    ctx: &Ctx,
    version: Version,
    id: &Value,
    result: Result<Value, tools::CallError>,
) -> Outcome {
    match result {
        Err(tools::CallError::Refused(refusal)) => Outcome::Refused {
            refusal,
            id: id.clone(),
        },
        Ok(mut value) => {
            if version.is_modern() {
                decorate_modern(ctx, &mut value);
            }
            match jsonrpc::result_bytes(id, &value) {
                Ok(body) => Outcome::Raw(body),
                Err(e) => Outcome::Json(RpcError::internal(e.to_string()).to_response(id)),
            }
        }
        other => Outcome::Json(call_response(ctx, version, id, other)),
    }
}

/// A tools/call result (or error) as its JSON-RPC response.
fn call_response(
    ctx: &Ctx,
    version: Version,
    id: &Value,
    result: Result<Value, tools::CallError>,
) -> Value {
    match result {
        Ok(mut value) => {
            if version.is_modern() {
                decorate_modern(ctx, &mut value);
            }
            jsonrpc::result(id, value)
        }
        Err(tools::CallError::Rpc(e)) => e.to_response(id),
        Err(tools::CallError::Refused(refusal)) => refusal.to_response(id),
    }
}

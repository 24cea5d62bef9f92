//! The MCP endpoint over HTTP: origin → readiness → API key → body → rate limit → MCP.
//! Every refusal has the right HTTP status and a JSON-RPC error body.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use mcpgw_runtime::serve::RequestBody;
use serde_json::{Value, json};
use tracing::Instrument;

use crate::auth::{self, AuthError};
use crate::config::HttpLimits;
use crate::mcp::jsonrpc::RpcError;
use crate::mcp::{self, Ctx, Endpoint, Outcome, Shared};
use crate::metrics::{Metrics, RequestLabels, method_label};
use crate::origin::OriginPolicy;
use crate::server::{Body, full};
use crate::state::{IntegrationRuntime, SnapshotStore};

/// Gateway-level JSON-RPC error codes (implementation-defined range).
pub(crate) mod code {
    pub const UNAVAILABLE: i32 = -32000;
    pub const UNAUTHORIZED: i32 = -32001;
    pub const FORBIDDEN: i32 = -32003;
    pub const NOT_FOUND: i32 = -32004;
    pub const TOO_LARGE: i32 = -32005;
    pub const RATE_LIMITED: i32 = -32029;
}

/// Everything the MCP endpoint needs, shared by all connections.
pub struct Gateway {
    /// The served snapshot.
    pub store: Arc<SnapshotStore>,
    /// Limits, protocol settings and backends.
    pub shared: Arc<Shared>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Body and time bounds.
    pub http: HttpLimits,
    /// Origin and Host rules.
    pub origins: OriginPolicy,
}

fn error_response(status: StatusCode, id: &Value, error: &RpcError) -> Response<Body> {
    json_response(status, &error.to_response(id))
}

fn json_response(status: StatusCode, body: &Value) -> Response<Body> {
    let mut r = Response::new(full(serde_json::to_vec(body).unwrap_or_default()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// Answers a request to `.../integrations/{integration}/mcp:call|mcp:test`.
pub async fn handle(
    gw: &Gateway,
    req: Request<RequestBody>,
    endpoint: Endpoint,
    tenant: &str,
    integration: &str,
) -> Response<Body> {
    let started = Instant::now();
    let span = tracing::info_span!(
        "mcp",
        tenant,
        integration,
        endpoint = endpoint.label(),
        method = tracing::field::Empty
    );
    let (response, method) = handle_inner(gw, req, endpoint, tenant, integration)
        .instrument(span.clone())
        .await;
    let outcome = match response.status() {
        s if s.is_success() => "ok",
        StatusCode::UNAUTHORIZED
        | StatusCode::FORBIDDEN
        | StatusCode::TOO_MANY_REQUESTS
        | StatusCode::PAYLOAD_TOO_LARGE => "rejected",
        _ => "error",
    };
    gw.metrics.request(
        RequestLabels {
            endpoint: endpoint.label(),
            method,
            outcome,
        },
        started,
    );
    span.in_scope(|| tracing::debug!(status = response.status().as_u16(), method, "answered"));
    response
}

/// The checks made before the body is read: origin and host, method, readiness, API key,
/// integration, enabled. Returns the integration and the caller, or the refusal.
// The error is the response itself; boxing it would only add an allocation to refusals.
#[allow(clippy::result_large_err)]
fn admit(
    gw: &Gateway,
    parts: &http::request::Parts,
    tenant: &str,
    integration: &str,
) -> Result<(Arc<IntegrationRuntime>, auth::Authenticated), Response<Body>> {
    let null = Value::Null;
    let refuse = |status, code, message: &str| {
        error_response(status, &null, &RpcError::gateway(code, message))
    };
    if gw
        .origins
        .check(&parts.headers, parts.uri.authority())
        .is_err()
    {
        return Err(refuse(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "Forbidden origin or host",
        ));
    }
    if parts.method != Method::POST {
        let mut r = refuse(
            StatusCode::METHOD_NOT_ALLOWED,
            code::UNAVAILABLE,
            "This MCP endpoint is stateless: POST JSON-RPC messages; no GET stream or session",
        );
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return Err(r);
    }
    let Some(served) = gw.store.load() else {
        let mut r = refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            code::UNAVAILABLE,
            "The gateway has not received its configuration yet; retry shortly",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        return Err(r);
    };
    let authenticated = auth::authenticate(&served, &parts.headers, tenant, integration);
    let runtime = served.integration(tenant, integration).cloned();
    match (authenticated, runtime) {
        (Err(e @ (AuthError::Missing | AuthError::Invalid)), _) => {
            gw.metrics.auth_failure(e.reason());
            let mut r = refuse(StatusCode::UNAUTHORIZED, code::UNAUTHORIZED, &e.to_string());
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"mcp\""),
            );
            Err(r)
        }
        (_, None) => Err(refuse(
            StatusCode::NOT_FOUND,
            code::NOT_FOUND,
            "No such integration",
        )),
        (Err(e), Some(_)) => {
            gw.metrics.auth_failure(e.reason());
            Err(refuse(
                StatusCode::FORBIDDEN,
                code::FORBIDDEN,
                &e.to_string(),
            ))
        }
        (Ok(_), Some(runtime)) if !runtime.snapshot.enabled => Err(refuse(
            StatusCode::FORBIDDEN,
            code::FORBIDDEN,
            "MCP is disabled for this integration",
        )),
        (Ok(authenticated), Some(runtime)) => Ok((runtime, authenticated)),
    }
}

async fn handle_inner(
    gw: &Gateway,
    req: Request<RequestBody>,
    endpoint: Endpoint,
    tenant: &str,
    integration: &str,
) -> (Response<Body>, &'static str) {
    let null = Value::Null;
    let (parts, body) = req.into_parts();
    let (runtime, authenticated) = match admit(gw, &parts, tenant, integration) {
        Ok(admitted) => admitted,
        Err(mut refusal) => {
            // The body was not read: on HTTP/1.1 the connection cannot carry another request
            // reliably, so say it will close instead of letting a keep-alive client find out.
            if parts.version <= http::Version::HTTP_11 {
                refusal
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return (refusal, "other");
        }
    };

    let headers = &parts.headers;
    let body = tokio::time::timeout(
        gw.http.request_timeout(),
        Limited::new(body, gw.http.max_body_bytes).collect(),
    )
    .await;
    let bytes = match body {
        Err(_) => {
            return (
                error_response(
                    StatusCode::REQUEST_TIMEOUT,
                    &null,
                    &RpcError::gateway(code::UNAVAILABLE, "Request body not received in time"),
                ),
                "other",
            );
        }
        Ok(Err(e))
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            let msg = format!("Request body larger than {} bytes", gw.http.max_body_bytes);
            return (
                error_response(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    &null,
                    &RpcError::gateway(code::TOO_LARGE, msg),
                ),
                "other",
            );
        }
        Ok(Err(_)) => {
            return (
                error_response(
                    StatusCode::BAD_REQUEST,
                    &null,
                    &RpcError::invalid_request("The request body could not be read"),
                ),
                "other",
            );
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    let message: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return (
                error_response(StatusCode::BAD_REQUEST, &null, &RpcError::parse_error(e)),
                "invalid",
            );
        }
    };
    let method = method_label(mcp::method_of(&message));
    tracing::Span::current().record("method", method);
    let id = message
        .get("id")
        .filter(|i| i.is_string() || i.is_number())
        .cloned()
        .unwrap_or(Value::Null);

    // A batch costs one request per message in it (bounded in mcp::handle).
    let cost = message.as_array().map_or(1, |items| {
        u32::try_from(items.len()).unwrap_or(u32::MAX).max(1)
    });
    if let Err(refused) = gw.shared.limiters.check_rate(
        &runtime.snapshot.key,
        &runtime.snapshot.limits,
        authenticated.key_id,
        cost,
    ) {
        gw.metrics.limit_rejection(refused.reason());
        let e = RpcError::gateway(code::RATE_LIMITED, "Rate limit exceeded for this API key")
            .with_data(json!({"retryAfter": refused.retry_after()}));
        let mut r = error_response(StatusCode::TOO_MANY_REQUESTS, &id, &e);
        r.headers_mut()
            .insert(header::RETRY_AFTER, refused.retry_after().into());
        return (r, method);
    }

    let accepts_sse = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let ctx = Ctx {
        integration: runtime.clone(),
        endpoint,
        shared: gw.shared.clone(),
        accepts_sse,
        body_bytes: bytes.len(),
    };
    let response = match mcp::handle(&ctx, headers, &message).await {
        Outcome::Accepted => {
            let mut r = Response::new(full(Vec::new()));
            *r.status_mut() = StatusCode::ACCEPTED;
            r
        }
        Outcome::Stream(rx) => sse_response(rx),
        Outcome::Raw { status, body } => {
            let mut r = Response::new(full(body));
            *r.status_mut() = status;
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        Outcome::Json {
            status,
            body,
            retry_after,
        } => {
            if status == StatusCode::TOO_MANY_REQUESTS {
                gw.metrics.limit_rejection("concurrency");
            }
            let mut r = json_response(status, &body);
            if let Some(secs) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            r
        }
    };
    (response, method)
}

/// A `text/event-stream` response carrying each message as one `message` event (compact,
/// single-line JSON, which line-based SSE parsers need).
fn sse_response(rx: tokio::sync::mpsc::Receiver<Value>) -> Response<Body> {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use tokio_stream::StreamExt;
    let events = tokio_stream::wrappers::ReceiverStream::new(rx).map(|message| {
        let line = serde_json::to_string(&message).unwrap_or_default();
        Ok::<_, std::convert::Infallible>(Frame::data(hyper::body::Bytes::from(format!(
            "event: message\ndata: {line}\n\n"
        ))))
    });
    let mut r = Response::new(BodyExt::boxed(StreamBody::new(events)));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r.headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

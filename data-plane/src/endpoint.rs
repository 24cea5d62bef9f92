//! The MCP endpoint over HTTP: origin → readiness → API key → body → rate limit → MCP.
//! Every refusal has the right HTTP status and a JSON-RPC error body.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use mcpgw_runtime::serve::{RequestBody, RequestBodyError};
use serde_json::{Value, json};
use tracing::Instrument;

use crate::auth::{self, AuthError};
use crate::config::HttpLimits;
use crate::limits::Refused;
use crate::mcp::jsonrpc::{RawIds, RpcError};
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
    json_response(status, &error.to_response(id), &RawIds::default())
}

/// A JSON response, with the request's original ids put back.
fn json_response(status: StatusCode, body: &Value, ids: &RawIds) -> Response<Body> {
    json_bytes(
        status,
        ids.restore(serde_json::to_vec(body).unwrap_or_default()),
    )
}

fn json_bytes(status: StatusCode, body: Vec<u8>) -> Response<Body> {
    let mut r = Response::new(full(body));
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
    let (response, method, outcome) = handle_inner(gw, req, endpoint, tenant, integration)
        .instrument(span.clone())
        .await;
    let outcome = outcome.unwrap_or(match response.status() {
        s if s.is_success() => "ok",
        StatusCode::UNAUTHORIZED
        | StatusCode::FORBIDDEN
        | StatusCode::TOO_MANY_REQUESTS
        | StatusCode::PAYLOAD_TOO_LARGE => "rejected",
        _ => "error",
    });
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

/// The response, the method label, and the metric outcome when the status alone does not
/// tell it (timeouts, clients gone mid-request).
type Answer = (Response<Body>, &'static str, Option<&'static str>);

async fn handle_inner(
    gw: &Gateway,
    req: Request<RequestBody>,
    endpoint: Endpoint,
    tenant: &str,
    integration: &str,
) -> Answer {
    // The whole request — body, every message of a batch, a progress stream to its end — is
    // bounded by the request timeout.
    let deadline = tokio::time::Instant::now() + gw.http.request_timeout();
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
            return (refusal, "other", None);
        }
    };

    let headers = &parts.headers;
    let read = tokio::time::timeout_at(
        deadline,
        Limited::new(body, gw.http.max_body_bytes).collect(),
    )
    .await;
    let body_timeout = || {
        let r = error_response(
            StatusCode::REQUEST_TIMEOUT,
            &null,
            &RpcError::gateway(code::UNAVAILABLE, "Request body not received in time"),
        );
        (r, "other", Some("timeout"))
    };
    let Ok(read) = read else {
        return body_timeout();
    };
    let bytes = match read {
        Ok(collected) => collected.to_bytes(),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            let msg = format!("Request body larger than {} bytes", gw.http.max_body_bytes);
            let r = error_response(
                StatusCode::PAYLOAD_TOO_LARGE,
                &null,
                &RpcError::gateway(code::TOO_LARGE, msg),
            );
            return (r, "other", None);
        }
        Err(e) if matches!(e.downcast_ref(), Some(RequestBodyError::Timeout(_))) => {
            return body_timeout();
        }
        Err(e) => {
            // The client reset or closed the connection mid-body: nobody will read this answer,
            // and it is not the size limit or anything wrong with what was sent.
            tracing::debug!(error = %e, "the client stopped sending the request body");
            let r = error_response(
                StatusCode::BAD_REQUEST,
                &null,
                &RpcError::invalid_request("The request body was cut short"),
            );
            return (r, "other", Some("aborted"));
        }
    };
    let mut message: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            let r = error_response(StatusCode::BAD_REQUEST, &null, &RpcError::parse_error(e));
            return (r, "invalid", None);
        }
    };
    let ids = Arc::new(RawIds::extract(&bytes, &mut message));
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
        if let Refused::ExceedsBurst { burst } = refused {
            // Waiting never helps: no Retry-After, and not a 429.
            let e = RpcError::invalid_request(format!(
                "A batch of {cost} messages exceeds this key's burst of {burst}; send at most {burst} messages per batch"
            ))
            .with_data(json!({"batchSize": cost, "burst": burst}));
            let r = json_response(StatusCode::BAD_REQUEST, &e.to_response(&id), &ids);
            return (r, method, Some("rejected"));
        }
        let e = RpcError::gateway(code::RATE_LIMITED, "Rate limit exceeded for this API key")
            .with_data(json!({"retryAfter": refused.retry_after()}));
        let mut r = json_response(StatusCode::TOO_MANY_REQUESTS, &e.to_response(&id), &ids);
        r.headers_mut()
            .insert(header::RETRY_AFTER, refused.retry_after().into());
        return (r, method, None);
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
        deadline,
    };
    let Ok(outcome) = tokio::time::timeout_at(deadline, mcp::handle(&ctx, headers, &message)).await
    else {
        let e = RpcError::gateway(
            code::UNAVAILABLE,
            format!(
                "The request took longer than the gateway's {} ms request timeout",
                gw.http.request_timeout_ms
            ),
        );
        let r = json_response(StatusCode::GATEWAY_TIMEOUT, &e.to_response(&id), &ids);
        return (r, method, Some("timeout"));
    };
    let response = match outcome {
        Outcome::Accepted => {
            let mut r = Response::new(full(Vec::new()));
            *r.status_mut() = StatusCode::ACCEPTED;
            r
        }
        Outcome::Stream(rx) => sse_response(rx, ids),
        Outcome::Raw { status, body } => json_bytes(status, ids.restore(body)),
        Outcome::Json {
            status,
            body,
            retry_after,
        } => {
            if status == StatusCode::TOO_MANY_REQUESTS {
                gw.metrics.limit_rejection("concurrency");
            }
            let mut r = json_response(status, &body, &ids);
            if let Some(secs) = retry_after {
                r.headers_mut().insert(header::RETRY_AFTER, secs.into());
            }
            r
        }
    };
    (response, method, None)
}

/// A `text/event-stream` response carrying each message as one `message` event (compact,
/// single-line JSON, which line-based SSE parsers need).
fn sse_response(rx: tokio::sync::mpsc::Receiver<Value>, ids: Arc<RawIds>) -> Response<Body> {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    use tokio_stream::StreamExt;
    let events = tokio_stream::wrappers::ReceiverStream::new(rx).map(move |message| {
        let line = ids.restore(serde_json::to_vec(&message).unwrap_or_default());
        let mut event = Vec::with_capacity(line.len() + 24);
        event.extend_from_slice(b"event: message\ndata: ");
        event.extend_from_slice(&line);
        event.extend_from_slice(b"\n\n");
        Ok::<_, std::convert::Infallible>(Frame::data(hyper::body::Bytes::from(event)))
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

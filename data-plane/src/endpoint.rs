//! The MCP endpoint over HTTP: origin → readiness → API key → body → rate limit → MCP.
//! Every refusal is a [`Refusal`]: its status, JSON-RPC error, `Retry-After` and metrics
//! come from that one table.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use mcpgw_runtime::serve::{RequestBody, RequestBodyError};
use mcpgw_shared::shard::Tenants;
use serde_json::Value;
use tracing::Instrument;

use crate::auth::{self, AuthError};
use crate::backend::Backend;
use crate::config::HttpLimits;
use crate::mcp::{self, Ctx, Outcome, Shared};
use crate::metrics::{Metrics, RequestLabels, method_label};
use crate::origin::OriginPolicy;
use crate::protocol::jsonrpc::RawIds;
use crate::refusal::Refusal;
use crate::respond::{Body, full, json_bytes};
use crate::state::{IntegrationRuntime, SnapshotStore};

/// Which of an integration's two endpoints a request came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// `mcp:call`: the real upstream.
    Call,
    /// `mcp:test`: the simulator.
    Test,
}

impl Endpoint {
    /// The metrics label.
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::Call => "call",
            Endpoint::Test => "test",
        }
    }

    /// The last path segment (`mcp:call`, `mcp:test`).
    #[must_use]
    pub fn path(self) -> &'static str {
        match self {
            Endpoint::Call => "mcp:call",
            Endpoint::Test => "mcp:test",
        }
    }
}

/// Everything the MCP endpoint needs, shared by all connections.
pub struct Gateway {
    /// The served snapshot.
    pub store: Arc<SnapshotStore>,
    /// Limits, protocol settings and the CPU pool.
    pub shared: Arc<Shared>,
    /// What `mcp:call` runs against.
    pub upstream: Backend,
    /// What `mcp:test` runs against.
    pub simulator: Backend,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Body and time bounds.
    pub http: HttpLimits,
    /// Origin and Host rules.
    pub origins: OriginPolicy,
    /// The tenants this data plane serves.
    pub tenants: Tenants,
}

impl Gateway {
    /// The backend an endpoint's calls run against.
    #[must_use]
    pub fn backend(&self, endpoint: Endpoint) -> Backend {
        match endpoint {
            Endpoint::Call => self.upstream.clone(),
            Endpoint::Test => self.simulator.clone(),
        }
    }
}

/// How a request ended: the response, the method label, and the metric outcome.
struct Answer {
    response: Response<Body>,
    method: &'static str,
    outcome: &'static str,
}

impl Answer {
    fn ok(response: Response<Body>, method: &'static str) -> Self {
        Self {
            response,
            method,
            outcome: "ok",
        }
    }
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
    let answer = handle_inner(gw, req, endpoint, tenant, integration)
        .instrument(span.clone())
        .await;
    gw.metrics.request(
        RequestLabels {
            endpoint: endpoint.label(),
            method: answer.method,
            outcome: answer.outcome,
        },
        started,
    );
    span.in_scope(|| {
        tracing::debug!(
            status = answer.response.status().as_u16(),
            method = answer.method,
            "answered"
        );
    });
    answer.response
}

/// A refusal answered and counted, with `id` echoed.
fn refuse(
    gw: &Gateway,
    refusal: &Refusal,
    id: &Value,
    ids: &RawIds,
    method: &'static str,
) -> Answer {
    gw.metrics.refused(refusal);
    Answer {
        response: refusal.response(id, ids),
        method,
        outcome: refusal.outcome(),
    }
}

/// The checks made before the body is read: origin and host, method, readiness, API key,
/// integration, enabled. Returns the integration and the caller, or the refusal.
async fn admit(
    gw: &Gateway,
    parts: &http::request::Parts,
    tenant: &str,
    integration: &str,
    endpoint: Endpoint,
) -> Result<(Arc<IntegrationRuntime>, auth::Authenticated), Refusal> {
    if gw
        .origins
        .check(&parts.headers, parts.uri.authority())
        .is_err()
    {
        return Err(Refusal::ForbiddenOrigin);
    }
    if parts.method != Method::POST {
        return Err(Refusal::MethodNotAllowed);
    }
    if !gw.tenants.includes(tenant) {
        return Err(Refusal::NotServedHere(tenant.to_owned()));
    }
    let mut served = gw.store.load().ok_or(Refusal::NotReady)?;
    let who = (tenant, integration, endpoint.path());
    // The issuer is read without taking a reference count: API-key requests never need it.
    let mut authenticated =
        auth::authenticate(&served, gw.store.oauth().as_deref(), &parts.headers, who);
    if matches!(authenticated, Err(AuthError::GrantPending)) {
        // A token issued a moment ago whose grant is still on its way here: wait for it a
        // little (a second at most) rather than send the client into a new authorization.
        let issuer = gw.store.oauth().clone();
        let deadline = Instant::now() + std::time::Duration::from_secs(1);
        while Instant::now() < deadline && matches!(authenticated, Err(AuthError::GrantPending)) {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            if let Some(newer) = gw.store.load().filter(|s| s.version != served.version) {
                served = newer;
                authenticated = auth::authenticate(&served, issuer.as_deref(), &parts.headers, who);
            }
        }
    }
    let runtime = served.integration(tenant, integration).cloned();
    match (authenticated, runtime) {
        (Err(e @ (AuthError::Missing | AuthError::Invalid | AuthError::GrantPending)), runtime) => {
            // A grant that never came is an invalid token.
            let e = if e == AuthError::GrantPending {
                AuthError::Invalid
            } else {
                e
            };
            // An OAuth-enabled integration says where its authorization server is.
            let metadata = runtime
                .filter(|r| r.snapshot.oauth.is_some())
                .zip(gw.store.oauth().as_deref())
                .map(|(_, i)| i.metadata_url(tenant, integration, endpoint.path()).into());
            Err(Refusal::Unauthenticated(e, metadata))
        }
        (_, None) => Err(Refusal::NoSuchIntegration),
        (Err(AuthError::WrongIntegration), Some(_)) => Err(Refusal::WrongIntegration),
        (Ok(_), Some(runtime)) if !runtime.snapshot.enabled => Err(Refusal::Disabled),
        (Ok(authenticated), Some(runtime)) => Ok((runtime, authenticated)),
    }
}

/// Reads the whole body within the deadline and the size limit.
async fn read_body(
    gw: &Gateway,
    body: RequestBody,
    deadline: tokio::time::Instant,
) -> Result<hyper::body::Bytes, Refusal> {
    let read = tokio::time::timeout_at(
        deadline,
        Limited::new(body, gw.http.max_body_bytes).collect(),
    )
    .await
    .map_err(|_| Refusal::BodyTimeout)?;
    match read {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e)
            if e.downcast_ref::<http_body_util::LengthLimitError>()
                .is_some() =>
        {
            Err(Refusal::BodyTooLarge {
                max: gw.http.max_body_bytes,
            })
        }
        Err(e) if matches!(e.downcast_ref(), Some(RequestBodyError::Timeout(_))) => {
            Err(Refusal::BodyTimeout)
        }
        Err(e) => {
            // The client reset or closed the connection mid-body: nobody will read this answer,
            // and it is not the size limit or anything wrong with what was sent.
            tracing::debug!(error = %e, "the client stopped sending the request body");
            Err(Refusal::BodyCut)
        }
    }
}

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
    let no_ids = RawIds::default();
    let (parts, body) = req.into_parts();
    let (runtime, authenticated) = match admit(gw, &parts, tenant, integration, endpoint).await {
        Ok(admitted) => admitted,
        Err(refusal) => {
            let mut answer = refuse(gw, &refusal, &null, &no_ids, "other");
            // The body was not read: on HTTP/1.1 the connection cannot carry another request
            // reliably, so say it will close instead of letting a keep-alive client find out.
            if parts.version <= http::Version::HTTP_11 {
                answer
                    .response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            return answer;
        }
    };
    let bytes = match read_body(gw, body, deadline).await {
        Ok(bytes) => bytes,
        Err(refusal) => return refuse(gw, &refusal, &null, &no_ids, "other"),
    };
    let mut message: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            return refuse(
                gw,
                &Refusal::Unparsable(e.to_string()),
                &null,
                &no_ids,
                "invalid",
            );
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
    if let Err(refusal) = gw.shared.limiters.check_rate(
        &runtime.snapshot.key,
        &runtime.snapshot.limits,
        authenticated.key_id,
        cost,
    ) {
        return refuse(gw, &refusal, &id, &ids, method);
    }

    let accepts_sse = parts
        .headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/event-stream"));
    let ctx = Ctx {
        integration: runtime,
        backend: gw.backend(endpoint),
        shared: gw.shared.clone(),
        accepts_sse,
        body_bytes: bytes.len(),
        deadline,
        timeout_ms: gw.http.request_timeout_ms,
    };
    let Ok(outcome) =
        tokio::time::timeout_at(deadline, mcp::handle(&ctx, &parts.headers, &message)).await
    else {
        let refusal = Refusal::RequestTimeout {
            ms: gw.http.request_timeout_ms,
        };
        return refuse(gw, &refusal, &id, &ids, method);
    };
    let restore = |value: &Value| ids.restore(serde_json::to_vec(value).unwrap_or_default());
    match outcome {
        Outcome::Accepted => {
            let mut r = Response::new(full(Vec::new()));
            *r.status_mut() = StatusCode::ACCEPTED;
            Answer::ok(r, method)
        }
        Outcome::Stream(rx) => Answer::ok(sse_response(rx, ids), method),
        Outcome::Raw(body) => Answer::ok(json_bytes(StatusCode::OK, ids.restore(body)), method),
        Outcome::Json(body) => Answer::ok(json_bytes(StatusCode::OK, restore(&body)), method),
        Outcome::Invalid { status, body } => Answer {
            response: json_bytes(status, restore(&body)),
            method,
            outcome: "invalid",
        },
        // Counted where the call was refused.
        Outcome::Refused { refusal, id } => Answer {
            response: refusal.response(&id, &ids),
            method,
            outcome: refusal.outcome(),
        },
    }
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

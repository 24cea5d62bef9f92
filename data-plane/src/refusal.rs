//! Every way the data plane refuses an MCP request, in one table.
//!
//! A [`Refusal`] carries everything its answer is made of: the HTTP status, the JSON-RPC error
//! code and message, the `Retry-After` seconds, the metric labels. The endpoint, the MCP layer
//! (a call refused by the integration's concurrency limit, inside a batch or an SSE stream too)
//! and the listener (past its connection cap) all answer and count refusals from here, so a
//! refusal cannot be answered one way and counted another.
//!
//! Gateway refusals use JSON-RPC's implementation-defined range (-32000 to -32099), so clients
//! can tell them from protocol errors; see `docs/mcp.md`.

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use serde_json::{Value, json};

use crate::auth::AuthError;
use crate::protocol::jsonrpc::{RawIds, RpcError};
use crate::respond::{Body, json_bytes};

/// The gateway's JSON-RPC error codes.
pub mod code {
    /// Unavailable, timed out, not allowed, or over the concurrency limit.
    pub const UNAVAILABLE: i32 = -32000;
    /// No valid API key.
    pub const UNAUTHORIZED: i32 = -32001;
    /// Origin refused, key for another integration, or MCP disabled.
    pub const FORBIDDEN: i32 = -32003;
    /// No such integration.
    pub const NOT_FOUND: i32 = -32004;
    /// The request body is over the limit.
    pub const TOO_LARGE: i32 = -32005;
    /// The key's rate is used up.
    pub const RATE_LIMITED: i32 = -32029;
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A browser `Origin` or a `Host` this gateway does not serve (DNS rebinding).
    ForbiddenOrigin,
    /// Anything but POST: the endpoint is stateless, with no GET stream or session.
    MethodNotAllowed,
    /// No configuration has arrived from the control plane yet.
    NotReady,
    /// No key, or a key that is malformed, unknown or revoked ([`AuthError::Missing`] or
    /// [`AuthError::Invalid`]).
    Unauthenticated(AuthError, Option<std::sync::Arc<str>>),
    /// No such integration.
    NoSuchIntegration,
    /// The tenant belongs to another shard: this data plane does not serve it.
    NotServedHere(String),
    /// A valid key of another integration.
    WrongIntegration,
    /// MCP is disabled for the integration.
    Disabled,
    /// The body did not arrive within the request timeout.
    BodyTimeout,
    /// The body is larger than the limit.
    BodyTooLarge {
        /// The limit in bytes.
        max: usize,
    },
    /// The client stopped sending the body (reset or closed mid-way).
    BodyCut,
    /// The body is not JSON.
    Unparsable(String),
    /// The key's rate is used up.
    RateLimited {
        /// Seconds until a request would pass (at least 1).
        retry_after: u64,
    },
    /// A batch costs more than the key's whole burst: it can never pass, so waiting does not
    /// help (no `Retry-After`, and not a 429).
    BatchOverBurst {
        /// Messages in the batch.
        batch: u32,
        /// The key's burst.
        burst: u32,
    },
    /// The integration has all its calls in flight.
    Concurrency,
    /// The whole request took longer than the request timeout.
    RequestTimeout {
        /// The timeout in milliseconds.
        ms: u64,
    },
    /// The listener is at its connection cap.
    ConnectionLimit,
}

impl Refusal {
    /// The HTTP status of the answer.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Refusal::ForbiddenOrigin | Refusal::WrongIntegration | Refusal::Disabled => {
                StatusCode::FORBIDDEN
            }
            Refusal::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Refusal::NotReady | Refusal::ConnectionLimit => StatusCode::SERVICE_UNAVAILABLE,
            Refusal::Unauthenticated(..) => StatusCode::UNAUTHORIZED,
            Refusal::NoSuchIntegration | Refusal::NotServedHere(_) => StatusCode::NOT_FOUND,
            Refusal::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Refusal::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refusal::BodyCut | Refusal::Unparsable(_) | Refusal::BatchOverBurst { .. } => {
                StatusCode::BAD_REQUEST
            }
            Refusal::RateLimited { .. } | Refusal::Concurrency => StatusCode::TOO_MANY_REQUESTS,
            Refusal::RequestTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// The JSON-RPC error of the answer.
    #[must_use]
    pub fn error(&self) -> RpcError {
        let gateway = |code: i32, message: &str| RpcError::gateway(code, message);
        match self {
            Refusal::ForbiddenOrigin => gateway(code::FORBIDDEN, "Forbidden origin or host"),
            Refusal::MethodNotAllowed => gateway(
                code::UNAVAILABLE,
                "This MCP endpoint is stateless: POST JSON-RPC messages; no GET stream or session",
            ),
            Refusal::NotReady => gateway(
                code::UNAVAILABLE,
                "The gateway has not received its configuration yet; retry shortly",
            ),
            Refusal::Unauthenticated(e, _) => gateway(code::UNAUTHORIZED, &e.to_string()),
            Refusal::NoSuchIntegration => gateway(code::NOT_FOUND, "No such integration"),
            Refusal::NotServedHere(tenant) => gateway(
                code::NOT_FOUND,
                &format!(
                    "This data plane does not serve tenant '{tenant}' (it belongs to another shard); check the load balancer's routing"
                ),
            )
            .with_data(json!({"tenant": tenant})),
            Refusal::WrongIntegration => {
                gateway(code::FORBIDDEN, &AuthError::WrongIntegration.to_string())
            }
            Refusal::Disabled => gateway(code::FORBIDDEN, "MCP is disabled for this integration"),
            Refusal::BodyTimeout => gateway(code::UNAVAILABLE, "Request body not received in time"),
            Refusal::BodyTooLarge { max } => gateway(
                code::TOO_LARGE,
                &format!("Request body larger than {max} bytes"),
            ),
            Refusal::BodyCut => RpcError::invalid_request("The request body was cut short"),
            Refusal::Unparsable(detail) => RpcError::parse_error(detail),
            Refusal::RateLimited { retry_after } => {
                gateway(code::RATE_LIMITED, "Rate limit exceeded for this API key")
                    .with_data(json!({"retryAfter": retry_after}))
            }
            Refusal::BatchOverBurst { batch, burst } => RpcError::invalid_request(format!(
                "A batch of {batch} messages exceeds this key's burst of {burst}; send at most {burst} messages per batch"
            ))
            .with_data(json!({"batchSize": batch, "burst": burst})),
            Refusal::Concurrency => gateway(
                code::UNAVAILABLE,
                "Too many calls in flight for this integration; retry shortly",
            )
            .with_data(json!({"limit": "concurrency"})),
            Refusal::RequestTimeout { ms } => gateway(
                code::UNAVAILABLE,
                &format!("The request took longer than the gateway's {ms} ms request timeout"),
            ),
            Refusal::ConnectionLimit => gateway(
                code::UNAVAILABLE,
                "The gateway is at its connection limit; retry shortly",
            ),
        }
    }

    /// Seconds for `Retry-After`, when waiting helps.
    #[must_use]
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Refusal::RateLimited { retry_after } => Some(*retry_after),
            Refusal::NotReady | Refusal::Concurrency | Refusal::ConnectionLimit => Some(1),
            _ => None,
        }
    }

    /// The `outcome` label of `mcpgw_requests_total` for a request answered with this.
    #[must_use]
    pub fn outcome(&self) -> &'static str {
        match self {
            Refusal::BodyTimeout | Refusal::RequestTimeout { .. } => "timeout",
            Refusal::BodyCut => "aborted",
            Refusal::MethodNotAllowed | Refusal::Unparsable(_) => "invalid",
            Refusal::NotReady => "unavailable",
            _ => "rejected",
        }
    }

    /// The `reason` label of `mcpgw_refusals_total`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match self {
            Refusal::ForbiddenOrigin => "forbidden_origin",
            Refusal::MethodNotAllowed => "method_not_allowed",
            Refusal::NotReady => "not_ready",
            Refusal::Unauthenticated(..) => "unauthenticated",
            Refusal::NoSuchIntegration => "no_such_integration",
            Refusal::NotServedHere(_) => "not_served_here",
            Refusal::WrongIntegration => "wrong_integration",
            Refusal::Disabled => "disabled",
            Refusal::BodyTimeout => "body_timeout",
            Refusal::BodyTooLarge { .. } => "body_too_large",
            Refusal::BodyCut => "body_cut",
            Refusal::Unparsable(_) => "parse_error",
            Refusal::RateLimited { .. } => "rate",
            Refusal::BatchOverBurst { .. } => "batch_over_burst",
            Refusal::Concurrency => "concurrency",
            Refusal::RequestTimeout { .. } => "request_timeout",
            Refusal::ConnectionLimit => "connection_limit",
        }
    }

    /// The `reason` of `mcpgw_auth_failures_total`, for a refused key.
    #[must_use]
    pub fn auth_failure(&self) -> Option<&'static str> {
        match self {
            Refusal::Unauthenticated(e, _) => Some(e.reason()),
            Refusal::WrongIntegration => Some(AuthError::WrongIntegration.reason()),
            _ => None,
        }
    }

    /// The `reason` of `mcpgw_limit_rejections_total`, for a request refused by a limit.
    #[must_use]
    pub fn limit(&self) -> Option<&'static str> {
        match self {
            Refusal::RateLimited { .. } | Refusal::BatchOverBurst { .. } | Refusal::Concurrency => {
                Some(self.label())
            }
            _ => None,
        }
    }

    /// The JSON-RPC error response to `id`.
    #[must_use]
    pub fn to_response(&self, id: &Value) -> Value {
        self.error().to_response(id)
    }

    /// The answer's headers besides the content type: `Retry-After`, and what the status
    /// asks for (`WWW-Authenticate` with 401, `Allow` with 405).
    pub fn add_headers(&self, headers: &mut HeaderMap) {
        if let Some(secs) = self.retry_after() {
            headers.insert(header::RETRY_AFTER, secs.into());
        }
        match self {
            Refusal::Unauthenticated(_, None) => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"mcp\""),
                );
            }
            // OAuth-enabled: where the client learns how to get a token (RFC 9728).
            Refusal::Unauthenticated(_, Some(metadata)) => {
                let value = format!(
                    "Bearer realm=\"mcp\", resource_metadata=\"{metadata}\", scope=\"{}\"",
                    mcpgw_shared::access_token::SCOPE
                );
                if let Ok(v) = HeaderValue::from_str(&value) {
                    headers.insert(header::WWW_AUTHENTICATE, v);
                }
            }
            Refusal::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            _ => {}
        }
    }

    /// The whole HTTP answer, echoing the request's `id` (with its original text from `ids`).
    #[must_use]
    pub fn response(&self, id: &Value, ids: &RawIds) -> Response<Body> {
        let body = serde_json::to_vec(&self.to_response(id)).unwrap_or_default();
        let mut r = json_bytes(self.status(), ids.restore(body));
        self.add_headers(r.headers_mut());
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<Refusal> {
        vec![
            Refusal::ForbiddenOrigin,
            Refusal::MethodNotAllowed,
            Refusal::NotReady,
            Refusal::Unauthenticated(AuthError::Missing, None),
            Refusal::Unauthenticated(AuthError::Invalid, None),
            Refusal::NoSuchIntegration,
            Refusal::NotServedHere("t".into()),
            Refusal::WrongIntegration,
            Refusal::Disabled,
            Refusal::BodyTimeout,
            Refusal::BodyTooLarge { max: 10 },
            Refusal::BodyCut,
            Refusal::Unparsable("x".into()),
            Refusal::RateLimited { retry_after: 3 },
            Refusal::BatchOverBurst { batch: 9, burst: 2 },
            Refusal::Concurrency,
            Refusal::RequestTimeout { ms: 5 },
            Refusal::ConnectionLimit,
        ]
    }

    #[test]
    fn every_refusal_is_an_error_with_a_consistent_answer() {
        let mut labels = std::collections::HashSet::new();
        for r in all() {
            let status = r.status();
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{r:?}"
            );
            // Retry-After exactly where waiting helps, and a 429 always says how long.
            assert_eq!(
                r.retry_after().is_some(),
                matches!(status.as_u16(), 429 | 503),
                "{r:?}"
            );
            let code = r.error().code;
            assert!(
                (-32099..=-32000).contains(&code) || (-32700..=-32600).contains(&code),
                "{r:?}: {code}"
            );
            assert!(labels.insert(r.label()) || matches!(r, Refusal::Unauthenticated(..)));
            let response = r.response(&json!(7), &RawIds::default());
            assert_eq!(response.status(), status);
            assert_eq!(
                response.headers().get(header::RETRY_AFTER).is_some(),
                r.retry_after().is_some()
            );
        }
    }

    #[test]
    fn limits_and_auth_failures_are_counted_under_their_own_reasons() {
        assert_eq!(Refusal::Concurrency.limit(), Some("concurrency"));
        assert_eq!(
            Refusal::RateLimited { retry_after: 1 }.limit(),
            Some("rate")
        );
        assert_eq!(
            Refusal::BatchOverBurst { batch: 3, burst: 1 }.limit(),
            Some("batch_over_burst")
        );
        assert_eq!(Refusal::Disabled.limit(), None);
        assert_eq!(
            Refusal::Unauthenticated(AuthError::Missing, None).auth_failure(),
            Some("missing")
        );
        assert_eq!(
            Refusal::WrongIntegration.auth_failure(),
            Some("wrong_integration")
        );
        assert_eq!(Refusal::Concurrency.auth_failure(), None);
    }

    #[test]
    fn the_answer_names_what_to_do() {
        let r = Refusal::Unauthenticated(AuthError::Missing, None)
            .response(&Value::Null, &RawIds::default());
        assert_eq!(
            r.headers()
                .get(header::WWW_AUTHENTICATE)
                .map(HeaderValue::as_bytes),
            Some(&b"Bearer realm=\"mcp\""[..])
        );
        let r = Refusal::MethodNotAllowed.response(&Value::Null, &RawIds::default());
        assert_eq!(
            r.headers().get(header::ALLOW).map(HeaderValue::as_bytes),
            Some(&b"POST"[..])
        );
        let body = Refusal::RateLimited { retry_after: 4 }.to_response(&json!("a"));
        assert_eq!(body["id"], "a");
        assert_eq!(body["error"]["code"], code::RATE_LIMITED);
        assert_eq!(body["error"]["data"]["retryAfter"], 4);
    }
}

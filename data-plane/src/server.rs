//! The data plane's routes, served by the shared bounded listener (`mcpgw_runtime::serve`:
//! connection cap, header and idle deadlines, HTTP/2 pings, drain).

use std::convert::Infallible;
use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::Bytes;
use mcpgw_runtime::serve::{Refusal, RequestBody};
use mcpgw_shared::ids::is_valid_id;

use crate::endpoint::{self, Gateway};
use crate::mcp::Endpoint;
use crate::mcp::jsonrpc::RpcError;

/// Response bodies: whole buffers now, streams (SSE) where needed.
pub type Body = BoxBody<Bytes, Infallible>;

/// A whole-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// Past the connection cap MCP clients still get a JSON-RPC error body.
pub fn refusal(_: &http::request::Parts, refusal: Refusal) -> Response<Full<Bytes>> {
    let Refusal::ConnectionLimit = refusal;
    let body = RpcError::gateway(
        crate::endpoint::code::UNAVAILABLE,
        "The gateway is at its connection limit; retry shortly",
    )
    .to_response(&serde_json::Value::Null);
    let mut r = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(&body).unwrap_or_default(),
    )));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Routes one request.
pub async fn route(gw: Arc<Gateway>, req: Request<RequestBody>) -> Response<Body> {
    let gw = &*gw;
    let path = req.uri().path().to_owned();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok"),
        (&Method::GET, "/readyz") => match gw.store.load() {
            Some(s) => text(
                StatusCode::OK,
                &format!("ready (snapshot version {})", s.version),
            ),
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "waiting for the first snapshot",
            ),
        },
        (&Method::GET, "/metrics") => {
            let mut r = text(StatusCode::OK, &gw.metrics.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        // No OAuth here: clients must not start an authorization flow.
        (_, p) if p.starts_with("/.well-known/") => text(StatusCode::NOT_FOUND, "not found"),
        (_, p) => match parse_mcp_path(p) {
            Some((tenant, integration, which)) => {
                endpoint::handle(gw, req, which, tenant, integration).await
            }
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
    }
}

/// `/v1/tenants/{tenant}/integrations/{integration}/mcp:call|mcp:test`.
fn parse_mcp_path(path: &str) -> Option<(&str, &str, Endpoint)> {
    let rest = path.strip_prefix("/v1/tenants/")?;
    let mut parts = rest.split('/');
    let (tenant, lit, integration, last) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || lit != "integrations"
        || !is_valid_id(tenant)
        || !is_valid_id(integration)
    {
        return None;
    }
    let which = match last {
        "mcp:call" => Endpoint::Call,
        "mcp:test" => Endpoint::Test,
        _ => return None,
    };
    Some((tenant, integration, which))
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    let mut r = Response::new(full(body.to_owned()));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mcp_paths() {
        assert_eq!(
            parse_mcp_path("/v1/tenants/acme/integrations/crm/mcp:call"),
            Some(("acme", "crm", Endpoint::Call))
        );
        assert!(matches!(
            parse_mcp_path("/v1/tenants/acme/integrations/crm/mcp:test"),
            Some((_, _, Endpoint::Test))
        ));
        for bad in [
            "/v1/tenants/acme/integrations/crm/mcp",
            "/v1/tenants/acme/integrations/crm/mcp:call/x",
            "/v1/tenants/a.b/integrations/crm/mcp:call",
            "/v1/tenants/acme/things/crm/mcp:call",
            "/v1/tenants/acme/integrations/mcp:call",
        ] {
            assert_eq!(parse_mcp_path(bad), None, "{bad}");
        }
    }
}

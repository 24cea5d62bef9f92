//! The data plane's routes, served by the shared bounded listener (`mcpgw_runtime::serve`:
//! connection cap, header and idle deadlines, HTTP/2 pings, drain).
//!
//! The MCP port serves `/healthz` and the MCP endpoints; the operator's paths (`/readyz`,
//! `/metrics`) are served there too unless an admin listener of their own is configured.

use std::sync::Arc;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::body::Bytes;
use mcpgw_runtime::serve::RequestBody;
use mcpgw_shared::ids::is_valid_id;

use crate::endpoint::{self, Endpoint, Gateway};
use crate::refusal::Refusal;
use crate::respond::{Body, text};

/// Which paths a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routes {
    /// MCP and the operator's paths (one listener for everything).
    All,
    /// MCP only (the operator's paths are on an admin listener).
    Mcp,
    /// The operator's paths only: `/readyz`, `/metrics`.
    Admin,
}

/// Past the connection cap MCP clients still get a JSON-RPC error body.
pub fn refusal(
    _: &http::request::Parts,
    refusal: mcpgw_runtime::serve::Refusal,
) -> Response<Full<Bytes>> {
    let mcpgw_runtime::serve::Refusal::ConnectionLimit = refusal;
    let refusal = Refusal::ConnectionLimit;
    let body =
        serde_json::to_vec(&refusal.to_response(&serde_json::Value::Null)).unwrap_or_default();
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = refusal.status();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    refusal.add_headers(r.headers_mut());
    r
}

/// Routes one request of a listener serving `routes`.
pub async fn route(gw: Arc<Gateway>, routes: Routes, req: Request<RequestBody>) -> Response<Body> {
    let gw = &*gw;
    let path = req.uri().path().to_owned();
    let admin = routes != Routes::Mcp;
    let mcp = routes != Routes::Admin;
    match (req.method(), path.as_str()) {
        (&Method::GET, "/healthz") => text(StatusCode::OK, "ok"),
        (&Method::GET, "/readyz") if admin => match gw.store.load() {
            Some(s) => text(StatusCode::OK, &{
                let (behind, waiting) = gw.store.lag();
                format!(
                    "ready (snapshot version {}, {} integrations served, {} refused, \
                         {behind} versions behind the control plane for {:.3} s)",
                    s.version,
                    s.integration_count(),
                    s.rejected_count(),
                    waiting.as_secs_f64()
                )
            }),
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "waiting for the first snapshot",
            ),
        },
        (&Method::GET, "/metrics") if admin => {
            let mut r = text(StatusCode::OK, &gw.metrics.render());
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            r
        }
        // RFC 9728 for OAuth-enabled integrations; 404 for every other integration and path,
        // so clients of API-key integrations never start an authorization flow.
        (&Method::GET, p) if mcp && p.starts_with(PROTECTED_RESOURCE) => {
            protected_resource(gw, &p[PROTECTED_RESOURCE.len()..])
        }
        (_, p) if p.starts_with("/.well-known/") => text(StatusCode::NOT_FOUND, "not found"),
        (_, p) if mcp => match parse_mcp_path(p) {
            Some((tenant, integration, which)) => {
                endpoint::handle(gw, req, which, tenant, integration).await
            }
            None => text(StatusCode::NOT_FOUND, "not found"),
        },
        _ => text(StatusCode::NOT_FOUND, "not found"),
    }
}

/// Where an endpoint's protected-resource metadata lives, before the endpoint's own path.
const PROTECTED_RESOURCE: &str = "/.well-known/oauth-protected-resource";

/// The protected-resource metadata (RFC 9728) of an OAuth-enabled integration's endpoint at
/// `path`: the resource, its authorization server, the scope and how to present tokens.
fn protected_resource(gw: &Gateway, path: &str) -> Response<Body> {
    let found = parse_mcp_path(path).and_then(|(tenant, integration, endpoint)| {
        let served = gw.store.load()?;
        let runtime = served.integration(tenant, integration)?;
        runtime.snapshot.oauth.as_ref()?;
        let issuer = gw.store.oauth().clone()?;
        Some(serde_json::json!({
            "resource": issuer.resource(tenant, integration, endpoint.path()),
            "authorization_servers": [issuer.issuer],
            "scopes_supported": [mcpgw_shared::access_token::SCOPE],
            "bearer_methods_supported": ["header"],
            "resource_name": runtime.snapshot.display_name,
        }))
    });
    let Some(document) = found else {
        return text(StatusCode::NOT_FOUND, "not found");
    };
    let mut r = crate::respond::json_bytes(
        StatusCode::OK,
        serde_json::to_vec(&document).unwrap_or_default(),
    );
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    r
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

//! The HTTP server: accepts connections (HTTP/1.1 and HTTP/2), routes paths, and drains
//! gracefully on shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, combinators::BoxBody};
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use mcpgw_shared::ids::is_valid_id;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::endpoint::{self, Gateway};
use crate::mcp::Endpoint;

/// Response bodies: whole buffers now, streams (SSE) where needed.
pub type Body = BoxBody<Bytes, Infallible>;

/// A whole-buffer body.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into()).boxed()
}

/// Serves `listener` until `shutdown` turns true, then lets in-flight requests finish
/// (at most `drain` long).
pub async fn serve(
    listener: TcpListener,
    gw: Arc<Gateway>,
    mut shutdown: watch::Receiver<bool>,
    drain: Duration,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(gw.http.header_timeout())
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .max_concurrent_streams(256);
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = crate::stopped(&mut shutdown) => break,
        };
        let _ = stream.set_nodelay(true);
        let gw = gw.clone();
        let service = service_fn(move |req| {
            let gw = gw.clone();
            async move { Ok::<_, Infallible>(route(&gw, req, peer).await) }
        });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(drain, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("some connections did not drain in time");
    }
}

async fn route(gw: &Gateway, req: Request<Incoming>, _peer: SocketAddr) -> Response<Body> {
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

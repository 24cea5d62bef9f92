//! Production calls (`mcp:call`): the request built by [`super::request`] is sent to the
//! bound config's *published* revision with a pooled client, and the answer mapped by
//! [`super::response`].
//!
//! The request is built from scratch — nothing of the client's request (its MCP key above
//! all) is forwarded. Path placeholders are percent-encoded as one segment, so an argument
//! such as `../../admin?x=1` stays inside its segment. Redirects are not followed. Responses
//! are capped in size; every failure becomes an `isError` result that names its cause.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ipnet::IpNet;
use mcpgw_shared::model::{HttpMethod, IntegrationSnapshot};
use serde_json::{Map, Value};

use super::ToolOutput;
use super::connect::{ConnectError, Dial, PolicyConnector, Resolve, SystemResolver, TcpDialer};
use super::policy::NetPolicy;
use super::request::build_request;
use super::response::{UpstreamHead, map_response};

/// Upstream client settings.
#[derive(Debug, Clone)]
pub struct UpstreamSettings {
    /// Time to establish a connection (TCP + TLS).
    pub connect_timeout: Duration,
    /// Default total time of a call (a tool's `timeoutMs` overrides it).
    pub total_timeout: Duration,
    /// Largest upstream response body read.
    pub max_response_bytes: usize,
    /// Address ranges opened on top of the public internet (see [`super::policy`]).
    pub allow_cidrs: Vec<IpNet>,
    /// Extra CA certificates (PEM) trusted for HTTPS upstreams, besides the public roots
    /// (APIs behind a private CA).
    pub extra_ca_pem: Option<Vec<u8>>,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            total_timeout: Duration::from_secs(30),
            max_response_bytes: 8 * 1024 * 1024,
            allow_cidrs: Vec::new(),
            extra_ca_pem: None,
        }
    }
}

type PooledClient = Client<HttpsConnector<PolicyConnector>, Full<Bytes>>;

/// The pooled upstream client. How many requests an integration has in flight is bounded
/// before a call gets here, by its one concurrency limiter (`crate::limits`).
///
/// Each thread that calls gets a client (and a connection pool) of its own: a connection's
/// task runs on the thread that opened it, so a call from a connection worker
/// (`mcpgw_runtime::serve::Workers`) reuses connections driven by its own event loop and
/// never waits on another thread's.
pub struct Upstream {
    connector: HttpsConnector<PolicyConnector>,
    clients: thread_local::ThreadLocal<PooledClient>,
    settings: UpstreamSettings,
}

/// Why the call failed before a response arrived.
enum Failure {
    Timeout,
    Dns,
    Connect,
    Tls,
    Blocked,
    Other,
}

impl Upstream {
    /// A client with `settings`.
    ///
    /// # Errors
    /// When TLS cannot be configured.
    pub fn new(settings: UpstreamSettings) -> Result<Self, rustls::Error> {
        Self::with_network(settings, Arc::new(SystemResolver), Arc::new(TcpDialer))
    }

    /// A client resolving and dialing through `resolver` and `dialer` (tests use this to see
    /// what the network policy lets through without any packet leaving).
    ///
    /// # Errors
    /// When TLS cannot be configured.
    pub fn with_network(
        settings: UpstreamSettings,
        resolver: Arc<dyn Resolve>,
        dialer: Arc<dyn Dial>,
    ) -> Result<Self, rustls::Error> {
        let http = PolicyConnector::new(
            NetPolicy::new(settings.allow_cidrs.clone()),
            resolver,
            dialer,
            settings.connect_timeout,
        );
        let tls = mcpgw_runtime::serve::tls::client_config_pem(
            settings.extra_ca_pem.as_deref(),
            "the upstream CA",
        )
        .map_err(|e| rustls::Error::General(e.to_string()))?;
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .wrap_connector(http);
        Ok(Self {
            connector: https,
            clients: thread_local::ThreadLocal::new(),
            settings,
        })
    }

    /// This thread's client.
    fn client(&self) -> &PooledClient {
        self.clients.get_or(|| {
            Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_max_idle_per_host(32)
                .build(self.connector.clone())
        })
    }

    /// Calls the upstream for `tool` with validated `arguments`.
    pub async fn run(
        &self,
        integration: &IntegrationSnapshot,
        tool: &crate::state::CallSpec,
        arguments: &Map<String, Value>,
    ) -> ToolOutput {
        let Some(config_id) = integration.config_id else {
            return ToolOutput::error(
                "This integration has no config bound: set configId in its MCP settings to a published config.",
            );
        };
        let Some(revision) = &integration.revision else {
            return ToolOutput::error(format!(
                "Config {config_id} has no published revision: publish it before calling the production endpoint."
            ));
        };
        let build = || {
            build_request(
                &revision.parameters.base_url,
                tool,
                arguments,
                &revision.auth,
            )
        };
        let request = match build() {
            Ok(r) => r,
            Err(e) => {
                return ToolOutput::error(format!("Could not build the upstream request: {e}"));
            }
        };
        let timeout = tool
            .timeout_ms
            .map_or(self.settings.total_timeout, Duration::from_millis);
        // An idempotent request is sent a second time when a pooled connection turns out to
        // have been closed by the upstream as it was reused (keep-alive races; nginx and
        // Envoy retry the same way). Never a POST or PATCH: the upstream may have acted on it.
        // Rebuilt only then, so the common path pays nothing for it.
        let idempotent = matches!(
            tool.http.method,
            HttpMethod::Get | HttpMethod::Put | HttpMethod::Delete
        );
        let outcome = tokio::time::timeout(timeout, async {
            let response = match self.client().request(request).await {
                Ok(r) => r,
                Err(e) if idempotent && closed_unanswered(&e) => {
                    let again = build().map_err(|_| Failure::Other)?;
                    self.client().request(again).await.map_err(classify)?
                }
                Err(e) => return Err(classify(e)),
            };
            let head = UpstreamHead::new(response.status(), response.headers());
            let body = Limited::new(response.into_body(), self.settings.max_response_bytes)
                .collect()
                .await;
            Ok::<_, Failure>((head, body.map(|b| b.to_bytes())))
        })
        .await;
        match outcome {
            Err(_) => ToolOutput::error(failure_text(
                &Failure::Timeout,
                &format!("{} ms", timeout.as_millis()),
            )),
            Ok(Err(f)) => ToolOutput::error(failure_text(&f, "")),
            Ok(Ok((_, Err(e))))
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                ToolOutput::error(format!(
                    "The upstream response exceeded the {} byte limit.",
                    self.settings.max_response_bytes
                ))
            }
            Ok(Ok((head, Err(_)))) => ToolOutput::error(format!(
                "The upstream answered HTTP {} but the connection failed while sending the body.",
                head.status
            )),
            Ok(Ok((head, Ok(body)))) => map_response(tool, &head, &body, &revision.auth),
        }
    }
}

/// Whether the connection closed before any response arrived (not a connect failure: the
/// request went out on a connection that was open).
fn closed_unanswered(e: &hyper_util::client::legacy::Error) -> bool {
    !e.is_connect()
        && std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<hyper::Error>())
            .is_some_and(|h| h.is_incomplete_message() || h.is_closed() || h.is_canceled())
}

fn failure_text(f: &Failure, detail: &str) -> String {
    match f {
        Failure::Timeout => format!("The upstream did not answer in time (timeout after {detail})."),
        Failure::Dns => "The upstream host name could not be resolved (DNS failure).".into(),
        Failure::Connect => "Could not connect to the upstream (connection refused or unreachable).".into(),
        Failure::Tls => "The TLS handshake with the upstream failed (certificate or protocol error).".into(),
        Failure::Blocked => {
            "The upstream address is refused by this gateway's network policy (private, loopback, link-local or metadata addresses are not called unless the operator allows them).".into()
        }
        Failure::Other => "The upstream request failed before a response arrived.".into(),
    }
}

/// Names the cause of a failed request by walking its error chain for the typed errors of
/// our resolver and of rustls.
fn classify(e: hyper_util::client::legacy::Error) -> Failure {
    for s in mcpgw_runtime::egress::connect::causes(&e) {
        if let Some(c) = s.downcast_ref::<ConnectError>() {
            return match c {
                ConnectError::Blocked => Failure::Blocked,
                ConnectError::Lookup(_) | ConnectError::NoHost => Failure::Dns,
                ConnectError::Connect(_) => Failure::Connect,
            };
        }
        if s.downcast_ref::<rustls::Error>().is_some() {
            return Failure::Tls;
        }
    }
    if e.is_connect() {
        Failure::Connect
    } else {
        Failure::Other
    }
}

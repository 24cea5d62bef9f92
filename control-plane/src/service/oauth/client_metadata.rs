//! OAuth Client ID Metadata Documents: a `client_id` that is an `https` URL names a JSON
//! document, served by the client, that describes it (`client_id`, `client_name`,
//! `redirect_uris`). The control plane fetches it under the same network policy as upstream
//! calls (public addresses only unless an operator opens ranges; every resolved address judged
//! before any packet leaves), bounded in time and size, and keeps what it read for a while.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Empty, Limited};
use hyper::body::Bytes;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use ipnet::IpNet;
use mcpgw_runtime::egress::connect::{
    ConnectError, Dial, PolicyConnector, Resolve, SystemResolver, TcpDialer,
};
use mcpgw_runtime::egress::policy::NetPolicy;

use super::{Client, OAuthError, redirect_uri_ok};

/// Longest document read.
const MAX_BYTES: usize = 64 * 1024;
/// Whole fetch, connection included.
const TIMEOUT: Duration = Duration::from_secs(5);
/// How long a document read is used before it is fetched again.
const FRESH_FOR: Duration = Duration::from_secs(300);
/// How long a failed fetch is remembered (no request is a way to make the control plane
/// fetch a URL again and again).
const FAILED_FOR: Duration = Duration::from_secs(60);
/// Documents kept at most (the oldest go first).
const MAX_CACHED: usize = 1024;
/// Redirect URIs a document may list.
const MAX_REDIRECT_URIS: usize = 10;

/// Fetches and caches client metadata documents.
pub struct ClientMetadata {
    http: HttpClient<HttpsConnector<PolicyConnector>, Empty<Bytes>>,
    cache: Mutex<Cache>,
}

/// Each document's URL: when it was read, and what it gave.
type Cache = HashMap<String, (Instant, Result<Client, OAuthError>)>;

#[derive(serde::Deserialize)]
struct Document {
    client_id: String,
    #[serde(default)]
    client_name: Option<String>,
    #[serde(default)]
    redirect_uris: Vec<String>,
}

/// Whether `client_id` names a metadata document rather than a registration.
#[must_use]
pub fn is_document_url(client_id: &str) -> bool {
    client_id.starts_with("https://")
}

impl ClientMetadata {
    /// A fetcher allowed to reach `allow` besides public addresses, trusting the public roots
    /// and `extra_ca`.
    ///
    /// # Errors
    /// When the CA file cannot be used.
    pub fn new(allow: Vec<IpNet>, extra_ca: Option<&Path>) -> Result<Self, String> {
        Self::with_network(
            allow,
            extra_ca,
            Arc::new(SystemResolver),
            Arc::new(TcpDialer),
        )
    }

    /// [`ClientMetadata::new`] resolving and dialing through these (tests see what the policy
    /// lets through without a packet leaving).
    ///
    /// # Errors
    /// When the CA file cannot be used.
    pub fn with_network(
        allow: Vec<IpNet>,
        extra_ca: Option<&Path>,
        resolver: Arc<dyn Resolve>,
        dialer: Arc<dyn Dial>,
    ) -> Result<Self, String> {
        let tls = mcpgw_runtime::serve::tls::client_config(extra_ca).map_err(|e| e.to_string())?;
        let connector = PolicyConnector::new(NetPolicy::new(allow), resolver, dialer, TIMEOUT);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*tls).clone())
            .https_only()
            .enable_http1()
            .wrap_connector(connector);
        Ok(Self {
            http: HttpClient::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build(https),
            cache: Mutex::new(HashMap::new()),
        })
    }

    fn cached(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The client `url` describes.
    ///
    /// # Errors
    /// `invalid_client` when the URL is not usable, the document cannot be fetched (refused
    /// by the network policy, unreachable, too slow, too large) or does not describe the
    /// client it is the id of.
    pub async fn fetch(&self, url: &str) -> Result<Client, OAuthError> {
        let refuse = |why: &str| OAuthError {
            code: "invalid_client",
            description: format!("the client metadata document {why}"),
        };
        let uri: http::Uri = url.parse().map_err(|_| refuse("URL is not a valid URL"))?;
        if url.len() > 2048
            || uri.scheme_str() != Some("https")
            || uri.path().len() <= 1
            || url.contains('#')
        {
            return Err(refuse(
                "URL must be https with a path, without a fragment, at most 2048 characters",
            ));
        }
        if let Some((at, known)) = self.cached().get(url) {
            let fresh_for = if known.is_ok() { FRESH_FOR } else { FAILED_FOR };
            if at.elapsed() < fresh_for {
                return known.clone();
            }
        }
        let known = self.fetch_document(url, uri).await;
        let mut cache = self.cached();
        if cache.len() >= MAX_CACHED
            && let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, (at, _))| *at)
                .map(|(k, _)| k.clone())
        {
            cache.remove(&oldest);
        }
        cache.insert(url.to_owned(), (Instant::now(), known.clone()));
        known
    }

    async fn fetch_document(&self, url: &str, uri: http::Uri) -> Result<Client, OAuthError> {
        let refuse = |why: &str| OAuthError {
            code: "invalid_client",
            description: format!("the client metadata document {why}"),
        };
        let request = http::Request::get(uri)
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|_| refuse("URL cannot be requested"))?;
        let fetched = tokio::time::timeout(TIMEOUT, async {
            let response = self.http.request(request).await.map_err(|e| {
                if blocked(&e) {
                    refuse("is at an address the gateway may not reach")
                } else {
                    refuse("could not be fetched")
                }
            })?;
            if response.status() != http::StatusCode::OK {
                return Err(refuse("could not be fetched"));
            }
            Limited::new(response.into_body(), MAX_BYTES)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .map_err(|_| refuse("is larger than 64 KiB or was cut off"))
        })
        .await
        .map_err(|_| refuse("could not be fetched"))??;
        let document: Document = serde_json::from_slice(&fetched)
            .map_err(|_| refuse("is not a JSON client description"))?;
        if document.client_id != url {
            return Err(refuse("names another client_id than its own URL"));
        }
        if document.redirect_uris.is_empty()
            || document.redirect_uris.len() > MAX_REDIRECT_URIS
            || !document.redirect_uris.iter().all(|u| redirect_uri_ok(u))
        {
            return Err(refuse(
                "must list 1 to 10 redirect_uris, each https (or http to a loopback host)",
            ));
        }
        let name = document
            .client_name
            .filter(|n| n.chars().count() <= 100 && !n.chars().any(char::is_control))
            .unwrap_or_else(|| uri_host(url));
        Ok(Client {
            name,
            redirect_uris: document.redirect_uris,
        })
    }
}

/// Whether the network policy refused every address (walking the error chain for it).
fn blocked(e: &hyper_util::client::legacy::Error) -> bool {
    mcpgw_runtime::egress::connect::causes(e).any(|s| {
        matches!(
            s.downcast_ref::<ConnectError>(),
            Some(ConnectError::Blocked)
        )
    })
}

fn uri_host(url: &str) -> String {
    url.parse::<http::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_owned))
        .unwrap_or_default()
}

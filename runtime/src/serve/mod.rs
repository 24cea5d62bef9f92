//! The one way every listener (the data plane's MCP port, the control plane's REST and gRPC
//! ports) accepts HTTP/1.1 and HTTP/2 connections.
//!
//! What it guarantees, whatever a client does:
//! * at most `max_connections` connections are served; past it a small overflow pool answers
//!   one request per connection — the `always_available` paths (health probes) normally, any
//!   other with a clear refusal and `Connection: close` — and beyond that a connection is
//!   closed at once;
//! * a connection must complete a request head within `header_timeout` of being accepted
//!   (TLS handshake included), and within `idle_timeout` of its last response; one whose
//!   client stops taking a response for `idle_timeout` is closed too (see `conn.rs`);
//! * a request body must arrive within `body_timeout` when the listener sets one;
//! * HTTP/2 connections are pinged and closed when the peer stops answering;
//! * shutdown stops accepting, lets in-flight requests finish for `drain_timeout`, then ends.

mod activity;
mod body;
mod conn;
pub mod tls;
mod workers;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::Full;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

pub use activity::InFlight;
pub use body::{BodyTimeout, BoxError, RequestBody, RequestBodyError, TrackedBody};
pub use conn::ResponseBody;
pub use workers::Workers;

/// The peer's address, in every request's extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

/// Connection and request bounds of one listener.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections past the cap that still get one answer (a health probe, or the refusal).
    pub overflow_connections: usize,
    /// From accept to a complete first request head (TLS handshake included).
    pub header_timeout: Duration,
    /// From the end of a response to the next request head on a keep-alive connection.
    pub idle_timeout: Duration,
    /// From a request head to the end of its body (`None`: the handler bounds it).
    pub body_timeout: Option<Duration>,
    /// Largest request head (HTTP/1 buffer, HTTP/2 header list).
    pub max_header_bytes: usize,
    /// HTTP/2 ping interval.
    pub h2_keepalive_interval: Duration,
    /// How long an HTTP/2 ping may go unanswered before the connection is closed.
    pub h2_keepalive_timeout: Duration,
    /// HTTP/2 streams per connection.
    pub h2_max_concurrent_streams: u32,
    /// How long in-flight requests may finish after shutdown begins.
    pub drain_timeout: Duration,
    /// Paths answered even on overflow connections (e.g. `/healthz`).
    pub always_available: Vec<&'static str>,
}

impl Limits {
    /// Bounds for an operator's listener (`/metrics`, probes): a few scrapers and probes,
    /// so a small connection cap and short deadlines.
    #[must_use]
    pub fn admin() -> Self {
        Self {
            max_connections: 64,
            header_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            body_timeout: Some(Duration::from_secs(5)),
            ..Self::default()
        }
    }
}

/// Binds `addr` and returns the listener with the address it got (port 0 picks one).
///
/// # Errors
/// When the address cannot be bound.
pub async fn bind(
    addr: std::net::SocketAddr,
) -> std::io::Result<(tokio::net::TcpListener, std::net::SocketAddr)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    Ok((listener, bound))
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            overflow_connections: 64,
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            body_timeout: None,
            max_header_bytes: 64 * 1024,
            h2_keepalive_interval: Duration::from_secs(20),
            h2_keepalive_timeout: Duration::from_secs(20),
            h2_max_concurrent_streams: 256,
            drain_timeout: Duration::from_secs(10),
            always_available: vec!["/healthz"],
        }
    }
}

/// Counters of one listener, read by the metrics of each plane.
#[derive(Debug, Default)]
pub struct Stats {
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections accepted in all.
    pub accepted: AtomicU64,
    /// Connections past the cap that were served by the overflow pool.
    pub overflowed: AtomicU64,
    /// Connections closed at once because the overflow pool was full too.
    pub refused: AtomicU64,
    /// Connections closed for not sending a request head (or TLS handshake) in time.
    pub header_timeouts: AtomicU64,
    /// Keep-alive connections closed for idling.
    pub idle_closes: AtomicU64,
    /// Connections closed because the client stopped taking a response.
    pub stalled: AtomicU64,
    /// TLS handshakes that failed.
    pub tls_failures: AtomicU64,
}

impl Stats {
    /// A counter's current value.
    #[must_use]
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// Why the server itself refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The connection cap is reached.
    ConnectionLimit,
}

/// Builds the refusal response for a request (the data plane answers JSON-RPC, the others
/// plain text or a gRPC status).
pub type RefusalFn = fn(&http::request::Parts, Refusal) -> Response<Full<Bytes>>;

/// The default refusal: a gRPC `UNAVAILABLE` status for gRPC requests, else `503` with a text
/// body and `Retry-After`.
#[must_use]
pub fn default_refusal(parts: &http::request::Parts, refusal: Refusal) -> Response<Full<Bytes>> {
    let Refusal::ConnectionLimit = refusal;
    let message = "the server is at its connection limit; retry shortly";
    let is_grpc = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/grpc"));
    let mut r = Response::new(Full::new(Bytes::new()));
    if is_grpc {
        let h = r.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/grpc"),
        );
        h.insert("grpc-status", HeaderValue::from_static("14"));
        h.insert("grpc-message", HeaderValue::from_static(message));
        return r;
    }
    *r.body_mut() = Full::new(Bytes::from_static(message.as_bytes()));
    *r.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Resolves once `rx` turns true (or its sender is gone).
pub async fn stopped(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// What every connection task of a listener shares.
struct Shared<H> {
    handler: H,
    limits: Limits,
    tls: Option<TlsAcceptor>,
    stats: Arc<Stats>,
    refuse: RefusalFn,
}

/// A listener ready to serve.
pub struct Server<H> {
    listener: TcpListener,
    shared: Arc<Shared<H>>,
    /// Where connections are served (`None`: on the runtime that runs the server).
    workers: Option<Arc<Workers>>,
}

impl<H, F, B> Server<H>
where
    H: Fn(Request<RequestBody>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    /// A server of `handler` on `listener`, within `limits`.
    pub fn new(listener: TcpListener, handler: H, limits: Limits) -> Self {
        Self {
            listener,
            shared: Arc::new(Shared {
                handler,
                limits,
                tls: None,
                stats: Arc::new(Stats::default()),
                refuse: default_refusal,
            }),
            workers: None,
        }
    }

    /// Serves each accepted connection on one of `workers` (see [`Workers`]) instead of the
    /// runtime that accepts.
    #[must_use]
    pub fn with_workers(mut self, workers: Arc<Workers>) -> Self {
        self.workers = Some(workers);
        self
    }

    fn shared_mut(&mut self) -> &mut Shared<H> {
        Arc::get_mut(&mut self.shared).unwrap_or_else(|| unreachable!("not shared before serve"))
    }

    /// Serves TLS with `config` (its ALPN protocols decide between HTTP/1.1 and HTTP/2).
    #[must_use]
    pub fn with_tls(mut self, config: Arc<rustls::ServerConfig>) -> Self {
        self.shared_mut().tls = Some(TlsAcceptor::from(config));
        self
    }

    /// Uses `refuse` to build refusals.
    #[must_use]
    pub fn with_refusal(mut self, refuse: RefusalFn) -> Self {
        self.shared_mut().refuse = refuse;
        self
    }

    /// Counts into `stats` (so the caller can read them).
    #[must_use]
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Self {
        self.shared_mut().stats = stats;
        self
    }

    /// The listener's counters.
    #[must_use]
    pub fn stats(&self) -> Arc<Stats> {
        self.shared.stats.clone()
    }

    /// Accepts until `shutdown` turns true, then drains: open connections are told to close
    /// and given `drain_timeout` to finish their requests.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let Self {
            listener,
            shared,
            workers,
        } = self;
        let limits = &shared.limits;
        let max = limits.max_connections.max(1);
        let normal = Arc::new(Semaphore::new(max));
        let overflow = Arc::new(Semaphore::new(limits.overflow_connections));
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors or similar: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = stopped(&mut shutdown) => break,
            };
            shared.stats.accepted.fetch_add(1, Ordering::Relaxed);
            let (permit, is_overflow) = match normal.clone().try_acquire_owned() {
                Ok(p) => (p, false),
                Err(_) => match overflow.clone().try_acquire_owned() {
                    Ok(p) => {
                        shared.stats.overflowed.fetch_add(1, Ordering::Relaxed);
                        (p, true)
                    }
                    Err(_) => {
                        shared.stats.refused.fetch_add(1, Ordering::Relaxed);
                        drop(stream);
                        continue;
                    }
                },
            };
            let shared = shared.clone();
            let shutdown = shutdown.clone();
            let Some(workers) = &workers else {
                tokio::spawn(async move {
                    conn::run(stream, peer, is_overflow, shared, shutdown).await;
                    drop(permit);
                });
                continue;
            };
            // The socket moves to the worker's own event loop.
            let stream = match stream.into_std() {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "could not hand a connection over");
                    continue;
                }
            };
            workers.spawn(async move {
                match tokio::net::TcpStream::from_std(stream) {
                    Ok(stream) => conn::run(stream, peer, is_overflow, shared, shutdown).await,
                    Err(e) => tracing::debug!(%peer, error = %e, "could not register a connection"),
                }
                drop(permit);
            });
        }
        drop(listener);
        // Every connection holds a permit until it ends: getting them all back means drained.
        let all = u32::try_from(max).unwrap_or(u32::MAX);
        let drained = async {
            let _ = normal.acquire_many(all).await;
            let _ = overflow
                .acquire_many(u32::try_from(limits.overflow_connections).unwrap_or(u32::MAX))
                .await;
        };
        let grace = limits.drain_timeout + Duration::from_secs(1);
        if tokio::time::timeout(grace, drained).await.is_err() {
            tracing::warn!("some connections did not drain in time");
        }
    }
}

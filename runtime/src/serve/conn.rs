//! One connection's life: TLS handshake, HTTP/1.1 or HTTP/2, the deadlines that reap it when
//! it sends nothing, and its part in a graceful drain.
//!
//! The deadlines are kept here rather than left to hyper, because hyper cannot express them:
//! its HTTP/1 header timeout does not start until the protocol has been sniffed (a silent
//! connection waits forever) and HTTP/2 has none. Instead the connection counts the requests
//! it has in flight: with none, it must complete a request head before `accept +
//! header_timeout` (the first request) or `last response + idle_timeout` (later ones), else it
//! is shut down. A request in flight keeps it open while it makes progress — a streaming
//! response waiting for its own next event included — but not a client that stops reading:
//! when response data has been handed to hyper and hyper has not come back for more within
//! `idle_timeout` (its writes are stuck: a full socket, a zero HTTP/2 window), the connection
//! is shut down as stalled.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::Body;
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::activity::{Activity, Expired};
use super::body::{BoxError, RequestBody, TrackedBody};
use super::{Limits, PeerAddr, Refusal, Shared, Stats};

/// How long a connection past the cap has to send its one request.
const OVERFLOW_HEADER_TIMEOUT: Duration = Duration::from_secs(2);
/// Grace for a connection told to close (idle or draining) to finish on its own.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The response body every listener sends.
pub type ResponseBody<B> = TrackedBody<Either<B, Full<Bytes>>>;

/// Serves one accepted connection to the end. `overflow` connections (past the cap) get one
/// request, a short deadline, and only the always-available paths.
pub(super) async fn run<H, F, B>(
    stream: TcpStream,
    peer: SocketAddr,
    overflow: bool,
    shared: Arc<Shared<H>>,
    mut shutdown: watch::Receiver<bool>,
) where
    H: Fn(Request<RequestBody>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let _open = OpenGuard::new(&shared.stats);
    let limits = &shared.limits;
    let accepted = Instant::now();
    let header_timeout = if overflow {
        limits.header_timeout.min(OVERFLOW_HEADER_TIMEOUT)
    } else {
        limits.header_timeout
    };
    let _ = stream.set_nodelay(true);
    match &shared.tls {
        None => {
            serve_io(
                stream,
                peer,
                overflow,
                header_timeout,
                accepted,
                &shared,
                &mut shutdown,
            )
            .await
        }
        Some(acceptor) => {
            let handshake =
                tokio::time::timeout_at(accepted + header_timeout, acceptor.accept(stream)).await;
            match handshake {
                Ok(Ok(tls)) => {
                    serve_io(
                        tls,
                        peer,
                        overflow,
                        header_timeout,
                        accepted,
                        &shared,
                        &mut shutdown,
                    )
                    .await;
                }
                Ok(Err(e)) => {
                    shared.stats.tls_failures.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, error = %e, "TLS handshake failed");
                }
                Err(_) => {
                    shared.stats.header_timeouts.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(%peer, "TLS handshake not completed in time");
                }
            }
        }
    }
}

async fn serve_io<I, H, F, B>(
    io: I,
    peer: SocketAddr,
    overflow: bool,
    header_timeout: Duration,
    accepted: Instant,
    shared: &Arc<Shared<H>>,
    shutdown: &mut watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    H: Fn(Request<RequestBody>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
    B::Error: Into<BoxError>,
{
    let limits = &shared.limits;
    let idle_timeout = if overflow {
        OVERFLOW_HEADER_TIMEOUT
    } else {
        limits.idle_timeout
    };
    let activity = Activity::new(accepted);
    let service = {
        let shared = shared.clone();
        let activity = activity.clone();
        service_fn(move |req: Request<Incoming>| {
            let mut in_flight = activity.begin();
            let response = respond(shared.clone(), req, peer, overflow);
            async move {
                let response = response.await;
                in_flight.responded();
                Ok::<_, Infallible>(response.map(|b| TrackedBody::new(b, in_flight)))
            }
        })
    };
    let builder = builder(limits, overflow);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let mut closing: Option<Instant> = None;
    loop {
        let grace = closing.unwrap_or_else(|| Instant::now() + Duration::from_secs(86_400));
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            expired = activity.expired(header_timeout, idle_timeout), if closing.is_none() => {
                let counter = match expired {
                    Expired::Header => &shared.stats.header_timeouts,
                    Expired::Idle => &shared.stats.idle_closes,
                    Expired::Stalled => &shared.stats.stalled,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                conn.as_mut().graceful_shutdown();
                // A stalled client will not take a graceful goodbye either.
                let grace = if expired == Expired::Stalled { Duration::ZERO } else { CLOSE_GRACE };
                closing = Some(Instant::now() + grace);
            }
            // One request per overflow connection, whatever the protocol (HTTP/1 is told by
            // keep-alive being off; HTTP/2 by a GOAWAY once its first stream is open).
            () = activity.first_request(), if overflow && closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + OVERFLOW_HEADER_TIMEOUT);
            }
            () = super::stopped(shutdown), if closing.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing = Some(Instant::now() + limits.drain_timeout);
            }
            () = tokio::time::sleep_until(grace), if closing.is_some() => return,
        }
    }
}

fn builder(limits: &Limits, overflow: bool) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .keep_alive(!overflow)
        // Our own deadlines (see the module doc) bound request heads; hyper's would close
        // idle keep-alive connections at the header timeout instead of the idle timeout.
        .header_read_timeout(None)
        .max_buf_size(limits.max_header_bytes.max(8192));
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.h2_keepalive_interval))
        .keep_alive_timeout(limits.h2_keepalive_timeout)
        .max_concurrent_streams(if overflow {
            1
        } else {
            limits.h2_max_concurrent_streams
        })
        .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    builder
}

/// The response to one request: the handler's, or a refusal for an overflow connection
/// asking for anything but an always-available path.
async fn respond<H, F, B>(
    shared: Arc<Shared<H>>,
    req: Request<Incoming>,
    peer: SocketAddr,
    overflow: bool,
) -> Response<Either<B, Full<Bytes>>>
where
    H: Fn(Request<RequestBody>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: Body<Data = Bytes> + Send + Unpin + 'static,
{
    let limits = &shared.limits;
    let (mut parts, body) = req.into_parts();
    if overflow && !limits.always_available.contains(&parts.uri.path()) {
        let mut refusal = (shared.refuse)(&parts, Refusal::ConnectionLimit);
        refusal.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
        return refusal.map(Either::Right);
    }
    parts.extensions.insert(PeerAddr(peer));
    let deadline = limits.body_timeout.map(|t| Instant::now() + t);
    let req = Request::from_parts(parts, RequestBody::new(body, deadline));
    (shared.handler)(req).await.map(Either::Left)
}

/// Counts a connection as open for as long as it lives.
struct OpenGuard<'a>(&'a Stats);

impl<'a> OpenGuard<'a> {
    fn new(stats: &'a Stats) -> Self {
        stats.open.fetch_add(1, Ordering::Relaxed);
        Self(stats)
    }
}

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

//! The upstream client's TCP connector: resolve, judge every address by the [`NetPolicy`],
//! and only then dial — so a refused address never sees a packet, whatever spelling or DNS
//! name led to it. IP literals skip resolution but not the policy.
//!
//! Resolution and dialing are seams ([`Resolve`], [`Dial`]): production uses the system
//! resolver and real sockets; tests resolve names to any address and record dial attempts
//! without ever connecting.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::policy::NetPolicy;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// Name resolution.
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host` (a DNS name, never an IP literal).
    fn resolve(&self, host: String) -> BoxFuture<std::io::Result<Vec<IpAddr>>>;
}

/// Opening a TCP connection.
pub trait Dial: Send + Sync + 'static {
    /// Connects to `addr` within `timeout`.
    fn dial(&self, addr: SocketAddr, timeout: Duration) -> BoxFuture<std::io::Result<TcpStream>>;
}

/// The system resolver (getaddrinfo, through tokio).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, host: String) -> BoxFuture<std::io::Result<Vec<IpAddr>>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Real TCP connections.
#[derive(Debug, Clone, Copy, Default)]
pub struct TcpDialer;

impl Dial for TcpDialer {
    fn dial(&self, addr: SocketAddr, timeout: Duration) -> BoxFuture<std::io::Result<TcpStream>> {
        Box::pin(async move {
            let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
                .await
                .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))??;
            let _ = stream.set_nodelay(true);
            Ok(stream)
        })
    }
}

/// Why no connection was made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL has no host.
    #[error("the upstream URL has no host")]
    NoHost,
    /// The name did not resolve.
    #[error("DNS lookup failed: {0}")]
    Lookup(std::io::Error),
    /// Every address of the host is refused by the network policy (nothing was dialed).
    #[error("the upstream address is refused by the network policy")]
    Blocked,
    /// Every permitted address refused or timed out.
    #[error("connect failed: {0}")]
    Connect(std::io::Error),
}

/// The causes of `error`, innermost last, looking inside `io::Error`s too (tokio-rustls
/// reports TLS failures as nested `io::Error`s wrapping the rustls error): where a client's
/// failure finds the [`ConnectError`] (or TLS error) beneath it.
pub fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(error.source(), |s| {
        match s.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => s.source(),
        }
    })
}

/// The policy-enforcing connector.
#[derive(Clone)]
pub struct PolicyConnector {
    policy: Arc<NetPolicy>,
    resolver: Arc<dyn Resolve>,
    dialer: Arc<dyn Dial>,
    connect_timeout: Duration,
}

impl PolicyConnector {
    /// A connector applying `policy` to what `resolver` returns before `dialer` connects.
    #[must_use]
    pub fn new(
        policy: NetPolicy,
        resolver: Arc<dyn Resolve>,
        dialer: Arc<dyn Dial>,
        connect_timeout: Duration,
    ) -> Self {
        Self {
            policy: Arc::new(policy),
            resolver,
            dialer,
            connect_timeout,
        }
    }

    /// The addresses `uri` may be reached at, in resolution order.
    ///
    /// # Errors
    /// [`ConnectError`] when there is no host, it does not resolve, or every address is
    /// refused.
    pub async fn permitted_addresses(&self, uri: &Uri) -> Result<Vec<SocketAddr>, ConnectError> {
        let host = uri.host().ok_or(ConnectError::NoHost)?;
        let port = uri
            .port_u16()
            .unwrap_or(if uri.scheme_str() == Some("https") {
                443
            } else {
                80
            });
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let ips = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .resolver
                .resolve(host.to_owned())
                .await
                .map_err(ConnectError::Lookup)?,
        };
        let permitted: Vec<SocketAddr> = ips
            .into_iter()
            .filter(|ip| self.policy.permits(*ip))
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        if permitted.is_empty() {
            return Err(ConnectError::Blocked);
        }
        Ok(permitted)
    }

    async fn connect(self, uri: Uri) -> Result<TokioIo<TcpStream>, ConnectError> {
        let mut last = None;
        for addr in self.permitted_addresses(&uri).await? {
            match self.dialer.dial(addr, self.connect_timeout).await {
                Ok(stream) => return Ok(TokioIo::new(stream)),
                Err(e) => last = Some(e),
            }
        }
        Err(ConnectError::Connect(last.unwrap_or_else(|| {
            std::io::Error::from(std::io::ErrorKind::AddrNotAvailable)
        })))
    }
}

impl tower_service::Service<Uri> for PolicyConnector {
    type Response = TokioIo<TcpStream>;
    type Error = ConnectError;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect(uri))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    /// Resolves from a table; never touches the network.
    struct Table(HashMap<&'static str, Vec<IpAddr>>);

    impl Resolve for Table {
        fn resolve(&self, host: String) -> BoxFuture<std::io::Result<Vec<IpAddr>>> {
            let found = self.0.get(host.as_str()).cloned();
            Box::pin(async move {
                found.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))
            })
        }
    }

    /// Records every dial attempt and never connects.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<SocketAddr>>);

    impl Dial for Recorder {
        fn dial(&self, addr: SocketAddr, _: Duration) -> BoxFuture<std::io::Result<TcpStream>> {
            self.0.lock().expect("lock").push(addr);
            Box::pin(async { Err(std::io::Error::from(std::io::ErrorKind::ConnectionRefused)) })
        }
    }

    fn connector(allow: &[&str]) -> (PolicyConnector, Arc<Recorder>) {
        let table = Table(HashMap::from([
            ("internal.corp", vec!["10.0.0.5".parse().expect("ip")]),
            (
                "metadata.cloud",
                vec!["169.254.169.254".parse().expect("ip")],
            ),
            (
                "mixed.example",
                vec![
                    "192.168.0.9".parse().expect("ip"),
                    "93.184.215.14".parse().expect("ip"),
                ],
            ),
            (
                "sixtofour.example",
                vec!["2002:a00:1::1".parse().expect("ip")],
            ),
            ("public.example", vec!["93.184.215.14".parse().expect("ip")]),
        ]));
        let recorder = Arc::new(Recorder::default());
        let policy = NetPolicy::new(allow.iter().map(|c| c.parse().expect("cidr")).collect());
        (
            PolicyConnector::new(
                policy,
                Arc::new(table),
                recorder.clone(),
                Duration::from_secs(1),
            ),
            recorder,
        )
    }

    #[tokio::test]
    async fn refused_addresses_are_never_dialed() {
        let (c, dialed) = connector(&[]);
        for url in [
            "http://internal.corp/x",
            "https://metadata.cloud/latest/meta-data",
            "http://sixtofour.example/",
            "http://10.1.2.3/",
            "http://127.0.0.1:8080/",
            "http://[::ffff:127.0.0.1]/",
            "http://[fd00:ec2::254]/",
            "http://0.0.0.0:9/",
        ] {
            let uri: Uri = url.parse().expect("uri");
            let r = c.clone().connect(uri).await;
            assert!(matches!(r, Err(ConnectError::Blocked)), "{url}: {r:?}");
        }
        assert!(
            dialed.0.lock().expect("lock").is_empty(),
            "no dial attempted"
        );
    }

    #[tokio::test]
    async fn only_permitted_addresses_are_dialed() {
        let (c, dialed) = connector(&[]);
        let _ = c
            .clone()
            .connect("https://mixed.example/api".parse().expect("uri"))
            .await;
        assert_eq!(
            *dialed.0.lock().expect("lock"),
            vec!["93.184.215.14:443".parse::<SocketAddr>().expect("addr")],
            "the private address of a mixed answer is dropped"
        );
        let (c, dialed) = connector(&["10.0.0.0/8"]);
        let _ = c
            .connect("http://internal.corp:8443/".parse().expect("uri"))
            .await;
        assert_eq!(
            *dialed.0.lock().expect("lock"),
            vec!["10.0.0.5:8443".parse::<SocketAddr>().expect("addr")],
            "an operator-allowed range is dialed"
        );
    }
}

//! The MCP gateway's data plane: stateless, fed by the control plane's snapshot stream.
//!
//! Request path, by module: [`server`] (HTTP in, routing) → [`endpoint`] (origin, API key
//! via [`auth`], body bounds, rate via [`limits`]) → [`mcp`] (protocol eras, dispatch) →
//! [`backend`] (`upstream` for `mcp:call`, `simulator` for `mcp:test`). The served state
//! ([`state`]) is kept current by [`snapshot_client`]; [`metrics`] exposes what happens.

pub mod auth;
pub mod backend;
pub mod config;
pub mod cpu;
pub mod endpoint;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod origin;
pub mod server;
pub mod snapshot_client;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mcpgw_shared::secret::Secret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::upstream::{Upstream, UpstreamSettings};
use crate::config::{HttpLimits, LimitDefaults};
use crate::endpoint::Gateway;
use crate::limits::Limiters;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::snapshot_client::SnapshotClient;
use crate::state::SnapshotStore;

pub use mcpgw_runtime::serve::stopped;

/// Everything needed to start a data plane.
pub struct Settings {
    /// Listen address (port 0 picks one).
    pub listen: SocketAddr,
    /// The control plane's gRPC URL.
    pub control_plane: String,
    /// The data-plane token.
    pub token: Secret,
    /// PEM CA trusted for an `https://` control plane (public roots if none).
    pub control_plane_ca: Option<Vec<u8>>,
    /// This replica's name.
    pub id: String,
    /// Limit defaults.
    pub limits: LimitDefaults,
    /// HTTP bounds.
    pub http: HttpLimits,
    /// Protocol settings.
    pub protocol: mcp::Settings,
    /// Upstream client settings.
    pub upstream: UpstreamSettings,
    /// Extra allowed origins.
    pub allowed_origins: Vec<String>,
}

/// Startup failures.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The listener could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// TLS for upstream calls could not be set up.
    #[error("TLS setup: {0}")]
    Tls(#[from] rustls::Error),
}

/// A running data plane.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The served state (tests wait on it).
    pub store: Arc<SnapshotStore>,
    /// The metrics (tests read them).
    pub metrics: Arc<Metrics>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, stops the snapshot stream, and drains in-flight requests.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

/// Binds the listener and starts serving and subscribing.
///
/// # Errors
/// [`StartError`].
pub async fn start(settings: Settings) -> Result<Running, StartError> {
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|source| StartError::Bind {
            addr: settings.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| StartError::Bind {
        addr: settings.listen,
        source,
    })?;
    let store = Arc::new(SnapshotStore::default());
    let metrics = Arc::new(Metrics::new(store.clone()));
    let limiters = Arc::new(Limiters::new(settings.limits));
    let gateway = Arc::new(Gateway {
        store: store.clone(),
        shared: Arc::new(mcp::Shared {
            cpu: cpu::CpuPool::default(),
            limiters: limiters.clone(),
            settings: settings.protocol,
            backends: mcp::Backends {
                upstream: Upstream::new(settings.upstream)?,
            },
        }),
        metrics: metrics.clone(),
        http: settings.http,
        origins: OriginPolicy {
            loopback: addr.ip().is_loopback(),
            allowed: settings.allowed_origins,
        },
    });
    let (shutdown, _) = watch::channel(false);
    let client = SnapshotClient {
        endpoint: settings.control_plane,
        token: settings.token,
        id: settings.id,
        limiters,
        ca: settings.control_plane_ca,
    };
    let server = mcpgw_runtime::serve::Server::new(
        listener,
        {
            let gw = gateway.clone();
            move |req| server::route(gw.clone(), req)
        },
        settings.http.listener(),
    )
    .with_refusal(server::refusal)
    .with_stats(metrics.listener_stats());
    let mut tasks = vec![
        tokio::spawn(client.run(store.clone(), metrics.clone(), shutdown.subscribe())),
        tokio::spawn(server.run(shutdown.subscribe())),
    ];
    let mut stop = shutdown.subscribe();
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::select! {
                () = crate::stopped(&mut stop) => break,
                () = tokio::time::sleep(Duration::from_secs(60)) => gateway.shared.limiters.retain_recent(),
            }
        }
    }));
    tracing::info!(%addr, "data plane listening");
    Ok(Running {
        addr,
        store,
        metrics,
        shutdown,
        tasks,
    })
}

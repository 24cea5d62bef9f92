//! The MCP gateway's data plane: stateless, fed by the control plane's snapshot stream.
//!
//! Request path, by module: [`server`] (HTTP in, routing) → [`endpoint`] (origin, API key
//! via [`auth`], body bounds, rate via [`limits`], refusals from [`refusal`]) → [`mcp`]
//! (protocol eras, dispatch; wire types in [`protocol`]) → [`backend`] (`Upstream` for
//! `mcp:call`, `Simulator` for `mcp:test`, chosen at routing). The served state ([`state`])
//! is kept current by [`snapshot_client`]; [`metrics`] exposes what happens. See
//! `docs/architecture.md`.

pub mod auth;
pub mod backend;
pub mod config;
pub mod cpu;
pub mod endpoint;
pub mod limits;
pub mod mcp;
pub mod metrics;
pub mod origin;
pub mod protocol;
pub mod refusal;
pub mod respond;
pub mod server;
pub mod snapshot_client;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use mcpgw_shared::secret::Secret;
use mcpgw_shared::shard::Tenants;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::backend::Backend;
use crate::backend::upstream::{Upstream, UpstreamSettings};
use crate::config::{HttpLimits, LimitDefaults};
use crate::endpoint::Gateway;
use crate::limits::Limiters;
use crate::metrics::Metrics;
use crate::origin::OriginPolicy;
use crate::server::Routes;
use crate::snapshot_client::SnapshotClient;
use crate::state::SnapshotStore;

use mcpgw_runtime::serve::Limits;
pub use mcpgw_runtime::serve::stopped;
/// The model this crate's API is expressed in (ids, tools, snapshots), for callers that
/// depend on the data plane alone (the fuzz targets).
pub use mcpgw_shared as shared;

/// Everything needed to start a data plane. [`Default`] is what the `data-plane` binary
/// runs with when no flag is given, except the token, which must be set.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address for MCP clients (port 0 picks one).
    pub listen: SocketAddr,
    /// Where `/readyz` and `/metrics` are served instead of the MCP port (`None`: on the MCP
    /// port).
    pub admin_listen: Option<SocketAddr>,
    /// The control planes' gRPC URLs, comma-separated (replicas on one store; the first
    /// preferred, the others tried in turn while it fails).
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
    /// The tenants served (a list, or a shard of all): the control plane sends only theirs,
    /// and requests for others get 404.
    pub tenants: Tenants,
    /// Threads serving MCP connections, each a single-threaded event loop that keeps a
    /// connection and its upstream calls on one thread (`mcpgw_runtime::serve::Workers`).
    pub workers: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8081)),
            admin_listen: None,
            control_plane: "http://127.0.0.1:50051".into(),
            token: Secret::default(),
            control_plane_ca: None,
            id: "data-plane".into(),
            limits: LimitDefaults::default(),
            http: HttpLimits::default(),
            protocol: mcp::Settings::default(),
            upstream: UpstreamSettings::default(),
            allowed_origins: Vec::new(),
            tenants: Tenants::All,
            workers: std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get),
        }
    }
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
    /// No data-plane token was given.
    #[error("the data-plane token is empty")]
    NoToken,
    /// The connection workers could not be started.
    #[error("starting the connection workers: {0}")]
    Workers(std::io::Error),
}

/// A running data plane.
pub struct Running {
    /// Where MCP clients connect.
    pub addr: SocketAddr,
    /// Where `/readyz` and `/metrics` are served (`addr` unless an admin listener was set).
    pub admin_addr: SocketAddr,
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
    if settings.token.expose().is_empty() {
        return Err(StartError::NoToken);
    }
    let bind = |at| async move {
        mcpgw_runtime::serve::bind(at)
            .await
            .map_err(|source| StartError::Bind { addr: at, source })
    };
    let (listener, addr) = bind(settings.listen).await?;
    let admin = match settings.admin_listen {
        Some(at) => Some(bind(at).await?),
        None => None,
    };
    let store = Arc::new(SnapshotStore::default());
    let metrics = Arc::new(Metrics::new(store.clone()));
    let limiters = Arc::new(Limiters::new(settings.limits));
    let cpu = cpu::CpuPool::default();
    let gateway = Arc::new(Gateway {
        store: store.clone(),
        shared: Arc::new(mcp::Shared {
            cpu: cpu.clone(),
            limiters: limiters.clone(),
            settings: settings.protocol,
            metrics: metrics.clone(),
        }),
        upstream: Backend::Upstream(Arc::new(Upstream::new(settings.upstream)?)),
        simulator: Backend::Simulator(cpu),
        metrics: metrics.clone(),
        http: settings.http,
        origins: OriginPolicy {
            loopback: addr.ip().is_loopback(),
            allowed: settings.allowed_origins,
        },
        tenants: settings.tenants.clone(),
    });
    let (shutdown, _) = watch::channel(false);
    let client = SnapshotClient {
        endpoints: settings
            .control_plane
            .split(',')
            .map(str::trim)
            .filter(|url| !url.is_empty())
            .map(str::to_owned)
            .collect(),
        token: settings.token,
        id: settings.id,
        limiters,
        ca: settings.control_plane_ca,
        tenants: settings.tenants,
    };
    let serve = |listener, routes, limits| {
        let gw = gateway.clone();
        mcpgw_runtime::serve::Server::new(
            listener,
            move |req| server::route(gw.clone(), routes, req),
            limits,
        )
        .with_refusal(server::refusal)
    };
    let mcp_routes = if admin.is_some() {
        Routes::Mcp
    } else {
        Routes::All
    };
    let workers = mcpgw_runtime::serve::Workers::start(settings.workers, "mcp-worker")
        .map_err(StartError::Workers)?;
    let mcp_server = serve(listener, mcp_routes, settings.http.listener())
        .with_stats(metrics.listener_stats())
        .with_workers(Arc::new(workers));
    let mut tasks = vec![
        tokio::spawn(client.run(store.clone(), metrics.clone(), shutdown.subscribe())),
        tokio::spawn(mcp_server.run(shutdown.subscribe())),
    ];
    let mut admin_addr = addr;
    if let Some((admin_listener, at)) = admin {
        admin_addr = at;
        let admin_server = serve(admin_listener, Routes::Admin, Limits::admin());
        tasks.push(tokio::spawn(admin_server.run(shutdown.subscribe())));
        tracing::info!(addr = %at, "admin listener (readyz, metrics)");
    }
    // Forget keys idle long enough to be back at full burst, so rate state stays bounded.
    tasks.push(mcpgw_runtime::housekeeping::every(
        Duration::from_secs(60),
        shutdown.subscribe(),
        move || {
            gateway.shared.limiters.retain_recent();
            std::future::ready(())
        },
    ));
    tracing::info!(%addr, "data plane listening");
    Ok(Running {
        addr,
        admin_addr,
        store,
        metrics,
        shutdown,
        tasks,
    })
}

//! Starts the REST and gRPC listeners over one service, and stops them gracefully.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use http::Request;
use mcpgw_runtime::housekeeping;
use mcpgw_runtime::serve::{RequestBody, Server, tls};
use mcpgw_shared::secret::Secret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tower::{Layer, ServiceExt};
use tower_governor::GovernorLayer;

use crate::api::admin;
use crate::api::grpc::Grpc;
use crate::api::ratelimit::{self, AdminRate};
use crate::api::rest::{self, AppState};
use crate::config::ListenerBounds;
use crate::jwt::JwtAuth;
use crate::metrics::Metrics;
use crate::seal::Sealer;
use crate::secrets::Secrets;
use crate::service::{Quotas, Service};
use crate::store::{DatabaseSettings, Store, StoreSettings};

/// What the control plane needs to start (already parsed and loaded). [`Default`] is what
/// the `control-plane` binary runs with when no flag is given, except the secrets, which must
/// be set (see [`crate::secrets`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// The data dir (the embedded store inside, unless `database` is set; dev secrets).
    pub data_dir: PathBuf,
    /// PostgreSQL instead of the embedded store (several replicas may share it).
    pub database: Option<DatabaseSettings>,
    /// gRPC listen address (port 0 picks one).
    pub grpc_listen: SocketAddr,
    /// REST listen address (port 0 picks one).
    pub http_listen: SocketAddr,
    /// Where `/metrics` is served instead of the REST port (`None`: on the REST port).
    pub admin_listen: Option<SocketAddr>,
    /// The data planes' public base URL.
    pub public_mcp_url: String,
    /// Per-caller admin rate.
    pub admin_rate: AdminRate,
    /// The three secrets.
    pub secrets: Secrets,
    /// TLS for the gRPC listener (PEM certificate chain and private key files). The snapshot
    /// stream carries decrypted upstream credentials: use TLS whenever it leaves the host.
    pub grpc_tls: Option<GrpcTls>,
    /// Connection and request bounds of the REST and gRPC listeners.
    pub listener: ListenerBounds,
    /// Disk reserve and audit retention.
    pub store: StoreSettings,
    /// Per-tenant quotas.
    pub quotas: Quotas,
    /// Longest admin token lifetime accepted (0 = no maximum).
    pub jwt_max_lifetime_secs: u64,
    /// The OAuth authorization server: issuer (this control plane's public URL), token
    /// lifetime, signing-key generation.
    pub oauth: crate::service::oauth::OAuthConfig,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            database: None,
            grpc_listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            admin_listen: None,
            public_mcp_url: "http://127.0.0.1:8081".into(),
            admin_rate: AdminRate::default(),
            secrets: Secrets::default(),
            grpc_tls: None,
            listener: ListenerBounds::default(),
            store: StoreSettings::default(),
            quotas: Quotas::default(),
            jwt_max_lifetime_secs: crate::jwt::DEFAULT_MAX_LIFETIME_SECS,
            oauth: crate::service::oauth::OAuthConfig::default(),
        }
    }
}

/// PEM files of the gRPC listener's certificate chain and private key.
#[derive(Debug, Clone)]
pub struct GrpcTls {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// Startup failures.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The master key is malformed.
    #[error(transparent)]
    Seal(#[from] crate::seal::SealError),
    /// The service could not load its state (e.g. the master key cannot open stored secrets).
    #[error("loading state: {0}")]
    Service(#[from] crate::service::ServiceError),
    /// The gRPC TLS files could not be read or used.
    #[error("gRPC TLS: {0}")]
    Tls(#[from] mcpgw_runtime::serve::tls::TlsError),
    /// A secret is empty (an empty JWT secret would sign and accept anything).
    #[error("the secret {0} is empty")]
    EmptySecret(&'static str),
    /// A listener could not be bound.
    #[error("binding {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running control plane.
pub struct Running {
    /// Where REST listens.
    pub http_addr: SocketAddr,
    /// Where gRPC listens.
    pub grpc_addr: SocketAddr,
    /// Where `/metrics` is served (`http_addr` unless an admin listener was set).
    pub admin_addr: SocketAddr,
    /// The service (for in-process callers such as demo seeding).
    pub service: Arc<Service>,
    /// The admin token verifier/issuer.
    pub jwt: Arc<JwtAuth>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    /// Stops accepting, ends snapshot streams, drains in-flight requests, and waits.
    pub async fn shutdown(self) {
        self.service.publisher().close();
        self.service.store().close();
        self.shutdown.send_replace(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// Opens the store and starts both listeners.
///
/// # Errors
/// [`StartError`] if the store, the master key, or a listener fails.
pub async fn start(settings: Settings) -> Result<Running, StartError> {
    for (name, secret) in [
        ("MCPGW_JWT_SECRET", &settings.secrets.jwt_secret),
        ("MCPGW_DATA_PLANE_TOKEN", &settings.secrets.data_plane_token),
        ("MCPGW_MASTER_KEY", &settings.secrets.master_key),
    ] {
        if secret.expose().is_empty() {
            return Err(StartError::EmptySecret(name));
        }
    }
    let store = match &settings.database {
        None => Store::open(&settings.data_dir, settings.store)?,
        Some(database) => Store::connect(database, settings.store).await?,
    };
    let sealer = Sealer::from_hex(settings.secrets.master_key.expose())?;
    let service = Arc::new(
        Service::new(
            store.clone(),
            sealer,
            &settings.public_mcp_url,
            settings.quotas,
        )?
        .with_oauth(settings.oauth.clone()),
    );
    let jwt = Arc::new(
        JwtAuth::new(&settings.secrets.jwt_secret)
            .with_max_lifetime(settings.jwt_max_lifetime_secs),
    );
    let metrics = Arc::new(Metrics::new(store.clone()));
    let (shutdown, _) = watch::channel(false);
    let mut tasks = Vec::new();
    let limiter = ratelimit::config(settings.admin_rate);

    let listener_limits = settings.listener.limits();
    let (http, http_addr) = bind(settings.http_listen).await?;
    let mut router = rest::router(
        AppState {
            service: service.clone(),
            jwt: jwt.clone(),
        },
        limiter.clone(),
    );
    let mut admin_addr = http_addr;
    match settings.admin_listen {
        // `/metrics` first; everything else to the REST router, its fallback and layers.
        None => router = admin::metrics(metrics.clone()).fallback_service(router),
        Some(at) => {
            let (listener, at) = bind(at).await?;
            admin_addr = at;
            let admin = admin::router(metrics.clone());
            let server = Server::new(
                listener,
                move |req: Request<RequestBody>| {
                    let admin = admin.clone();
                    async move { admin.oneshot(req).await.unwrap_or_else(|e| match e {}) }
                },
                mcpgw_runtime::serve::Limits::admin(),
            );
            tasks.push(tokio::spawn(server.run(shutdown.subscribe())));
        }
    }
    let rest = Server::new(
        http,
        move |req: Request<RequestBody>| {
            let router = router.clone();
            async move { router.oneshot(req).await.unwrap_or_else(|e| match e {}) }
        },
        listener_limits.clone(),
    )
    .with_refusal(rest::problem::connection_limit)
    .with_stats(metrics.rest_listener());
    tasks.push(tokio::spawn(rest.run(shutdown.subscribe())));

    let (grpc, grpc_addr) = bind(settings.grpc_listen).await?;
    let grpc_api = Grpc::new(
        service.clone(),
        jwt.clone(),
        settings.secrets.data_plane_token.clone(),
    );
    tasks.push(grpc_api.share_members(shutdown.subscribe()));
    let routes = grpc_api.routes();
    let governed = tower::util::option_layer(limiter.clone().map(GovernorLayer::new)).layer(routes);
    let mut grpc_server = Server::new(
        grpc,
        move |req: Request<RequestBody>| {
            let governed = governed.clone();
            async move { governed.oneshot(req).await.unwrap_or_else(|e| match e {}) }
        },
        listener_limits,
    )
    .with_stats(metrics.grpc_listener());
    if let Some(files) = &settings.grpc_tls {
        grpc_server = grpc_server.with_tls(tls::server_config(&files.cert, &files.key, &[b"h2"])?);
    }
    tasks.push(tokio::spawn(grpc_server.run(shutdown.subscribe())));

    // Storage housekeeping: the embedded store retries a recovery that could not finish at
    // once and takes its ballast back once the disk has room; PostgreSQL prunes its change log.
    tasks.push(housekeeping::every(
        Duration::from_secs(2),
        shutdown.subscribe(),
        move || {
            let store = store.clone();
            async move {
                if let Err(e) = store.housekeeping().await {
                    tracing::warn!(error = %e, "store housekeeping could not finish");
                }
            }
        },
    ));
    {
        // Forget tenants that stopped writing so the write-rate state stays bounded.
        let service = service.clone();
        tasks.push(housekeeping::every(
            Duration::from_secs(60),
            shutdown.subscribe(),
            move || {
                service.prune_write_rates();
                std::future::ready(())
            },
        ));
    }
    if let Some(cfg) = limiter {
        // Forget idle callers so the limiter's memory stays bounded.
        tasks.push(housekeeping::every(
            Duration::from_secs(60),
            shutdown.subscribe(),
            move || {
                cfg.limiter().retain_recent();
                std::future::ready(())
            },
        ));
    }

    tracing::info!(%http_addr, %grpc_addr, store = service.store().backend(), version = service.publisher().version(), "control plane listening");
    Ok(Running {
        http_addr,
        grpc_addr,
        admin_addr,
        service,
        jwt,
        shutdown,
        tasks,
    })
}

async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), StartError> {
    mcpgw_runtime::serve::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Issues a dev admin token for every tenant, valid for `hours`.
///
/// # Errors
/// Only if signing fails.
pub fn dev_admin_token(jwt: &JwtAuth, hours: u64) -> Result<Secret, jsonwebtoken::errors::Error> {
    let now = crate::jwt::now_secs();
    jwt.issue(&crate::jwt::Claims {
        sub: "dev-admin".into(),
        exp: now + hours * 3600,
        tenants: vec!["*".into()],
        iat: Some(now),
        nbf: None,
    })
}

//! Connections to PostgreSQL: settings (the URL is a secret: it may carry a password), TLS
//! through rustls, and the listening connection that wakes the change follower.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcpgw_shared::secret::Secret;
use tokio::sync::Notify;
use tokio_postgres::{AsyncMessage, Client, Config};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::super::StoreError;

/// How a control plane reaches its database.
#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    /// `postgres://user:password@host:port/db?sslmode=require` (never logged). With
    /// `sslmode=prefer` (the default) or `require` the connection uses TLS when the server
    /// offers it, verifying the server's certificate against the public roots and
    /// `ca_file`.
    pub url: Secret,
    /// A PEM file of extra CA certificates for the database's TLS certificate.
    pub ca_file: Option<PathBuf>,
    /// How often a replica polls the change log when no notification arrives (notifications
    /// wake it at once; polling covers a lost listening connection).
    pub poll_interval: Duration,
    /// The change log keeps at least this long of history (and at least
    /// `change_retention_versions` versions) for replicas that fall behind.
    pub change_retention: Duration,
    /// Versions the change log keeps at least.
    pub change_retention_versions: u64,
}

impl DatabaseSettings {
    /// Settings for `url` with every other field at its default.
    #[must_use]
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: Secret::new(url),
            ca_file: None,
            poll_interval: Duration::from_millis(1000),
            change_retention: Duration::from_secs(24 * 3600),
            change_retention_versions: 100_000,
        }
    }
}

/// Opens connections with the settings' URL and TLS.
#[derive(Clone)]
pub(super) struct Connector {
    config: Config,
    tls: MakeRustlsConnect,
}

impl Connector {
    pub(super) fn new(settings: &DatabaseSettings) -> Result<Self, StoreError> {
        // The parser's message could quote the URL: say only what is wrong.
        let mut config: Config = settings.url.expose().parse().map_err(|_| {
            StoreError::Database("the database URL is not a valid PostgreSQL connection URL".into())
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.application_name("mcpgw-control-plane");
        // A dead peer is noticed in under a minute, and no session can hold the cluster's
        // write lock forever: a write waits 30 s for it at most, and a transaction left idle
        // (a replica that hung mid-write) is ended by the server.
        config
            .keepalives(true)
            .keepalives_idle(Duration::from_secs(15))
            .tcp_user_timeout(Duration::from_secs(30));
        if config.get_options().is_none() {
            config.options("-c lock_timeout=30s -c idle_in_transaction_session_timeout=60s");
        }
        let tls = mcpgw_runtime::serve::tls::client_config(settings.ca_file.as_deref())
            .map_err(|e| StoreError::Database(format!("database TLS: {e}")))?;
        Ok(Self {
            config,
            tls: MakeRustlsConnect::new((*tls).clone()),
        })
    }

    /// A new connection, driven by a task of its own until the client is dropped.
    pub(super) async fn connect(&self) -> Result<Client, StoreError> {
        let (client, connection) = self.config.connect(self.tls.clone()).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %e, "database connection ended");
            }
        });
        Ok(client)
    }

    /// A connection listening on `channel`: `wake` is notified for every notification and
    /// when the connection ends (the follower then finds the client closed).
    pub(super) async fn listen(
        &self,
        channel: &str,
        wake: Arc<Notify>,
    ) -> Result<Client, StoreError> {
        let (client, mut connection) = self.config.connect(self.tls.clone()).await?;
        let notify = wake.clone();
        tokio::spawn(async move {
            loop {
                match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                    Some(Ok(AsyncMessage::Notification(_))) => notify.notify_one(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "database listening connection ended");
                        break;
                    }
                    None => break,
                }
            }
            notify.notify_one();
        });
        client.batch_execute(&format!("LISTEN {channel}")).await?;
        Ok(client)
    }
}

//! The `control-plane` flags (`docs/operations.md`), each also readable from its environment
//! variable. Defaults are the library's own ([`Settings::default`]), never restated here.
//! Secrets are not flags: see `mcpgw_control_plane::secrets`.

use std::net::SocketAddr;
use std::path::PathBuf;

use mcpgw_control_plane::api::ratelimit::AdminRate;
use mcpgw_control_plane::config::ListenerBounds;
use mcpgw_control_plane::secrets::Secrets;
use mcpgw_control_plane::server::{GrpcTls, Settings};
use mcpgw_control_plane::service::Quotas;
use mcpgw_control_plane::store::{DatabaseSettings, StoreSettings};

fn defaults() -> Settings {
    Settings::default()
}

/// Command-line configuration.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "control-plane", version, about = "MCP gateway control plane")]
pub struct Args {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Where the embedded (sled) store and the dev-default secrets live.
    #[arg(long, env = "MCPGW_DATA_DIR", default_value_os_t = defaults().data_dir)]
    pub data_dir: PathBuf,
    /// Keep the store in PostgreSQL instead of the data dir (any number of control planes may
    /// share it): `postgres://user:password@host:port/db?sslmode=require`.
    #[arg(long, env = "MCPGW_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// PEM file of extra CA certificates for the database's TLS certificate.
    #[arg(long, env = "MCPGW_DATABASE_CA")]
    pub database_ca: Option<PathBuf>,
    /// How often the change log is polled when no notification arrives, in milliseconds.
    #[arg(long, env = "MCPGW_DATABASE_POLL_MS", default_value_t = 1000, value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(10..=60_000))]
    pub database_poll_ms: u64,
    /// gRPC listener (admin services and the data-plane snapshot stream).
    #[arg(long, env = "MCPGW_GRPC_LISTEN", default_value_t = defaults().grpc_listen)]
    pub grpc_listen: SocketAddr,
    /// REST listener (the public admin API).
    #[arg(long, env = "MCPGW_HTTP_LISTEN", default_value_t = defaults().http_listen)]
    pub http_listen: SocketAddr,
    /// Serve `/metrics` on this address instead of the REST port (keep it off the public
    /// network).
    #[arg(long, env = "MCPGW_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// The data planes' public base URL, used to build `callUrl` and `testUrl`.
    #[arg(long, env = "MCPGW_PUBLIC_MCP_URL", default_value_t = defaults().public_mcp_url)]
    pub public_mcp_url: String,
    /// Admin requests per second allowed per caller IP, on REST and gRPC (0 = unlimited).
    #[arg(long, env = "MCPGW_ADMIN_RATE", default_value_t = defaults().admin_rate.per_second)]
    pub admin_rate: u32,
    /// Admin request burst per caller IP.
    #[arg(long, env = "MCPGW_ADMIN_BURST", default_value_t = defaults().admin_rate.burst)]
    pub admin_burst: u32,
    /// PEM certificate chain for TLS on the gRPC listener (with `--grpc-tls-key`). The
    /// snapshot stream carries decrypted upstream credentials: use TLS off-host.
    #[arg(long, env = "MCPGW_GRPC_TLS_CERT", requires = "grpc_tls_key")]
    pub grpc_tls_cert: Option<PathBuf>,
    /// PEM private key for TLS on the gRPC listener.
    #[arg(long, env = "MCPGW_GRPC_TLS_KEY", requires = "grpc_tls_cert")]
    pub grpc_tls_key: Option<PathBuf>,
    /// Connections served at once, per listener (REST and gRPC); past it `/healthz` still
    /// answers and everything else is refused (503, gRPC `UNAVAILABLE`).
    #[arg(long, env = "MCPGW_MAX_CONNECTIONS", default_value_t = defaults().listener.max_connections)]
    pub max_connections: usize,
    /// Time from accepting a connection to its first complete request head.
    #[arg(long, env = "MCPGW_HEADER_TIMEOUT_MS", default_value_t = defaults().listener.header_timeout_ms)]
    pub header_timeout_ms: u64,
    /// Time a keep-alive connection may stay idle between requests.
    #[arg(long, env = "MCPGW_IDLE_TIMEOUT_MS", default_value_t = defaults().listener.idle_timeout_ms)]
    pub idle_timeout_ms: u64,
    /// Time a request body may take to arrive.
    #[arg(long, env = "MCPGW_BODY_TIMEOUT_MS", default_value_t = defaults().listener.body_timeout_ms)]
    pub body_timeout_ms: u64,
    /// Integrations one tenant may have.
    #[arg(long, env = "MCPGW_QUOTA_INTEGRATIONS", default_value_t = defaults().quotas.integrations_per_tenant)]
    pub quota_integrations: u64,
    /// Tools one integration may have.
    #[arg(long, env = "MCPGW_QUOTA_TOOLS", default_value_t = defaults().quotas.tools_per_integration)]
    pub quota_tools: u64,
    /// Bytes one tenant may store (its records; audit excluded).
    #[arg(long, env = "MCPGW_QUOTA_BYTES", default_value_t = defaults().quotas.bytes_per_tenant)]
    pub quota_bytes: u64,
    /// Admin writes one tenant may make per second (0 = unlimited); past it, 429.
    #[arg(long, env = "MCPGW_TENANT_WRITE_RATE", default_value_t = defaults().quotas.writes_per_second)]
    pub tenant_write_rate: u32,
    /// Admin writes one tenant may make at once above its rate.
    #[arg(long, env = "MCPGW_TENANT_WRITE_BURST", default_value_t = defaults().quotas.write_burst)]
    pub tenant_write_burst: u32,
    /// Writes are refused (503) while the data dir's file system has less free space.
    #[arg(long, env = "MCPGW_MIN_FREE_DISK_BYTES", default_value_t = defaults().store.min_free_bytes)]
    pub min_free_disk_bytes: u64,
    /// Audit records kept per tenant (the oldest are pruned).
    #[arg(long, env = "MCPGW_AUDIT_RETENTION", default_value_t = defaults().store.audit_retention)]
    pub audit_retention: u64,
    /// Longest admin JWT lifetime accepted, in seconds (`exp - iat`, or `exp - now` without
    /// `iat`); 0 = no maximum.
    #[arg(long, env = "MCPGW_JWT_MAX_LIFETIME_SECS", default_value_t = defaults().jwt_max_lifetime_secs)]
    pub jwt_max_lifetime_secs: u64,
    /// This control plane's public URL: the OAuth issuer MCP clients are sent to.
    #[arg(long, env = "MCPGW_PUBLIC_URL", default_value_t = defaults().oauth.issuer)]
    pub public_url: String,
    /// Lifetime of OAuth access tokens, in seconds (60 to 3600).
    #[arg(long, env = "MCPGW_OAUTH_TOKEN_TTL_SECS", default_value_t = defaults().oauth.token_ttl_secs, value_parser = clap::builder::RangedU64ValueParser::<u64>::new().range(60..=3600))]
    pub oauth_token_ttl_secs: u64,
    /// Generation of the OAuth signing key (derived from the master key): raise it to rotate;
    /// data planes keep accepting the previous generation's tokens until they expire.
    #[arg(long, env = "MCPGW_OAUTH_KEY_GENERATION", default_value_t = defaults().oauth.key_generation, value_parser = clap::value_parser!(u32).range(1..))]
    pub oauth_key_generation: u32,
    /// A range OAuth client metadata documents may be fetched from besides public addresses
    /// (repeatable; private and metadata addresses are refused otherwise).
    #[arg(
        long = "oauth-client-metadata-allow-cidr",
        env = "MCPGW_OAUTH_CLIENT_METADATA_ALLOW_CIDRS",
        value_delimiter = ','
    )]
    pub oauth_client_metadata_allow: Vec<ipnet::IpNet>,
    /// PEM file of extra CAs for client metadata documents' TLS certificates.
    #[arg(long, env = "MCPGW_OAUTH_CLIENT_METADATA_CA")]
    pub oauth_client_metadata_ca: Option<PathBuf>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "MCPGW_LOG_FORMAT", default_value = "text")]
    pub log_format: mcpgw_runtime::logging::LogFormat,
    /// Log lines buffered for a slow log sink at most; past it lines are dropped (and
    /// counted), never waited for.
    #[arg(long, env = "MCPGW_LOG_QUEUE_LINES", default_value_t = mcpgw_runtime::logging::DEFAULT_QUEUE_LINES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_048_576))]
    pub log_queue_lines: usize,
}

/// Commands other than serving.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Copies the embedded store of `--data-dir` into the empty PostgreSQL database of
    /// `--database-url` (stop the control plane first), keeping versions, key hashes, sealed
    /// credentials, audit and quarantine.
    MigrateStore,
}

impl Args {
    /// The database settings the flags ask for, if any.
    #[must_use]
    pub fn database(&self) -> Option<DatabaseSettings> {
        self.database_url.as_ref().map(|url| DatabaseSettings {
            ca_file: self.database_ca.clone(),
            poll_interval: std::time::Duration::from_millis(self.database_poll_ms),
            ..DatabaseSettings::new(url.clone())
        })
    }

    /// The settings these flags ask for, with `secrets` loaded separately.
    #[must_use]
    pub fn into_settings(self, secrets: Secrets) -> Settings {
        Settings {
            database: self.database(),
            data_dir: self.data_dir,
            grpc_listen: self.grpc_listen,
            http_listen: self.http_listen,
            admin_listen: self.admin_listen,
            public_mcp_url: self.public_mcp_url,
            admin_rate: AdminRate {
                per_second: self.admin_rate,
                burst: self.admin_burst,
            },
            secrets,
            grpc_tls: self
                .grpc_tls_cert
                .zip(self.grpc_tls_key)
                .map(|(cert, key)| GrpcTls { cert, key }),
            listener: ListenerBounds {
                max_connections: self.max_connections,
                header_timeout_ms: self.header_timeout_ms,
                idle_timeout_ms: self.idle_timeout_ms,
                body_timeout_ms: self.body_timeout_ms,
            },
            store: StoreSettings {
                min_free_bytes: self.min_free_disk_bytes,
                audit_retention: self.audit_retention,
            },
            quotas: Quotas {
                integrations_per_tenant: self.quota_integrations,
                tools_per_integration: self.quota_tools,
                bytes_per_tenant: self.quota_bytes,
                writes_per_second: self.tenant_write_rate,
                write_burst: self.tenant_write_burst,
            },
            jwt_max_lifetime_secs: self.jwt_max_lifetime_secs,
            oauth: mcpgw_control_plane::service::oauth::OAuthConfig {
                issuer: self.public_url,
                token_ttl_secs: self.oauth_token_ttl_secs,
                key_generation: self.oauth_key_generation,
                client_metadata_allow: self.oauth_client_metadata_allow,
                client_metadata_ca: self.oauth_client_metadata_ca,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn no_flags_means_the_library_defaults() {
        let settings = Args::try_parse_from(["control-plane"])
            .expect("parse")
            .into_settings(Secrets::default());
        assert_eq!(
            format!("{settings:?}"),
            format!("{:?}", Settings::default())
        );
    }
}

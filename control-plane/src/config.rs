//! The control plane's flags (`docs/operations.md`), each also readable from its environment
//! variable. Secrets are not flags: see [`crate::secrets`].

use std::net::SocketAddr;
use std::path::PathBuf;

/// Command-line configuration.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "control-plane", version, about = "MCP gateway control plane")]
pub struct Args {
    /// Where the sled store and the dev-default secrets live.
    #[arg(long, env = "MCPGW_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,
    /// gRPC listener (admin services and the data-plane snapshot stream).
    #[arg(long, env = "MCPGW_GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    pub grpc_listen: SocketAddr,
    /// REST listener (the public admin API).
    #[arg(long, env = "MCPGW_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    pub http_listen: SocketAddr,
    /// The data planes' public base URL, used to build `callUrl` and `testUrl`.
    #[arg(
        long,
        env = "MCPGW_PUBLIC_MCP_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    pub public_mcp_url: String,
    /// Admin requests per second allowed per caller IP, on REST and gRPC (0 = unlimited).
    #[arg(long, env = "MCPGW_ADMIN_RATE", default_value_t = 50)]
    pub admin_rate: u32,
    /// Admin request burst per caller IP.
    #[arg(long, env = "MCPGW_ADMIN_BURST", default_value_t = 100)]
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
    #[arg(long, env = "MCPGW_MAX_CONNECTIONS", default_value_t = 1_000)]
    pub max_connections: usize,
    /// Time from accepting a connection to its first complete request head.
    #[arg(long, env = "MCPGW_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Time a keep-alive connection may stay idle between requests.
    #[arg(long, env = "MCPGW_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Time a request body may take to arrive.
    #[arg(long, env = "MCPGW_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_timeout_ms: u64,
    /// Integrations one tenant may have.
    #[arg(long, env = "MCPGW_QUOTA_INTEGRATIONS", default_value_t = 1_000)]
    pub quota_integrations: u64,
    /// Tools one integration may have.
    #[arg(long, env = "MCPGW_QUOTA_TOOLS", default_value_t = 1_000)]
    pub quota_tools: u64,
    /// Bytes one tenant may store (its records; audit excluded).
    #[arg(long, env = "MCPGW_QUOTA_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub quota_bytes: u64,
    /// Writes are refused (503) while the data dir's file system has less free space.
    #[arg(long, env = "MCPGW_MIN_FREE_DISK_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub min_free_disk_bytes: u64,
    /// Audit records kept per tenant (the oldest are pruned).
    #[arg(long, env = "MCPGW_AUDIT_RETENTION", default_value_t = 10_000)]
    pub audit_retention: u64,
    /// Longest admin JWT lifetime accepted, in seconds (`exp - iat`, or `exp - now` without
    /// `iat`); 0 = no maximum.
    #[arg(long, env = "MCPGW_JWT_MAX_LIFETIME_SECS", default_value_t = crate::jwt::DEFAULT_MAX_LIFETIME_SECS)]
    pub jwt_max_lifetime_secs: u64,
    /// Log format: `text` or `json`.
    #[arg(long, env = "MCPGW_LOG_FORMAT", default_value = "text")]
    pub log_format: mcpgw_runtime::logging::LogFormat,
}

impl Args {
    /// The per-tenant quotas.
    #[must_use]
    pub fn quotas(&self) -> crate::service::Quotas {
        crate::service::Quotas {
            integrations_per_tenant: self.quota_integrations,
            tools_per_integration: self.quota_tools,
            bytes_per_tenant: self.quota_bytes,
        }
    }

    /// The store's settings.
    #[must_use]
    pub fn store(&self) -> crate::store::StoreSettings {
        crate::store::StoreSettings {
            min_free_bytes: self.min_free_disk_bytes,
            audit_retention: self.audit_retention,
        }
    }

    /// The bounds of the REST and gRPC listeners.
    #[must_use]
    pub fn listener(&self) -> mcpgw_runtime::serve::Limits {
        listener_limits(
            self.max_connections,
            self.header_timeout_ms,
            self.idle_timeout_ms,
            self.body_timeout_ms,
        )
    }
}

/// The control plane's listener bounds: the shared defaults with these values, and gRPC-style
/// HTTP/2 pings (data planes hold one stream open for good).
#[must_use]
pub fn listener_limits(
    max_connections: usize,
    header_timeout_ms: u64,
    idle_timeout_ms: u64,
    body_timeout_ms: u64,
) -> mcpgw_runtime::serve::Limits {
    use std::time::Duration;
    mcpgw_runtime::serve::Limits {
        max_connections,
        header_timeout: Duration::from_millis(header_timeout_ms),
        idle_timeout: Duration::from_millis(idle_timeout_ms),
        body_timeout: Some(Duration::from_millis(body_timeout_ms)),
        h2_keepalive_interval: Duration::from_secs(10),
        h2_keepalive_timeout: Duration::from_secs(5),
        ..mcpgw_runtime::serve::Limits::default()
    }
}

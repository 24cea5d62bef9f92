//! The control plane's flags (DESIGN.md §7), each also readable from its environment
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
    /// Log format: `text` or `json`.
    #[arg(long, env = "MCPGW_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

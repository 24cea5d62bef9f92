//! The data plane's flags (`docs/operations.md`), each also readable from its environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line configuration.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "data-plane", version, about = "MCP gateway data plane")]
pub struct Args {
    /// The control plane's gRPC URL.
    #[arg(
        long = "control-plane",
        env = "MCPGW_CONTROL_PLANE_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub control_plane: String,
    /// Where MCP clients connect.
    #[arg(long, env = "MCPGW_LISTEN", default_value = "127.0.0.1:8081")]
    pub listen: SocketAddr,
    /// A file holding the data-plane token, read when `MCPGW_DATA_PLANE_TOKEN` is unset
    /// (e.g. the control plane's `dev-data-plane-token`).
    #[arg(long, env = "MCPGW_DATA_PLANE_TOKEN_FILE")]
    pub data_plane_token_file: Option<PathBuf>,
    /// PEM CA certificate(s) to trust when `--control-plane` is `https://` (public roots
    /// otherwise).
    #[arg(long, env = "MCPGW_CONTROL_PLANE_CA")]
    pub control_plane_ca: Option<PathBuf>,
    /// This replica's name in the control plane's logs.
    #[arg(long, env = "MCPGW_DATA_PLANE_ID", default_value = "data-plane")]
    pub data_plane_id: String,
    #[command(flatten)]
    pub limits: LimitDefaults,
    #[command(flatten)]
    pub http: HttpLimits,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// Extra browser origins allowed to call (besides the request's own host and, on a
    /// loopback listener, loopback origins). Comma-separated, e.g. `https://app.example.com`.
    #[arg(long, env = "MCPGW_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Tools per `tools/list` page.
    #[arg(long, env = "MCPGW_TOOLS_PAGE_SIZE", default_value_t = 100)]
    pub tools_page_size: usize,
    /// `ttlMs` announced on `server/discover` and `tools/list` (2026-07-28 clients).
    #[arg(long, env = "MCPGW_LIST_TTL_MS", default_value_t = 30_000)]
    pub list_ttl_ms: u64,
    /// Log format: `text` or `json`.
    #[arg(long, env = "MCPGW_LOG_FORMAT", default_value = "text")]
    pub log_format: mcpgw_runtime::logging::LogFormat,
}

/// Limits applied where an integration's `limits` leave a field unset.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LimitDefaults {
    /// Sustained requests per second per key.
    #[arg(
        long = "default-requests-per-second",
        env = "MCPGW_DEFAULT_RPS",
        default_value_t = 50.0
    )]
    pub requests_per_second: f64,
    /// Burst per key.
    #[arg(
        long = "default-burst",
        env = "MCPGW_DEFAULT_BURST",
        default_value_t = 100
    )]
    pub burst: u32,
    /// Tool calls in flight per integration.
    #[arg(
        long = "default-max-concurrent-calls",
        env = "MCPGW_DEFAULT_MAX_CONCURRENT",
        default_value_t = 64
    )]
    pub max_concurrent_calls: u32,
}

/// Bounds on what one client can make the server hold.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct HttpLimits {
    /// Largest request body (bytes); larger → 413.
    #[arg(long, env = "MCPGW_MAX_BODY_BYTES", default_value_t = 4 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Time from accepting a connection to its first complete request head.
    #[arg(long, env = "MCPGW_HEADER_TIMEOUT_MS", default_value_t = 10_000)]
    pub header_timeout_ms: u64,
    /// Time a whole MCP request may take: reading the body, running every message of a
    /// batch, and streaming a progress response to its end.
    #[arg(long, env = "MCPGW_REQUEST_TIMEOUT_MS", default_value_t = 120_000)]
    pub request_timeout_ms: u64,
    /// Time a keep-alive connection may stay idle between requests.
    #[arg(long, env = "MCPGW_IDLE_TIMEOUT_MS", default_value_t = 60_000)]
    pub idle_timeout_ms: u64,
    /// Client connections served at once; past it `/healthz` still answers and everything
    /// else gets 503.
    #[arg(long, env = "MCPGW_MAX_CONNECTIONS", default_value_t = 10_000)]
    pub max_connections: usize,
}

impl HttpLimits {
    /// The request timeout.
    #[must_use]
    pub fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.request_timeout_ms)
    }

    /// The listener bounds these limits ask for.
    #[must_use]
    pub fn listener(&self) -> mcpgw_runtime::serve::Limits {
        mcpgw_runtime::serve::Limits {
            max_connections: self.max_connections,
            header_timeout: Duration::from_millis(self.header_timeout_ms),
            idle_timeout: Duration::from_millis(self.idle_timeout_ms),
            ..mcpgw_runtime::serve::Limits::default()
        }
    }
}

/// Upstream client bounds.
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// Time to connect to an upstream (TCP + TLS).
    #[arg(
        long = "upstream-connect-timeout-ms",
        env = "MCPGW_UPSTREAM_CONNECT_TIMEOUT_MS",
        default_value_t = 5_000
    )]
    pub connect_timeout_ms: u64,
    /// Default total time of an upstream call (a tool's `timeoutMs` overrides it).
    #[arg(
        long = "upstream-timeout-ms",
        env = "MCPGW_UPSTREAM_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub timeout_ms: u64,
    /// Largest upstream response read.
    #[arg(long = "upstream-max-response-bytes", env = "MCPGW_UPSTREAM_MAX_RESPONSE_BYTES", default_value_t = 8 * 1024 * 1024)]
    pub max_response_bytes: usize,
    /// Upstream requests in flight per integration (further calls wait for a slot).
    #[arg(
        long = "upstream-max-connections",
        env = "MCPGW_UPSTREAM_MAX_CONNECTIONS",
        default_value_t = 32
    )]
    pub max_connections_per_integration: usize,
    /// An address range upstream calls may reach besides the public internet (repeatable;
    /// env: comma-separated), e.g. `10.0.0.0/8` for APIs on the operator's network. Private,
    /// loopback, link-local and other non-public addresses are refused otherwise; a cloud
    /// metadata address only opens with a CIDR naming exactly it (`169.254.169.254/32`).
    #[arg(
        long = "upstream-allow-cidr",
        env = "MCPGW_UPSTREAM_ALLOW_CIDRS",
        value_delimiter = ','
    )]
    pub allow_cidrs: Vec<ipnet::IpNet>,
    /// Extra CA certificates (PEM file) trusted for HTTPS upstreams besides the public roots.
    #[arg(long = "upstream-ca", env = "MCPGW_UPSTREAM_CA")]
    pub ca: Option<PathBuf>,
}

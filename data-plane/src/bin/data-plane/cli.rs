//! The `data-plane` flags (`docs/operations.md`), each also readable from its environment
//! variable. Defaults are the library's own ([`Settings::default`]), never restated here.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use mcpgw_data_plane::Settings;
use mcpgw_data_plane::backend::upstream::UpstreamSettings;
use mcpgw_data_plane::config::{HttpLimits, LimitDefaults};
use mcpgw_data_plane::mcp;
use mcpgw_shared::secret::Secret;
use mcpgw_shared::shard::Tenants;

fn defaults() -> Settings {
    Settings::default()
}

/// Command-line configuration.
#[derive(Debug, Clone, clap::Parser)]
#[command(name = "data-plane", version, about = "MCP gateway data plane")]
pub struct Args {
    /// The control plane's gRPC URL; several, comma-separated, for control-plane replicas on
    /// one store (the first preferred, the others tried in turn while it fails).
    #[arg(long = "control-plane", env = "MCPGW_CONTROL_PLANE_URL", default_value_t = defaults().control_plane)]
    pub control_plane: String,
    /// Where MCP clients connect.
    #[arg(long, env = "MCPGW_LISTEN", default_value_t = defaults().listen)]
    pub listen: SocketAddr,
    /// Serve `/readyz` and `/metrics` on this address instead of the MCP port (keep it off
    /// the public network).
    #[arg(long, env = "MCPGW_ADMIN_LISTEN")]
    pub admin_listen: Option<SocketAddr>,
    /// A file holding the data-plane token, read when `MCPGW_DATA_PLANE_TOKEN` is unset
    /// (e.g. the control plane's `dev-data-plane-token`).
    #[arg(long, env = "MCPGW_DATA_PLANE_TOKEN_FILE")]
    pub data_plane_token_file: Option<PathBuf>,
    /// PEM CA certificate(s) to trust when `--control-plane` is `https://` (public roots
    /// otherwise).
    #[arg(long, env = "MCPGW_CONTROL_PLANE_CA")]
    pub control_plane_ca: Option<PathBuf>,
    /// This replica's name in the control plane's logs.
    #[arg(long, env = "MCPGW_DATA_PLANE_ID", default_value_t = defaults().id)]
    pub data_plane_id: String,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub http: HttpArgs,
    #[command(flatten)]
    pub upstream: UpstreamArgs,
    /// Extra browser origins allowed to call (besides the request's own host and, on a
    /// loopback listener, loopback origins). Comma-separated, e.g. `https://app.example.com`.
    #[arg(long, env = "MCPGW_ALLOWED_ORIGINS", value_delimiter = ',')]
    pub allowed_origins: Vec<String>,
    /// Tools per `tools/list` page.
    #[arg(long, env = "MCPGW_TOOLS_PAGE_SIZE", default_value_t = defaults().protocol.page_size)]
    pub tools_page_size: usize,
    /// `ttlMs` announced on `server/discover` and `tools/list` (2026-07-28 clients).
    #[arg(long, env = "MCPGW_LIST_TTL_MS", default_value_t = defaults().protocol.list_ttl_ms)]
    pub list_ttl_ms: u64,
    /// Serve only these tenants (comma-separated): the control plane sends only theirs, and
    /// requests for any other get 404.
    #[arg(
        long,
        env = "MCPGW_TENANTS",
        value_delimiter = ',',
        conflicts_with = "shard"
    )]
    pub tenants: Vec<String>,
    /// Serve one shard of all tenants, `K/N`: those whose FNV-1a 64 hash modulo N is K
    /// (`docs/operations.md`, Sharding).
    #[arg(long, env = "MCPGW_SHARD")]
    pub shard: Option<Tenants>,
    /// Threads serving MCP connections, each with its own event loop (a connection stays on
    /// one); default: one per core.
    #[arg(long, env = "MCPGW_WORKERS", default_value_t = defaults().workers)]
    pub workers: usize,
    /// Log format: `text` or `json`.
    #[arg(long, env = "MCPGW_LOG_FORMAT", default_value = "text")]
    pub log_format: mcpgw_runtime::logging::LogFormat,
    /// Log lines buffered for a slow log sink at most; past it lines are dropped (and
    /// counted), never waited for.
    #[arg(long, env = "MCPGW_LOG_QUEUE_LINES", default_value_t = mcpgw_runtime::logging::DEFAULT_QUEUE_LINES, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=1_048_576))]
    pub log_queue_lines: usize,
}

/// Limits applied where an integration's `limits` leave a field unset.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct LimitArgs {
    /// Sustained requests per second per key.
    #[arg(long = "default-requests-per-second", env = "MCPGW_DEFAULT_RPS", default_value_t = defaults().limits.requests_per_second)]
    pub requests_per_second: f64,
    /// Burst per key.
    #[arg(long = "default-burst", env = "MCPGW_DEFAULT_BURST", default_value_t = defaults().limits.burst)]
    pub burst: u32,
    /// Tool calls in flight per integration (upstream requests included).
    #[arg(long = "default-max-concurrent-calls", env = "MCPGW_DEFAULT_MAX_CONCURRENT", default_value_t = defaults().limits.max_concurrent_calls)]
    pub max_concurrent_calls: u32,
    /// The most calls in flight any integration may have, whatever its own limits say.
    #[arg(long = "max-concurrent-calls-cap", env = "MCPGW_MAX_CONCURRENT_CALLS_CAP", default_value_t = defaults().limits.max_concurrent_calls_cap)]
    pub max_concurrent_calls_cap: u32,
}

/// Bounds on what one client can make the server hold.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct HttpArgs {
    /// Largest request body (bytes); larger → 413.
    #[arg(long, env = "MCPGW_MAX_BODY_BYTES", default_value_t = defaults().http.max_body_bytes)]
    pub max_body_bytes: usize,
    /// Time from accepting a connection to its first complete request head.
    #[arg(long, env = "MCPGW_HEADER_TIMEOUT_MS", default_value_t = defaults().http.header_timeout_ms)]
    pub header_timeout_ms: u64,
    /// Time a whole MCP request may take: reading the body, running every message of a
    /// batch, and streaming a progress response to its end.
    #[arg(long, env = "MCPGW_REQUEST_TIMEOUT_MS", default_value_t = defaults().http.request_timeout_ms)]
    pub request_timeout_ms: u64,
    /// Time a keep-alive connection may stay idle between requests.
    #[arg(long, env = "MCPGW_IDLE_TIMEOUT_MS", default_value_t = defaults().http.idle_timeout_ms)]
    pub idle_timeout_ms: u64,
    /// Client connections served at once; past it `/healthz` still answers and everything
    /// else gets 503.
    #[arg(long, env = "MCPGW_MAX_CONNECTIONS", default_value_t = defaults().http.max_connections)]
    pub max_connections: usize,
}

/// Upstream client bounds.
#[derive(Debug, Clone, clap::Args)]
pub struct UpstreamArgs {
    /// Time to connect to an upstream (TCP + TLS).
    #[arg(long = "upstream-connect-timeout-ms", env = "MCPGW_UPSTREAM_CONNECT_TIMEOUT_MS", default_value_t = millis(defaults().upstream.connect_timeout))]
    pub connect_timeout_ms: u64,
    /// Default total time of an upstream call (a tool's `timeoutMs` overrides it).
    #[arg(long = "upstream-timeout-ms", env = "MCPGW_UPSTREAM_TIMEOUT_MS", default_value_t = millis(defaults().upstream.total_timeout))]
    pub timeout_ms: u64,
    /// Largest upstream response read.
    #[arg(long = "upstream-max-response-bytes", env = "MCPGW_UPSTREAM_MAX_RESPONSE_BYTES", default_value_t = defaults().upstream.max_response_bytes)]
    pub max_response_bytes: usize,
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn read(path: &Path) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("reading {}", path.display()))
}

impl Args {
    /// The settings these flags ask for, with the token from `token_env` (the value of
    /// `MCPGW_DATA_PLANE_TOKEN`) or the token file.
    ///
    /// # Errors
    /// No token, or a file that cannot be read.
    pub fn into_settings(self, token_env: Option<String>) -> anyhow::Result<Settings> {
        let token = match token_env.filter(|t| !t.is_empty()) {
            Some(t) => Secret::new(t),
            None => {
                let path = self.data_plane_token_file.as_deref().context(
                    "set MCPGW_DATA_PLANE_TOKEN (or --data-plane-token-file) to the control plane's data-plane token",
                )?;
                let t = String::from_utf8(read(path)?)
                    .with_context(|| format!("{} is not UTF-8", path.display()))?;
                Secret::new(t.trim())
            }
        };
        Ok(Settings {
            listen: self.listen,
            admin_listen: self.admin_listen,
            control_plane: self.control_plane,
            token,
            control_plane_ca: self.control_plane_ca.as_deref().map(read).transpose()?,
            id: self.data_plane_id,
            limits: LimitDefaults {
                requests_per_second: self.limits.requests_per_second,
                burst: self.limits.burst,
                max_concurrent_calls: self.limits.max_concurrent_calls,
                max_concurrent_calls_cap: self.limits.max_concurrent_calls_cap,
            },
            http: HttpLimits {
                max_body_bytes: self.http.max_body_bytes,
                header_timeout_ms: self.http.header_timeout_ms,
                request_timeout_ms: self.http.request_timeout_ms,
                idle_timeout_ms: self.http.idle_timeout_ms,
                max_connections: self.http.max_connections,
            },
            protocol: mcp::Settings {
                page_size: self.tools_page_size,
                list_ttl_ms: self.list_ttl_ms,
            },
            upstream: UpstreamSettings {
                connect_timeout: Duration::from_millis(self.upstream.connect_timeout_ms),
                total_timeout: Duration::from_millis(self.upstream.timeout_ms),
                max_response_bytes: self.upstream.max_response_bytes,
                allow_cidrs: self.upstream.allow_cidrs,
                extra_ca_pem: self.upstream.ca.as_deref().map(read).transpose()?,
            },
            allowed_origins: self.allowed_origins,
            workers: self.workers,
            tenants: match (self.shard, self.tenants.is_empty()) {
                (Some(shard), _) => shard,
                (None, true) => Tenants::All,
                (None, false) => Tenants::from_request(self.tenants, 0, 0)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn a_shard_or_a_tenant_list_but_not_both() {
        let parse = |args: &[&str]| {
            Args::try_parse_from([&["data-plane"], args].concat())
                .map_err(|e| e.to_string())
                .and_then(|a| a.into_settings(Some("t".into())).map_err(|e| e.to_string()))
                .map(|s| s.tenants)
        };
        assert_eq!(
            parse(&["--shard", "1/4"]),
            Ok(Tenants::Shard { index: 1, count: 4 })
        );
        assert_eq!(
            parse(&["--tenants", "a,b"]),
            Ok(Tenants::Only(["a".to_owned(), "b".to_owned()].into()))
        );
        assert!(parse(&["--shard", "4/4"]).is_err());
        assert!(parse(&["--tenants", "a", "--shard", "0/2"]).is_err());
        assert!(parse(&["--tenants", "no spaces"]).is_err());
    }

    #[test]
    fn no_flags_means_the_library_defaults() {
        let args = Args::try_parse_from(["data-plane"]).expect("parse");
        let settings = args.into_settings(Some("t".into())).expect("settings");
        let expected = Settings {
            token: Secret::new("t"),
            ..Settings::default()
        };
        assert_eq!(format!("{settings:?}"), format!("{expected:?}"));
    }
}

//! `data-plane`: parses flags, starts, and stops on SIGTERM or Ctrl-C.

use std::time::Duration;

use std::io::Write;

use anyhow::Context;
use clap::Parser;
use mcpgw_data_plane::backend::upstream::UpstreamSettings;
use mcpgw_data_plane::config::Args;
use mcpgw_data_plane::{Settings, mcp, start};
use mcpgw_shared::secret::Secret;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _logs = mcpgw_runtime::logging::init(args.log_format, "info");
    let token = match std::env::var("MCPGW_DATA_PLANE_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        Some(t) => Secret::new(t),
        None => {
            let path = args
                .data_plane_token_file
                .clone()
                .context("set MCPGW_DATA_PLANE_TOKEN (or --data-plane-token-file) to the control plane's data-plane token")?;
            let t = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            Secret::new(t.trim())
        }
    };
    let running = start(Settings {
        listen: args.listen,
        control_plane: args.control_plane.clone(),
        token,
        control_plane_ca: match &args.control_plane_ca {
            Some(path) => {
                Some(std::fs::read(path).with_context(|| format!("reading {}", path.display()))?)
            }
            None => None,
        },
        id: args.data_plane_id.clone(),
        limits: args.limits,
        http: args.http,
        protocol: mcp::Settings {
            page_size: args.tools_page_size,
            list_ttl_ms: args.list_ttl_ms,
        },
        upstream: UpstreamSettings {
            connect_timeout: Duration::from_millis(args.upstream.connect_timeout_ms),
            total_timeout: Duration::from_millis(args.upstream.timeout_ms),
            max_response_bytes: args.upstream.max_response_bytes,
            max_connections_per_integration: args.upstream.max_connections_per_integration,
            allow_cidrs: args.upstream.allow_cidrs.clone(),
            extra_ca_pem: match &args.upstream.ca {
                Some(path) => Some(
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
                ),
                None => None,
            },
        },
        allowed_origins: args.allowed_origins.clone(),
    })
    .await?;
    // Never println!: it panics when stdout is gone.
    let _ = writeln!(
        std::io::stdout(),
        "data plane ready on http://{}",
        running.addr
    );
    mcpgw_runtime::signal::shutdown().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

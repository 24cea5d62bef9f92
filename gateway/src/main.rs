//! `mcpgw`: the whole gateway on one machine — control plane (sled under `./data`, REST and
//! gRPC), and one data plane subscribed to it over the real gRPC snapshot stream — plus a
//! demo integration, and everything a person needs to connect an MCP client, printed.

mod demo;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use mcpgw_control_plane::secrets::Secrets;
use mcpgw_control_plane::server::{self as control_plane, dev_admin_token};
use mcpgw_data_plane::backend::upstream::UpstreamSettings;
use mcpgw_runtime::logging::LogFormat;

/// Command-line configuration.
#[derive(Debug, Parser)]
#[command(name = "mcpgw", version, about = "Run the whole MCP gateway locally")]
struct Args {
    /// Where the control plane keeps its sled store and dev secrets.
    #[arg(long, env = "MCPGW_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// Control-plane REST listener.
    #[arg(long, env = "MCPGW_HTTP_LISTEN", default_value = "127.0.0.1:8080")]
    http_listen: SocketAddr,
    /// Control-plane gRPC listener (admin API and the snapshot stream).
    #[arg(long, env = "MCPGW_GRPC_LISTEN", default_value = "127.0.0.1:50051")]
    grpc_listen: SocketAddr,
    /// Data-plane (MCP) listener.
    #[arg(long, env = "MCPGW_LISTEN", default_value = "127.0.0.1:8081")]
    mcp_listen: SocketAddr,
    /// Do not create the demo integration.
    #[arg(long)]
    no_demo: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // Before anything is announced: a signal sent right after the banner must stop us
    // gracefully.
    let shutdown = mcpgw_runtime::signal::Shutdown::install();
    let _logs = mcpgw_runtime::logging::init(
        LogFormat::Text,
        "warn,mcpgw=info",
        mcpgw_runtime::logging::DEFAULT_QUEUE_LINES,
    );

    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating {}", args.data_dir.display()))?;
    let secrets = Secrets::load(&args.data_dir, |k| std::env::var(k).ok())?;
    let token = secrets.data_plane_token.clone();
    // callUrl/testUrl need the data plane's address before the control plane starts.
    let mcp_addr = resolve_port(args.mcp_listen)?;
    let cp = control_plane::start(control_plane::Settings {
        data_dir: args.data_dir.clone(),
        grpc_listen: args.grpc_listen,
        http_listen: args.http_listen,
        public_mcp_url: format!("http://{mcp_addr}"),
        secrets,
        ..control_plane::Settings::default()
    })
    .await?;
    let dp = mcpgw_data_plane::start(mcpgw_data_plane::Settings {
        listen: mcp_addr,
        control_plane: format!("http://{}", cp.grpc_addr),
        token,
        id: "local".into(),
        upstream: UpstreamSettings {
            // Local upstreams keep working on a developer's machine; nothing else private opens.
            allow_cidrs: vec![
                "127.0.0.0/8".parse().expect("loopback v4"),
                "::1/128".parse().expect("loopback v6"),
            ],
            ..UpstreamSettings::default()
        },
        ..mcpgw_data_plane::Settings::default()
    })
    .await?;

    let demo = if args.no_demo {
        None
    } else {
        Some(demo::ensure(&cp.service, &args.data_dir).await?)
    };
    // Wait until the data plane serves what the control plane has, so the printed URLs work.
    let target = cp.service.publisher().version();
    for _ in 0..500 {
        if dp.store.version() >= target && dp.store.load().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    let admin = dev_admin_token(&cp.jwt, 12)?;
    let mut banner = format!(
        "\nmcpgw is running (data in {dir})\n  REST API      http://{rest}/v1/tenants/{{tenant}}/...\n  gRPC          http://{grpc}\n  MCP           http://{mcp}\n  admin JWT     {jwt}\n                (signed with the secret in MCPGW_JWT_SECRET or {dir}/dev-jwt-secret; valid 12 h, all tenants)\n",
        dir = args.data_dir.display(),
        rest = cp.http_addr,
        grpc = cp.grpc_addr,
        mcp = dp.addr,
        jwt = admin.expose(),
    );
    if let Some(d) = &demo {
        banner.push_str(&d.banner());
    }
    banner.push_str("\nCtrl-C stops everything.\n");
    // Never println!: it panics when stdout is gone.
    let _ = std::io::Write::write_all(&mut std::io::stdout(), banner.as_bytes());

    shutdown.wait().await;
    tracing::info!("shutting down");
    dp.shutdown().await;
    cp.shutdown().await;
    Ok(())
}

/// A listen address with port 0 replaced by a free port, so URLs can be printed up front.
fn resolve_port(addr: SocketAddr) -> anyhow::Result<SocketAddr> {
    if addr.port() != 0 {
        return Ok(addr);
    }
    let probe = std::net::TcpListener::bind(addr).context("finding a free port")?;
    Ok(probe.local_addr()?)
}

//! `control-plane`: parses flags, loads secrets, starts, and stops on SIGTERM or Ctrl-C.

use clap::Parser;
use mcpgw_control_plane::api::ratelimit::AdminRate;
use mcpgw_control_plane::config::Args;
use mcpgw_control_plane::secrets::{Secrets, Source};
use mcpgw_control_plane::server::{self, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    init_tracing(&args.log_format);
    std::fs::create_dir_all(&args.data_dir)?;
    let secrets = Secrets::load(&args.data_dir, |k| std::env::var(k).ok())?;
    for (name, source) in &secrets.sources {
        match source {
            Source::Env(var) => tracing::info!(secret = name, "from environment variable {var}"),
            Source::File(path) => tracing::warn!(
                secret = name,
                path = %path.display(),
                "not set in the environment; using the dev default kept in this file (mode 0600)"
            ),
        }
    }
    let dev_jwt = secrets
        .sources
        .iter()
        .any(|(name, source)| *name == "MCPGW_JWT_SECRET" && matches!(source, Source::File(_)));
    let running = server::start(Settings {
        data_dir: args.data_dir.clone(),
        grpc_listen: args.grpc_listen,
        http_listen: args.http_listen,
        public_mcp_url: args.public_mcp_url.clone(),
        admin_rate: AdminRate {
            per_second: args.admin_rate,
            burst: args.admin_burst,
        },
        secrets,
        grpc_tls: args
            .grpc_tls_cert
            .clone()
            .zip(args.grpc_tls_key.clone())
            .map(|(cert, key)| server::GrpcTls { cert, key }),
    })
    .await?;
    println!("control plane ready");
    println!("  REST API:   http://{}", running.http_addr);
    println!("  gRPC:       http://{}", running.grpc_addr);
    println!("  data dir:   {}", args.data_dir.display());
    if dev_jwt {
        // Printed to the terminal, never to the log: only a dev-default secret gets here.
        let token = server::dev_admin_token(&running.jwt, 12)?;
        println!("  admin JWT (dev secret, all tenants, 12 h):");
        println!("    {}", token.expose());
    }
    shutdown_signal().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    tokio::select! {
        _ = ctrl_c => {}
        () = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
    }
}

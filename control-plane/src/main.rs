//! `control-plane`: parses flags, loads secrets, starts, and stops on SIGTERM or Ctrl-C.

use std::io::Write;

use clap::Parser;
use mcpgw_control_plane::api::ratelimit::AdminRate;
use mcpgw_control_plane::config::Args;
use mcpgw_control_plane::secrets::{Secrets, Source};
use mcpgw_control_plane::server::{self, Settings};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let _logs = mcpgw_runtime::logging::init(args.log_format, "info");
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
        listener: args.listener(),
        store: args.store(),
        quotas: args.quotas(),
        jwt_max_lifetime_secs: args.jwt_max_lifetime_secs,
    })
    .await?;
    // Never println!: it panics when stdout is gone, and nothing here is worth dying for.
    let mut banner = format!(
        "control plane ready\n  REST API:   http://{}\n  gRPC:       http://{}\n  data dir:   {}\n",
        running.http_addr,
        running.grpc_addr,
        args.data_dir.display()
    );
    if dev_jwt {
        // Printed to the terminal, never to the log: only a dev-default secret gets here.
        let token = server::dev_admin_token(&running.jwt, 12)?;
        banner.push_str(&format!(
            "  admin JWT (dev secret, all tenants, 12 h):\n    {}\n",
            token.expose()
        ));
    }
    let _ = std::io::stdout().write_all(banner.as_bytes());
    mcpgw_runtime::signal::shutdown().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

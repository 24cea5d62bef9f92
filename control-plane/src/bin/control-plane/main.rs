//! `control-plane`: parses flags, loads secrets, starts, and stops on SIGTERM or Ctrl-C.

use std::io::Write;

mod cli;

use clap::Parser;
use mcpgw_control_plane::secrets::{Secrets, Source};
use mcpgw_control_plane::server;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = cli::Args::parse();
    // Before anything is announced: a signal sent right after the banner must stop us
    // gracefully.
    let shutdown = mcpgw_runtime::signal::Shutdown::install();
    let _logs = mcpgw_runtime::logging::init(args.log_format, "info", args.log_queue_lines);
    if let Some(cli::Command::MigrateStore) = &args.command {
        return migrate_store(&args).await;
    }
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
    let data_dir = args.data_dir.clone();
    let backend = if args.database_url.is_some() {
        "PostgreSQL".to_owned()
    } else {
        data_dir.display().to_string()
    };
    let running = server::start(args.into_settings(secrets)).await?;
    // Never println!: it panics when stdout is gone, and nothing here is worth dying for.
    let mut banner = format!(
        "control plane ready\n  REST API:   http://{}\n  gRPC:       http://{}\n  store:      {}\n",
        running.http_addr, running.grpc_addr, backend
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
    shutdown.wait().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

/// `control-plane migrate-store`: the embedded store of `--data-dir` into `--database-url`.
async fn migrate_store(args: &cli::Args) -> anyhow::Result<()> {
    let Some(database) = args.database() else {
        anyhow::bail!("migrate-store needs --database-url (or MCPGW_DATABASE_URL)");
    };
    let store = mcpgw_control_plane::store::embedded::Embedded::open(
        &args.data_dir,
        mcpgw_control_plane::store::StoreSettings::default(),
    )?;
    let imported = mcpgw_control_plane::store::postgres::import(&database, store.export()?).await?;
    let _ = std::io::stdout().write_all(
        format!(
            "migrated {} records, {} audit records and {} quarantined records at version {} \
             from {} to PostgreSQL\n",
            imported.records,
            imported.audit,
            imported.quarantined,
            imported.version,
            args.data_dir.display()
        )
        .as_bytes(),
    );
    Ok(())
}

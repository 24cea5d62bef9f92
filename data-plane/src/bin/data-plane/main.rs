//! `data-plane`: parses flags, starts, and stops on SIGTERM or Ctrl-C.

mod cli;

use std::io::Write;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = cli::Args::parse();
    let _logs = mcpgw_runtime::logging::init(args.log_format, "info");
    let settings = args.into_settings(std::env::var("MCPGW_DATA_PLANE_TOKEN").ok())?;
    let running = mcpgw_data_plane::start(settings).await?;
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

//! `data-plane`: parses flags, starts, and stops on SIGTERM or Ctrl-C.

mod cli;

use std::io::Write;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = cli::Args::parse();
    // Before anything is announced: a signal sent right after the banner must stop us
    // gracefully.
    let shutdown = mcpgw_runtime::signal::Shutdown::install();
    let _logs = mcpgw_runtime::logging::init(args.log_format, "info", args.log_queue_lines);
    let settings = args.into_settings(std::env::var("MCPGW_DATA_PLANE_TOKEN").ok())?;
    let running = mcpgw_data_plane::start(settings).await?;
    // Never println!: it panics when stdout is gone.
    let _ = writeln!(
        std::io::stdout(),
        "data plane ready on http://{}",
        running.addr
    );
    shutdown.wait().await;
    tracing::info!("shutting down");
    running.shutdown().await;
    Ok(())
}

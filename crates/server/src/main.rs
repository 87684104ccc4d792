//! `mentorcast-server --config server.toml`: the reference backend.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;

#[derive(Parser)]
#[command(
    name = "mentorcast-server",
    version,
    about = "Mentorcast reference backend: channels, ingest hooks, recordings, live viewer counts"
)]
struct Args {
    /// The server's config file (scripts/stack.sh writes .stack/server/server.toml).
    #[arg(long, env = "MENTORCAST_SERVER_CONFIG")]
    config: PathBuf,
    /// Log lines as JSON objects (else key=value text).
    #[arg(long)]
    json_logs: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_env("MENTORCAST_LOG")
        .unwrap_or_else(|_| "info,sqlx=warn,aws_config=warn".into());
    let fmt = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false);
    if args.json_logs {
        fmt.json().init();
    } else {
        fmt.init();
    }
    let config = mentorcast_server::ServerConfig::load(&args.config)?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    rt.block_on(async move {
        let listen = config.listen;
        let state = mentorcast_server::state(config).await?;
        let listener = mentorcast_server::listen(listen)?;
        tracing::info!(%listen, "mentorcast-server listening");
        let shutdown = async {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            tracing::info!("shutting down");
        };
        mentorcast_server::serve(state, listener, shutdown).await?;
        Ok(())
    })
}

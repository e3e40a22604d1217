//! `vigie-connector serve`: starts the async runtime and the listeners, prints where they
//! listen, and stops cleanly on SIGTERM or Ctrl-C.

use std::process::ExitCode;

use anyhow::Context as _;
use vigie_connector::serve::Server;

use super::Context;

/// Runs the connector until it is told to stop.
pub fn run(ctx: Context) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vigie-connector")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let Context {
            config,
            directory,
            audit,
            ..
        } = ctx;
        let server = Server::bind(&config, directory, audit).await?;
        println!(
            "vigie-connector: listening on {} (TLS over TCP and QUIC over UDP)",
            server.local_addr()
        );
        tracing::info!(address = %server.local_addr(), "listening");
        server.run(stop_signal()).await;
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// SIGTERM (systemd stop) or SIGINT (Ctrl-C).
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

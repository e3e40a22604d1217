//! `vigie-connector serve`: starts the async runtime and the listeners, prints where they
//! listen, reloads the configuration on SIGHUP, and stops cleanly on SIGTERM or Ctrl-C.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use tokio::sync::mpsc;
use vigie_connector::serve::reload::status::PidFile;
use vigie_connector::serve::{Reloads, Server};

use super::{Context, LogControl};

/// Runs the connector until it is told to stop.
pub fn run(ctx: Context, config_path: &Path, logs: LogControl) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("vigie-connector")
        .build()
        .context("cannot start the async runtime")?;
    let config_path = config_path.to_owned();
    runtime.block_on(async move {
        let Context {
            config,
            directory,
            audit,
            ..
        } = ctx;
        let log_level = match logs.from_command_line {
            true => None,
            false => {
                (logs.set)(config.log.level);
                Some(logs.set)
            }
        };
        // Caught before the PID file exists: `reload` never finds a connector that SIGHUP
        // would kill.
        let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .context("cannot catch SIGHUP")?;
        let server = Server::bind(&config, directory, audit).await?;
        // Written before the listening line, so whoever waits for that line can reload.
        let pid = PidFile::create(&config.state.dir).map_err(|error| {
            tracing::warn!(
                %error,
                "cannot write the PID file; `vigie-connector reload` cannot find this connector"
            );
        });
        let admin = server
            .admin_addr()
            .map(|a| format!("; admin endpoint on http://{a} (/metrics, /health)"))
            .unwrap_or_default();
        // One line, the first: scripts and tests read the addresses from it.
        println!(
            "vigie-connector: listening on {} (TLS over TCP and QUIC over UDP){admin}",
            server.local_addr()
        );
        tracing::info!(address = %server.local_addr(), "listening");
        let (ask, requests) = mpsc::channel(1);
        tokio::spawn(hangups(hangup, ask));
        let reloads = Reloads {
            path: config_path,
            requests,
            log_level,
        };
        server.run(stop_signal(), Some(reloads)).await;
        drop(pid);
        tracing::info!("stopped");
        Ok(ExitCode::SUCCESS)
    })
}

/// One reload request per SIGHUP; one asked while another waits is the same reload.
async fn hangups(mut hangup: tokio::signal::unix::Signal, ask: mpsc::Sender<()>) {
    while hangup.recv().await.is_some() {
        tracing::info!("SIGHUP: reading the configuration file again");
        let _ = ask.try_send(());
    }
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

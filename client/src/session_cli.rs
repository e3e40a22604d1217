//! `vigie up`, `vigie status` and `vigie down`: the session commands of the binary.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::Args;
use vigie_client::control::{self, StateDir, UpConfig, display, exit};
use vigie_client::pin_entry::{self, PinSource};
use vigie_client::tunnel::{self, DnsMode, TunnelConfig};

/// Where a running session keeps its status file and control socket.
#[derive(Debug, Args)]
pub struct StateArgs {
    /// The session's state folder (status file, control socket). Default:
    /// $XDG_RUNTIME_DIR/vigie, else /run/vigie.
    #[arg(long, env = "VIGIE_STATE_DIR", value_name = "DIR")]
    state_dir: Option<PathBuf>,
}

impl StateArgs {
    fn dir(&self) -> StateDir {
        StateDir::new(
            self.state_dir
                .clone()
                .unwrap_or_else(control::default_state_dir),
        )
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
vigie up runs in the foreground: keep the terminal open while you work; Ctrl-C or `vigie \
down` from another terminal ends the session. A background mode will come later. It needs \
root (or CAP_NET_ADMIN) for the tunnel: a network device and routes for your applications \
only, removed when the session ends; the rest of this computer's traffic is untouched.

Exit codes: 0 the session ran and you ended it; 1 local configuration; 3 card, reader or \
PIN; 4 network or the connector's identity; 5 the connector refused the card's certificate; \
6 the connector refused the session (directory, policy); 7 the session was ended by the \
connector or stopped.

For unattended tests only: VIGIE_PIN or VIGIE_PIN_FILE answer the PIN question without a \
person. Never set them on a clinician's computer.")]
pub struct UpArgs {
    /// The hospital's connector, HOST or HOST:PORT (port 443 by default).
    #[arg(long, env = "VIGIE_CONNECTOR", value_name = "HOST:PORT")]
    connector: String,
    /// The CA certificate (PEM) that signed the connector's certificate, from IT.
    #[arg(long, env = "VIGIE_SERVER_CA", value_name = "FILE")]
    server_ca: PathBuf,
    /// The name in the connector's certificate, when it differs from HOST.
    #[arg(long, env = "VIGIE_SERVER_NAME", value_name = "NAME")]
    server_name: Option<String>,
    /// Use this reader; default: the first reader holding a card.
    #[arg(long, env = "VIGIE_READER", value_name = "NAME")]
    reader: Option<String>,
    /// Ask for the PIN with this pinentry program instead of the terminal.
    #[arg(long, env = "VIGIE_PINENTRY", value_name = "PROGRAM")]
    pinentry: Option<PathBuf>,
    /// Read the PIN from this file. Unattended tests only.
    #[arg(
        long,
        env = "VIGIE_PIN_FILE",
        value_name = "PATH",
        hide_env_values = true
    )]
    pin_file: Option<PathBuf>,
    /// Seconds to wait for an answer over UDP (QUIC) before using TCP (CPS4 cards).
    #[arg(
        long,
        env = "VIGIE_UDP_WAIT",
        value_name = "SECONDS",
        default_value_t = 3
    )]
    udp_wait: u64,
    /// Always use TLS over TCP, never QUIC.
    #[arg(long, env = "VIGIE_TCP_ONLY")]
    tcp_only: bool,
    /// The name of the tunnel's network device.
    #[arg(long, env = "VIGIE_DEVICE", value_name = "NAME", default_value = tunnel::DEFAULT_DEVICE)]
    device: String,
    /// How the applications' names resolve: auto (systemd-resolved's split DNS where it
    /// runs, else lines in /etc/hosts), resolved, hosts, or off (use their addresses).
    #[arg(long, env = "VIGIE_DNS", value_name = "MODE", default_value = "auto")]
    dns: DnsMode,
    /// Check the card and the admission only: no tunnel, nothing changed on this computer.
    #[arg(long, env = "VIGIE_NO_TUNNEL")]
    no_tunnel: bool,
    #[command(flatten)]
    state: StateArgs,
}

impl UpArgs {
    fn pin_source(&self) -> PinSource {
        if let Some(program) = &self.pinentry {
            PinSource::Pinentry(program.clone())
        } else if let Some(path) = &self.pin_file {
            PinSource::File(path.clone())
        } else if std::env::var_os(pin_entry::PIN_ENV).is_some() {
            PinSource::Env
        } else {
            PinSource::Terminal
        }
    }

    fn config(&self) -> UpConfig {
        UpConfig {
            connector: self.connector.clone(),
            server_name: self.server_name.clone(),
            server_ca: self.server_ca.clone(),
            reader: self.reader.clone(),
            pin_source: self.pin_source(),
            state_dir: self.state.dir().path().to_owned(),
            udp_wait: Duration::from_secs(self.udp_wait.max(1)),
            tcp_only: self.tcp_only,
            tunnel: (!self.no_tunnel).then(|| TunnelConfig {
                device: self.device.clone(),
                dns: self.dns.clone(),
            }),
        }
    }
}

/// `vigie up`: its own exit codes, so it reports its errors itself.
pub fn up(args: &UpArgs) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("vigie: cannot start: {e}");
            return ExitCode::from(exit::LOCAL);
        }
    };
    let config = args.config();
    match runtime.block_on(control::up(&config, Box::new(std::io::stdout()))) {
        Ok(()) => ExitCode::from(exit::OK),
        Err(error) => {
            eprintln!("vigie: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}

/// `vigie status`: the session of the running `vigie up`, or that there is none.
pub fn status(args: &StateArgs) -> Result<()> {
    let state = args.dir();
    let Some(status) = state.read()? else {
        println!("No session: run vigie up to connect.");
        return Ok(());
    };
    if state.ping().is_err() {
        println!(
            "No session: the last vigie up (process {}) stopped without cleaning up.",
            status.pid
        );
        return Ok(());
    }
    print!("{}", display::session_text(&status));
    Ok(())
}

/// `vigie down`: asks the running `vigie up` to end its session, and waits for it.
pub fn down(args: &StateArgs) -> Result<()> {
    let state = args.dir();
    if let Err(error) = state.down() {
        if error.kind() == std::io::ErrorKind::NotFound
            || error.kind() == std::io::ErrorKind::ConnectionRefused
        {
            println!("No session to end.");
            return Ok(());
        }
        return Err(error).with_context(|| {
            format!(
                "cannot reach the running vigie up in {}",
                state.path().display()
            )
        });
    }
    if !state.wait_gone(Duration::from_secs(15)) {
        bail!(
            "the session was asked to end but vigie up is still running; press Ctrl-C in its terminal"
        );
    }
    println!("Session ended.");
    Ok(())
}

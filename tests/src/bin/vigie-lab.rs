//! `vigie-lab`: the lab's tools for a person at a terminal.
//!
//! `vigie-lab card --identity DIR/cards/cps4-doctor` runs the virtual card and inserts it into
//! a running pcscd's vpcd reader (the machine's own, on 127.0.0.1:35963 by default) until
//! Ctrl-C, so the client can be tried by hand without a physical card. `vigie-lab demo` shows
//! Vigie's main job end to end with the real programs (see `vigie_lab::demo`). `vigie-lab
//! clean` deletes what killed lab runs left behind.
#![forbid(unsafe_code)]

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use vigie_lab::card::{CardIdentity, Secret, VirtualCard};
use vigie_lab::demo::{self, Binaries, DemoConfig, DemoError};

#[derive(Parser)]
#[command(
    name = "vigie-lab",
    about = "Vigie's lab tools: the virtual CPS card and friends"
)]
struct Cli {
    #[command(subcommand)]
    command: Commands,
}

#[derive(Subcommand)]
enum Commands {
    /// Runs a virtual CPS3/CPS4 card in a vpcd reader until Ctrl-C.
    Card {
        /// The card identity folder written by `vigie-pki init` (DIR/cards/<name>).
        #[arg(long, env = "VIGIE_LAB_IDENTITY")]
        identity: PathBuf,
        /// Overrides the PIN of card.toml (4 to 8 digits).
        #[arg(long, env = "VIGIE_LAB_PIN", hide_env_values = true)]
        pin: Option<String>,
        /// vpcd's address for the reader slot (slot 0 is port 35963, slot 1 is 35964).
        #[arg(long, env = "VIGIE_LAB_VPCD", default_value = "127.0.0.1:35963")]
        vpcd: String,
    },
    /// Shows Vigie at work, as root: a test PKI, the connector with a hospital directory, the
    /// emulated CPS4 card in a real pcscd, and `vigie up`; stays up until Ctrl-C, then cleans
    /// up.
    Demo {
        /// Where the PKI, the connector's files and the logs go (replaced at the next run).
        #[arg(long, env = "VIGIE_LAB_DIR", default_value = "lab-out")]
        dir: PathBuf,
        /// The folder of vigie, vigie-connector and vigie-pki (default: vigie-lab's own).
        #[arg(long, env = "VIGIE_LAB_BIN_DIR")]
        bin_dir: Option<PathBuf>,
        /// Run the steps, end the session and clean up, without waiting (for tests).
        #[arg(long, env = "VIGIE_LAB_ONCE")]
        once: bool,
    },
    /// Deletes namespaces, processes and folders left by lab runs that were killed.
    Clean,
    /// One end of Vigie's tunnel for the benchmark harness (see tests/bench/README.md),
    /// configured from its BENCH_* variables; runs until SIGTERM.
    #[command(subcommand)]
    Bench(BenchEnd),
}

#[derive(Subcommand)]
#[expect(
    clippy::enum_variant_names,
    reason = "the harness's adapters call them tunnel-client, tunnel-connector, tunnel-bare"
)]
enum BenchEnd {
    /// The client's tunnel (namespace A).
    TunnelClient,
    /// The connector's data plane (namespace B).
    TunnelConnector,
    /// A tunnel end without the connector's filter and NAT, the baseline (namespace B).
    TunnelBare,
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    match Cli::parse().command {
        Commands::Card {
            identity,
            pin,
            vpcd,
        } => run_card(&identity, pin, &vpcd),
        Commands::Demo { dir, bin_dir, once } => run_demo(dir, bin_dir.as_deref(), once),
        Commands::Bench(end) => {
            let env = vigie_lab::bench::BenchEnv::from_env()?;
            match end {
                BenchEnd::TunnelClient => vigie_lab::bench::run_client(&env),
                BenchEnd::TunnelConnector => vigie_lab::bench::run_connector(&env),
                BenchEnd::TunnelBare => vigie_lab::bench::bare::run_bare(&env),
            }
        }
        Commands::Clean => {
            let deleted = vigie_lab::clean_stale().context("cleaning needs root and `ip`")?;
            eprintln!(
                "deleted {} stale namespace(s): {}",
                deleted.len(),
                deleted.join(" ")
            );
            Ok(())
        }
    }
}

fn run_demo(dir: PathBuf, bin_dir: Option<&std::path::Path>, once: bool) -> anyhow::Result<()> {
    if vigie_lab::require_root("network namespaces and pcscd").is_err() {
        bail!("run the demo as root (sudo ./scripts/lab.sh)");
    }
    let binaries = match bin_dir {
        Some(dir) => Binaries::in_dir(dir),
        None => Binaries::next_to_this_program()?,
    };
    let config = DemoConfig {
        dir,
        binaries,
        once,
    };
    match demo::run(&config) {
        Err(DemoError::Interrupted) => {
            eprintln!("vigie-lab: demo stopped before its end; what it started is cleaned up");
            Ok(())
        }
        other => other.context("the demo stopped"),
    }
}

fn run_card(dir: &std::path::Path, pin: Option<String>, vpcd: &str) -> anyhow::Result<()> {
    let mut identity = CardIdentity::load(dir).context("cannot load the card identity")?;
    if let Some(pin) = pin {
        if !(4..=8).contains(&pin.len()) || !pin.bytes().all(|b| b.is_ascii_digit()) {
            bail!("--pin must be 4 to 8 digits");
        }
        identity.pin = Secret::new(pin);
    }
    let addr = resolve(vpcd)?;
    let card = VirtualCard::from_identity(&identity);
    eprintln!(
        "{:?} card of {} ({}) waiting for vpcd at {addr}; Ctrl-C pulls it out",
        card.generation(),
        identity.holder,
        identity.id_nat
    );
    loop {
        let inserted = card
            .insert_with_timeout(addr, Duration::from_secs(3600))
            .context("is pcscd running with the vpcd reader? (pcscd --foreground)")?;
        eprintln!("card inserted");
        while inserted.is_connected() {
            std::thread::sleep(Duration::from_millis(200));
        }
        eprintln!("vpcd closed the connection; inserting again");
    }
}

fn resolve(vpcd: &str) -> anyhow::Result<SocketAddr> {
    vpcd.to_socket_addrs()
        .with_context(|| format!("--vpcd {vpcd}: expected HOST:PORT, e.g. 127.0.0.1:35963"))?
        .next()
        .with_context(|| format!("--vpcd {vpcd}: the name has no address"))
}

//! `vigie`: the client of Vigie, hospital remote access with the CPS card.
//!
//! It answers the help desk's first questions: which reader, which card, whose card, and does
//! the PIN work (`vigie card`, `vigie card --test-pin`); and it brings the session up with the
//! card (`vigie up`, `vigie status`, `vigie down`).
#![forbid(unsafe_code)]

mod session_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::{Args, Parser, Subcommand};
use vigie_client::card::Card;
use vigie_client::pcsc_transport::{self, PcscTransport};
use vigie_client::pin_entry::{self, PinPrompt, PinSource};
use vigie_client::{CardError, PinState, apdu, identity};

/// Vigie: reach your hospital's applications from outside, with your CPS card.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Show what vigie does step by step (for IT support). Also VIGIE_LOG=debug.
    #[arg(long, short, global = true, env = "VIGIE_VERBOSE")]
    verbose: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Show the card reader, the card (CPS3 or CPS4) and whose card it is.
    ///
    /// The first thing to run when a card "does not work": it tells whether the reader sees a
    /// card, whether it is a CPS card, who it belongs to, and how many PIN tries are left.
    Card(CardArgs),
    /// List the card readers this computer sees, and which hold a card.
    Readers,
    /// Connect to the hospital with the card and show the applications you can reach.
    Up(session_cli::UpArgs),
    /// Show the running session and its applications.
    Status(session_cli::StateArgs),
    /// End the running session (asks the `vigie up` of another terminal to end it).
    Down(session_cli::StateArgs),
}

#[derive(Debug, Args)]
#[command(after_help = "\
For unattended tests only: VIGIE_PIN (the PIN itself) or VIGIE_PIN_FILE (a file holding \
it) answer the PIN question without a person. Never set them on a clinician's computer: \
anyone who can read the environment or the file can use the card.")]
struct CardArgs {
    /// Also check the PIN on the card. A wrong PIN uses one of the card's 3 tries.
    #[arg(long, env = "VIGIE_TEST_PIN")]
    test_pin: bool,
    /// Use this reader (as listed by `vigie readers`); default: the first reader holding a
    /// card.
    #[arg(long, env = "VIGIE_READER", value_name = "NAME")]
    reader: Option<String>,
    /// Ask for the PIN with this pinentry program (e.g. pinentry-gnome3) instead of the
    /// terminal.
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
}

impl CardArgs {
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);
    forbid_core_dumps();
    let result = match &cli.command {
        Command::Card(args) => card(args),
        Command::Readers => list_readers(),
        Command::Up(args) => return session_cli::up(args),
        Command::Status(args) => session_cli::status(args),
        Command::Down(args) => session_cli::down(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigie: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The PIN passes through this process's memory: keep it out of core dumps and out of reach
/// of `ptrace` by other users' tools. Failing to do so is worth a warning, not a refusal.
fn forbid_core_dumps() {
    use nix::sys::resource::{Resource, setrlimit};
    if let Err(e) = setrlimit(Resource::RLIMIT_CORE, 0, 0) {
        tracing::warn!(error = %e, "cannot disable core dumps");
    }
    if let Err(e) = nix::sys::prctl::set_dumpable(false) {
        tracing::warn!(error = %e, "cannot mark the process non-dumpable");
    }
}

fn init_logging(verbose: bool) {
    let default = if verbose {
        "vigie_client=debug"
    } else {
        "warn"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("VIGIE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn card(args: &CardArgs) -> Result<()> {
    let ctx = pcsc_transport::establish()?;
    let transport = PcscTransport::connect_any(&ctx, args.reader.as_deref())?;
    let mut card = Card::open(transport)?;
    println!("Reader:       {}", card.reader());
    println!(
        "Card:         {} (ATR {})",
        card.generation(),
        apdu::hex(card.atr())
    );
    match card.card_number() {
        Ok(number) => println!("Card number:  {number}"),
        Err(e) => println!("Card number:  unreadable ({e})"),
    }
    let der = card
        .read_auth_certificate()
        .context("reading the card's certificate")?;
    print_holder(&identity::holder(&der)?);
    let state = card.pin_state()?;
    print_pin_state(state);
    if args.test_pin {
        test_pin(&mut card, args, state)?;
    }
    Ok(())
}

fn list_readers() -> Result<()> {
    let ctx = pcsc_transport::establish()?;
    let readers = pcsc_transport::readers(&ctx)?;
    if readers.is_empty() {
        return Err(CardError::NoReader.into());
    }
    for reader in readers {
        let card = if reader.card_present {
            "card inserted"
        } else {
            "empty"
        };
        println!("{}\t{card}", reader.name);
    }
    Ok(())
}

fn print_holder(holder: &identity::Holder) {
    let or_unknown =
        |v: &Option<String>| v.clone().unwrap_or_else(|| "(not in certificate)".into());
    let name = [&holder.given_name, &holder.surname]
        .iter()
        .filter_map(|p| p.as_deref())
        .collect::<Vec<_>>()
        .join(" ");
    println!(
        "Holder:       {}",
        if name.is_empty() {
            "(not in certificate)"
        } else {
            &name
        }
    );
    println!("idNat:        {}", or_unknown(&holder.id_nat));
    if let Some(register) = &holder.register {
        println!("Register:     {register}");
    }
    if let Some(upn) = &holder.upn {
        println!("UPN:          {upn}");
    }
    if let Some(reason) = &holder.not_cps_shaped {
        println!("Warning:      not shaped like a CPS certificate ({reason})");
    }
    println!("Profession:   {}", or_unknown(&holder.profession));
    println!("Issuer:       {}", or_unknown(&holder.issuer));
    println!("Valid until:  {}", holder.not_after);
}

fn print_pin_state(state: PinState) {
    match state {
        PinState::Verified => println!("PIN:          verified"),
        PinState::TriesLeft(n) => println!("PIN:          {n} of 3 tries left"),
        PinState::Blocked => {
            println!("PIN:          BLOCKED - unblock it with your PUK at the hospital's card desk")
        }
        _ => println!("PIN:          unknown state"),
    }
}

fn test_pin(card: &mut Card<PcscTransport>, args: &CardArgs, state: PinState) -> Result<()> {
    if state == PinState::Blocked {
        return Err(CardError::PinBlocked.into());
    }
    let description = format!(
        "Enter the PIN of the {} card in {}.",
        card.generation(),
        card.reader()
    );
    let prompt = PinPrompt {
        description,
        error: None,
    };
    let pin = pin_entry::read_pin(&args.pin_source(), &prompt)?;
    card.verify_pin(&pin)?;
    println!("PIN test:     correct");
    Ok(())
}

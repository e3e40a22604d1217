//! `vigie-connector`: the connector's command-line tool for hospital IT admins.
//!
//! The only place that reads the clock and the environment: it takes the time once, then
//! hands it to the library with everything else.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser as _;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(args.log_level())
        .with_target(false)
        .init();
    match cli::run(args, chrono::Utc::now()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("vigie-connector: {error:#}");
            ExitCode::FAILURE
        }
    }
}

//! `vigie-connector`: the connector's command-line tool for hospital IT admins.
//!
//! The only place that reads the clock and the environment: it takes the time once, then
//! hands it to the library with everything else.
#![forbid(unsafe_code)]

mod cli;

use std::process::ExitCode;

use clap::Parser as _;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let (filter, handle) =
        tracing_subscriber::reload::Layer::new(LevelFilter::from_level(args.log_level()));
    let output = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false);
    tracing_subscriber::registry()
        .with(filter)
        .with(output)
        .init();
    let logs = cli::LogControl {
        set: Box::new(move |level| {
            let _ = handle.modify(|filter| *filter = LevelFilter::from_level(level.tracing()));
        }),
        from_command_line: args.verbose_given(),
    };
    match cli::run(args, chrono::Utc::now(), logs) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("vigie-connector: {error:#}");
            ExitCode::FAILURE
        }
    }
}

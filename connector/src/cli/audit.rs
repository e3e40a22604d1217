//! `vigie-connector audit …`

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use vigie_connector::audit::verify;
use vigie_connector::config::ConnectorConfig;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check that no audit record was edited, deleted, reordered or cut off.
    ///
    /// Reads every day file in order and follows the hash chain; reports the first broken link
    /// with its file and line. Exit status 0 when the chain holds, 4 when it is broken.
    Verify {
        /// The audit directory (default: [audit] dir of the configuration file).
        #[arg(long, env = "VIGIE_AUDIT_DIR")]
        dir: Option<PathBuf>,
    },
}

pub fn run(command: &AuditCommand, config: &Path) -> anyhow::Result<ExitCode> {
    let AuditCommand::Verify { dir } = command;
    let dir = match dir {
        Some(dir) => dir.clone(),
        None => ConnectorConfig::load(config)?.audit.dir,
    };
    let report = verify(&dir)?;
    match report.first_break {
        None => {
            println!(
                "audit log {}: {} records in {} files, chain intact",
                dir.display(),
                report.records,
                report.files
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(found) => {
            println!(
                "audit log {}: BROKEN at {} line {}: {}",
                dir.display(),
                found.file.display(),
                found.line,
                found.kind
            );
            println!(
                "Keep the directory as it is for investigation; records before that line are \
                 intact."
            );
            Ok(ExitCode::from(4))
        }
    }
}

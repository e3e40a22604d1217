//! `vigie-connector check-config` and `vigie-connector doctor`: the checks of
//! [`vigie_connector::ops`], one line each, and an exit status for scripts.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use vigie_connector::ops::{self, Finding, Level};

/// Checks the file and what it names; 0 when `serve` would start with it, 1 otherwise.
pub fn check_config(path: &Path) -> ExitCode {
    let checked = ops::check::check_config(path);
    let failures = count(&checked.findings, Level::Fail);
    match failures {
        0 => println!("{}: valid; `serve` would start with it", path.display()),
        n => println!(
            "{}: {n} problem{}; `serve` would not start with it",
            path.display(),
            plural(n)
        ),
    }
    print(&checked.findings);
    match failures {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// Every check of a live deployment; 0 when all are fine, 1 with warnings, 2 with failures.
pub fn doctor(path: &Path, now: DateTime<Utc>) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let now = now.timestamp().max(0).unsigned_abs();
    let findings = runtime.block_on(ops::doctor::doctor(path, now));
    print(&findings);
    let (warned, failed) = (count(&findings, Level::Warn), count(&findings, Level::Fail));
    println!(
        "{} checks: {} ok, {warned} warn, {failed} FAIL",
        findings.len(),
        findings.len() - warned - failed
    );
    Ok(ExitCode::from(match ops::worst(&findings) {
        Level::Ok => 0,
        Level::Warn => 1,
        Level::Fail => 2,
    }))
}

fn print(findings: &[Finding]) {
    for finding in findings {
        println!("{finding}");
    }
}

fn count(findings: &[Finding], level: Level) -> usize {
    findings.iter().filter(|f| f.level == level).count()
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

//! Running a command to completion with an error that quotes it and its standard error; and
//! the `cargo` a test or benchmark runs to build the other packages' programs.

use std::process::{Command, Output};

use crate::error::{LabError, Result};

/// The command line as a person would type it, for error messages.
pub fn describe(command: &Command) -> String {
    let mut line = command.get_program().to_string_lossy().into_owned();
    for arg in command.get_args() {
        line.push(' ');
        line.push_str(&arg.to_string_lossy());
    }
    line
}

/// Runs `command` to completion; a non-zero exit is an error carrying its standard error.
pub fn run(command: &mut Command) -> Result<Output> {
    let output = command.output().map_err(|source| LabError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        source,
    })?;
    if output.status.success() {
        return Ok(output);
    }
    Err(LabError::Command {
        command: describe(command),
        status: output.status.to_string(),
        stderr: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
    })
}

/// Runs `program args…` to completion and returns its standard output as text.
pub fn run_args(program: &str, args: &[&str]) -> Result<String> {
    let output = run(Command::new(program).args(args))?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `cargo` for a build started from inside a test or benchmark: the cargo that runs it
/// (`CARGO`, else the one on the `PATH`), without the variables cargo sets for the program it
/// runs (`CARGO_PKG_*`, `CARGO_MANIFEST_DIR`, `CARGO_CRATE_NAME`…).
///
/// Build scripts (ring's among them) ask to be rerun when such a variable changes, and cargo
/// compares them with its own environment: a nested build that inherited the test's values
/// would rebuild those crates and everything above them, and the next build from a shell
/// would rebuild them all again.
pub fn nested_cargo() -> Command {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_for_a_run) {
            command.env_remove(name);
        }
    }
    command
}

/// Whether cargo sets variable `name` for the test, benchmark or program it runs.
fn set_by_cargo_for_a_run(name: &str) -> bool {
    const PREFIXES: &[&str] = &["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_EXE_"];
    const NAMES: &[&str] = &[
        "CARGO_CRATE_NAME",
        "CARGO_BIN_NAME",
        "CARGO_PRIMARY_PACKAGE",
        "CARGO_TARGET_TMPDIR",
        "OUT_DIR",
    ];
    PREFIXES.iter().any(|prefix| name.starts_with(prefix)) || NAMES.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_quotes_the_command_and_its_stderr() {
        let err = run(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("sh -c"), "{text}");
        assert!(text.contains("oops"), "{text}");
    }

    #[test]
    fn missing_program_is_a_spawn_error() {
        let err = run_args("/nonexistent/vigie-tool", &[]).unwrap_err();
        assert!(matches!(err, LabError::Spawn { .. }), "{err}");
    }

    #[test]
    fn success_returns_stdout() {
        assert_eq!(run_args("echo", &["hello"]).unwrap(), "hello\n");
    }

    #[test]
    fn a_nested_cargo_leaves_out_what_cargo_set_for_this_test_and_keeps_the_rest() {
        for removed in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "OUT_DIR",
            "CARGO_BIN_EXE_x",
        ] {
            assert!(set_by_cargo_for_a_run(removed), "{removed}");
        }
        for kept in [
            "CARGO_HOME",
            "CARGO_TARGET_DIR",
            "CARGO",
            "PATH",
            "CARGO_BUILD_JOBS",
        ] {
            assert!(!set_by_cargo_for_a_run(kept), "{kept}");
        }
        // `cargo test` sets CARGO_MANIFEST_DIR for this very test.
        let command = nested_cargo();
        let removed: Vec<_> = command.get_envs().filter(|(_, v)| v.is_none()).collect();
        if std::env::var_os("CARGO_MANIFEST_DIR").is_some() {
            assert!(
                removed
                    .iter()
                    .any(|(name, _)| *name == "CARGO_MANIFEST_DIR"),
                "{removed:?}"
            );
        }
        assert!(removed.iter().all(|(name, _)| *name != "PATH"));
    }
}

//! Running a command to completion with an error that quotes it and its standard error.

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
}

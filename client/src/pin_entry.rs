//! Where the PIN comes from: the terminal, a pinentry program, or (unattended tests only) the
//! environment or a file.
//!
//! Every buffer that holds typed digits is zeroizing. The pinentry dialogue speaks the Assuan
//! protocol on the program's standard input and output (`SETDESC`, `SETPROMPT`, `GETPIN`).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use zeroize::Zeroizing;

use crate::pin::{Pin, PinError};

/// Environment variable holding the PIN, for unattended tests only.
pub const PIN_ENV: &str = "VIGIE_PIN";
/// Environment variable naming a file that holds the PIN, for unattended tests only.
pub const PIN_FILE_ENV: &str = "VIGIE_PIN_FILE";

/// Where to ask for the PIN.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinSource {
    /// The controlling terminal, without echo.
    Terminal,
    /// A pinentry program (e.g. `pinentry-gnome3`, `pinentry-curses`).
    Pinentry(PathBuf),
    /// The `VIGIE_PIN` variable. Unattended tests only: the environment is not a safe place.
    Env,
    /// A file holding the PIN. Unattended tests only.
    File(PathBuf),
}

/// What to tell the user when asking.
#[derive(Debug, Clone, Default)]
pub struct PinPrompt {
    /// A sentence about what the PIN is for (e.g. the card holder and the reader).
    pub description: String,
    /// Why we ask again (a previous wrong PIN), if we do.
    pub error: Option<String>,
}

/// Why no PIN could be obtained.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PinEntryError {
    /// The typed PIN has the wrong shape.
    #[error(transparent)]
    Invalid(#[from] PinError),
    /// The user cancelled the dialogue.
    #[error("PIN entry was cancelled; nothing was sent to the card")]
    Cancelled,
    /// The terminal could not be used.
    #[error(
        "cannot read the PIN from the terminal ({0}); run vigie from a terminal or use --pinentry"
    )]
    Terminal(std::io::Error),
    /// The pinentry program failed.
    #[error(
        "the PIN dialogue program {program} failed ({reason}); check --pinentry or use the terminal"
    )]
    Pinentry {
        /// The program that was run.
        program: String,
        /// What went wrong.
        reason: String,
    },
    /// `VIGIE_PIN` is unset.
    #[error("{PIN_ENV} is not set; it is for unattended tests only, normally leave it out")]
    EnvMissing,
    /// The PIN file could not be read.
    #[error("cannot read the PIN file {path} ({source}); check {PIN_FILE_ENV}")]
    File {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Asks `source` for the PIN and validates it.
pub fn read_pin(source: &PinSource, prompt: &PinPrompt) -> Result<Pin, PinEntryError> {
    let typed = match source {
        PinSource::Terminal => from_terminal(prompt)?,
        PinSource::Pinentry(program) => from_pinentry(program, prompt)?,
        PinSource::Env => {
            Zeroizing::new(std::env::var(PIN_ENV).map_err(|_| PinEntryError::EnvMissing)?)
        }
        PinSource::File(path) => from_file(path)?,
    };
    Ok(Pin::new(&typed)?)
}

fn from_terminal(prompt: &PinPrompt) -> Result<Zeroizing<String>, PinEntryError> {
    if let Some(error) = &prompt.error {
        eprintln!("{error}");
    }
    if !prompt.description.is_empty() {
        eprintln!("{}", prompt.description);
    }
    let typed =
        rpassword::prompt_password("PIN of your CPS card: ").map_err(PinEntryError::Terminal)?;
    Ok(Zeroizing::new(typed))
}

fn from_file(path: &Path) -> Result<Zeroizing<String>, PinEntryError> {
    let text = std::fs::read_to_string(path).map_err(|source| PinEntryError::File {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Zeroizing::new(text))
}

fn from_pinentry(program: &Path, prompt: &PinPrompt) -> Result<Zeroizing<String>, PinEntryError> {
    let fail = |reason: String| PinEntryError::Pinentry {
        program: program.display().to_string(),
        reason,
    };
    let mut child = Command::new(program)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot start it: {e}")))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(fail("no pipes to the program".into()));
    };
    let result = assuan_getpin(&mut BufReader::new(stdout), stdin, prompt);
    let _ = child.wait();
    result.map_err(|e| match e {
        AssuanError::Cancelled => PinEntryError::Cancelled,
        AssuanError::Failed(reason) => fail(reason),
    })
}

enum AssuanError {
    Cancelled,
    Failed(String),
}

/// Runs the Assuan dialogue: greeting, settings, `GETPIN`, `BYE`.
fn assuan_getpin(
    reader: &mut impl BufRead,
    mut writer: impl Write,
    prompt: &PinPrompt,
) -> Result<Zeroizing<String>, AssuanError> {
    expect_ok(reader, &mut Zeroizing::new(String::new()))?;
    let mut settings = vec![
        "SETTITLE Vigie".to_string(),
        format!("SETDESC {}", escape(&prompt.description)),
        "SETPROMPT PIN:".to_string(),
    ];
    if let Some(error) = &prompt.error {
        settings.push(format!("SETERROR {}", escape(error)));
    }
    for line in settings {
        send(&mut writer, &line)?;
        expect_ok(reader, &mut Zeroizing::new(String::new()))?;
    }
    send(&mut writer, "GETPIN")?;
    let mut data = Zeroizing::new(String::new());
    expect_ok(reader, &mut data)?;
    let _ = send(&mut writer, "BYE");
    Ok(data)
}

fn send(writer: &mut impl Write, line: &str) -> Result<(), AssuanError> {
    writeln!(writer, "{line}")
        .and_then(|()| writer.flush())
        .map_err(|e| AssuanError::Failed(format!("cannot write to it: {e}")))
}

/// Reads lines up to `OK`, decoding any `D` lines into `data`.
fn expect_ok(reader: &mut impl BufRead, data: &mut Zeroizing<String>) -> Result<(), AssuanError> {
    loop {
        let mut line = Zeroizing::new(String::new());
        match reader.read_line(&mut line) {
            Ok(0) => return Err(AssuanError::Failed("it closed the dialogue".into())),
            Ok(_) => {}
            Err(e) => return Err(AssuanError::Failed(format!("cannot read from it: {e}"))),
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line == "OK" || line.starts_with("OK ") {
            return Ok(());
        }
        if let Some(payload) = line.strip_prefix("D ") {
            unescape_into(payload, data);
        } else if line.starts_with("ERR") {
            return Err(assuan_err(line));
        }
        // Status ("S …") and comment ("# …") lines carry nothing we need.
    }
}

fn assuan_err(line: &str) -> AssuanError {
    // GPG_ERR_CANCELED (99) and GPG_ERR_NOT_CONFIRMED (114), with any error source bits.
    let code = line
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse::<u32>().ok())
        .unwrap_or(0);
    match code & 0xFFFF {
        99 | 114 => AssuanError::Cancelled,
        _ => AssuanError::Failed(format!("it answered {line}")),
    }
}

fn escape(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn unescape_into(payload: &str, out: &mut String) {
    let bytes = payload.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let decoded = match (bytes[i], bytes.get(i + 1..i + 3)) {
            (b'%', Some(hex)) => std::str::from_utf8(hex)
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
            _ => None,
        };
        match decoded {
            Some(b) => {
                out.push(char::from(b));
                i += 3;
            }
            None => {
                out.push(char::from(bytes[i]));
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use super::*;

    fn dialogue(script: &str) -> (Result<Zeroizing<String>, AssuanError>, String) {
        let mut reader = Cursor::new(script.as_bytes().to_vec());
        let mut written = Vec::new();
        let prompt = PinPrompt {
            description: "Card of J. Testeur\n50%".into(),
            error: None,
        };
        let result = assuan_getpin(&mut reader, &mut written, &prompt);
        (result, String::from_utf8(written).expect("utf8"))
    }

    #[test]
    fn reads_an_escaped_pin_and_escapes_the_description() {
        let (result, sent) = dialogue("OK hi\nOK\nOK\nOK\nS PASSWORD_FROM_CACHE\nD 12%334\nOK\n");
        let pin = result.ok().expect("pin");
        assert_eq!(pin.as_str(), "1234");
        assert!(
            sent.contains("SETDESC Card of J. Testeur%0A50%25\n"),
            "{sent}"
        );
        assert!(sent.contains("GETPIN\nBYE\n"), "{sent}");
    }

    #[test]
    fn cancel_is_told_apart_from_failure() {
        let (cancel, _) = dialogue("OK\nOK\nOK\nOK\nERR 83886179 Operation cancelled <Pinentry>\n");
        assert!(matches!(cancel, Err(AssuanError::Cancelled)));
        let (broken, _) = dialogue("OK\nERR 1 nope\n");
        assert!(matches!(broken, Err(AssuanError::Failed(_))));
        let (closed, _) = dialogue("OK\n");
        assert!(matches!(closed, Err(AssuanError::Failed(_))));
    }

    #[test]
    fn runs_a_real_pinentry_program() {
        let dir = std::env::temp_dir().join(format!("vigie-pinentry-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let program = dir.join("pinentry-fake");
        let script = "#!/bin/sh\necho 'OK ready'\nwhile read -r cmd rest; do\n  case \"$cmd\" in\n    \
                      GETPIN) echo 'D 4%3721'; echo OK;;\n    BYE) echo OK; exit 0;;\n    *) echo OK;;\n  \
                      esac\ndone\n";
        std::fs::write(&program, script).expect("write");
        Command::new("chmod")
            .arg("+x")
            .arg(&program)
            .status()
            .expect("chmod");
        let pin = read_pin(&PinSource::Pinentry(program), &PinPrompt::default()).expect("pin");
        assert_eq!(pin.ascii(), b"4721");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn pin_file_is_validated() {
        let path = std::env::temp_dir().join(format!("vigie-pin-{}", std::process::id()));
        std::fs::write(&path, "12345\n").expect("write");
        let err = read_pin(&PinSource::File(path.clone()), &PinPrompt::default()).expect_err("bad");
        assert!(matches!(err, PinEntryError::Invalid(PinError::WrongLength)));
        let _ = std::fs::remove_file(path);
    }
}

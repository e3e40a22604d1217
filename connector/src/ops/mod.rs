//! Checks of a deployment for the hospital's IT team: `vigie-connector check-config`
//! ([`check`]: everything `serve` would read, without starting it) and `vigie-connector
//! doctor` ([`doctor`]: what a live deployment depends on — certificates about to expire,
//! CRLs in force and their servers, the clock, the data plane's prerequisites, the running
//! connector's health).
//!
//! Each check gives one [`Finding`]: `ok`, `warn` (works, but act soon) or `FAIL` (does not
//! work, or will not start), with what to do. Nothing here changes the deployment, except
//! that opening an existing directory brings its schema up to date, as any command does.

mod certs;
pub mod check;
mod crls;
pub mod doctor;
mod system;

use std::fmt;

/// How a check went.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Fine.
    Ok,
    /// Works now, but needs attention (an expiry near, a setting left to the defaults).
    Warn,
    /// Does not work, or `serve` would not start.
    Fail,
}

/// The outcome of one check, as one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// How it went.
    pub level: Level,
    /// What was checked, what was found and, unless it is fine, what to do.
    pub text: String,
}

impl Finding {
    /// A check that passed.
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            level: Level::Ok,
            text: text.into(),
        }
    }

    /// A check that needs attention.
    pub fn warn(text: impl Into<String>) -> Self {
        Self {
            level: Level::Warn,
            text: text.into(),
        }
    }

    /// A check that failed.
    pub fn fail(text: impl Into<String>) -> Self {
        Self {
            level: Level::Fail,
            text: text.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mark = match self.level {
            Level::Ok => "ok  ",
            Level::Warn => "warn",
            Level::Fail => "FAIL",
        };
        write!(f, "{mark}  {}", self.text)
    }
}

/// The worst level among `findings` (`Ok` for none).
pub fn worst(findings: &[Finding]) -> Level {
    findings.iter().map(|f| f.level).max().unwrap_or(Level::Ok)
}

/// "in 3 days", "3 days ago", "in 5 h": how far `seconds` (signed, from now) is.
pub fn from_now(seconds: i64) -> String {
    let magnitude = seconds.unsigned_abs();
    let amount = match magnitude {
        0..120 => format!("{magnitude} s"),
        120..7_200 => format!("{} min", magnitude / 60),
        7_200..172_800 => format!("{} h", magnitude / 3_600),
        _ => format!("{} days", magnitude / 86_400),
    };
    if seconds < 0 {
        format!("{amount} ago")
    } else {
        format!("in {amount}")
    }
}

/// A Unix time as a UTC date and time.
pub fn date(unix: u64) -> String {
    let seconds = i64::try_from(unix).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp(seconds, 0).map_or_else(
        || unix.to_string(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_print_as_one_line_each_and_the_worst_decides() {
        let findings = [Finding::ok("a"), Finding::warn("b"), Finding::fail("c")];
        let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["ok    a", "warn  b", "FAIL  c"]);
        assert_eq!(worst(&findings), Level::Fail);
        assert_eq!(worst(&findings[..2]), Level::Ok.max(Level::Warn));
        assert_eq!(worst(&[]), Level::Ok);
    }

    #[test]
    fn times_are_said_for_people() {
        assert_eq!(from_now(90), "in 90 s");
        assert_eq!(from_now(-600), "10 min ago");
        assert_eq!(from_now(5 * 3600), "in 5 h");
        assert_eq!(from_now(12 * 86_400), "in 12 days");
        assert_eq!(date(0), "1970-01-01 00:00 UTC");
    }
}

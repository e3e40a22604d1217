//! `[log]`: how much `serve` writes to its standard error (the journal, under systemd).
//!
//! ```toml
//! [log]
//! level = "info"
//! ```
//!
//! A reload applies a new level at once; `--verbose` on the command line overrides it.

use serde::Deserialize;

/// `[log]`: what `serve` says on its standard error (the journal, under systemd).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// The least severe messages written; `--verbose` on the command line overrides it.
    #[serde(default)]
    pub level: LogLevel,
}

/// `[log] level`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Only components that cannot go on.
    Error,
    /// What an operator must act on.
    #[default]
    Warn,
    /// Sessions and tunnels up and down, files read again, reloads.
    Info,
    /// Every decision (identities and addresses appear at this level).
    Debug,
    /// Every packet.
    Trace,
}

impl LogLevel {
    /// The level for `tracing`.
    pub fn tracing(self) -> tracing::Level {
        match self {
            Self::Error => tracing::Level::ERROR,
            Self::Warn => tracing::Level::WARN,
            Self::Info => tracing::Level::INFO,
            Self::Debug => tracing::Level::DEBUG,
            Self::Trace => tracing::Level::TRACE,
        }
    }
}

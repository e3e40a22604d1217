//! Vigie's connector, the hospital side of Vigie.
//!
//! What exists so far is the connector's memory, all driven with the time passed in:
//!
//! - [`directory`]: the embedded SQLite database (people, cards, apps, grants, sessions) and
//!   all of its SQL;
//! - [`hr`]: reading the HR system's CSV export and planning a sync against the directory;
//! - [`apps`]: published apps, their grants and stable virtual addresses;
//! - [`audit`]: the hash-chained audit log;
//! - [`config`]: the strict TOML configuration file.
//!
//! Not yet written: the card admission step, the command-line tool, the listeners (QUIC/TLS),
//! admission over TLS, the data plane and the SSO issuer.
#![forbid(unsafe_code)]

pub mod apps;
pub mod audit;
pub mod card;
pub mod config;
pub mod directory;
pub mod hr;
pub mod person;

//! Vigie's connector, the hospital side of Vigie.
//!
//! What exists so far is the connector's memory, all driven with the time passed in:
//!
//! - [`admission`]: the directory's part of admitting a verified card: is the person known and
//!   working, is the card theirs (or may it be enrolled on first use), which apps may they
//!   reach; a typed verdict with stable reason codes;
//! - [`directory`]: the embedded SQLite database (people, cards, apps, grants, sessions) and
//!   all of its SQL;
//! - [`hr`]: reading the HR system's CSV export and planning a sync against the directory;
//! - [`apps`]: published apps, their grants and stable virtual addresses;
//! - [`audit`]: the hash-chained audit log;
//! - [`config`]: the strict TOML configuration file.
//!
//! The `vigie-connector` binary is the admin's command-line tool over these: `hr sync`,
//! `card enrol|list|revoke`, `app publish|withdraw|grant|revoke|list`, `user show`, `admit`,
//! `audit verify`, `check-config`.
//!
//! Not yet written: the listeners (QUIC/TLS) and `serve`, admission over TLS (certificate
//! chain verification wired to [`admission::admit`]), live sessions, the data plane, the SSO
//! issuer, LDAP sync and PostgreSQL.
#![forbid(unsafe_code)]

pub mod admission;
pub mod apps;
pub mod audit;
pub mod card;
pub mod cert_file;
pub mod config;
pub mod directory;
pub mod hr;
pub mod person;
pub mod serve;

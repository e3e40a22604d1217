//! Vigie's connector, the hospital side of Vigie.
//!
//! The connector's memory, all driven with the time passed in:
//!
//! - [`admission`]: the directory's part of admitting a verified card: is the person known and
//!   working, is the card theirs (or may it be enrolled on first use), which apps may they
//!   reach; a typed verdict with stable reason codes;
//! - [`directory`]: the embedded SQLite database (people, cards, apps, grants, sessions) and
//!   all of its SQL;
//! - [`hr`]: reading the HR system (a CSV export, or LDAP / Active Directory) and planning a
//!   sync against the directory;
//! - [`apps`]: published apps, their grants and stable virtual addresses;
//! - [`audit`]: the hash-chained audit log;
//! - [`config`]: the strict TOML configuration file.
//!
//! Its front door, [`serve`]: the QUIC and TLS listeners, card verification inside the
//! handshake, the admission pipeline over [`admission::admit`] and the session grant.
//!
//! The `vigie-connector` binary is the admin's command-line tool over these: `hr sync`,
//! `card enrol|list|revoke`, `app publish|withdraw|grant|revoke|list`, `user show`, `admit`,
//! `audit verify`, `check-config`, and `serve`.
//!
//! Its data plane, [`dataplane`]: one WireGuard tunnel per granted session (over UDP, or
//! inside the control connection), the per-session app filter, DNS for app names, and NAT to
//! the backends through a TUN device and nftables.
//!
//! Its single sign-on, [`sso`]: an OpenID Connect issuer for which the card's session is the
//! login, published to every session through its tunnel.
//!
//! Its operations, [`ops`]: `check-config` (everything `serve` reads, checked without
//! starting) and `doctor` (certificates' expiry, CRLs and their servers, the clock, the data
//! plane's prerequisites, the running connector's health). The metrics and health endpoint
//! and configuration reloads are part of [`serve`].
//!
//! Not yet written: PostgreSQL for sites with several connectors.
#![forbid(unsafe_code)]

pub mod admission;
pub mod apps;
pub mod audit;
pub mod card;
pub mod cert_file;
pub mod config;
pub mod dataplane;
pub mod directory;
pub mod hr;
pub mod http_url;
pub mod ops;
pub mod person;
pub mod serve;
pub mod sso;

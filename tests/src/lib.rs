//! Vigie's lab: the pieces end-to-end tests build a test world from.
//!
//! What it is:
//! - [`NetNs`] and [`VethLink`]: network namespaces joined by veth pairs on the
//!   198.18.0.0/15 underlay; run commands inside ([`NetNs::command`], [`NetNs::run`]), open
//!   sockets inside ([`NetNs::connect_tcp`]), wait for a port ([`wait_for_tcp_port`]).
//! - [`LabProcess`]: a process with its output captured to files, stopped by PID (TERM, a
//!   grace period, KILL) when its guard drops.
//! - [`Pcscd`]: a real `pcscd` with the `vpcd` virtual reader driver, private to the lab
//!   (its own socket, configuration and network namespace), with reader slots handed out
//!   one per test ([`ReaderSlot`]).
//! - [`card`]: the virtual CPS3/CPS4 card, which inserts itself into a vpcd slot.
//! - [`apps`]: the hospital's applications, real servers (a web app, Dovecot for mail).
//! - [`bench`]: Vigie's tunnel for the shared benchmark harness (`tests/bench/`).
//! - [`container`]: a fresh Debian 12 root (debootstrap) booted under its own systemd with
//!   `systemd-nspawn`, where the packaging test installs Vigie's `.deb` files.
//! - [`demo`]: `vigie-lab demo`, Vigie's main job shown end to end to a person.
//! - [`fixtures`]: card identity folders shaped like those `vigie-pki init` writes, for tests
//!   that run before (or without) the real generator.
//!
//! A card test, start to end (see `tests/card_pcsc.rs` for complete ones):
//!
//! ```no_run
//! use vigie_lab::{Pcscd, card::VirtualCard};
//! # fn a_test(identity: &std::path::Path) {
//! if vigie_lab::require_root("pcscd in a network namespace").is_err() {
//!     return;
//! }
//! // First, before any PC/SC call of the process: points libpcsclite at the lab's pcscd.
//! let pcscd = Pcscd::shared().expect("pcscd");
//! let slot = pcscd.take_slot(); // one of two readers, empty, reserved for this test
//! let card = VirtualCard::load(identity).expect("DIR/cards/cps3-doctor");
//! let inserted = card.insert(&slot).expect("insert");
//! // ... pcsc::Context::establish, wait for slot.reader_name() to show the card, connect ...
//! inserted.remove(); // pulled out; `card.insert(&slot)` again puts the same card back
//! // A child process reaches the same pcscd with `command.env(k, v)` from
//! // `pcscd.client_env()`; in a netns, vpcd of the slot is `slot.vpcd_target()`.
//! # }
//! ```
//!
//! What it is not: a place for product code. Nothing here is used by the client or the
//! connector; they are tested through it.
//!
//! Every name the lab creates is `vg-<pid>-<n>` ([`names`]), every resource sits behind a
//! guard whose `Drop` deletes exactly what it created, and processes are stopped by PID,
//! never by name. Most of the lab needs root; tests call [`require_root`] first.
//!
//! `unsafe` is denied everywhere but in two places: setting `PCSCLITE_CSOCK_NAME` for this
//! process (`pcscd::env`), which libpcsclite reads from the environment only, and clearing the
//! demo's blocked signals in the programs it starts (`demo::signals`).
//!
//! Logging policy: debug for each resource created or deleted, warn when teardown fails
//! (something is left behind for a person to clean), trace for card APDUs.
#![deny(unsafe_code)]

pub mod apps;
pub mod bench;
pub mod card;
pub mod cmd;
pub mod container;
pub mod demo;
pub mod error;
pub mod fixtures;
pub mod names;
pub mod netns;
pub mod oidc_app;
pub mod pcscd;
pub mod process;

pub use error::{LabError, Result};
pub use netns::{NetNs, VethLink, clean_stale, connect_tcp_in, wait_for_tcp_port};
pub use pcscd::{Pcscd, PcscdConfig, ReaderSlot};
pub use process::LabProcess;

/// The test must be skipped: the machine lacks what it needs. The message is already printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Why the test did not run.
    pub reason: String,
}

/// `Ok` as root; otherwise prints `skipped: needs root (<needs>)` and returns [`Skipped`].
///
/// ```no_run
/// # fn a_test() {
/// if vigie_lab::require_root("network namespaces").is_err() {
///     return;
/// }
/// # }
/// ```
pub fn require_root(needs: &str) -> Result<(), Skipped> {
    if nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let reason = format!("skipped: needs root ({needs})");
    println!("{reason}");
    Err(Skipped { reason })
}

/// Sends the lab's `tracing` output to the test's captured output, once per process.
///
/// The level comes from `RUST_LOG` (default `warn`).
pub fn init_test_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

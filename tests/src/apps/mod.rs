//! The hospital's applications in the lab: real servers on a backend namespace, for the
//! connector to publish.
//!
//! - [`WebApp`]: Python's `http.server` serving one page that names the app, so a test (or
//!   a person with `curl`) sees which app answered, and files put in its folder; uploads
//!   are answered with their SHA-256 (`web.py` beside this file).
//! - [`MailServer`]: a real Dovecot IMAP server (Debian `dovecot-imapd`) with its own
//!   configuration, folders and users. Plain-text login (the lab's traffic never leaves its
//!   namespaces, and the tunnel is what protects it on the way), and, when started with a
//!   [`TokenTrust`], the SSO issuer's access tokens too (see [`mail`]).
//!
//! Each server is a [`LabProcess`]: stopped by PID when its guard drops, its files in a
//! folder of the lab's own.

pub mod bulk;
pub mod mail;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

pub use bulk::{bulk_bytes, sha256_hex};
pub use mail::{MAIL_SCOPE, MailServer, MailUser, TokenKey, TokenTrust};

use crate::error::{LabError, Result};
use crate::netns::{NetNs, wait_for_tcp_port};
use crate::process::LabProcess;

/// The web app's server.
const WEB_PY: &str = include_str!("web.py");

/// How long a server has to start listening.
const START_PATIENCE: Duration = Duration::from_secs(20);

/// A web application: one page at `/` that says `This is <name>.`
#[derive(Debug)]
pub struct WebApp {
    process: LabProcess,
    address: SocketAddr,
    /// The folder it serves.
    root: std::path::PathBuf,
}

impl WebApp {
    /// Serves the page of app `name` on `address` inside `ns`, with its files in `dir`.
    pub fn start(ns: &NetNs, address: SocketAddr, name: &str, dir: &Path) -> Result<Self> {
        let root = dir.join(format!("web-{name}"));
        create_dir(&root)?;
        let page = format!("<!doctype html><title>{name}</title><p>This is {name}.</p>\n");
        write(&root.join("index.html"), &page)?;
        let script = dir.join(format!("web-{name}.py"));
        write(&script, WEB_PY)?;
        let mut command = ns.command("python3");
        let (port, bind) = (address.port().to_string(), address.ip().to_string());
        command
            .arg(path_text(&script)?)
            .args([&port, &bind])
            .current_dir(&root);
        let process = LabProcess::spawn_in(dir, &format!("web-{name}"), command)?;
        wait_for_tcp_port(Some(ns), address, START_PATIENCE)?;
        Ok(Self {
            process,
            address,
            root,
        })
    }

    /// Serves `bytes` at `/name`.
    pub fn publish_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(name);
        std::fs::write(&path, bytes).map_err(|e| LabError::file(&path, e))
    }

    /// The text the page carries, to recognise it.
    pub fn marker(name: &str) -> String {
        format!("This is {name}.")
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The server's output, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }
}

fn path_text(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| LabError::Misuse(format!("{} is not UTF-8", path.display())))
}

fn create_dir(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).map_err(|e| LabError::file(path, e))
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| LabError::file(path, e))
}

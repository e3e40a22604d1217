//! A web portal of the hospital that signs its users in with OpenID Connect: a real relying
//! party made of Flask and Authlib (Debian `python3-flask`, `python3-authlib`), which knows
//! nothing of Vigie but the issuer's address, its client id and secret, and the CAs to
//! trust. Its Python source is `portal.py` beside this file.
//!
//! `/` shows who signed in (idNat, names, profession code, `amr`, `sid`) or starts the code
//! flow; `/backchannel-logout` checks a logout token against the issuer's keys and records
//! it ([`OidcPortal::logouts`]).
//!
//! [`HeaderApp`] is an app without OpenID Connect that trusts the identity header the
//! connector adds in front of it, after checking it with the issuer's keys (`header_app.py`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{LabError, Result};
use crate::netns::{NetNs, wait_for_tcp_port};
use crate::process::LabProcess;

/// The portal's source.
const PORTAL_PY: &str = include_str!("portal.py");
/// The header app's source.
const HEADER_APP_PY: &str = include_str!("header_app.py");

/// Debian's Python, which has Flask and Authlib (a `python3` earlier in `PATH` may not).
const PYTHON: &str = "/usr/bin/python3";

/// How long the portal has to start listening.
const START_PATIENCE: Duration = Duration::from_secs(20);

/// What the portal is told.
#[derive(Debug, Clone)]
pub struct PortalConfig {
    /// The issuer's URL.
    pub issuer: String,
    /// Its client id at the issuer.
    pub client_id: String,
    /// Its client secret.
    pub client_secret: String,
    /// Its own address as browsers see it (`http://portal.hopital.example`).
    pub base_url: String,
    /// A PEM file of the CAs that signed the issuer's certificate.
    pub ca_file: PathBuf,
}

/// A running portal.
#[derive(Debug)]
pub struct OidcPortal {
    process: LabProcess,
    logouts: PathBuf,
}

impl OidcPortal {
    /// Starts the portal on `address` inside `ns`, with its files under `dir`.
    pub fn start(
        ns: &NetNs,
        address: SocketAddr,
        config: &PortalConfig,
        dir: &Path,
    ) -> Result<Self> {
        let root = dir.join("oidc-portal");
        std::fs::create_dir_all(&root).map_err(|e| LabError::file(&root, e))?;
        let script = root.join("portal.py");
        std::fs::write(&script, PORTAL_PY).map_err(|e| LabError::file(&script, e))?;
        let logouts = root.join("logouts.jsonl");
        let mut command = ns.command(PYTHON);
        command
            .arg(&script)
            .env("OIDC_ISSUER", &config.issuer)
            .env("OIDC_CLIENT_ID", &config.client_id)
            .env("OIDC_CLIENT_SECRET", &config.client_secret)
            .env("PORTAL_BASE_URL", &config.base_url)
            .env("PORTAL_LISTEN", address.to_string())
            .env("PORTAL_LOGOUTS", &logouts)
            .env("REQUESTS_CA_BUNDLE", &config.ca_file)
            .current_dir(&root);
        let process = LabProcess::spawn_in(dir, "oidc-portal", command)?;
        wait_for_tcp_port(Some(ns), address, START_PATIENCE)?;
        Ok(Self { process, logouts })
    }

    /// The back-channel logout tokens received so far: each one's `sid`.
    pub fn logouts(&self) -> Vec<String> {
        let text = std::fs::read_to_string(&self.logouts).unwrap_or_default();
        text.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter_map(|record| Some(record["sid"].as_str()?.to_owned()))
            .collect()
    }

    /// The portal's output, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }
}

/// A running app that trusts the identity header.
#[derive(Debug)]
pub struct HeaderApp {
    process: LabProcess,
}

impl HeaderApp {
    /// Starts the app on `address` inside `ns`: it trusts `header` signed by `issuer` for
    /// audience `name`, with the issuer's certificate signed by a CA of `ca_file`.
    pub fn start(
        ns: &NetNs,
        address: SocketAddr,
        (issuer, name, header): (&str, &str, &str),
        ca_file: &Path,
        dir: &Path,
    ) -> Result<Self> {
        let root = dir.join(format!("header-app-{name}"));
        std::fs::create_dir_all(&root).map_err(|e| LabError::file(&root, e))?;
        let script = root.join("header_app.py");
        std::fs::write(&script, HEADER_APP_PY).map_err(|e| LabError::file(&script, e))?;
        let mut command = ns.command(PYTHON);
        command
            .arg(&script)
            .env("OIDC_ISSUER", issuer)
            .env("APP_AUDIENCE", name)
            .env("APP_HEADER", header)
            .env("APP_LISTEN", address.to_string())
            .env("REQUESTS_CA_BUNDLE", ca_file)
            .current_dir(&root);
        let process = LabProcess::spawn_in(dir, &format!("header-app-{name}"), command)?;
        wait_for_tcp_port(Some(ns), address, START_PATIENCE)?;
        Ok(Self { process })
    }

    /// The app's output, for failure messages.
    pub fn log_tail(&self, lines: usize) -> String {
        self.process.log_tail(lines)
    }
}

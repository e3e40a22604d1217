//! The hospital's applications in the lab: real servers on a backend namespace, for the
//! connector to publish.
//!
//! - [`WebApp`]: Python's `http.server` serving one page that names the app, so a test (or
//!   a person with `curl`) sees which app answered.
//! - [`MailServer`]: a real Dovecot IMAP server (Debian `dovecot-imapd`) with its own
//!   configuration, folders and users, plain-text login (the lab's traffic never leaves its
//!   namespaces, and the tunnel is what protects it on the way).
//!
//! Each server is a [`LabProcess`]: stopped by PID when its guard drops, its files in a
//! folder of the lab's own.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{LabError, Result};
use crate::netns::{NetNs, wait_for_tcp_port};
use crate::process::LabProcess;

/// How long a server has to start listening.
const START_PATIENCE: Duration = Duration::from_secs(20);

/// A web application: one page at `/` that says `This is <name>.`
#[derive(Debug)]
pub struct WebApp {
    process: LabProcess,
    address: SocketAddr,
}

impl WebApp {
    /// Serves the page of app `name` on `address` inside `ns`, with its files in `dir`.
    pub fn start(ns: &NetNs, address: SocketAddr, name: &str, dir: &Path) -> Result<Self> {
        let root = dir.join(format!("web-{name}"));
        create_dir(&root)?;
        let page = format!("<!doctype html><title>{name}</title><p>This is {name}.</p>\n");
        write(&root.join("index.html"), &page)?;
        let mut command = ns.command("python3");
        let (port, bind) = (address.port().to_string(), address.ip().to_string());
        command
            .args(["-m", "http.server", &port, "--bind", &bind])
            .current_dir(&root);
        let process = LabProcess::spawn_in(dir, &format!("web-{name}"), command)?;
        wait_for_tcp_port(Some(ns), address, START_PATIENCE)?;
        Ok(Self { process, address })
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

/// A mail user of the [`MailServer`].
#[derive(Debug, Clone)]
pub struct MailUser {
    pub login: String,
    pub password: String,
}

/// A real Dovecot IMAP server.
#[derive(Debug)]
pub struct MailServer {
    process: LabProcess,
    address: SocketAddr,
    log: PathBuf,
}

impl MailServer {
    /// Starts Dovecot on `address` (IMAP, port of the address) inside `ns`, for `users`,
    /// with its configuration, state and mailboxes under `dir`.
    pub fn start(ns: &NetNs, address: SocketAddr, users: &[MailUser], dir: &Path) -> Result<Self> {
        let root = dir.join("dovecot");
        for sub in ["run", "state", "mail"] {
            create_dir(&root.join(sub))?;
        }
        let passwd: String = users
            .iter()
            .map(|u| format!("{}:{{PLAIN}}{}\n", u.login, u.password))
            .collect();
        write(&root.join("users"), &passwd)?;
        // Dovecot drops to the `dovecot` user (made by the package) to read and write mail.
        crate::cmd::run_args(
            "chown",
            &["-R", "dovecot:dovecot", &path_text(&root.join("mail"))?],
        )?;
        let config = root.join("dovecot.conf");
        write(&config, &dovecot_config(&root, address)?)?;
        let mut command = ns.command("dovecot");
        command.arg("-F").arg("-c").arg(&config);
        let process = LabProcess::spawn_in(dir, "dovecot", command)?;
        wait_for_tcp_port(Some(ns), address, START_PATIENCE)?;
        Ok(Self {
            process,
            address,
            log: root.join("dovecot.log"),
        })
    }

    /// Where it listens.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Dovecot's own log (logins, errors).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default() + &self.process.log_tail(20)
    }
}

fn dovecot_config(root: &Path, address: SocketAddr) -> Result<String> {
    let root = path_text(root)?;
    // Every path is the instance's own, so several servers (and the machine's) coexist.
    Ok(format!(
        "protocols = imap\n\
         listen = {ip}\n\
         base_dir = {root}/run\n\
         state_dir = {root}/state\n\
         instance_name = vigie-lab-{pid}\n\
         log_path = {root}/dovecot.log\n\
         ssl = no\n\
         disable_plaintext_auth = no\n\
         auth_mechanisms = plain login\n\
         first_valid_uid = 1\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {root}/users\n}}\n\
         userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home={root}/mail/%u\n}}\n\
         mail_location = maildir:~/Maildir\n\
         service imap-login {{\n  inet_listener imap {{\n    port = {port}\n  }}\n}}\n",
        ip = address.ip(),
        port = address.port(),
        pid = std::process::id(),
    ))
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

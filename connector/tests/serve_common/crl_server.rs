//! A CRL server for the tests: Python's `http.server` on 127.0.0.1, serving a temporary
//! folder with one CRL file in it.

use std::io::{BufRead as _, BufReader};
use std::process::{Child, ChildStdout, Command, Stdio};

/// The CA's file on the HTTP server.
pub const CRL_NAME: &str = "personnes.crl";

/// `python3 -m http.server` serving a temporary folder on 127.0.0.1, killed (by its process
/// id, as our child) when dropped.
pub struct CrlServer {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    dir: tempfile::TempDir,
    port: u16,
}

impl CrlServer {
    /// Starts the server on a free port, which it prints on its first line.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a folder to serve");
        let mut child = Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "--directory",
            ])
            .arg(dir.path())
            .arg("0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3 -m http.server (scripts/setup.sh installs python3)");
        let mut stdout = BufReader::new(child.stdout.take().expect("its output"));
        let mut line = String::new();
        stdout.read_line(&mut line).expect("its first line");
        // "Serving HTTP on 127.0.0.1 port 45689 (http://127.0.0.1:45689/) ..."
        let port = line
            .split_whitespace()
            .skip_while(|word| *word != "port")
            .nth(1)
            .and_then(|port| port.parse().ok())
            .unwrap_or_else(|| panic!("no port in {line:?}"));
        Self {
            child,
            _stdout: stdout,
            dir,
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/{CRL_NAME}", self.port)
    }

    /// Puts the CRL in place whole, as a CA's publication job would.
    pub fn publish(&self, crl: &[u8]) {
        let staged = self.dir.path().join(".staged");
        std::fs::write(&staged, crl).expect("write the CRL");
        std::fs::rename(&staged, self.dir.path().join(CRL_NAME)).expect("publish the CRL");
    }

    /// The URL answers 404 from now on.
    pub fn withdraw(&self) {
        std::fs::remove_file(self.dir.path().join(CRL_NAME)).expect("withdraw the CRL");
    }
}

impl Drop for CrlServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

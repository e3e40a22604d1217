//! What a running `vigie up` shows to other terminals: a status file and a control socket in
//! the state folder (`$XDG_RUNTIME_DIR/vigie`, else `/run/vigie`; `--state-dir` overrides).
//!
//! - `status.json`: the session as [`Status`]; rewritten atomically at each change, readable
//!   by its owner only. It never holds the resume token, the tunnel key or anything secret.
//! - `control.sock`: a Unix socket answering one line per connection: `ping` (is the session
//!   process alive?) and `down` (end the session). The folder is private to the user
//!   (mode 0700), which is what keeps other users from ending the session.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::UnixListener;
use tokio::sync::mpsc;

use super::error::UpError;

const STATUS_FILE: &str = "status.json";
const SOCKET: &str = "control.sock";
/// How long `vigie status` and `vigie down` wait for the session process to answer.
const SOCKET_PATIENCE: Duration = Duration::from_secs(5);

/// The session as `vigie status` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// The `vigie up` process.
    pub pid: u32,
    /// `connecting`, `active`, `suspended` or `resuming`.
    pub state: String,
    /// The connector's session id (hex), once granted.
    pub session_id: Option<String>,
    /// `HOST:PORT` of the connector.
    pub connector: String,
    /// `QUIC (TLS 1.3)`, `TCP (TLS 1.2)`…
    pub transport: Option<String>,
    /// `CPS3` or `CPS4`.
    pub card: String,
    pub reader: String,
    /// The client's address in the tunnel.
    pub tunnel_address: Option<String>,
    pub dns_server: Option<String>,
    pub apps: Vec<AppStatus>,
    /// Unix times, seconds.
    pub started_at: u64,
    pub granted_at: Option<u64>,
    pub updated_at: u64,
    /// The session ends after this long without use; seconds.
    pub idle_timeout: Option<u64>,
    /// The session ends this long after the grant; seconds.
    pub max_lifetime: Option<u64>,
    /// The tunnel, once up (absent with `--no-tunnel`).
    #[serde(default)]
    pub tunnel: Option<TunnelStatus>,
}

/// The tunnel and its traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TunnelStatus {
    /// The TUN device.
    pub device: String,
    /// How WireGuard reaches the connector, in words.
    pub path: String,
    /// How app names resolve, in words.
    pub names: String,
    /// Whether the device moves 64 KiB super-packets (segmentation offload), or one packet
    /// at a time.
    #[serde(default)]
    pub offloads: bool,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub packets_sent: u64,
    pub packets_received: u64,
}

/// One application of the grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppStatus {
    pub name: String,
    pub dns_name: String,
    /// Its virtual address in the tunnel.
    pub address: String,
    /// `tcp/443`, `tcp/8000-8010`, `udp/5060`.
    pub ports: Vec<String>,
}

/// The default state folder: `$XDG_RUNTIME_DIR/vigie`, else `/run/vigie`.
pub fn default_state_dir() -> PathBuf {
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(runtime) if !runtime.is_empty() => PathBuf::from(runtime).join("vigie"),
        _ => PathBuf::from("/run/vigie"),
    }
}

/// The state folder of a `vigie up`, holding its status file and control socket.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn socket(&self) -> PathBuf {
        self.dir.join(SOCKET)
    }

    fn status_file(&self) -> PathBuf {
        self.dir.join(STATUS_FILE)
    }

    fn file_error(&self, path: PathBuf, error: &std::io::Error) -> UpError {
        UpError::File {
            path,
            detail: format!("{error}; choose another folder with --state-dir or VIGIE_STATE_DIR"),
        }
    }

    /// Creates the folder (private to the user), refusing when a live `vigie up` holds it,
    /// and removing what a dead one left.
    pub fn claim(&self) -> Result<(), UpError> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(|e| self.file_error(self.dir.clone(), &e))?;
        if let Ok(pid) = self.ping() {
            return Err(UpError::AlreadyUp { pid });
        }
        self.clear();
        Ok(())
    }

    /// Removes the status file and the socket.
    pub fn clear(&self) {
        let _ = std::fs::remove_file(self.socket());
        let _ = std::fs::remove_file(self.status_file());
    }

    /// Writes the status file atomically, readable by its owner only.
    pub fn write(&self, status: &Status) -> Result<(), UpError> {
        let staging = self
            .dir
            .join(format!(".{STATUS_FILE}.{}", std::process::id()));
        let text = serde_json::to_vec_pretty(status)
            .map_err(|e| UpError::Config(format!("cannot encode the status: {e}")))?;
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&staging)?;
            file.write_all(&text)?;
            std::fs::rename(&staging, self.status_file())
        };
        write().map_err(|e| self.file_error(self.status_file(), &e))
    }

    /// The status file, if a session wrote one.
    pub fn read(&self) -> Result<Option<Status>, UpError> {
        let path = self.status_file();
        let text = match std::fs::read(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.file_error(path, &e)),
        };
        serde_json::from_slice(&text)
            .map(Some)
            .map_err(|e| UpError::File {
                path,
                detail: format!("not a status file of this version ({e})"),
            })
    }

    /// Listens on the control socket; `down` requests are sent to `down`.
    pub fn listen(&self, down: mpsc::Sender<()>) -> Result<(), UpError> {
        let listener =
            UnixListener::bind(self.socket()).map_err(|e| self.file_error(self.socket(), &e))?;
        tokio::spawn(serve(listener, down));
        Ok(())
    }

    /// The pid of the live `vigie up` on this folder's socket.
    pub fn ping(&self) -> std::io::Result<u32> {
        let answer = self.ask("ping")?;
        answer
            .strip_prefix("pong ")
            .and_then(|pid| pid.trim().parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("unexpected answer {answer:?}")))
    }

    /// Asks the live `vigie up` to end its session.
    pub fn down(&self) -> std::io::Result<()> {
        match self.ask("down")?.trim() {
            "ending" => Ok(()),
            other => Err(std::io::Error::other(format!(
                "unexpected answer {other:?}"
            ))),
        }
    }

    /// Waits until the session process has removed its socket.
    pub fn wait_gone(&self, patience: Duration) -> bool {
        let start = std::time::Instant::now();
        while start.elapsed() < patience {
            if !self.socket().exists() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn ask(&self, request: &str) -> std::io::Result<String> {
        let mut stream = UnixStream::connect(self.socket())?;
        stream.set_read_timeout(Some(SOCKET_PATIENCE))?;
        stream.set_write_timeout(Some(SOCKET_PATIENCE))?;
        stream.write_all(format!("{request}\n").as_bytes())?;
        let mut answer = String::new();
        BufReader::new(stream).read_line(&mut answer)?;
        Ok(answer)
    }
}

async fn serve(listener: UnixListener, down: mpsc::Sender<()>) {
    while let Ok((stream, _)) = listener.accept().await {
        let down = down.clone();
        tokio::spawn(async move {
            let (reader, mut writer) = stream.into_split();
            let mut line = String::new();
            // One short line is all a request is: bound what a client can make us buffer.
            let mut reader = tokio::io::BufReader::new(reader.take(64));
            if reader.read_line(&mut line).await.is_err() {
                return;
            }
            let answer = match line.trim() {
                "ping" => format!("pong {}\n", std::process::id()),
                "down" => {
                    let _ = down.try_send(());
                    "ending\n".to_owned()
                }
                _ => "unknown request\n".to_owned(),
            };
            let _ = writer.write_all(answer.as_bytes()).await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Status {
        Status {
            pid: 42,
            state: "active".into(),
            session_id: Some("00".repeat(16)),
            connector: "vigie.chu.example:443".into(),
            transport: Some("QUIC (TLS 1.3)".into()),
            card: "CPS4".into(),
            reader: "Virtual PCD 00 00".into(),
            tunnel_address: Some("100.96.0.2".into()),
            dns_server: None,
            apps: vec![AppStatus {
                name: "dpi".into(),
                dns_name: "dpi.chu.example".into(),
                address: "100.80.0.1".into(),
                ports: vec!["tcp/443".into()],
            }],
            started_at: 1,
            granted_at: Some(2),
            updated_at: 2,
            idle_timeout: Some(900),
            max_lifetime: None,
            tunnel: None,
        }
    }

    #[test]
    fn the_status_file_round_trips_and_is_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("vigie-state-{}", std::process::id()));
        let state = StateDir::new(dir.clone());
        state.claim().expect("claim");
        assert_eq!(state.read().expect("read"), None);
        state.write(&sample()).expect("write");
        assert_eq!(state.read().expect("read"), Some(sample()));
        let mode = std::fs::metadata(dir.join(STATUS_FILE)).expect("file");
        assert_eq!(mode.permissions().mode() & 0o777, 0o600);
        let folder = std::fs::metadata(&dir).expect("folder");
        assert_eq!(folder.permissions().mode() & 0o777, 0o700);
        state.clear();
        assert_eq!(state.read().expect("read"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

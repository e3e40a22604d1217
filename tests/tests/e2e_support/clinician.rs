//! The clinician's side: a virtual card in a reader of the lab's pcscd, and the real `vigie`
//! binary pointed at that pcscd (`PCSCLITE_CSOCK_NAME`), with the PIN from `VIGIE_PIN` and
//! its own state folder.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use vigie_certs::pki::World;
use vigie_client::control::{StateDir, Status, exit};
use vigie_client::pcsc_transport;
use vigie_lab::card::{CardTime, InsertedCard, VirtualCard};
use vigie_lab::{NetNs, Pcscd, ReaderSlot};

use super::{PATIENCE, SERVER_NAME, TempDir, binaries};

/// One reader of the shared pcscd, and a folder for `vigie`'s state and output.
pub struct Clinician {
    pcscd: Arc<Pcscd>,
    slot: ReaderSlot,
    inserted: Option<InsertedCard>,
    ctx: pcsc::Context,
    pub dir: TempDir,
    connector: SocketAddr,
    server_ca: PathBuf,
    netns: Option<Arc<NetNs>>,
    /// With a tunnel (only inside a namespace of the test's own); else `--no-tunnel`.
    tunnel: bool,
}

impl Clinician {
    /// A reader of the lab's pcscd, for sessions with the connector at `connector`.
    pub fn new(world: &World, connector: SocketAddr) -> Self {
        let pcscd = Pcscd::shared().expect("start pcscd");
        let slot = pcscd.take_slot();
        let ctx = pcsc_transport::establish().expect("PC/SC context");
        Self {
            pcscd,
            slot,
            inserted: None,
            ctx,
            dir: TempDir::new("-clinician"),
            connector,
            server_ca: world.dir().join("trust/roots/racine-elementaire.pem"),
            netns: None,
            tunnel: false,
        }
    }

    /// Puts card `name` of `world` in the reader (taking out the previous one).
    pub fn insert(&mut self, world: &World, name: &str) {
        self.pull();
        let card = VirtualCard::load(&world.card_dir(name).expect("a card of the world"))
            .expect("the card identity");
        self.inserted = Some(card.insert(&self.slot).expect("insert the card"));
        self.wait_presence(true);
    }

    /// Takes the card out, and waits until pcscd sees the reader empty.
    pub fn pull(&mut self) {
        if let Some(inserted) = self.inserted.take() {
            inserted.remove();
            self.wait_presence(false);
        }
    }

    fn wait_presence(&self, present: bool) {
        let reader = self.slot.reader_name();
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            let readers = pcsc_transport::readers(&self.ctx).expect("list readers");
            if readers
                .iter()
                .any(|r| r.name == reader && r.card_present == present)
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "pcscd never saw the card change in {reader}:\n{}",
            self.pcscd.log_tail(30)
        );
    }

    /// Runs `vigie up` inside `netns` from now on (the connector must be there too).
    pub fn use_netns(&mut self, netns: Arc<NetNs>) {
        self.netns = Some(netns);
    }

    /// Runs `vigie up` with its tunnel inside `laptop`, whose `/etc/hosts` is its own, and
    /// `connector` as the connector's address.
    pub fn use_laptop(&mut self, laptop: Arc<NetNs>, connector: SocketAddr) {
        laptop
            .private_etc_file("hosts", "127.0.0.1\tlocalhost\n")
            .expect("the laptop's own hosts file");
        self.netns = Some(laptop);
        self.connector = connector;
        self.tunnel = true;
    }

    /// `vigie ARGS` with the lab's pcscd, the PIN, and this clinician's state folder.
    pub fn vigie(&self, args: &[&str]) -> Command {
        let (key, socket) = self.pcscd.client_env();
        let program = binaries().vigie.to_str().expect("a UTF-8 path");
        let mut command = match &self.netns {
            Some(netns) => netns.command(program),
            None => Command::new(program),
        };
        command
            .args(args)
            .env(key, socket)
            .env("VIGIE_PIN", "1234")
            .env("VIGIE_STATE_DIR", self.state_dir())
            .env_remove("VIGIE_PIN_FILE")
            .env_remove("VIGIE_CONNECTOR")
            .env_remove("XDG_RUNTIME_DIR");
        command
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// `vigie up` with this reader, against the lab's connector.
    pub fn up_command(&self) -> Command {
        let connector = self.connector.to_string();
        let server_ca = self.server_ca.to_string_lossy().into_owned();
        let reader = self.slot.reader_name();
        let mut command = self.vigie(&["up", "--connector", &connector]);
        command.args(["--server-ca", &server_ca, "--server-name", SERVER_NAME]);
        command.args(["--reader", &reader]);
        if !self.tunnel {
            command.arg("--no-tunnel");
        }
        command
    }

    /// Runs `vigie up` to its end (a refusal); a safety net kills it after [`PATIENCE`].
    pub fn up_refused(&self) -> Output {
        let child = self
            .up_command()
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vigie up");
        wait_output(child)
    }

    /// Starts `vigie up` and waits until its status file shows the session connected.
    pub fn up_granted(&self) -> (Session, Status) {
        let mut session = self.up_started(&[]);
        let status = self.wait_state(&mut session, "active");
        (session, status)
    }

    /// Starts `vigie up`, with `env` added to its environment, and returns at once.
    pub fn up_started(&self, env: &[(&str, &str)]) -> Session {
        let log = self
            .dir
            .path()
            .join(format!("up-{}.log", vigie_lab::names::unique_name()));
        let child = self
            .up_command()
            .envs(env.iter().copied())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(Stdio::from(
                std::fs::File::create(log.with_extension("err")).expect("log"),
            ))
            .spawn()
            .expect("start vigie up");
        Session { child, log }
    }

    /// The card in the reader, if any.
    pub fn card(&self) -> Option<&VirtualCard> {
        self.inserted.as_ref().map(InsertedCard::card)
    }

    /// The time the card in the reader spent so far (all zero without a card).
    pub fn card_time(&self) -> CardTime {
        self.card().map(VirtualCard::time_spent).unwrap_or_default()
    }

    /// Waits until the status file of `session` (written by its process) is in `state`.
    pub fn wait_state(&self, session: &mut Session, state: &str) -> Status {
        let dir = StateDir::new(self.state_dir());
        let start = Instant::now();
        loop {
            // Only this process's status counts: a killed one may have left its own.
            if let Ok(Some(status)) = dir.read() {
                if status.state == state && status.pid == session.child.id() {
                    return status;
                }
            }
            if let Ok(Some(exit)) = session.child.try_wait() {
                panic!("vigie up exited with {exit}:\n{}", session.output());
            }
            let waited = start.elapsed();
            assert!(waited < PATIENCE, "never {state}:\n{}", session.output());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `vigie down` from another terminal; `session` must then end with exit code 0.
    pub fn down(&self, session: &mut Session) {
        let down = self.run(&["down"]);
        assert!(down.status.success(), "{down:?}");
        let code = session.wait();
        let ok = Some(i32::from(exit::OK));
        assert_eq!(code, ok, "vigie up after down:\n{}", session.output());
    }

    /// Runs `vigie ARGS` to its end.
    pub fn run(&self, args: &[&str]) -> Output {
        let child = self
            .vigie(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start vigie");
        wait_output(child)
    }
}

/// A running `vigie up`; killed (by its PID) if still running when dropped.
pub struct Session {
    pub child: Child,
    log: PathBuf,
}

impl Session {
    /// What `vigie up` wrote to its standard error so far (its log).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.log.with_extension("err")).unwrap_or_default()
    }

    /// What `vigie up` printed so far, both streams.
    pub fn output(&self) -> String {
        let read = |p: &PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        format!(
            "{}--- stderr\n{}",
            read(&self.log),
            read(&self.log.with_extension("err"))
        )
    }

    /// Waits for `vigie up` to exit; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        let start = Instant::now();
        while start.elapsed() < PATIENCE {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("vigie up never exited:\n{}", self.output());
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits for a child's output; kills it after [`PATIENCE`] so a hang fails the test.
fn wait_output(mut child: Child) -> Output {
    let start = Instant::now();
    while start.elapsed() < PATIENCE {
        if let Ok(Some(_)) = child.try_wait() {
            return child.wait_with_output().expect("the output");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let output = child.wait_with_output().expect("the output");
    panic!(
        "vigie never exited:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

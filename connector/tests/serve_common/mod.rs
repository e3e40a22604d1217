//! A hospital site served by the real `vigie-connector serve` on 127.0.0.1, with card
//! identities from the shared `vigie-pki` test world, and a test client with software keys
//! standing in for the cards ([`client`]).
//!
//! The directory of every site holds:
//!
//! | card | person | directory | apps |
//! |---|---|---|---|
//! | cps4-doctor, cps3-doctor | 899700123450, Médecin, urgences | active, both cards enrolled | dpi, mail |
//! | cps4-nurse | 0751234567, Infirmier, soins | active, card enrolled | mail, soins |
//! | cps3-pharmacist | 899700075122, Pharmacien | suspended | (pharma) |
//! | cps4-staff | — | not in the directory | — |

#![allow(dead_code, reason = "each test file uses a different part of the site")]

pub mod client;
#[path = "../common/mod.rs"]
mod common;
pub mod crl_server;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use rustls_pki_types::UnixTime;
use vigie_certs::pki::World;

pub use common::Site;

/// The seed of the test world every Vigie suite shares.
pub const WORLD_SEED: u64 = 1;

/// The shared test world (made once per day and machine).
pub fn world() -> World {
    World::shared(WORLD_SEED, UnixTime::now()).expect("the vigie-pki test world")
}

const HR_ROWS: &[&str] = &[
    "899700123450;DOCTEUR;Jean;Médecin;urgences;ACTIF;01/01/2020;",
    "0751234567;INFIRMIERE;Claire;Infirmier;soins;ACTIF;01/01/2020;",
    "899700075122;PHARMACIEN;Paul;Pharmacien;pharmacie;SUSPENDU;01/01/2020;",
];

const APPS: &str = r#"
[[app]]
name = "dpi"
dns_name = "dpi.hopital.example"
ports = ["tcp/443"]
backend = "198.18.10.1"
professions = ["Médecin"]

[[app]]
name = "mail"
dns_name = "mail.hopital.example"
ports = ["tcp/993", "tcp/587"]
backend = "198.18.10.2"
groups = ["urgences", "soins"]

[[app]]
name = "soins"
dns_name = "soins.hopital.example"
ports = ["tcp/8000-8010", "udp/5060"]
backend = "198.18.10.3"
groups = ["soins"]

[[app]]
name = "pharma"
dns_name = "pharma.hopital.example"
ports = ["tcp/8443"]
backend = "198.18.10.4"
professions = ["Pharmacien"]
"#;

/// A running connector and its site; the process is killed when this is dropped.
pub struct Served {
    pub site: Site,
    pub world: World,
    pub address: SocketAddr,
    /// The admin endpoint, with `[admin]`.
    pub admin: Option<SocketAddr>,
    child: Child,
    /// How it was started, to start it again the same way.
    verbose: bool,
    netns: Option<String>,
    /// `TZ` for the connector, if not the test's own.
    time_zone: Option<String>,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `[listen]`…`[state]` sections for `world`, with lines added to `[listen]`,
/// `[session]` and `[trust]`; without `revocation` lines the world's CRLs are used.
fn serve_sections(world: &World, listen: &str, session: &str, revocation: &str) -> String {
    let sections = Sections {
        listen,
        session,
        revocation,
        ..Sections::default()
    };
    serve_sections_with(world, &sections)
}

/// What a site's `[listen]`…`[state]` sections may change.
struct Sections<'a> {
    /// The connector certificate of the world's `connector/` folder (`server`: RSA-2048,
    /// `server-ec`: ECDSA P-256).
    tls: &'a str,
    address: &'a str,
    /// `[listen] port`: 0 lets the system choose.
    port: u16,
    endpoints: &'a str,
    listen: &'a str,
    session: &'a str,
    revocation: &'a str,
}

impl Default for Sections<'_> {
    fn default() -> Self {
        Self {
            tls: "server",
            address: "127.0.0.1",
            port: 0,
            endpoints: "198.18.0.2:443",
            listen: "",
            session: "",
            revocation: "",
        }
    }
}

fn serve_sections_with(world: &World, sections: &Sections<'_>) -> String {
    let Sections {
        tls,
        address,
        port,
        endpoints,
        listen,
        session,
        revocation,
    } = sections;
    let dir = world.dir().display();
    let revocation = match *revocation {
        "" => format!("crls = [\"{dir}/crl\"]"),
        lines => lines.to_owned(),
    };
    format!(
        "[listen]\naddress = \"{address}\"\nport = {port}\n{listen}\n\
         [tls]\ncertificate = \"{dir}/connector/{tls}-chain.pem\"\n\
         key = \"{dir}/connector/{tls}.key.pem\"\n\
         [trust]\nroots = [\"{dir}/trust/roots\"]\n\
         intermediates = [\"{dir}/trust/intermediates\"]\n{revocation}\n\
         [session]\ndns_server = \"100.80.0.53\"\nendpoints = [\"{endpoints}\"]\n{session}\n\
         [state]\ndir = \"state\"\n{APPS}"
    )
}

/// Starts a connector over a seeded site; `listen` and `session` add lines to those sections.
pub fn serve_with(listen: &str, session: &str) -> Served {
    let world = world();
    let site = Site::new(&serve_sections(&world, listen, session, ""));
    serve_site_at(site, world)
}

/// Starts a connector whose CRLs and blocklist are the site's own files, looked at again
/// every second: `crl/` starts as a copy of the world's CRLs, `blocklist.toml` empty.
pub fn serve_with_own_revocation() -> Served {
    serve_with_own_revocation_and("")
}

/// [`serve_with_own_revocation`], with `trust` lines added to `[trust]`.
pub fn serve_with_own_revocation_and(trust: &str) -> Served {
    let world = world();
    let revocation =
        format!("crls = [\"crl\"]\nblocklist = \"blocklist.toml\"\nrefresh = \"1s\"\n{trust}");
    let sections = serve_sections(&world, "", "", &revocation);
    let site = Site::new(&sections);
    std::fs::create_dir(site.path("crl")).expect("the site's CRL folder");
    for entry in std::fs::read_dir(world.dir().join("crl")).expect("the world's CRLs") {
        let from = entry.expect("a CRL").path();
        let to = site
            .path("crl")
            .join(from.file_name().expect("a file name"));
        std::fs::copy(&from, to).expect("copy a CRL");
    }
    std::fs::write(site.path("blocklist.toml"), "id_nats = []\n").expect("a blocklist");
    serve_site_at(site, world)
}

fn serve_site_at(site: Site, world: World) -> Served {
    site.hr(HR_ROWS);
    site.ok(&["hr", "sync"]);
    for (card, id_nat) in [
        ("cps4-doctor", "899700123450"),
        ("cps3-doctor", "899700123450"),
        ("cps4-nurse", "0751234567"),
    ] {
        let cert = card_file(&world, card, "auth.crt.der");
        site.ok(&[
            "card",
            "enrol",
            "--idnat",
            id_nat,
            "--cert",
            &cert.to_string_lossy(),
        ]);
    }
    let (child, address, admin) = start(&site, true);
    Served {
        site,
        world,
        address,
        admin,
        child,
        verbose: true,
        netns: None,
        time_zone: None,
    }
}

/// What a load test's site holds: many people of `hr_rows`, cards enrolled on first use,
/// the connector certificate `tls` (`server` or `server-ec`), lines added to `[listen]` and
/// `[session]`, and `extra` sections.
pub struct LoadSite<'a> {
    pub hr_rows: &'a [String],
    pub tls: &'a str,
    /// `[listen] address`.
    pub address: &'a str,
    /// `[listen] port` (0: the system chooses; a fixed one keeps the address over a restart).
    pub port: u16,
    /// `[session] endpoints`, one address.
    pub endpoints: &'a str,
    pub listen: &'a str,
    pub session: &'a str,
    pub extra: &'a str,
    /// Whether the connector logs at debug level (as in tests) or only warnings.
    pub verbose: bool,
    /// The network namespace to run the connector in (`ip netns exec`), if any.
    pub netns: Option<&'a str>,
}

impl Default for LoadSite<'_> {
    fn default() -> Self {
        Self {
            hr_rows: &[],
            tls: "server-ec",
            address: "127.0.0.1",
            port: 0,
            endpoints: "198.18.0.2:443",
            listen: "",
            session: "",
            extra: "",
            verbose: false,
            netns: None,
        }
    }
}

/// Starts a connector for a load test over `world`.
pub fn serve_load(world: World, load: &LoadSite<'_>) -> Served {
    let site = Site::new(&load_sections(&world, load));
    let rows: Vec<&str> = load.hr_rows.iter().map(String::as_str).collect();
    site.hr(&rows);
    site.ok(&["hr", "sync"]);
    let (child, address, admin) = start_in(&site, load.verbose, load.netns, None);
    Served {
        site,
        world,
        address,
        admin,
        child,
        verbose: load.verbose,
        netns: load.netns.map(str::to_owned),
        time_zone: None,
    }
}

/// The sections of a load test's site after the base ones, to start it or to rewrite its
/// file before a reload ([`Site::configure`]).
pub fn load_sections(world: &World, load: &LoadSite<'_>) -> String {
    let sections = Sections {
        tls: load.tls,
        address: load.address,
        port: load.port,
        endpoints: load.endpoints,
        listen: load.listen,
        session: load.session,
        revocation: "",
    };
    let sections = serve_sections_with(world, &sections);
    format!(
        "{sections}\n[enrolment]\non_first_use = true\n{}",
        load.extra
    )
}

/// Starts a connector over a seeded site whose configuration ends with `extra` sections.
pub fn serve_with_sections(extra: &str) -> Served {
    let world = world();
    let sections = serve_sections(&world, "", "", "") + extra;
    serve_site_at(Site::new(&sections), world)
}

/// The configuration of a site served for `world`, to rewrite a running connector's file:
/// lines added to `[listen]` and `[session]`, `[trust]` revocation lines (none: the world's
/// CRLs), and `extra` sections at the end.
pub fn sections_for(
    world: &World,
    listen: &str,
    session: &str,
    trust: &str,
    extra: &str,
) -> String {
    serve_sections(world, listen, session, trust) + extra
}

/// A connector with the world's connector certificate `tls` (`server`: RSA-2048,
/// `server-ec`: ECDSA P-256).
pub fn serve_with_tls(tls: &str) -> Served {
    let world = world();
    let sections = Sections {
        tls,
        ..Sections::default()
    };
    let site = Site::new(&serve_sections_with(&world, &sections));
    serve_site_at(site, world)
}

/// A connector with the default limits.
pub fn serve() -> Served {
    serve_with("", "")
}

/// A file of a card's folder in the world.
pub fn card_file(world: &World, card: &str, file: &str) -> PathBuf {
    world
        .card_dir(card)
        .expect("a card of the world")
        .join(file)
}

/// The file stem of `card`'s CA in the world (`elementaire-personnes`), which names its CRL.
pub fn card_ca_stem(world: &World, card: &str) -> String {
    let issuer = &world.card_entry(card).expect("the card's entry").issuer;
    let ca = world.index().cas.iter().find(|ca| &ca.name == issuer);
    ca.expect("the card's CA").stem.clone()
}

/// A CRL from `card`'s CA, issued now (newer than the world's), that revokes the card.
pub fn crl_revoking(world: &World, card: &str) -> Vec<u8> {
    let der = std::fs::read(card_file(world, card, "auth.crt.der")).expect("the card");
    let identity = vigie_certs::CardIdentity::from_der(&der).expect("a card identity");
    let authority = world.authority(&card_ca_stem(world, card));
    let hex = &identity.card_serial;
    let mut serial: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect();
    if serial.first().is_some_and(|b| b & 0x80 != 0) {
        serial.insert(0, 0); // a DER INTEGER: positive
    }
    let now = UnixTime::now().as_secs();
    let crl = authority
        .expect("the CA's key")
        .crl(1_000, now, now + 7 * 86_400, &[(serial, now)]);
    crl.expect("a CRL")
}

/// Runs `vigie-connector serve` and waits for its "listening on" line: the control address
/// and, with `[admin]`, the admin endpoint's.
fn start(site: &Site, verbose: bool) -> (Child, SocketAddr, Option<SocketAddr>) {
    start_in(site, verbose, None, None)
}

/// [`start`] inside network namespace `netns` (`ip netns exec` runs the connector in its
/// place, so the child's pid is the connector's), with `TZ` set to `time_zone` if given.
fn start_in(
    site: &Site,
    verbose: bool,
    netns: Option<&str>,
    time_zone: Option<&str>,
) -> (Child, SocketAddr, Option<SocketAddr>) {
    let binary = env!("CARGO_BIN_EXE_vigie-connector");
    let mut command = match netns {
        Some(netns) => {
            let mut command = Command::new("ip");
            command.args(["netns", "exec", netns, binary]);
            command
        }
        None => Command::new(binary),
    };
    command.arg("--config").arg(site.path("connector.toml"));
    if let Some(time_zone) = time_zone {
        command.env("TZ", time_zone);
    }
    if verbose {
        command.arg("-vv");
    }
    let mut child = command
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(
            std::fs::File::create(site.path("serve.log")).expect("log file"),
        ))
        .spawn()
        .expect("start vigie-connector serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let address = line
        .split_whitespace()
        .find_map(|word| word.parse::<SocketAddr>().ok())
        .unwrap_or_else(|| {
            let log = std::fs::read_to_string(site.path("serve.log")).unwrap_or_default();
            panic!("no address in {line:?}; log:\n{log}")
        });
    let admin = line
        .split_whitespace()
        .find_map(|word| word.strip_prefix("http://")?.parse().ok());
    (child, address, admin)
}

/// `GET path` on the admin endpoint: the status code and the body.
pub fn admin_get(served: &Served, path: &str) -> (u16, String) {
    admin_request(served, "GET", path)
}

/// A request without a body on the admin endpoint: the status code and the body.
pub fn admin_request(served: &Served, method: &str, path: &str) -> (u16, String) {
    use std::io::{Read as _, Write as _};
    let address = served.admin.expect("an [admin] endpoint");
    let stream = vigie_lab::connect_tcp_in(served.netns.as_deref(), address, PATIENCE);
    let mut stream = stream.expect("the admin endpoint");
    stream
        .set_read_timeout(Some(PATIENCE))
        .expect("a read timeout");
    let request = format!("{method} {path} HTTP/1.1\r\nHost: vigie\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).expect("the request");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("the answer");
    let (head, body) = answer.split_once("\r\n\r\n").expect("an HTTP answer");
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok());
    (status.expect("a status code"), body.to_owned())
}

/// The value of the sample `name{labels}` on a metrics page, if there is one (`labels` as
/// written, `""` for none).
pub fn sample(page: &str, name: &str, labels: &str) -> Option<f64> {
    let wanted = match labels {
        "" => name.to_owned(),
        labels => format!("{name}{{{labels}}}"),
    };
    page.lines()
        .find_map(|line| line.strip_prefix(&wanted)?.strip_prefix(' '))
        .and_then(|value| value.trim().parse().ok())
}

impl Served {
    /// The connector's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.site.path("serve.log")).unwrap_or_default()
    }

    /// The audit records so far.
    pub fn audit(&self) -> Vec<serde_json::Value> {
        self.site
            .audit_lines()
            .iter()
            .map(|line| serde_json::from_str(line).expect("an audit line is JSON"))
            .collect()
    }

    /// The audit records of `kind`.
    pub fn audit_of(&self, kind: &str) -> Vec<serde_json::Value> {
        self.audit()
            .into_iter()
            .filter(|record| record["kind"] == kind)
            .collect()
    }

    /// The audit records of `kind` once there are at least `count` of them: certificate
    /// refusals are written by the audit thread after the handshake has failed.
    pub fn wait_audit(&self, kind: &str, count: usize) -> Vec<serde_json::Value> {
        for _ in 0..600 {
            let records = self.audit_of(kind);
            if records.len() >= count {
                return records;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        self.audit_of(kind)
    }

    /// Waits until the connector's log mentions `text` (it logs at debug level in tests).
    pub fn wait_log(&self, text: &str) {
        for _ in 0..600 {
            if self.log().contains(text) {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("the log never said {text:?}:\n{}", self.log());
    }

    /// Asks the connector to stop, as systemd does (SIGTERM to our own child).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Pins `[listen] port` in the site's file to the port the connector holds now, so that
    /// [`Served::restart`] brings it back at the same address, as a packaged connector's
    /// fixed port does.
    pub fn pin_port(&self) {
        let path = self.site.path("connector.toml");
        let text = std::fs::read_to_string(&path).expect("the site's file");
        let port = format!("\nport = {}\n", self.address.port());
        let pinned = text.replacen("\nport = 0\n", &port, 1);
        assert_ne!(pinned, text, "a [listen] port chosen by the system, to pin");
        std::fs::write(&path, pinned).expect("the site's file");
    }

    /// Kills the connector at once (SIGKILL to our own child), as a crash would, and waits
    /// for it to be gone.
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL to the connector");
        let _ = self.child.wait();
    }

    /// Starts the connector again on the same site (in the same namespace), after it
    /// stopped; its new address.
    pub fn restart(&mut self) -> SocketAddr {
        let _ = self.child.wait();
        let time_zone = self.time_zone.as_deref();
        let (child, address, admin) =
            start_in(&self.site, self.verbose, self.netns.as_deref(), time_zone);
        self.child = child;
        self.address = address;
        self.admin = admin;
        address
    }

    /// Stops the connector and starts it again with `TZ` set to `time_zone`.
    pub fn restart_in_time_zone(&mut self, time_zone: &str) -> SocketAddr {
        self.terminate();
        self.time_zone = Some(time_zone.to_owned());
        self.restart()
    }

    /// Waits for the connector to exit; its exit code.
    pub fn wait(&mut self) -> Option<i32> {
        self.child.wait().expect("wait").code()
    }

    /// The connector's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The world's folder.
    pub fn world_dir(&self) -> &Path {
        self.world.dir()
    }
}

/// A safety net so a broken connector fails a test instead of hanging it.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(60);

/// The client side of a control session over QUIC.
pub type QuicControl = client::Control<quinn::RecvStream, quinn::SendStream>;

/// The next event of a control session over any stream, within [`PATIENCE`].
pub async fn next_event<R, W>(control: &mut client::Control<R, W>) -> vigie_protocol::ClientEvent
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    tokio::time::timeout(PATIENCE, control.next_event())
        .await
        .expect("the connector answers")
        .expect("the stream works")
        .expect("an event before the end of the stream")
}

/// The session ends with `code`, and not before the test asked.
pub async fn ends_with(control: &mut QuicControl, code: vigie_protocol::Code) {
    match next_event(control).await {
        vigie_protocol::ClientEvent::Ended(ending) => {
            assert_eq!(ending.reason, code, "{ending:?}");
        }
        other => panic!("the session should end with {code}: {other:?}"),
    }
}

impl Served {
    /// A session granted to `card` over QUIC, its grant, and the connection to keep it open.
    pub async fn granted(
        &self,
        card: &str,
    ) -> (QuicControl, vigie_protocol::SessionGrant, client::Quic) {
        let card = client::SoftCard::load(&self.world, card);
        let config = client::SoftCard::tls_config(&self.world, Some(&card), false);
        let quic = client::connect_quic(self.address, config)
            .await
            .expect("QUIC");
        let (send, recv) = quic.connection.open_bi().await.expect("a stream");
        let mut control = client::Control::new(recv, send);
        let vigie_protocol::ClientEvent::Granted(grant) = next_event(&mut control).await else {
            panic!("a grant was expected");
        };
        (control, grant, quic)
    }
}

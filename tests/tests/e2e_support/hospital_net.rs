//! The tunnel lab: a hospital edge and LAN in network namespaces, and laptops that reach it
//! over their own links, as a clinician's laptop reaches the hospital over the internet.
//!
//! ```text
//!  laptop (vigie up, its own /etc/hosts) ─ veth ─┐
//!  laptop ─────────────────────────────── veth ──┤ connector: vigie-connector serve,
//!                                                │  public address 198.18.200.1 on lo:
//!                                                │  TCP+UDP 443 (control), UDP 51820 (WireGuard)
//!                                                └── veth ── backend: web app :80 (dpi),
//!                                                            Dovecot IMAP :143 (mail),
//!                                                            another web server :8080,
//!                                                            published to nobody
//! ```
//!
//! Each laptop routes only the connector's public address over its link; the backend has
//! no route to the laptops, so replies reach them only through the connector's translation.

use std::net::{Ipv4Addr, SocketAddr};
use std::process::Output;
use std::sync::Arc;

use vigie_lab::apps::{MailServer, MailUser, WebApp};
use vigie_lab::{NetNs, VethLink};

use vigie_client::control::Status;

use super::clinician::{Clinician, Session};
use super::connector::{Connector, Site};
use super::{TempDir, world};

/// The connector's public address, as the internet sees it.
pub const PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 1);
/// The control port (QUIC and TLS/TCP).
pub const CONTROL_PORT: u16 = 443;
/// The WireGuard port.
pub const WIREGUARD_PORT: u16 = 51820;
/// The port of the web server nobody is granted.
pub const UNPUBLISHED_PORT: u16 = 8080;
/// The mail accounts, by login: the doctor's and the nurse's.
pub const MAIL_USERS: &[(&str, &str)] = &[("doctor", "doctor-pw"), ("nurse", "nurse-pw")];

/// The hospital's edge and LAN, with the apps running.
pub struct HospitalNet {
    // Fields drop in order: servers before their namespaces.
    pub web: WebApp,
    pub unpublished: WebApp,
    pub mail: MailServer,
    /// The backend's LAN address, where all three servers listen.
    pub backend_address: Ipv4Addr,
    backend_link: VethLink,
    pub backend: NetNs,
    pub connector: Arc<NetNs>,
    _dir: TempDir,
}

impl HospitalNet {
    /// The hospital for a test that needs root, with the test's logging on; `None` (the test
    /// skipped) without root.
    pub fn for_test() -> Option<Self> {
        if vigie_lab::require_root("network namespaces, TUN devices, nftables, pcscd").is_err() {
            return None;
        }
        vigie_lab::init_test_logging();
        Some(Self::start())
    }

    /// [`HospitalNet::for_test`] with the connector serving the hospital's site.
    pub fn with_connector() -> Option<(Self, Connector)> {
        let hospital = Self::for_test()?;
        let connector =
            Connector::start_site(&world(), &hospital.site(), Some(&hospital.connector));
        Some((hospital, connector))
    }

    /// A clinician with `card` in the reader, on `laptop`, session up.
    pub fn up(&self, laptop: &Laptop, card: &str) -> (Clinician, Session, Status) {
        let world = world();
        let mut clinician = Clinician::new(&world, self.control_address());
        clinician.use_laptop(Arc::clone(&laptop.ns), self.control_address());
        clinician.insert(&world, card);
        let (session, status) = clinician.up_granted();
        (clinician, session, status)
    }

    /// The connector and backend namespaces, linked, with the servers started.
    pub fn start() -> Self {
        let dir = TempDir::new("-hospital");
        let connector = Arc::new(NetNs::new().expect("the connector's namespace"));
        let backend = NetNs::new().expect("the backend namespace");
        let link = VethLink::new(&connector, &backend).expect("the hospital LAN");
        let public = format!("{PUBLIC}/32");
        connector
            .run("ip", &["addr", "add", &public, "dev", "lo"])
            .expect("the public address");
        let host = link.addr_b();
        let web = WebApp::start(&backend, (host, 80).into(), "dpi", dir.path()).expect("web");
        let other = SocketAddr::from((host, UNPUBLISHED_PORT));
        let unpublished = WebApp::start(&backend, other, "rh", dir.path()).expect("rh");
        let users: Vec<MailUser> = MAIL_USERS
            .iter()
            .map(|(login, password)| MailUser {
                login: (*login).into(),
                password: (*password).into(),
            })
            .collect();
        let mail = MailServer::start(&backend, (host, 143).into(), &users, dir.path())
            .expect("Dovecot starts; install dovecot-imapd");
        Self {
            web,
            unpublished,
            mail,
            backend_address: host,
            backend_link: link,
            backend,
            connector,
            _dir: dir,
        }
    }

    /// The connector's site: the data plane on, the public endpoints, the two apps.
    pub fn site(&self) -> Site {
        let backend = self.backend_address;
        Site {
            listen: format!("address = \"{PUBLIC}\"\nport = {CONTROL_PORT}"),
            endpoints: format!("[\"{PUBLIC}:{WIREGUARD_PORT}\"]"),
            extra: format!(
                "[dataplane]\nenabled = true\naddress = \"{PUBLIC}\"\nport = {WIREGUARD_PORT}\n"
            ),
            apps: format!(
                "[[app]]\nname = \"dpi\"\ndns_name = \"dpi.hopital.example\"\n\
                 ports = [\"tcp/80\"]\nbackend = \"{backend}\"\nprofessions = [\"Médecin\"]\n\
                 [[app]]\nname = \"mail\"\ndns_name = \"mail.hopital.example\"\n\
                 ports = [\"tcp/143\"]\nbackend = \"{backend}\"\n\
                 groups = [\"urgences\", \"soins\"]\n"
            ),
            ..Site::default()
        }
    }

    /// The connector's own address on the hospital LAN.
    pub fn lan_address(&self) -> Ipv4Addr {
        self.backend_link.addr_a()
    }

    /// Where clients reach the connector.
    pub fn control_address(&self) -> SocketAddr {
        (PUBLIC, CONTROL_PORT).into()
    }

    /// A laptop on a link of its own to the connector.
    pub fn laptop(&self) -> Laptop {
        let ns = Arc::new(NetNs::new().expect("a laptop namespace"));
        let link = self.link_laptop(&ns);
        Laptop { ns, link }
    }

    fn link_laptop(&self, laptop: &NetNs) -> VethLink {
        let link = VethLink::new(laptop, &self.connector).expect("the laptop's link");
        let (public, via) = (format!("{PUBLIC}/32"), link.addr_b().to_string());
        laptop
            .run("ip", &["route", "replace", &public, "via", &via])
            .expect("the route to the connector");
        link
    }
}

/// A clinician's laptop.
pub struct Laptop {
    pub ns: Arc<NetNs>,
    link: VethLink,
}

impl Laptop {
    /// Its address on the internet, now.
    pub fn address(&self) -> Ipv4Addr {
        self.link.addr_a()
    }

    /// Moves the laptop to a new link with a new address (Wi-Fi to 4G); the old link goes.
    pub fn move_to_new_link(&mut self, hospital: &HospitalNet) {
        let new = hospital.link_laptop(&self.ns);
        // Dropping the old link deletes it, and its address and route with it.
        self.link = new;
    }

    /// `curl ARGS` inside the laptop, as the clinician would run it.
    pub fn curl(&self, args: &[&str]) -> Output {
        self.ns
            .command("curl")
            .args(["--silent", "--show-error", "--max-time", "15"])
            .args(args)
            .output()
            .expect("run curl (install curl)")
    }

    /// The page of `url`, or curl's error.
    pub fn http_get(&self, url: &str) -> Result<String, String> {
        outcome(self.curl(&[url]))
    }

    /// The page of `url` fetched with curl's extra `args`, or curl's error.
    pub fn http_get_with(&self, args: &[&str], url: &str) -> Result<String, String> {
        let mut all = args.to_vec();
        all.push(url);
        outcome(self.curl(&all))
    }

    /// The mailbox list of `login` at IMAP `url`, or curl's error.
    pub fn imap_list(&self, url: &str, login: &str, password: &str) -> Result<String, String> {
        outcome(self.curl(&["--user", &format!("{login}:{password}"), url]))
    }

    /// Asks DNS server `server` for the A record of `name`, from inside the laptop; the
    /// address of the answer, or `None` for no answer, NXDOMAIN or an empty answer.
    pub fn dns_a(&self, server: Ipv4Addr, name: &str) -> Option<Ipv4Addr> {
        let socket = self.ns.bind_udp((Ipv4Addr::UNSPECIFIED, 0).into()).ok()?;
        socket
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        let mut query = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            query.push(u8::try_from(label.len()).ok()?);
            query.extend_from_slice(label.as_bytes());
        }
        query.extend_from_slice(&[0, 0, 1, 0, 1]);
        socket.send_to(&query, (server, 53)).ok()?;
        let mut answer = [0u8; 512];
        let len = socket.recv(&mut answer).ok()?;
        let answer = &answer[..len];
        let (rcode, count) = (answer[3] & 0x0f, u16::from_be_bytes([answer[6], answer[7]]));
        if answer[..2] != query[..2] || rcode != 0 || count != 1 {
            return None;
        }
        // The one A record comes last: its four address bytes end the message.
        let a: [u8; 4] = answer[len - 4..].try_into().ok()?;
        Some(Ipv4Addr::from(a))
    }

    /// How the laptop resolves `name` (`getent hosts`), or `None`.
    pub fn resolve(&self, name: &str) -> Option<String> {
        let output = self
            .ns
            .command("getent")
            .args(["hosts", name])
            .output()
            .expect("run getent");
        let text = String::from_utf8_lossy(&output.stdout);
        text.split_whitespace().next().map(str::to_owned)
    }
}

fn outcome(output: Output) -> Result<String, String> {
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "curl exit {:?}: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

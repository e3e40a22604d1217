//! The data plane's lab: a connector namespace running [`DataPlane`], a backend namespace
//! with real servers, and client namespaces each running wireguard-go as a session's peer,
//! configured with the keys and addresses a grant gives.
//!
//! ```text
//!  client-1 (wireguard-go) ──veth──┐
//!                                  ├── connector (DataPlane, TUN, nftables) ──veth── backend
//!  client-2 (wireguard-go) ──veth──┘
//! ```

#![allow(dead_code, reason = "each test file uses part of the lab")]

use std::fs::File;
use std::io::{Read as _, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use nix::sched::{CloneFlags, setns};
use ring::rand::{SecureRandom as _, SystemRandom};
use vigie_connector::admission::AppAccess;
use vigie_connector::dataplane::{DataPlane, DataPlaneConfig, NatApp, SessionSpec};
use vigie_lab::{LabError, LabProcess, NetNs, VethLink};
use vigie_protocol::{SessionId, WireGuardKey};
use x25519_dalek::{PublicKey, StaticSecret};

/// The connector's end of the tunnels and the clients' range.
pub const CLIENTS: &str = "100.96.0.0/24";
/// The DNS address in grants.
pub const DNS: Ipv4Addr = Ipv4Addr::new(100, 80, 0, 53);
/// How long one connection attempt may take before the test gives up on it (a safety net,
/// not a measurement).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// A key pair made the way `wg genkey` would.
pub fn key_pair() -> (StaticSecret, [u8; 32]) {
    let mut bytes = [0u8; 32];
    SystemRandom::new().fill(&mut bytes).expect("random bytes");
    let secret = StaticSecret::from(bytes);
    let public = PublicKey::from(&secret).to_bytes();
    (secret, public)
}

/// The connector's namespace and its running data plane.
pub struct Connector {
    pub ns: NetNs,
    pub public_key: [u8; 32],
    pub plane: Option<DataPlane>,
}

impl Connector {
    /// A connector namespace, its data plane not started yet.
    pub fn new() -> Self {
        Self {
            ns: NetNs::new().expect("connector namespace"),
            public_key: [0; 32],
            plane: None,
        }
    }

    /// Starts the data plane inside the namespace, translating `apps`.
    pub fn start(&mut self, apps: Vec<NatApp>) {
        let (secret, public_key) = key_pair();
        let path = format!("/var/run/netns/{}", self.ns.name());
        let plane = std::thread::spawn(move || {
            let handle = File::open(&path).expect("the namespace file");
            setns(&handle, CloneFlags::CLONE_NEWNET).expect("enter the connector namespace");
            let config = DataPlaneConfig {
                enabled: true,
                tun: "vigie0".into(),
                ..DataPlaneConfig::default()
            };
            DataPlane::start(
                &config,
                secret,
                CLIENTS.parse().expect("a range"),
                Some(DNS),
                &apps,
            )
            .expect("the data plane starts")
        })
        .join()
        .expect("the data plane thread");
        self.public_key = public_key;
        self.plane = Some(plane);
    }

    pub fn plane(&self) -> &DataPlane {
        self.plane.as_ref().expect("a running data plane")
    }
}

/// A client namespace with wireguard-go holding one session's tunnel.
pub struct Client {
    // Fields drop in order: wireguard-go stops before its namespace goes.
    _wireguard: LabProcess,
    pub ns: NetNs,
    pub link: VethLink,
    pub session: SessionId,
    pub tunnel_address: Ipv4Addr,
}

impl Client {
    /// Makes a client namespace linked to the connector, a session for it in the data plane
    /// with `apps`, and wireguard-go configured as that session's grant says.
    pub fn start(connector: &Connector, number: u8, apps: Vec<AppAccess>, dir: &Path) -> Self {
        let ns = NetNs::new().expect("client namespace");
        let link = VethLink::new(&ns, &connector.ns).expect("client link");
        let (secret, public) = key_pair();
        let tunnel_address = Ipv4Addr::new(100, 96, 0, 1 + number);
        let session = SessionId([number; 16]);
        let spec = SessionSpec {
            id: session,
            client_key: WireGuardKey(public),
            tunnel_address,
            apps,
            control: None,
        };
        connector
            .plane()
            .add_session(spec)
            .expect("the session is added");
        // wireguard-go's control socket is a file (/var/run/wireguard/NAME.sock), shared by
        // all namespaces and test processes: each client gets a name of its own.
        let device = format!("vgw{}-{number}", std::process::id() % 1_000_000);
        let wireguard = wireguard_go(&ns, dir, &device);
        let key_file = dir.join(format!("client-{number}.key"));
        std::fs::write(&key_file, STANDARD.encode(secret.to_bytes())).expect("key file");
        let endpoint = SocketAddr::from((link.addr_b(), connector.plane().local_addr().port()));
        let peer = STANDARD.encode(connector.public_key);
        let key_path = key_file.to_str().expect("a UTF-8 path");
        let (endpoint, address) = (endpoint.to_string(), format!("{tunnel_address}/32"));
        ns.run("wg", &["set", &device, "private-key", key_path])
            .expect("wg key");
        ns.run(
            "wg",
            &[
                "set",
                &device,
                "peer",
                &peer,
                "endpoint",
                &endpoint,
                "allowed-ips",
                "100.80.0.0/16",
            ],
        )
        .expect("wg peer");
        ns.run("ip", &["addr", "add", &address, "dev", &device])
            .expect("tunnel address");
        ns.run("ip", &["link", "set", &device, "up"])
            .expect("device up");
        ns.run("ip", &["route", "add", "100.80.0.0/16", "dev", &device])
            .expect("app route");
        Self {
            ns,
            link,
            session,
            tunnel_address,
            _wireguard: wireguard,
        }
    }

    /// An HTTP GET of `/` at `address`, through the tunnel; the status line.
    pub fn http_get(&self, address: SocketAddr) -> Result<String, LabError> {
        let mut stream = self.ns.connect_tcp(address, PATIENCE)?;
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("read timeout");
        stream
            .write_all(b"GET / HTTP/1.0\r\n\r\n")
            .expect("request written");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        Ok(answer.lines().next().unwrap_or_default().to_owned())
    }
}

/// Starts wireguard-go in `ns` and waits for its `device`.
fn wireguard_go(ns: &NetNs, dir: &Path, device: &str) -> LabProcess {
    let mut command = ns.command("wireguard-go");
    command.args(["-f", device]);
    let process = LabProcess::spawn_in(dir, &format!("wireguard-go-{device}"), command)
        .expect("wireguard-go starts; install the wireguard-go package");
    for _ in 0..200 {
        if ns.run("wg", &["show", device]).is_ok() {
            return process;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("wireguard-go made no {device}: {}", process.log_tail(20));
}

/// Whether connecting to `address` from `client` is refused (a reset, not a timeout).
pub fn refused(client: &Client, address: SocketAddr) -> bool {
    match client.ns.connect_tcp(address, PATIENCE) {
        Err(LabError::Io { source, .. }) => source.kind() == std::io::ErrorKind::ConnectionRefused,
        Err(other) => panic!("{address}: expected a refusal, got {other}"),
        Ok(_) => false,
    }
}

/// An app for a session and for the NAT rules.
pub fn app(name: &str, last_octet: u8, backend: Ipv4Addr, port: &str) -> (AppAccess, NatApp) {
    let virtual_address = Ipv4Addr::new(100, 80, 0, last_octet);
    let ports = vec![port.parse().expect("a port rule")];
    let access = AppAccess {
        name: name.into(),
        dns_name: format!("{name}.hopital.example"),
        virtual_address,
        ports: ports.clone(),
    };
    let nat = NatApp {
        name: name.into(),
        virtual_address,
        backend,
        ports,
    };
    (access, nat)
}

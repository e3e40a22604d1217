//! The data plane against a real WireGuard peer: wireguard-go in client namespaces, set up
//! with the keys and addresses of a grant, reaches HTTP servers behind the connector.
//! Needs root (namespaces, TUN, nftables) and the wireguard-go, wireguard-tools and
//! nftables packages.

mod dataplane_lab;

use std::net::{Ipv4Addr, SocketAddr};

use dataplane_lab::{Client, Connector, app, refused};
use vigie_connector::dataplane::{DropReason, Path};
use vigie_lab::apps::{WebApp, bulk_bytes, sha256_hex};
use vigie_lab::{NetNs, VethLink};

#[test]
fn sessions_reach_only_their_apps_and_follow_a_roaming_client() {
    if vigie_lab::require_root("namespaces, TUN devices and nftables").is_err() {
        return;
    }
    let dir = tempfile::tempdir().expect("a log folder");
    let mut connector = Connector::new();
    let backend = NetNs::new().expect("backend namespace");
    let lan = VethLink::new(&connector.ns, &backend).expect("LAN link");
    let backend_address = lan.addr_b();
    // One host, three services: two published (to different people), one never published.
    let web_app = |port: u16, name: &str| {
        WebApp::start(&backend, (backend_address, port).into(), name, dir.path()).expect(name)
    };
    let _web = web_app(8080, "web");
    let _other = web_app(9091, "other");
    let _hidden = web_app(9090, "hidden");
    let (web, web_nat) = app("web", 1, backend_address, "tcp/8080");
    let (other, other_nat) = app("other", 2, backend_address, "tcp/9091");
    connector.start(vec![web_nat, other_nat]);

    let first = Client::start(&connector, 1, vec![web.clone()], dir.path());
    let second = Client::start(&connector, 2, vec![other.clone()], dir.path());
    let web_url = SocketAddr::from((web.virtual_address, 8080));
    let other_url = SocketAddr::from((other.virtual_address, 9091));

    // The published app answers through the tunnel.
    let status = first.http_get(web_url).expect("the web app answers");
    assert!(status.starts_with("HTTP/1.0 200"), "{status}");

    // Another port of the published host, and the other session's app, are refused at once.
    assert!(refused(&first, (web.virtual_address, 9090).into()));
    assert!(refused(&first, other_url));
    let counters = connector
        .plane()
        .session_counters(&first.session)
        .expect("counters");
    assert!(
        counters.dropped(DropReason::UnpublishedPort) >= 1,
        "{counters:?}"
    );
    assert!(
        counters.dropped(DropReason::UnknownDestination) >= 1,
        "{counters:?}"
    );

    // The second session sees its own app only.
    let status = second.http_get(other_url).expect("the other app answers");
    assert!(status.starts_with("HTTP/1.0 200"), "{status}");
    assert!(refused(&second, web_url));

    // Names resolve for the session's own apps only; UDP to an unpublished port is refused.
    let answers = dns_and_udp(&first);
    assert_eq!(answers, ["web 100.80.0.1", "other NXDOMAIN", "udp refused"]);

    // The first client's underlay address changes: its tunnel follows.
    let moved = Ipv4Addr::new(198, 19, 254, 1);
    move_client(&first, &connector, moved);
    let status = first
        .http_get(web_url)
        .expect("the web app answers after the move");
    assert!(status.starts_with("HTTP/1.0 200"), "{status}");
    match connector.plane().path(&first.session) {
        Some(Path::Udp(endpoint)) => assert_eq!(endpoint.ip(), moved),
        other => panic!("the session follows the client to {moved}, not {other:?}"),
    }
}

/// Segmentation offload against a peer without it: the web app's 64 KiB super-packets are
/// cut by the data plane into segments wireguard-go carries one by one, and wireguard-go's
/// single segments are joined before they reach the kernel; a large download and upload
/// arrive intact.
#[test]
fn a_standard_peer_moves_large_files_intact_through_the_batched_data_plane() {
    if vigie_lab::require_root("namespaces, TUN devices and nftables").is_err() {
        return;
    }
    let dir = tempfile::tempdir().expect("a log folder");
    let mut connector = Connector::new();
    let backend = NetNs::new().expect("backend namespace");
    let lan = VethLink::new(&connector.ns, &backend).expect("LAN link");
    let address = SocketAddr::from((lan.addr_b(), 8080));
    let web = WebApp::start(&backend, address, "pacs", dir.path()).expect("the web app");
    let (pacs, nat) = app("pacs", 1, lan.addr_b(), "tcp/8080");
    connector.start(vec![nat]);
    // Number 3: wireguard-go devices are named by number, and the other test runs at once.
    let client = Client::start(&connector, 3, vec![pacs.clone()], dir.path());

    let scan = bulk_bytes(16 << 20);
    web.publish_file("scan.bin", &scan).expect("the file");
    let url = format!("http://{}:8080/scan.bin", pacs.virtual_address);
    let curl = |args: &[&str]| {
        let mut command = client.ns.command("curl");
        command.args(["--silent", "--show-error", "--max-time", "60", "--fail"]);
        let output = command.args(args).arg(&url).output().expect("run curl");
        let error = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{error}");
        output.stdout
    };
    let downloaded = curl(&[]);
    assert_eq!(sha256_hex(&downloaded), sha256_hex(&scan), "the download");
    let upload = dir.path().join("upload.bin");
    std::fs::write(&upload, &scan).expect("the upload's file");
    let answer = curl(&["--upload-file", upload.to_str().expect("a UTF-8 path")]);
    let answer = String::from_utf8_lossy(&answer);
    assert_eq!(
        answer.trim(),
        sha256_hex(&scan),
        "what the web app received"
    );
    let counters = connector
        .plane()
        .session_counters(&client.session)
        .expect("counters");
    assert!(counters.to_client > (16 << 20) / 1500, "{counters:?}");
}

/// Gives the client's veth a new address, as a laptop going from Wi-Fi to 4G would get,
/// with routes both ways so the connector can answer it there.
fn move_client(client: &Client, connector: &Connector, to: Ipv4Addr) {
    let old = client.link.addr_a();
    let client_if = interface_with(&client.ns, old);
    let connector_if = interface_with(&connector.ns, client.link.addr_b());
    let (old, to_host) = (format!("{old}/30"), format!("{to}/32"));
    let connector_address = format!("{}/32", client.link.addr_b());
    let ns = &client.ns;
    ns.run("ip", &["addr", "del", &old, "dev", &client_if])
        .expect("old address gone");
    ns.run("ip", &["addr", "add", &to_host, "dev", &client_if])
        .expect("new address");
    ns.run(
        "ip",
        &["route", "add", &connector_address, "dev", &client_if],
    )
    .expect("route");
    let route = ["route", "add", &to_host, "dev", &connector_if];
    connector.ns.run("ip", &route).expect("route back");
}

/// The name of the interface holding `address` in `ns`.
fn interface_with(ns: &NetNs, address: Ipv4Addr) -> String {
    let listing = ns
        .run_stdout("ip", &["-o", "-4", "addr", "show"])
        .expect("ip addr");
    let needle = format!(" {address}/");
    let line = listing
        .lines()
        .find(|line| line.contains(&needle))
        .unwrap_or_else(|| panic!("no interface holds {address}: {listing}"));
    let name = line.split_whitespace().nth(1).expect("an interface name");
    name.split('@').next().unwrap_or(name).to_owned()
}

/// Asks the connector's DNS for both app names, then sends UDP to the web app's unpublished
/// port 5000, from inside the client's namespace.
fn dns_and_udp(client: &Client) -> Vec<String> {
    const SCRIPT: &str = r#"
import socket, struct
def ask(name):
    query = struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0)
    for label in (name + ".hopital.example").split("."):
        query += bytes([len(label)]) + label.encode()
    query += b"\0" + struct.pack("!HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(20)
    s.sendto(query, ("100.80.0.53", 53))
    answer = s.recv(512)
    if answer[3] & 15 == 3:
        return name + " NXDOMAIN"
    return name + " " + socket.inet_ntoa(answer[-4:])
print(ask("web"))
print(ask("other"))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.settimeout(20)
u.connect(("100.80.0.1", 5000))
u.send(b"x")
try:
    u.recv(16)
    print("udp answered")
except ConnectionRefusedError:
    print("udp refused")
"#;
    let output = client
        .ns
        .run_stdout("python3", &["-c", SCRIPT])
        .expect("the DNS and UDP probe runs");
    output.lines().map(str::to_owned).collect()
}

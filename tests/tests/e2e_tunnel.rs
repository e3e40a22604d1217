//! End to end, as root: the real `vigie up` on a laptop namespace brings its tunnel up to
//! the real `vigie-connector serve`, and the clinician reaches the published apps by name —
//! a web app with curl, a real Dovecot with curl's IMAP — and nothing else: not another
//! port of a published host, not a service published to nobody, not another user's app.
//! The tunnel survives the laptop changing address, and runs inside the control connection
//! where UDP is blocked.

mod e2e_support;

use std::time::{Duration, Instant};

use e2e_support::connector::Connector;
use e2e_support::hospital_net::{HospitalNet, Laptop, PUBLIC, UNPUBLISHED_PORT};
use e2e_support::{eventually, world};
use vigie_client::control::{Status, exit};
use vigie_lab::apps::WebApp;

const DPI: &str = "http://dpi.hopital.example/";
const MAIL: &str = "imap://mail.hopital.example/";

/// The DNS server of the grants (the connector answers it inside the tunnel).
const DNS: std::net::Ipv4Addr = std::net::Ipv4Addr::new(100, 80, 0, 53);

fn app_address(status: &Status, name: &str) -> String {
    let app = status.apps.iter().find(|a| a.name == name);
    app.unwrap_or_else(|| panic!("no app {name} in {status:#?}"))
        .address
        .clone()
}

/// Asserts curl failed to connect at all (exit 7: refused or unreachable), not a timeout.
fn assert_refused(result: Result<String, String>, what: &str) {
    let error = result.expect_err(what);
    assert!(error.starts_with("curl exit Some(7)"), "{what}: {error}");
}

#[test]
fn a_doctor_reaches_the_published_web_app_and_mail_by_name_and_nothing_else() {
    let Some((hospital, connector)) = HospitalNet::with_connector() else {
        return;
    };
    let laptop = hospital.laptop();
    let (clinician, mut session, status) = hospital.up(&laptop, "cps3-doctor");
    let tunnel = status.tunnel.clone().expect("a tunnel in the status");
    assert!(tunnel.path.contains("over UDP"), "{tunnel:?}");
    assert_eq!(status.transport.as_deref(), Some("TCP (TLS 1.2)"));

    // Names resolve to the apps' virtual addresses, on the laptop and in the tunnel.
    let dpi = app_address(&status, "dpi");
    assert_eq!(laptop.resolve("dpi.hopital.example"), Some(dpi.clone()));
    let page = eventually("the web app", || laptop.http_get(DPI));
    assert!(page.contains(&WebApp::marker("dpi")), "{page}");
    let asked = laptop.dns_a(DNS, "dpi.hopital.example");
    assert_eq!(asked.map(|a| a.to_string()), Some(dpi.clone()));
    assert_eq!(laptop.dns_a(DNS, "rh.hopital.example"), None);
    let mailboxes = laptop.imap_list(MAIL, "doctor", "doctor-pw");
    assert!(
        mailboxes
            .expect("IMAP through the tunnel")
            .contains("INBOX")
    );

    // Not another port of a published host; not the LAN itself, even routed into the tunnel.
    let other_port = format!("http://dpi.hopital.example:{UNPUBLISHED_PORT}/");
    assert_refused(laptop.http_get(&other_port), "another port of dpi");
    let backend = hospital.backend_address.to_string();
    let direct = format!("http://{backend}:{UNPUBLISHED_PORT}/");
    assert_refused(laptop.http_get(&direct), "the LAN without the tunnel");
    let into_tunnel = format!("{backend}/32");
    let device = tunnel.device.as_str();
    laptop
        .ns
        .run("ip", &["route", "add", &into_tunnel, "dev", device])
        .expect("a route of the user's own into the tunnel");
    assert_refused(laptop.http_get(&direct), "the LAN through the tunnel");
    // ...while the service is there for whoever is on the LAN.
    let on_lan = hospital
        .connector
        .command("curl")
        .args(["--silent", &direct])
        .output();
    let on_lan = String::from_utf8_lossy(&on_lan.expect("curl on the LAN").stdout).into_owned();
    assert!(on_lan.contains(&WebApp::marker("rh")), "{on_lan}");

    // vigie status shows the traffic; vigie down undoes everything.
    let shown = clinician.run(&["status"]);
    let shown = String::from_utf8_lossy(&shown.stdout).into_owned();
    assert!(shown.contains("Traffic:"), "{shown}");
    assert!(shown.contains("WireGuard over UDP"), "{shown}");
    clinician.down(&mut session);
    assert_eq!(
        laptop.resolve("dpi.hopital.example"),
        None,
        "hosts lines left"
    );
    let link = laptop.ns.run("ip", &["link", "show", device]);
    assert!(link.is_err(), "the tunnel device outlived the session");
    connector.wait_log("session left the data plane", 1);
}

#[test]
fn a_second_user_sees_only_her_own_apps_and_the_connector_enforces_it() {
    let Some((hospital, _connector)) = HospitalNet::with_connector() else {
        return;
    };
    let (doctor_laptop, nurse_laptop) = (hospital.laptop(), hospital.laptop());
    let (_doctor, _doctor_session, doctor) = hospital.up(&doctor_laptop, "cps3-doctor");
    let (_nurse, _nurse_session, nurse) = hospital.up(&nurse_laptop, "cps4-nurse");
    let names = |s: &Status| s.apps.iter().map(|a| a.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&doctor), ["dpi", "mail"]);
    assert_eq!(names(&nurse), ["mail"]);
    assert_eq!(nurse.transport.as_deref(), Some("QUIC (TLS 1.3)"));

    let mailboxes = eventually("the nurse's mail", || {
        nurse_laptop.imap_list(MAIL, "nurse", "nurse-pw")
    });
    assert!(mailboxes.contains("INBOX"), "{mailboxes}");
    assert_eq!(nurse_laptop.resolve("dpi.hopital.example"), None);
    assert_eq!(nurse_laptop.dns_a(DNS, "dpi.hopital.example"), None);

    // Routing the doctor's app into her own tunnel by hand gets her a refusal.
    let dpi = app_address(&doctor, "dpi");
    let device = nurse.tunnel.as_ref().expect("a tunnel").device.clone();
    nurse_laptop
        .ns
        .run(
            "ip",
            &["route", "add", &format!("{dpi}/32"), "dev", &device],
        )
        .expect("a route into her tunnel");
    assert_refused(
        nurse_laptop.http_get(&format!("http://{dpi}/")),
        "the doctor's app",
    );
    let page = eventually("the doctor's app", || doctor_laptop.http_get(DPI));
    assert!(page.contains(&WebApp::marker("dpi")), "{page}");
}

#[test]
fn the_tunnel_survives_the_laptop_changing_address() {
    let Some((hospital, _connector)) = HospitalNet::with_connector() else {
        return;
    };
    let mut laptop = hospital.laptop();
    let (clinician, mut session, _) = hospital.up(&laptop, "cps4-nurse");
    let list = || laptop_list(&laptop);
    eventually("mail before the move", list);
    let before = laptop.address();

    laptop.move_to_new_link(&hospital);
    assert_ne!(laptop.address(), before);
    let mailboxes = eventually("mail after the move", || laptop_list(&laptop));
    assert!(mailboxes.contains("INBOX"), "{mailboxes}");
    let status = clinician.wait_state(&mut session, "active");
    assert_eq!(status.transport.as_deref(), Some("QUIC (TLS 1.3)"));
    clinician.down(&mut session);
}

fn laptop_list(laptop: &Laptop) -> Result<String, String> {
    laptop.imap_list(MAIL, "nurse", "nurse-pw")
}

#[test]
fn where_udp_is_blocked_the_tunnel_runs_inside_the_control_connection() {
    let Some((hospital, _connector)) = HospitalNet::with_connector() else {
        return;
    };
    let laptop = hospital.laptop();
    block_udp(&laptop);

    // A CPS4 finds UDP blocked for QUIC already: its tunnel starts inside TCP.
    let (clinician, mut session, status) = hospital.up(&laptop, "cps4-nurse");
    assert_eq!(status.transport.as_deref(), Some("TCP (TLS 1.3)"));
    let path = status.tunnel.expect("a tunnel").path;
    assert!(path.contains("inside the control connection"), "{path}");
    let mailboxes = eventually("mail inside TCP", || laptop_list(&laptop));
    assert!(mailboxes.contains("INBOX"), "{mailboxes}");
    clinician.down(&mut session);
    drop(clinician);

    // A CPS3 always uses TCP for control; its WireGuard finds out over UDP, then moves.
    let (_clinician, session, _) = hospital.up(&laptop, "cps3-doctor");
    let page = eventually("the web app inside TCP", || laptop.http_get(DPI));
    assert!(page.contains(&WebApp::marker("dpi")), "{page}");
    eventually("the user told of the move", || {
        let output = session.output();
        match output.contains("The tunnel now runs as WireGuard inside the control connection") {
            true => Ok(()),
            false => Err(output),
        }
    });
}

/// Drops the laptop's UDP to the connector.
fn block_udp(laptop: &Laptop) {
    let nft = |args: &str| {
        let args: Vec<&str> = args.split_whitespace().collect();
        laptop.ns.run("nft", &args).expect("nft");
    };
    nft("add table inet vigie_e2e");
    laptop
        .ns
        .run(
            "nft",
            &[
                "add",
                "chain",
                "inet",
                "vigie_e2e",
                "output",
                "{ type filter hook output priority 0 ; }",
            ],
        )
        .expect("nft chain");
    nft(&format!(
        "add rule inet vigie_e2e output ip daddr {PUBLIC} meta l4proto udp drop"
    ));
}

#[test]
fn traffic_in_the_tunnel_keeps_the_session_past_its_idle_timeout_and_silence_ends_it() {
    if vigie_lab::require_root("network namespaces, TUN devices, nftables, pcscd").is_err() {
        return;
    }
    let hospital = HospitalNet::start();
    let mut site = hospital.site();
    site.session = "idle_timeout = \"8s\"".into();
    let _connector = Connector::start_site(&world(), &site, Some(&hospital.connector));
    let laptop = hospital.laptop();
    let (_clinician, mut session, status) = hospital.up(&laptop, "cps4-nurse");
    assert_eq!(status.idle_timeout, Some(8));

    let busy_until = Instant::now() + Duration::from_secs(16);
    while Instant::now() < busy_until {
        eventually("mail while busy", || laptop_list(&laptop));
        assert!(
            session.child.try_wait().expect("wait").is_none(),
            "ended while in use"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    assert_eq!(session.wait(), Some(i32::from(exit::SESSION_ENDED)));
    assert!(
        session.output().contains("VIGIE-E-300"),
        "{}",
        session.output()
    );
}

#[test]
fn after_a_crash_the_next_start_removes_what_the_dead_session_left() {
    let Some((hospital, _connector)) = HospitalNet::with_connector() else {
        return;
    };
    let laptop = hospital.laptop();
    let hosts = std::path::Path::new("/etc/netns")
        .join(laptop.ns.name())
        .join("hosts");
    let marked = || {
        let text = std::fs::read_to_string(&hosts).expect("the laptop's hosts file");
        text.lines()
            .filter(|l| l.ends_with("# vigie:vigie0"))
            .count()
    };
    let (clinician, mut session, _) = hospital.up(&laptop, "cps4-nurse");
    assert_eq!(marked(), 1, "the mail app's name");

    session.child.kill().expect("SIGKILL vigie up");
    session.child.wait().expect("reaped");
    assert_eq!(marked(), 1, "a killed process cannot clean up");
    let device = laptop.ns.run("ip", &["link", "show", "vigie0"]);
    assert!(
        device.is_err(),
        "the kernel removes the device with its process"
    );

    let (mut again, _) = clinician.up_granted();
    assert_eq!(marked(), 1, "the stale line is replaced, not repeated");
    clinician.down(&mut again);
    assert_eq!(marked(), 0);
}

#[test]
fn pulling_the_card_stops_the_tunnel_until_the_card_is_back() {
    let Some((hospital, _connector)) = HospitalNet::with_connector() else {
        return;
    };
    let laptop = hospital.laptop();
    let (mut clinician, mut session, _) = hospital.up(&laptop, "cps4-nurse");
    eventually("mail with the card in", || laptop_list(&laptop));

    clinician.pull();
    clinician.wait_state(&mut session, "suspended");
    let held = laptop_list(&laptop);
    assert!(held.is_err(), "mail answered with the card out: {held:?}");

    clinician.insert(&world(), "cps4-nurse");
    clinician.wait_state(&mut session, "active");
    let mailboxes = eventually("mail with the card back", || laptop_list(&laptop));
    assert!(mailboxes.contains("INBOX"), "{mailboxes}");
    clinician.down(&mut session);
}

#[test]
fn a_connector_restart_gives_the_session_back_to_the_same_vigie_up() {
    let Some((hospital, mut connector)) = HospitalNet::with_connector() else {
        return;
    };
    let laptop = hospital.laptop();
    let (clinician, mut session, before) = hospital.up(&laptop, "cps3-doctor");
    let page = eventually("the web app", || laptop.http_get(DPI));
    assert!(page.contains(&WebApp::marker("dpi")), "{page}");

    connector.restart(Some(&hospital.connector));
    clinician.wait_state(&mut session, "reconnecting");
    // The same `vigie up` reconnects with the card it holds (no new PIN) and gets the
    // same session, with the same tunnel address, back.
    let after = clinician.wait_state(&mut session, "active");
    assert_eq!(after.pid, before.pid);
    assert_eq!(after.session_id, before.session_id, "{}", session.output());
    assert_eq!(after.tunnel_address, before.tunnel_address);
    assert!(
        session.output().contains("reconnecting"),
        "{}",
        session.output()
    );
    let page = eventually("the web app after the restart", || laptop.http_get(DPI));
    assert!(page.contains(&WebApp::marker("dpi")), "{page}");
    let resumed = connector.wait_audit("session.resume", 1);
    assert_eq!(resumed.len(), 1, "{resumed:#?}");
    clinician.down(&mut session);
}

#[test]
fn the_health_check_says_when_the_data_plane_stops_carrying_packets() {
    let Some(hospital) = HospitalNet::for_test() else {
        return;
    };
    let mut site = hospital.site();
    site.extra
        .push_str("[admin]\nlisten = \"127.0.0.1:9180\"\n");
    let _connector = Connector::start_site(&world(), &site, Some(&hospital.connector));
    let ns = &hospital.connector;
    let health = |code: &'static str| {
        move || {
            let output = ns
                .command("curl")
                .args(["--silent", "--write-out", " %{http_code}"])
                .arg("http://127.0.0.1:9180/health")
                .output()
                .map_err(|e| e.to_string())?;
            let answer = String::from_utf8_lossy(&output.stdout).into_owned();
            if answer.ends_with(code) {
                Ok(answer)
            } else {
                Err(answer)
            }
        }
    };
    let ok = eventually("a healthy connector", health(" 200"));
    assert!(ok.contains("data plane"), "{ok}");

    // The TUN device disappears under the running connector (a script, a driver): no
    // tunnel can carry anything, and the health check says so.
    let deleted = hospital.connector.run("ip", &["link", "del", "vigie0"]);
    assert!(
        deleted.is_ok_and(|o| o.status.success()),
        "ip link del vigie0"
    );
    let sick = eventually("the health check to notice", health(" 503"));
    assert!(
        sick.contains("the data plane's TUN thread stopped"),
        "{sick}"
    );
    assert!(sick.contains("restart the connector"), "{sick}");
}

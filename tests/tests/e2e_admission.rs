//! End to end, as root: the virtual CPS3 and CPS4 cards in the lab's pcscd, the real `vigie
//! up` and the real `vigie-connector serve`. The CPS3 is admitted over TLS 1.2/TCP and the
//! CPS4 over TLS 1.3/QUIC with exactly their apps; `vigie down` ends a session and the
//! connector audits the user's quit; the expired, revoked, unknown-CA, not-in-directory and
//! suspended identities are refused, each with its own reason and exit code.
//!
//! The binaries are built by the test itself: see `e2e_support` for how and why.

mod e2e_support;

use e2e_support::clinician::Clinician;
use e2e_support::connector::Connector;
use e2e_support::world;
use vigie_client::control::exit;
use vigie_protocol::Code;

/// Root, the binaries and the world; `None` when the test must be skipped.
fn lab() -> Option<(vigie_certs::pki::World, Connector)> {
    vigie_lab::require_root("pcscd in a network namespace").ok()?;
    vigie_lab::init_test_logging();
    let world = world();
    let connector = Connector::start(&world);
    Some((world, connector))
}

fn names(status: &vigie_client::control::Status) -> Vec<&str> {
    status.apps.iter().map(|a| a.name.as_str()).collect()
}

#[test]
fn cps3_over_tls12_tcp_and_cps4_over_quic_get_exactly_their_apps_until_vigie_down() {
    let Some((world, connector)) = lab() else {
        return;
    };
    let mut clinician = Clinician::new(&world, connector.address);

    clinician.insert(&world, "cps3-doctor");
    let (mut doctor, status) = clinician.up_granted();
    assert_eq!(status.transport.as_deref(), Some("TCP (TLS 1.2)"));
    assert_eq!(status.card, "CPS3");
    assert_eq!(names(&status), ["dpi", "mail"], "{status:#?}");
    let mail = &status.apps[1];
    assert_eq!(mail.dns_name, "mail.hopital.example");
    assert_eq!(mail.ports, ["tcp/993", "tcp/587"]);
    let shown = clinician.run(&["status"]);
    let shown = String::from_utf8_lossy(&shown.stdout);
    assert!(shown.contains("Session:      connected"), "{shown}");
    assert!(shown.contains("Applications you can reach (2):"), "{shown}");
    assert!(shown.contains("dpi.hopital.example"), "{shown}");
    assert!(!shown.contains("soins"), "{shown}");

    let down = clinician.run(&["down"]);
    assert!(down.status.success(), "{down:?}");
    assert_eq!(String::from_utf8_lossy(&down.stdout), "Session ended.\n");
    assert_eq!(
        doctor.wait(),
        Some(i32::from(exit::OK)),
        "{}",
        doctor.output()
    );
    assert!(doctor.output().contains("Applications you can reach (2):"));
    let after = clinician.run(&["status"]);
    assert_eq!(
        String::from_utf8_lossy(&after.stdout),
        "No session: run vigie up to connect.\n"
    );

    clinician.insert(&world, "cps4-nurse");
    let (mut nurse, status) = clinician.up_granted();
    assert_eq!(status.transport.as_deref(), Some("QUIC (TLS 1.3)"));
    assert_eq!(names(&status), ["mail", "soins"], "{status:#?}");
    assert_eq!(status.apps[1].ports, ["tcp/8000-8010", "udp/5060"]);
    assert!(!status.apps.iter().any(|a| a.name == "dpi"));
    clinician.down(&mut nurse);

    let accepted = connector.wait_audit("admission.accepted", 2);
    let transports: Vec<_> = accepted
        .iter()
        .map(|r| r["fields"]["transport"].clone())
        .collect();
    assert_eq!(transports, ["tcp", "quic"], "{accepted:#?}");
    let ends = connector.wait_audit("session.end", 2);
    let reasons: Vec<_> = ends.iter().map(|r| r["fields"]["reason"].clone()).collect();
    let quit = Code::CLIENT_QUIT.number();
    assert_eq!(reasons, [quit, quit], "{ends:#?}\n{}", connector.log());
}

#[test]
fn refused_identities_each_get_their_own_reason() {
    let Some((world, connector)) = lab() else {
        return;
    };
    let mut clinician = Clinician::new(&world, connector.address);
    let cases = [
        (
            "cps4-expired",
            exit::CERTIFICATE_REFUSED,
            "TLS alert 45 certificate_expired",
        ),
        (
            "cps3-revoked",
            exit::CERTIFICATE_REFUSED,
            "TLS alert 44 certificate_revoked",
        ),
        (
            "cps4-unknown-ca",
            exit::CERTIFICATE_REFUSED,
            "TLS alert 48 unknown_ca",
        ),
        (
            "cps4-staff",
            exit::SESSION_REFUSED,
            "VIGIE-E-204 unknown person",
        ),
        (
            "cps3-pharmacist",
            exit::SESSION_REFUSED,
            "VIGIE-E-203 HR suspension",
        ),
    ];
    let mut messages = Vec::new();
    for (card, code, reference) in cases {
        clinician.insert(&world, card);
        let output = clinician.up_refused();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(
            output.status.code(),
            Some(i32::from(code)),
            "{card}: {stderr}"
        );
        assert!(stderr.contains(reference), "{card}: {stderr}");
        assert!(stderr.contains("help desk"), "{card}: {stderr}");
        let status = clinician.run(&["status"]);
        assert!(String::from_utf8_lossy(&status.stdout).starts_with("No session"));
        messages.push(stderr);
    }
    for (i, message) in messages.iter().enumerate() {
        assert!(
            !messages[..i].contains(message),
            "one sentence for two refusals: {message}"
        );
    }
    let refused = connector.wait_audit("admission.refused", cases.len());
    assert_eq!(refused.len(), cases.len(), "{refused:#?}");
    assert!(
        connector
            .audit()
            .iter()
            .all(|r| r["kind"] != "session.start")
    );
}

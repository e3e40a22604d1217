//! Admission through the real `vigie-connector serve`: card identities of the test world
//! with software keys, over TLS 1.2/TCP and TLS 1.3/QUIC, get exactly their apps or a
//! refusal the user can read to the help desk.

mod serve_common;

use std::time::Duration;

use rustls::AlertDescription;
use serve_common::client::{
    Control, SoftCard, alert_of, connect_quic, connect_tcp, refused_over_tcp,
};
use serve_common::{Served, serve, serve_with_tls};
use vigie_protocol::{ClientEvent, Code, Initiator, PortRule, SessionGrant, Transport};

/// A safety net so a broken connector fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(60);

async fn grant_over_tcp(served: &Served, card: &str, tls12: bool) -> Result<SessionGrant, Code> {
    let soft = SoftCard::load(&served.world, card);
    let config = SoftCard::tls_config(&served.world, Some(&soft), tls12);
    let stream = connect_tcp(served.address, config)
        .await
        .expect("TLS handshake");
    let protocol = stream.get_ref().1.protocol_version();
    assert_eq!(
        protocol,
        Some(if tls12 {
            rustls::ProtocolVersion::TLSv1_2
        } else {
            rustls::ProtocolVersion::TLSv1_3
        })
    );
    let (reader, writer) = tokio::io::split(stream);
    outcome(Control::new(reader, writer)).await
}

async fn grant_over_quic(served: &Served, card: &str) -> Result<SessionGrant, Code> {
    let soft = SoftCard::load(&served.world, card);
    let config = SoftCard::tls_config(&served.world, Some(&soft), false);
    let quic = connect_quic(served.address, config)
        .await
        .expect("QUIC handshake");
    let (send, recv) = quic.connection.open_bi().await.expect("a stream");
    outcome(Control::new(recv, send)).await
}

/// The grant, or the code the connector ended the session with.
async fn outcome<R, W>(mut control: Control<R, W>) -> Result<SessionGrant, Code>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let event = tokio::time::timeout(PATIENCE, control.next_event())
        .await
        .expect("the connector answers")
        .expect("the stream works");
    match event {
        Some(ClientEvent::Granted(grant)) => {
            control.quit().await.expect("quit");
            Ok(grant)
        }
        Some(ClientEvent::Ended(ending)) => {
            assert_eq!(ending.initiator, Initiator::Peer);
            Err(ending.reason)
        }
        other => panic!("unexpected first event {other:?}"),
    }
}

fn apps(grant: &SessionGrant) -> Vec<(String, String, Vec<PortRule>)> {
    let mut apps: Vec<_> = grant
        .apps
        .iter()
        .map(|app| (app.name.clone(), app.address.to_string(), app.ports.clone()))
        .collect();
    apps.sort_by(|a, b| a.0.cmp(&b.0));
    apps
}

fn tcp(first: u16, last: u16) -> PortRule {
    PortRule {
        transport: Transport::TCP,
        first,
        last,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn cps3_over_tls12_tcp_and_cps4_over_quic_get_exactly_their_apps() {
    let served = serve();
    let cps3 = grant_over_tcp(&served, "cps3-doctor", true)
        .await
        .expect("granted");
    let cps4 = grant_over_quic(&served, "cps4-doctor")
        .await
        .expect("granted");
    let nurse = grant_over_quic(&served, "cps4-nurse")
        .await
        .expect("granted");

    // Virtual addresses follow the configuration's app order in 100.80.0.0/16.
    let doctor_apps = vec![
        (
            "dpi".to_owned(),
            "100.80.0.1".to_owned(),
            vec![tcp(443, 443)],
        ),
        (
            "mail".to_owned(),
            "100.80.0.2".to_owned(),
            vec![tcp(993, 993), tcp(587, 587)],
        ),
    ];
    assert_eq!(apps(&cps3), doctor_apps, "one person, one set of apps");
    assert_eq!(apps(&cps4), doctor_apps);
    let nurse_apps: Vec<String> = apps(&nurse).into_iter().map(|a| a.0).collect();
    assert_eq!(nurse_apps, ["mail", "soins"]);
    let soins = nurse
        .apps
        .iter()
        .find(|a| a.name == "soins")
        .expect("soins");
    assert_eq!(
        soins.ports,
        [
            tcp(8000, 8010),
            PortRule {
                transport: Transport::UDP,
                first: 5060,
                last: 5060
            }
        ]
    );

    for grant in [&cps3, &cps4, &nurse] {
        assert!(
            grant.tunnel_address.to_string().starts_with("100.9"),
            "{grant:?}"
        );
        assert_eq!(grant.dns_server, Some("100.80.0.53".parse().unwrap()));
        assert_eq!(grant.endpoints, ["198.18.0.2:443".parse().unwrap()]);
        assert_eq!(grant.idle_timeout, Some(Duration::from_secs(15 * 60)));
        assert_eq!(grant.max_lifetime, Some(Duration::from_secs(12 * 3600)));
        assert_eq!(grant.connector_key, cps3.connector_key, "one connector key");
    }
    assert_ne!(cps3.session_id, cps4.session_id);

    let accepted = served.audit_of("admission.accepted");
    assert_eq!(accepted.len(), 3, "{accepted:#?}");
    assert_eq!(accepted[0]["fields"]["transport"], "tcp");
    assert_eq!(accepted[1]["fields"]["transport"], "quic");
    assert_eq!(served.audit_of("session.start").len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn directory_refusals_end_the_session_with_distinct_codes() {
    let served = serve();
    let unknown = grant_over_quic(&served, "cps4-staff").await.unwrap_err();
    let suspended = grant_over_tcp(&served, "cps3-pharmacist", true)
        .await
        .unwrap_err();
    assert_eq!(unknown, Code::UNKNOWN_PERSON);
    assert_eq!(suspended, Code::HR_SUSPENSION);
    assert_eq!(unknown.to_string(), "VIGIE-E-204 unknown person");

    let refused = served.audit_of("admission.refused");
    let reasons: Vec<&str> = refused
        .iter()
        .map(|r| r["fields"]["reason"].as_str().expect("a reason"))
        .collect();
    assert_eq!(reasons, ["unknown-person", "person-suspended"]);
    assert!(served.audit_of("session.start").is_empty());
}

async fn tcp_alert(served: &Served, card: &str, tls12: bool) -> AlertDescription {
    let alert = refused_over_tcp(served.address, &served.world, card, tls12);
    tokio::time::timeout(PATIENCE, alert)
        .await
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_certificates_fail_the_handshake_with_their_own_alert() {
    let served = serve();
    let expired = tcp_alert(&served, "cps4-expired", false).await;
    let revoked = tcp_alert(&served, "cps3-revoked", true).await;
    let unknown_ca = tcp_alert(&served, "cps4-unknown-ca", false).await;
    assert_eq!(expired, AlertDescription::CertificateExpired);
    assert_eq!(revoked, AlertDescription::CertificateRevoked);
    assert_eq!(unknown_ca, AlertDescription::UnknownCA);

    // Over QUIC the connection closes with the alert as a crypto error.
    let soft = SoftCard::load(&served.world, "cps4-expired");
    let config = SoftCard::tls_config(&served.world, Some(&soft), false);
    let closed = tokio::time::timeout(PATIENCE, async {
        let quic = connect_quic(served.address, config).await?;
        let (_send, mut recv) = quic.connection.open_bi().await?;
        let _ = recv.read_to_end(1024).await;
        Err::<(), _>(quic.connection.closed().await)
    });
    let error = closed.await.expect("an answer").expect_err("refused");
    let expected = quinn::TransportErrorCode::crypto(AlertDescription::CertificateExpired.into());
    assert!(
        matches!(&error, quinn::ConnectionError::ConnectionClosed(close) if close.error_code == expected),
        "{error:?}"
    );

    let refused = served.wait_audit("admission.refused", 4);
    let reasons: Vec<(&str, &str)> = refused
        .iter()
        .map(|r| {
            let fields = &r["fields"];
            (
                fields["step"].as_str().unwrap(),
                fields["reason"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons,
        [
            ("certificate", "expired"),
            ("certificate", "revoked"),
            ("certificate", "unknown_issuer"),
            ("certificate", "expired"),
        ]
    );
    assert!(served.audit_of("admission.accepted").is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_without_a_certificate_is_refused_in_the_handshake() {
    let served = serve();
    for tls12 in [true, false] {
        let config = SoftCard::tls_config(&served.world, None, tls12);
        let attempt = tokio::time::timeout(PATIENCE, async {
            let stream = connect_tcp(served.address, config).await?;
            let (reader, writer) = tokio::io::split(stream);
            Control::new(reader, writer).next_event().await
        });
        let error = attempt.await.expect("an answer").expect_err("refused");
        let alert = alert_of(&error).expect("an alert");
        assert_eq!(
            alert,
            AlertDescription::CertificateRequired,
            "TLS 1.2: {tls12}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn people_who_left_or_have_not_started_are_refused_while_the_connector_runs() {
    let served = serve();
    // HR changes while the connector serves: the nurse left, the doctor's contract starts
    // later.
    served.site.hr(&[
        "899700123450;DOCTEUR;Jean;Médecin;urgences;ACTIF;01/01/2099;",
        "0751234567;INFIRMIERE;Claire;Infirmier;soins;SORTI;01/01/2020;01/02/2020",
        "899700075122;PHARMACIEN;Paul;Pharmacien;pharmacie;SUSPENDU;01/01/2020;",
    ]);
    served.site.ok(&["hr", "sync"]);
    let departed = grant_over_quic(&served, "cps4-nurse").await.unwrap_err();
    let not_started = grant_over_tcp(&served, "cps3-doctor", true)
        .await
        .unwrap_err();
    assert_eq!(departed, Code::HR_DEPARTURE);
    assert_eq!(not_started, Code::NOT_STARTED);
    let reasons: Vec<String> = served
        .audit_of("admission.refused")
        .iter()
        .map(|r| r["fields"]["reason"].as_str().expect("a reason").to_owned())
        .collect();
    assert_eq!(reasons, ["person-departed", "person-not-started"]);
}

#[tokio::test]
async fn an_ecdsa_connector_certificate_serves_both_card_generations() {
    let served = serve_with_tls("server-ec");
    let pem = std::fs::read(served.world_dir().join("connector/server-ec.pem")).expect("PEM");
    let ecdsa = vigie_certs::pem::certificates(&pem).expect("a certificate");
    let soft = SoftCard::load(&served.world, "cps3-doctor");
    let config = SoftCard::tls_config(&served.world, Some(&soft), true);
    let stream = connect_tcp(served.address, config).await.expect("TLS 1.2");
    let presented = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("a certificate");
    assert_eq!(
        presented[0], ecdsa[0],
        "the connector shows its ECDSA certificate"
    );
    let (reader, writer) = tokio::io::split(stream);
    let doctor = outcome(Control::new(reader, writer)).await;
    assert!(doctor.is_ok(), "CPS3 over TLS 1.2: {doctor:?}");
    let nurse = grant_over_quic(&served, "cps4-nurse").await;
    assert!(nurse.is_ok(), "CPS4 over QUIC: {nurse:?}");
}

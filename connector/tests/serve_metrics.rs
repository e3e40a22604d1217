//! The admin endpoint of the real `vigie-connector serve`: its metrics move with what
//! happens (an admission, a directory refusal, a certificate refusal, a session ending), and
//! its health check names the part that is down (the audit log made unwritable) until it is
//! back. `doctor` reads the same health check.

mod serve_common;

use std::time::Duration;

use rustls::AlertDescription;
use serve_common::client::{Control, SoftCard, connect_tcp, refused_over_tcp};
use serve_common::{
    PATIENCE, Served, admin_get, admin_request, next_event, sample, serve_with_sections,
};
use vigie_protocol::{ClientEvent, Code};

const ADMIN: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n";

fn metrics(served: &Served) -> String {
    let (status, page) = admin_get(served, "/metrics");
    assert_eq!(status, 200, "{page}");
    page
}

/// The value of a sample, which must be on the page.
fn value(page: &str, name: &str, labels: &str) -> f64 {
    sample(page, name, labels).unwrap_or_else(|| panic!("no {name}{{{labels}}} in\n{page}"))
}

/// The code a card over TLS 1.2 is refused with by the directory, after its handshake.
async fn refused_by_directory(served: &Served, card: &str) -> Code {
    let soft = SoftCard::load(&served.world, card);
    let config = SoftCard::tls_config(&served.world, Some(&soft), true);
    let stream = connect_tcp(served.address, config).await.expect("TLS");
    let (reader, writer) = tokio::io::split(stream);
    let mut control = Control::new(reader, writer);
    match next_event(&mut control).await {
        ClientEvent::Ended(ending) => ending.reason,
        other => panic!("{card} should be refused: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_metrics_count_admissions_refusals_handshakes_and_sessions() {
    let served = serve_with_sections(ADMIN);
    let before = metrics(&served);
    assert_eq!(value(&before, "vigie_sessions", "transport=\"quic\""), 0.0);
    assert_eq!(value(&before, "vigie_build_info", "version=\"0.1.0\""), 1.0);
    assert_eq!(sample(&before, "vigie_admissions_total", ""), None);

    let (mut doctor, _, _quic) = served.granted("cps4-doctor").await;
    let code = refused_by_directory(&served, "cps3-pharmacist").await;
    assert_eq!(code, Code::HR_SUSPENSION);
    let alert = tokio::time::timeout(
        PATIENCE,
        refused_over_tcp(served.address, &served.world, "cps3-revoked", true),
    );
    assert_eq!(
        alert.await.expect("an alert"),
        AlertDescription::CertificateRevoked
    );

    // The connector counts a refused handshake as it ends, which may be just after the
    // client saw the alert.
    let revoked = "verdict=\"refused\",step=\"certificate\",reason=\"revoked\"";
    let failed = "transport=\"tcp\",outcome=\"failed\"";
    let mut page = metrics(&served);
    for _ in 0..100 {
        let counted = sample(&page, "vigie_admissions_total", revoked).is_some()
            && sample(&page, "vigie_handshakes_total", failed).is_some();
        if counted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = metrics(&served);
    }
    let admissions = |labels| value(&page, "vigie_admissions_total", labels);
    assert_eq!(
        admissions("verdict=\"accepted\",step=\"directory\",reason=\"\""),
        1.0
    );
    let suspended = "verdict=\"refused\",step=\"directory\",reason=\"person-suspended\"";
    assert_eq!(admissions(suspended), 1.0);
    assert_eq!(admissions(revoked), 1.0);
    let handshakes = |labels| value(&page, "vigie_handshakes_total", labels);
    assert_eq!(handshakes("transport=\"quic\",outcome=\"completed\""), 1.0);
    assert_eq!(handshakes("transport=\"tcp\",outcome=\"completed\""), 1.0);
    assert_eq!(handshakes(failed), 1.0);
    assert_eq!(value(&page, "vigie_sessions", "transport=\"quic\""), 1.0);
    assert_eq!(value(&page, "vigie_sessions", "transport=\"tcp\""), 0.0);
    assert!(
        value(&page, "vigie_audit_records_written_total", "") >= 3.0,
        "{page}"
    );
    let crl_ages: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("vigie_crl_age_seconds{issuer=\"CN=TEST AC IGC-SANTE"))
        .collect();
    assert_eq!(crl_ages.len(), 3, "{page}");
    assert!(page.contains("vigie_crl_stale{issuer=\"CN=TEST AC IGC-SANTE ELEMENTAIRE PERSONNES"));

    // The doctor quits: her session ends, counted with its reason.
    doctor.quit().await.expect("quit");
    let mut page = metrics(&served);
    for _ in 0..100 {
        if value(&page, "vigie_sessions", "transport=\"quic\"") == 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        page = metrics(&served);
    }
    assert_eq!(value(&page, "vigie_sessions", "transport=\"quic\""), 0.0);
    assert_eq!(
        value(
            &page,
            "vigie_sessions_ended_total",
            "reason=\"client quit\""
        ),
        1.0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn health_names_the_part_that_is_down_until_it_is_back() {
    let served = serve_with_sections(ADMIN);
    let (status, body) = admin_get(&served, "/health");
    assert_eq!(
        (status, body.as_str()),
        (200, "ok: listeners, directory, audit writer\n")
    );
    assert_eq!(admin_get(&served, "/healthz").0, 200);
    assert_eq!(admin_get(&served, "/sessions").0, 404);
    assert_eq!(admin_request(&served, "POST", "/metrics").0, 405);

    // The audit folder goes away: the next admission cannot be audited, so it is refused,
    // and the health check says why.
    let (audit, moved) = (served.site.path("audit"), served.site.path("audit.moved"));
    std::fs::rename(&audit, &moved).expect("move the audit folder away");
    let code = refused_by_directory(&served, "cps3-doctor").await;
    assert_eq!(code, Code::INTERNAL_ERROR);
    let (status, body) = admin_get(&served, "/health");
    assert_eq!(status, 503, "{body}");
    assert!(
        body.starts_with("not ready: the audit log cannot be written"),
        "{body}"
    );
    let page = metrics(&served);
    assert!(
        value(&page, "vigie_audit_write_failures_total", "") >= 1.0,
        "{page}"
    );

    // Back in place: the next admission is audited and the connector is healthy again.
    std::fs::rename(&moved, &audit).expect("put the audit folder back");
    let (_doctor, grant, _quic) = served.granted("cps4-doctor").await;
    assert!(!grant.apps.is_empty());
    let (status, body) = admin_get(&served, "/health");
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_reads_the_running_connectors_health() {
    // A fixed port, so that doctor finds the endpoint from the file.
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = free.local_addr().expect("its address").port();
    drop(free);
    let served = serve_with_sections(&format!("[admin]\nlisten = \"127.0.0.1:{port}\"\n"));
    let run = served.site.run(&["doctor"]);
    let healthy = format!(
        "ok    connector http://127.0.0.1:{port}/health: ok: listeners, directory, audit writer"
    );
    assert!(
        run.stdout.contains(&healthy),
        "{healthy:?} in {}",
        run.all()
    );
}

//! CRLs the connector fetches itself from `[trust] crl_urls`, published by a real HTTP server
//! (Python's `http.server` on 127.0.0.1): a CRL that appears at the URL ends the live session
//! of the card it revokes; a URL that fails warns the operator with the URL and leaves the
//! CRLs in force; a fetched CRL counts again at the next start.
//!
//! `crl_fetch_every` keeps its 1-minute floor here. The tests lean on what the fetcher does
//! anyway: it fetches at start, and retries a failed fetch 10 s later.

mod serve_common;

use std::path::PathBuf;

use rustls::AlertDescription;
use serve_common::client::refused_over_tcp;
use serve_common::crl_server::CrlServer;
use serve_common::{PATIENCE, Served, crl_revoking, ends_with, serve_with_own_revocation_and};
use vigie_protocol::Code;

/// A connector with its own revocation files, fetching the server's CRL.
fn serve_fetching(server: &CrlServer) -> Served {
    serve_with_own_revocation_and(&format!("crl_urls = [\"{}\"]", server.url()))
}

/// The fetched CRL files in the connector's folder.
fn fetched(served: &Served) -> Vec<PathBuf> {
    let folder = served.site.path("state").join("crl-fetched");
    let entries = std::fs::read_dir(folder).expect("the folder of fetched CRLs");
    let mut files: Vec<_> = entries
        .map(|entry| entry.expect("an entry").path())
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

/// The log's warnings that name `url`.
fn warnings_about(served: &Served, url: &str) -> Vec<String> {
    let log = served.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("WARN") && l.contains(url));
    lines.map(str::to_owned).collect()
}

/// The 404 warning for `url`, once the log has it.
fn wait_for_404_warning(served: &Served, url: &str) -> String {
    served.wait_log("cannot fetch a CRL");
    let warnings = warnings_about(served, url);
    assert_eq!(warnings.len(), 1, "one warning: {warnings:#?}");
    assert!(warnings[0].contains("HTTP 404"), "{}", warnings[0]);
    warnings[0].clone()
}

async fn refused_by_tls(served: &Served, card: &str) -> AlertDescription {
    let refused = refused_over_tcp(served.address, &served.world, card, false);
    tokio::time::timeout(PATIENCE, refused)
        .await
        .expect("an answer")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crl_published_at_a_configured_url_ends_the_live_session_of_its_card() {
    let server = CrlServer::start();
    let served = serve_fetching(&server);

    // Nothing is published yet: the operator hears of the URL once, and the world's CRLs
    // stay in force, so cards are admitted.
    let warning = wait_for_404_warning(&served, &server.url());
    assert!(warning.contains("the CRLs in force stay"), "{warning}");
    let (mut doctor, _, _doctor_quic) = served.granted("cps4-doctor").await;
    let (_nurse, nurse_grant, _nurse_quic) = served.granted("cps4-nurse").await;
    assert!(fetched(&served).is_empty());

    // The doctor's CA publishes a CRL listing her card; the retry fetches it.
    let crl = crl_revoking(&served.world, "cps4-doctor");
    server.publish(&crl);
    ends_with(&mut doctor, Code::CARD_REVOKED).await;
    let sessions = served.site.ok(&["session", "list"]);
    assert!(
        sessions.contains(&nurse_grant.session_id.to_string()),
        "{sessions}"
    );
    served.wait_log("fetched a new CRL");
    let files = fetched(&served);
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(std::fs::read(&files[0]).expect("the fetched CRL"), crl);
    assert_eq!(warnings_about(&served, &server.url()).len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_fetched_crl_counts_at_the_next_start_even_when_its_url_then_fails() {
    let server = CrlServer::start();
    server.publish(&crl_revoking(&serve_common::world(), "cps4-doctor"));
    let mut served = serve_fetching(&server);

    // Fetched at start, read at the watcher's next look.
    served.wait_log("fetched a new CRL");
    served.wait_log("CRLs read again");
    assert_eq!(
        refused_by_tls(&served, "cps4-doctor").await,
        AlertDescription::CertificateRevoked
    );

    // The URL fails from now on; the connector starts again.
    server.withdraw();
    served.terminate();
    served.restart();
    wait_for_404_warning(&served, &server.url());
    assert_eq!(fetched(&served).len(), 1, "the fetched CRL is kept");
    assert_eq!(
        refused_by_tls(&served, "cps4-doctor").await,
        AlertDescription::CertificateRevoked,
        "the fetched CRL is in force from the start"
    );
    let (_nurse, _, _nurse_quic) = served.granted("cps4-nurse").await;
}

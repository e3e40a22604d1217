//! Nothing but the TLS handshake for a peer without a valid card: a stock `openssl s_client`
//! with no certificate, or with a certificate from another CA, receives no application byte,
//! even after it sends a well-formed hello. A trusted card, by contrast, does hear back.

mod serve_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serve_common::{Served, card_file, serve};
use vigie_protocol::{Capabilities, Code, Hello, Message, WireGuardKey};

/// What `s_client -quiet` wrote: stdout holds only application data.
struct Output {
    application_bytes: Vec<u8>,
    diagnostics: String,
}

/// Runs `openssl s_client` against the connector with `stdin` as what it sends after the
/// handshake, presenting `cert`/`key` if given.
fn s_client(served: &Served, identity: Option<(&Path, &Path)>, tls12: bool) -> Output {
    let hello = Message::Hello(Hello::new(Capabilities::default(), "openssl"))
        .encode()
        .expect("hello");
    let key = Message::ClientKey(WireGuardKey([9; 32]))
        .encode()
        .expect("key");
    let input = served.site.path("s_client.in");
    std::fs::write(&input, [hello, key].concat()).expect("write input");
    let mut command = Command::new("openssl");
    command
        .args(["s_client", "-quiet", "-ign_eof", "-no_ticket"])
        .args(["-connect", &served.address.to_string()])
        .args(["-servername", "connector.vigie.test", "-alpn", "vigie/1"])
        .arg(if tls12 { "-tls1_2" } else { "-tls1_3" });
    if let Some((cert, key)) = identity {
        command.arg("-cert").arg(cert).arg("-key").arg(key);
    }
    let output = command
        .stdin(Stdio::from(std::fs::File::open(&input).expect("input")))
        .output()
        .expect("openssl is installed (scripts/setup.sh)");
    Output {
        application_bytes: output.stdout,
        diagnostics: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// A card's certificate and key as the PEM files `s_client` wants.
fn pem_identity(served: &Served, card: &str) -> (PathBuf, PathBuf) {
    let cert = served.site.path(&format!("{card}.crt.pem"));
    let key = served.site.path(&format!("{card}.key.pem"));
    let der = card_file(&served.world, card, "auth.crt.der");
    let key_der = card_file(&served.world, card, "auth.key.pk8.der");
    openssl(&[
        "x509",
        "-inform",
        "der",
        "-in",
        path(&der),
        "-out",
        path(&cert),
    ]);
    openssl(&[
        "pkey",
        "-inform",
        "der",
        "-in",
        path(&key_der),
        "-out",
        path(&key),
    ]);
    (cert, key)
}

fn path(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 path")
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn s_client_without_a_certificate_gets_no_application_byte() {
    let served = serve();
    for tls12 in [true, false] {
        let output = s_client(&served, None, tls12);
        assert!(
            output.application_bytes.is_empty(),
            "TLS 1.2 {tls12}: {:?}",
            output.application_bytes
        );
        assert!(
            output.diagnostics.contains("certificate required"),
            "TLS 1.2 {tls12}: {}",
            output.diagnostics
        );
    }
}

#[test]
fn s_client_with_a_foreign_ca_certificate_gets_no_application_byte() {
    let served = serve();
    let (cert, key) = pem_identity(&served, "cps4-unknown-ca");
    for tls12 in [true, false] {
        let output = s_client(&served, Some((&cert, &key)), tls12);
        assert!(
            output.application_bytes.is_empty(),
            "TLS 1.2 {tls12}: {:?}",
            output.application_bytes
        );
        assert!(
            output.diagnostics.contains("unknown ca"),
            "TLS 1.2 {tls12}: {}",
            output.diagnostics
        );
    }
}

#[test]
fn s_client_with_a_trusted_card_hears_the_connector() {
    // The same harness with a card the connector trusts: the holder is suspended, so the
    // connector answers the hello with an end message and closes. This is what the two
    // tests above would see if the handshake let them through.
    let served = serve();
    let (cert, key) = pem_identity(&served, "cps3-pharmacist");
    let output = s_client(&served, Some((&cert, &key)), true);
    let end = Message::End {
        reason: Code::HR_SUSPENSION,
    }
    .encode()
    .expect("end");
    assert_eq!(output.application_bytes, end, "{}", output.diagnostics);
}

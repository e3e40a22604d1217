//! `vigie-connector check-config`, `doctor` and `reload` on a site that is not serving: a
//! good configuration passes; a broken one gets every problem at its line, and files that
//! cannot be used are named; `doctor` fetches the CRL URLs from a real HTTP server (Python's
//! `http.server`) and reports a dead one, judges the certificates' expiry (a certificate made
//! by openssl that ends in ten days warns), the CRLs in force and the clock, and the data
//! plane's prerequisites; `reload` without a running connector says what to do.

mod serve_common;

use std::path::Path;
use std::process::Command;

use serve_common::crl_server::CrlServer;
use serve_common::{Site, sections_for, world};

fn site_of(listen: &str, session: &str, trust: &str, extra: &str) -> Site {
    Site::new(&sections_for(&world(), listen, session, trust, extra))
}

/// The lines of `text` that start with `prefix`.
fn lines_starting<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.lines().filter(|l| l.starts_with(prefix)).collect()
}

/// The line of the site's file that starts with `start`, counted from 1.
fn line_of(site: &Site, start: &str) -> usize {
    let text = std::fs::read_to_string(site.path("connector.toml")).expect("the file");
    1 + text
        .lines()
        .position(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no line {start:?}"))
}

#[test]
fn a_site_serve_would_start_with_passes() {
    let site = site_of("", "", "", "");
    let run = site.run(&["check-config"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("valid; `serve` would start with it"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("ok    [tls]: certificate chain of 2 and its key")
    );
    assert!(
        run.stdout
            .contains("ok    [trust]: 3 roots, 4 intermediates, 3 CRLs")
    );
    assert!(
        lines_starting(&run.stdout, "FAIL").is_empty(),
        "{}",
        run.stdout
    );
}

#[test]
fn every_problem_of_the_file_is_reported_at_its_line() {
    let site = site_of("backlog = 5", "idle_timout = \"1m\"", "", "");
    let run = site.run(&["check-config"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stdout.contains("2 problems; `serve` would not start"),
        "{}",
        run.stdout
    );
    let fails = lines_starting(&run.stdout, "FAIL");
    assert_eq!(fails.len(), 2, "{}", run.stdout);
    let listen = format!(
        "connector.toml:{}:1: unknown key `backlog` in [listen]",
        line_of(&site, "backlog")
    );
    let session = format!(
        "connector.toml:{}:1: unknown key `idle_timout` in [session]",
        line_of(&site, "idle_timout")
    );
    assert!(fails[0].contains(&listen), "{listen:?} in {}", fails[0]);
    assert!(fails[1].contains(&session), "{session:?} in {}", fails[1]);

    // Values out of bounds, each at its key.
    let admin = "[admin]\nlisten = \"0.0.0.0:9819\"\n";
    let site = site_of("max_handshakes = 0", "", "", admin);
    let run = site.run(&["check-config"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let fails = lines_starting(&run.stdout, "FAIL");
    assert_eq!(fails.len(), 2, "{}", run.stdout);
    let at = format!(
        "connector.toml:{}:1: listen.max_handshakes",
        line_of(&site, "max_handshakes")
    );
    assert!(fails[0].contains(&at), "{at:?} in {}", fails[0]);
    let at = format!(
        "connector.toml:{}:1: admin.listen 0.0.0.0:9819 answers on every address",
        line_of(&site, "listen = \"0.0.0.0")
    );
    assert!(fails[1].contains(&at), "{at:?} in {}", fails[1]);
}

#[test]
fn the_files_serve_would_read_are_read_and_each_bad_one_named() {
    let site = site_of(
        "",
        "",
        "crls = [\"crl\"]\nblocklist = \"blocklist.toml\"",
        "",
    );
    std::fs::create_dir(site.path("crl")).expect("a CRL folder");
    std::fs::write(site.path("crl/broken.crl"), b"not a CRL").expect("a broken CRL");
    std::fs::write(site.path("blocklist.toml"), "id_nats = 0751234567\n").expect("a bad blocklist");
    let text = std::fs::read_to_string(site.path("connector.toml")).expect("the file");
    let key = world().dir().join("connector/server.key.pem");
    let text = text.replace(
        &key.display().to_string(),
        &site.path("gone.key.pem").display().to_string(),
    );
    std::fs::write(site.path("connector.toml"), text).expect("rewrite");

    let run = site.run(&["check-config"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let fails = lines_starting(&run.stdout, "FAIL");
    assert_eq!(fails.len(), 3, "{}", run.stdout);
    assert!(
        fails[0].contains("[tls]") && fails[0].contains("gone.key.pem"),
        "{}",
        fails[0]
    );
    assert!(fails[1].contains("broken.crl"), "{}", fails[1]);
    assert!(fails[2].contains("blocklist.toml"), "{}", fails[2]);
}

/// An openssl certificate for the connector that ends in ten days, with its key.
fn short_lived_certificate(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("short.pem"), dir.join("short.key.pem"));
    let output = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-days",
            "10",
            "-subj",
            "/CN=connector.hopital.test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (scripts/setup.sh installs it)");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    (cert.display().to_string(), key.display().to_string())
}

#[test]
fn doctor_fetches_the_crl_urls_and_judges_certificates_crls_clock_and_data_plane() {
    let world = world();
    let server = CrlServer::start();
    let crl = world.dir().join("crl/elementaire-personnes.crl");
    server.publish(&std::fs::read(&crl).expect("the world's CRL"));
    let dead = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let dead_url = format!(
        "http://{}/gone.crl",
        dead.local_addr().expect("its address")
    );
    drop(dead);
    let urls = format!(
        "crls = [\"{}/crl\"]\ncrl_urls = [\"{}\", \"{dead_url}\"]",
        world.dir().display(),
        server.url()
    );
    let site = site_of("", "", &urls, "[dataplane]\nenabled = true\n");
    let (cert, key) = short_lived_certificate(&site.path(""));
    let text = std::fs::read_to_string(site.path("connector.toml")).expect("the file");
    let dir = world.dir().display().to_string();
    let text = text
        .replace(&format!("{dir}/connector/server-chain.pem"), &cert)
        .replace(&format!("{dir}/connector/server.key.pem"), &key);
    std::fs::write(site.path("connector.toml"), text).expect("rewrite");

    let run = site.run(&["doctor"]);
    assert_eq!(run.code, 2, "{}", run.all());
    let out = &run.stdout;
    let fetched = format!(
        "ok    CRL URL {}: answers a CRL of CN=TEST AC IGC-SANTE ELEMENTAIRE PERSONNES",
        server.url()
    );
    assert!(out.contains(&fetched), "{fetched:?} in {out}");
    let failed = format!("FAIL  CRL URL {dead_url}: cannot connect to");
    assert!(out.contains(&failed), "{failed:?} in {out}");
    assert_eq!(lines_starting(out, "ok    clock: within").len(), 1, "{out}");
    let short = lines_starting(
        out,
        "warn  [tls] certificate CN=connector.hopital.test: expires",
    );
    assert_eq!(short.len(), 1, "{out}");
    assert!(
        short[0].contains("(in 9 days)") || short[0].contains("(in 10 days)"),
        "{}",
        short[0]
    );
    assert_eq!(
        lines_starting(out, "ok    [trust] root CN=TEST AC RACINE").len(),
        3,
        "{out}"
    );
    let in_force = lines_starting(
        out,
        "ok    CRL of CN=TEST AC IGC-SANTE ELEMENTAIRE PERSONNES",
    );
    assert!(in_force[0].contains("in force, next update"), "{out}");
    // The test world's ORGANISATIONS CA publishes no CRL: its cards would all be refused.
    let missing = lines_starting(
        out,
        "FAIL  CRL of CN=TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
    );
    assert!(missing[0].contains("none in force"), "{out}");
    assert_eq!(
        lines_starting(out, "ok    data plane: nftables v").len(),
        1,
        "{out}"
    );
    assert_eq!(
        lines_starting(out, "ok    data plane: /dev/net/tun").len(),
        1,
        "{out}"
    );
    assert!(
        out.lines().last().is_some_and(|l| l.ends_with("2 FAIL")),
        "{out}"
    );
}

#[test]
fn reload_without_a_running_connector_says_what_to_do() {
    let site = site_of("", "", "", "");
    let run = site.run(&["reload"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("no running connector found"),
        "{}",
        run.all()
    );
    assert!(
        run.stderr.contains("systemctl start vigie-connector"),
        "{}",
        run.all()
    );

    // A PID file left behind that names another program: it is not signalled.
    std::fs::create_dir_all(site.path("state")).expect("the state folder");
    let pid = std::process::id().to_string();
    std::fs::write(site.path("state/connector.pid"), &pid).expect("a stale PID file");
    let run = site.run(&["reload"]);
    assert_eq!(run.code, 1, "{}", run.all());
    let said = format!("process {pid} named in");
    assert!(
        run.stderr.contains(&said) && run.stderr.contains("is not a running"),
        "{}",
        run.all()
    );
}

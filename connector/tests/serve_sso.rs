//! The SSO issuer of a running `vigie-connector serve`, seen from the hospital network (here
//! 127.0.0.2) with curl: discovery and keys are public, a browser outside any session is
//! refused with a page that says why, the token endpoint wants the app's secret, and every
//! grant publishes the issuer to the session under its name. The sign-in through a tunnel is
//! tested end to end in the lab (`tests/tests/e2e_sso.rs`).

mod serve_common;

use std::process::Command;

use serve_common::{Served, serve_with_sections};
use vigie_certs::pki::SSO_DNS;

/// A connector whose issuer listens on 127.0.0.2, on a free port.
fn served() -> (Served, u16) {
    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let sso = format!(
        "[sso]\nissuer = \"https://{SSO_DNS}:{port}\"\nlisten = \"127.0.0.2:{port}\"\n\
         [[sso.client]]\nid = \"dpi\"\nsecret = \"dpi-secret\"\n\
         redirect_uris = [\"https://dpi.hopital.example/cb\"]\n"
    );
    (serve_with_sections(&sso), port)
}

/// curl against the issuer: the status line's code and the body.
fn curl(served: &Served, port: u16, args: &[&str]) -> (u16, String) {
    let roots = served.site.path("roots.pem");
    if !roots.exists() {
        let dir = served.world_dir().join("trust/roots");
        let mut all = String::new();
        for entry in std::fs::read_dir(dir).expect("the world's roots") {
            all += &std::fs::read_to_string(entry.expect("a root").path()).expect("a PEM");
        }
        std::fs::write(&roots, all).expect("write the roots");
    }
    let output = Command::new("curl")
        .args(["--silent", "--show-error", "--write-out", "\n%{http_code}"])
        .arg("--cacert")
        .arg(&roots)
        .args(["--resolve", &format!("{SSO_DNS}:{port}:127.0.0.2")])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("a status code");
    let stderr = String::from_utf8_lossy(&output.stderr);
    (
        code.parse().unwrap_or_else(|_| panic!("{text}{stderr}")),
        body.to_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn the_issuer_serves_apps_and_refuses_browsers_outside_a_session() {
    let (served, port) = served();
    let issuer = format!("https://{SSO_DNS}:{port}");

    let (status, body) = curl(
        &served,
        port,
        &[&format!("{issuer}/.well-known/openid-configuration")],
    );
    assert_eq!(status, 200, "{body}");
    let discovery: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(discovery["issuer"], issuer.as_str());
    assert_eq!(discovery["token_endpoint"], format!("{issuer}/token"));

    let (status, body) = curl(&served, port, &[&format!("{issuer}/jwks")]);
    assert_eq!(status, 200, "{body}");
    let jwks: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(jwks["keys"][0]["alg"], "RS256");

    let authorize = format!(
        "{issuer}/authorize?response_type=code&client_id=dpi&scope=openid\
         &redirect_uri=https%3A%2F%2Fdpi.hopital.example%2Fcb&state=s"
    );
    let (status, page) = curl(&served, port, &[&authorize]);
    assert_eq!(status, 403, "{page}");
    assert!(
        page.contains("insert your health professional card"),
        "{page}"
    );

    let token = format!("{issuer}/token");
    let form = [
        "--data",
        "grant_type=authorization_code&code=x&redirect_uri=y",
    ];
    let (status, body) = curl(
        &served,
        port,
        &[&token, "--user", "dpi:wrong", form[0], form[1]],
    );
    assert_eq!(status, 401, "{body}");
    assert!(body.contains("invalid_client"), "{body}");
    let (status, body) = curl(
        &served,
        port,
        &[&token, "--user", "dpi:dpi-secret", form[0], form[1]],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_grant"), "{body}");

    let (status, _) = curl(&served, port, &[&format!("{issuer}/userinfo")]);
    assert_eq!(status, 401);

    let (_control, grant, _quic) = served.granted("cps4-nurse").await;
    let sso = grant.apps.iter().find(|a| a.name == "sso");
    let sso = sso.unwrap_or_else(|| panic!("no sso app in {:?}", grant.apps));
    assert_eq!(sso.dns_name, SSO_DNS);
    let (_control, doctor, _quic) = served.granted("cps4-doctor").await;
    let again = doctor
        .apps
        .iter()
        .find(|a| a.name == "sso")
        .expect("sso for every session");
    assert_eq!(again.address, sso.address, "one address for the issuer");
}

//! Single sign-on end to end, as root: a hospital portal built on Flask and Authlib (a real
//! OpenID Connect relying party, not ours) signs the doctor in through her Vigie tunnel with
//! no prompt, and reads her idNat, profession and authentication methods from the ID token;
//! an app without OpenID Connect gets her identity in a signed header it checks with the
//! issuer's keys; nobody outside a session can sign in; when her session ends, even after a
//! connector restart or while the connector is stopped, the portal receives a signed
//! back-channel logout token for it. Her mail client gets an access token
//! from the issuer (a public client with PKCE) and logs in to a real Dovecot with it over
//! OAUTHBEARER; Dovecot checks it with the issuer's keys. When she takes her card to another
//! workstation, her session and its SSO session go along: same session, same address, the
//! same token accepted.

mod e2e_support;

use std::path::PathBuf;
use std::sync::Arc;

use e2e_support::clinician::{Clinician, Session};
use e2e_support::connector::Connector;
use e2e_support::hospital_net::{HospitalNet, Laptop};
use e2e_support::{TempDir, eventually, world};
use vigie_certs::pki::SSO_DNS;
use vigie_lab::apps::{MailServer, TokenKey, TokenTrust};
use vigie_lab::oidc_app::{HeaderApp, OidcPortal, PortalConfig};

const PORTAL_PORT: u16 = 8000;
const PORTAL: &str = "http://portal.hopital.example:8000";
const SECRET: &str = "portal-secret-for-the-lab";
const LEGACY_PORT: u16 = 8100;
/// The Dovecot that takes tokens.
const TOKEN_MAIL_PORT: u16 = 1143;
/// Where a mail client on the laptop listens for its code (RFC 8252's loopback redirect).
const MAIL_CLIENT_REDIRECT: &str = "http://127.0.0.1:8765/cb";
/// The PKCE verifier of the mail client.
const VERIFIER: &str = "the-mail-client-s-own-pkce-verifier-0123456789abcdef";
const LEGACY: &str = "http://legacy.hopital.example:8100/";

/// The world's root CAs in one PEM file, for curl and the portal.
fn roots(dir: &TempDir) -> PathBuf {
    let mut all = String::new();
    let trust = world().dir().join("trust/roots");
    for entry in std::fs::read_dir(trust).expect("the world's roots") {
        all += &std::fs::read_to_string(entry.expect("a root").path()).expect("a PEM file");
    }
    let path = dir.path().join("roots.pem");
    std::fs::write(&path, all).expect("write the roots");
    path
}

/// The site: the hospital's apps, the portal published to doctors, and the issuer on the
/// connector's LAN address with the portal registered.
fn site(hospital: &HospitalNet) -> e2e_support::connector::Site {
    let mut site = hospital.site();
    let (backend, lan) = (hospital.backend_address, hospital.lan_address());
    site.apps += &format!(
        "[[app]]\nname = \"portal\"\ndns_name = \"portal.hopital.example\"\n\
         ports = [\"tcp/{PORTAL_PORT}\"]\nbackend = \"{backend}\"\nprofessions = [\"Médecin\"]\n\
         [[app]]\nname = \"legacy\"\ndns_name = \"legacy.hopital.example\"\n\
         ports = [\"tcp/{LEGACY_PORT}\"]\nbackend = \"{backend}\"\nprofessions = [\"Médecin\"]\n\
         [[app]]\nname = \"courriel\"\ndns_name = \"courriel.hopital.example\"\n\
         ports = [\"tcp/{TOKEN_MAIL_PORT}\"]\nbackend = \"{backend}\"\ngroups = [\"urgences\"]\n"
    );
    site.extra += &format!(
        "[sso]\nissuer = \"https://{SSO_DNS}\"\nlisten = \"{lan}:443\"\n\
         [[sso.client]]\nid = \"portal\"\nsecret = \"{SECRET}\"\n\
         redirect_uris = [\"{PORTAL}/callback\"]\n\
         backchannel_logout_uri = \"http://{backend}:{PORTAL_PORT}/backchannel-logout\"\n\
         [[sso.client]]\nid = \"mail\"\nredirect_uris = [\"{MAIL_CLIENT_REDIRECT}\"]\n\
         [[sso.identity_header]]\napp = \"legacy\"\n"
    );
    site
}

/// The value after `key=` on the portal's page.
fn shown<'a>(page: &'a str, key: &str) -> &'a str {
    let start = page
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {page}"));
    let value = &page[start + key.len() + 1..];
    &value[..value.find('<').unwrap_or(value.len())]
}

/// The hospital with its LAN knowing the issuer's name, a folder, and the roots file.
fn lab() -> Option<(HospitalNet, TempDir, PathBuf)> {
    let hospital = HospitalNet::for_test()?;
    let dir = TempDir::new("-sso");
    let roots = roots(&dir);
    let hosts = format!(
        "127.0.0.1 localhost\n{} {SSO_DNS}\n",
        hospital.lan_address()
    );
    hospital
        .backend
        .private_etc_file("hosts", &hosts)
        .expect("the LAN's name for the issuer");
    Some((hospital, dir, roots))
}

/// The doctor's session up on a new laptop.
fn doctor_up(hospital: &HospitalNet) -> (Laptop, Clinician, Session) {
    let laptop = hospital.laptop();
    let world = world();
    let mut clinician = Clinician::new(&world, hospital.control_address());
    clinician.use_laptop(Arc::clone(&laptop.ns), hospital.control_address());
    clinician.insert(&world, "cps3-doctor");
    let (session, status) = clinician.up_granted();
    assert!(status.apps.iter().any(|a| a.name == "sso"), "{status:#?}");
    (laptop, clinician, session)
}

#[test]
fn a_doctor_signs_in_to_a_portal_through_her_tunnel_without_a_prompt() {
    let Some((hospital, dir, roots)) = lab() else {
        return;
    };
    let config = PortalConfig {
        issuer: format!("https://{SSO_DNS}"),
        client_id: "portal".into(),
        client_secret: SECRET.into(),
        base_url: PORTAL.into(),
        ca_file: roots.clone(),
    };
    let address = (hospital.backend_address, PORTAL_PORT).into();
    let portal = OidcPortal::start(&hospital.backend, address, &config, dir.path())
        .expect("the portal starts; install python3-flask and python3-authlib");
    let issuer = format!("https://{SSO_DNS}");
    let legacy = (issuer.as_str(), "legacy", "X-Vigie-Identity");
    let address = (hospital.backend_address, LEGACY_PORT).into();
    let header_app = HeaderApp::start(&hospital.backend, address, legacy, &roots, dir.path())
        .expect("the header app starts");
    let mut connector =
        Connector::start_site(&world(), &site(&hospital), Some(&hospital.connector));

    // Nobody signs in from the hospital LAN: there is no session there.
    let authorize = format!(
        "https://{SSO_DNS}/authorize?response_type=code&client_id=portal&scope=openid\
         &redirect_uri={PORTAL}/callback&state=x"
    );
    let outside = hospital
        .backend
        .command("curl")
        .args(["--silent", "--cacert", roots.to_str().expect("UTF-8")])
        .args(["--write-out", "%{http_code}", &authorize])
        .output()
        .expect("curl on the LAN");
    let outside = String::from_utf8_lossy(&outside.stdout).into_owned();
    assert!(outside.ends_with("403"), "{outside}");
    assert!(
        outside.contains("insert your health professional card"),
        "{outside}"
    );

    // The doctor's browser, through her tunnel: the portal, the issuer, back, signed in.
    let (laptop, clinician, mut session) = doctor_up(&hospital);
    let page = portal_sign_in(&laptop, &dir.path().join("cookies"), &roots);
    assert_eq!(shown(&page, "idnat"), "899700123450", "{page}");
    assert_eq!(shown(&page, "name"), "Jean DOCTEUR", "{page}");
    assert_eq!(shown(&page, "profession"), "10", "{page}");
    assert_eq!(shown(&page, "amr"), "sc,pin,mfa,hwk", "{page}");
    let sid = shown(&page, "sid").to_owned();

    // The app without OpenID Connect gets her identity in a signed header, whatever the
    // browser sends; on the LAN, without the connector in front, nobody is asserted.
    let forged = ["--header", "X-Vigie-Identity: forged"];
    let asserted = eventually("the identity-header app", || {
        laptop
            .http_get_with(&forged, LEGACY)
            .map_err(|e| format!("{e}: {}", header_app.log_tail(10)))
    });
    assert_eq!(asserted.trim(), "asserted idnat=899700123450 aud=legacy");
    let direct = format!("http://{}:{LEGACY_PORT}/", hospital.backend_address);
    let unasserted = hospital
        .backend
        .command("curl")
        .args(["--silent", "--write-out", " %{http_code}", &direct])
        .output()
        .expect("curl on the LAN");
    let unasserted = String::from_utf8_lossy(&unasserted.stdout).into_owned();
    assert!(unasserted.ends_with(" 401"), "{unasserted}");

    // The connector restarts (an upgrade): her session comes back to the same `vigie up`,
    // and the issuer still knows that the portal signed her in.
    connector.restart(Some(&hospital.connector));
    clinician.wait_state(&mut session, "reconnecting");
    clinician.wait_state(&mut session, "active");

    // Her session ends: the portal is told, with a token it verified against the keys.
    clinician.down(&mut session);
    told_of_logout(&portal, &sid);

    // She signs in again from another laptop; her session is ended while the connector is
    // stopped: the portal is told as soon as it starts again.
    let (laptop, _clinician, _session) = doctor_up(&hospital);
    let page = portal_sign_in(&laptop, &dir.path().join("cookies-2"), &roots);
    let second = shown(&page, "sid").to_owned();
    assert_ne!(second, sid, "a new session");
    connector.stop();
    connector.admin(&["session", "kill", "--all", "--reason", "the lab"]);
    connector.start_again(Some(&hospital.connector));
    told_of_logout(&portal, &second);
    drop(connector);
}

/// The portal's page once the browser on `laptop` signed in (cookies kept in `jar`).
fn portal_sign_in(laptop: &Laptop, jar: &std::path::Path, roots: &std::path::Path) -> String {
    let jar = jar.to_str().expect("UTF-8");
    eventually("the portal through the tunnel", || {
        let output = laptop.curl(&[
            "--location",
            "--cookie-jar",
            jar,
            "--cookie",
            jar,
            "--cacert",
            roots.to_str().expect("UTF-8"),
            &format!("{PORTAL}/"),
        ]);
        let page = String::from_utf8_lossy(&output.stdout).into_owned();
        if page.contains("Signed in") {
            Ok(page)
        } else {
            Err(format!("{page}{}", String::from_utf8_lossy(&output.stderr)))
        }
    })
}

/// Waits until the portal has received a back-channel logout for session `sid`.
fn told_of_logout(portal: &OidcPortal, sid: &str) {
    eventually("the back-channel logout", || {
        let logouts = portal.logouts();
        if logouts.iter().any(|s| s == sid) {
            Ok(())
        } else {
            Err(format!("{logouts:?}; portal: {}", portal.log_tail(20)))
        }
    });
}

/// The issuer's public keys, as `vigie-connector sso keys` prints them.
fn issuer_keys(connector: &Connector) -> Vec<TokenKey> {
    let printed = connector.admin(&["sso", "keys"]);
    let mut keys = Vec::new();
    for block in printed.split("kid ").skip(1) {
        let (kid, pem) = block.split_once('\n').expect("a kid line, then the PEM");
        keys.push(TokenKey {
            kid: kid.trim().to_owned(),
            public_key_pem: pem.to_owned(),
        });
    }
    assert!(!keys.is_empty(), "{printed}");
    keys
}

/// The value of `"name":"…"` in a JSON text.
fn json_field(text: &str, name: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(text).unwrap_or_else(|_| panic!("{text}"));
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .to_owned()
}

/// What a mail client on `laptop` does to get an access token: a code from the issuer (no
/// prompt: the tunnel is the login), exchanged with its PKCE verifier.
fn mail_client_token(laptop: &Laptop, ca: &str) -> String {
    let challenge = {
        use base64::Engine as _;
        use sha2::Digest as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER))
    };
    let authorize = format!(
        "https://{SSO_DNS}/authorize?response_type=code&client_id=mail&scope=openid%20mail\
         &redirect_uri={MAIL_CLIENT_REDIRECT}&state=m1&code_challenge={challenge}\
         &code_challenge_method=S256"
    );
    let redirect = eventually("the issuer through the tunnel", || {
        laptop.http_get_with(
            &["--cacert", ca, "--write-out", "%{redirect_url}"],
            &authorize,
        )
    });
    let code = redirect
        .split_once("code=")
        .and_then(|(_, rest)| rest.split('&').next())
        .unwrap_or_else(|| panic!("no code in {redirect}"))
        .to_owned();
    let form = format!(
        "grant_type=authorization_code&client_id=mail&code={code}\
         &redirect_uri={MAIL_CLIENT_REDIRECT}&code_verifier={VERIFIER}"
    );
    let token_url = format!("https://{SSO_DNS}/token");
    let tokens = laptop
        .http_get_with(&["--cacert", ca, "--data", &form], &token_url)
        .expect("the token endpoint");
    json_field(&tokens, "access_token")
}

/// The issuer's userinfo for `token`, asked from `laptop`; curl's error when refused.
fn userinfo(laptop: &Laptop, ca: &str, token: &str) -> Result<String, String> {
    let bearer = format!("Authorization: Bearer {token}");
    let url = format!("https://{SSO_DNS}/userinfo");
    laptop.http_get_with(&["--fail", "--cacert", ca, "--header", &bearer], &url)
}

/// The issuer's userinfo for `token`, asked by an app server on the LAN.
fn lan_userinfo(hospital: &HospitalNet, ca: &str, token: &str) -> Result<String, String> {
    let output = hospital
        .backend
        .command("curl")
        .args(["--silent", "--fail", "--cacert", ca, "--header"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("https://{SSO_DNS}/userinfo"))
        .output()
        .expect("curl on the LAN");
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!("curl exit {:?}", output.status.code()))
    }
}

#[test]
fn a_mail_client_logs_in_to_imap_with_a_token_from_the_issuer() {
    let Some((hospital, dir, roots)) = lab() else {
        return;
    };
    let connector = Connector::start_site(&world(), &site(&hospital), Some(&hospital.connector));
    let trust = TokenTrust {
        issuer: format!("https://{SSO_DNS}"),
        audience: "mail".into(),
        keys: issuer_keys(&connector),
    };
    let address = (hospital.backend_address, TOKEN_MAIL_PORT).into();
    let mail = MailServer::start_with_tokens(&hospital.backend, address, &[], dir.path(), &trust)
        .expect("Dovecot takes tokens");
    let (laptop, clinician, mut session) = doctor_up(&hospital);
    let ca = roots.to_str().expect("UTF-8");

    // The mail client gets a token from the issuer, through the tunnel, with no prompt...
    let access = mail_client_token(&laptop, ca);
    let imap = format!("imap://courriel.hopital.example:{TOKEN_MAIL_PORT}/");
    let login = |token: &str| {
        laptop.http_get_with(
            &[
                "--user",
                "899700123450",
                "--login-options",
                "AUTH=OAUTHBEARER",
                "--oauth2-bearer",
                token,
            ],
            &imap,
        )
    };
    let mailboxes = login(&access).unwrap_or_else(|e| panic!("{e}\n{}", mail.log()));
    assert!(mailboxes.contains("INBOX"), "{mailboxes}");

    // A token whose signature was altered is refused.
    let mut forged = access.clone();
    let at = forged.len() - 10;
    let swapped = if &forged[at..=at] == "A" { "B" } else { "A" };
    forged.replace_range(at..=at, swapped);
    assert!(login(&forged).is_err(), "a forged token logged in");
    clinician.down(&mut session);
}

#[test]
fn the_session_and_its_sso_follow_the_card_to_another_workstation() {
    let Some((hospital, _dir, roots)) = lab() else {
        return;
    };
    let _connector = Connector::start_site(&world(), &site(&hospital), Some(&hospital.connector));
    let ca = roots.to_str().expect("UTF-8");
    let (laptop, mut clinician, mut first) = doctor_up(&hospital);
    let before = clinician.wait_state(&mut first, "active");
    let token = mail_client_token(&laptop, ca);
    let info = userinfo(&laptop, ca, &token).expect("userinfo with a live session");
    assert!(info.contains("899700123450"), "{info}");

    // She pulls her card out and takes it to the workstation next door.
    clinician.pull();
    clinician.wait_state(&mut first, "suspended");
    let (other, other_clinician, mut second) = doctor_up(&hospital);
    let after = other_clinician.wait_state(&mut second, "active");
    assert_eq!(after.session_id, before.session_id, "the same session");
    assert_eq!(
        after.tunnel_address, before.tunnel_address,
        "the same address"
    );
    first.wait();
    assert!(first.output().contains("VIGIE-E-106"), "{}", first.output());

    // The SSO session went along: the token from the first workstation still works, at the
    // issuer through the new tunnel and for the apps on the LAN; it dies with the session.
    let info = eventually("userinfo from the second workstation", || {
        userinfo(&other, ca, &token)
    });
    assert!(info.contains("899700123450"), "{info}");
    assert!(lan_userinfo(&hospital, ca, &token).is_ok());
    other_clinician.down(&mut second);
    eventually("the token dies with the session", || {
        match lan_userinfo(&hospital, ca, &token) {
            Err(_) => Ok(()),
            Ok(info) => Err(format!("still accepted: {info}")),
        }
    });
}

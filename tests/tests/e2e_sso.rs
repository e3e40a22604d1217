//! Single sign-on end to end, as root: a hospital portal built on Flask and Authlib (a real
//! OpenID Connect relying party, not ours) signs the doctor in through her Vigie tunnel with
//! no prompt, and reads her idNat, profession and authentication methods from the ID token;
//! an app without OpenID Connect gets her identity in a signed header it checks with the
//! issuer's keys; nobody outside a session can sign in; when her session ends the portal
//! receives a signed back-channel logout token for it.

mod e2e_support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use e2e_support::clinician::Clinician;
use e2e_support::connector::Connector;
use e2e_support::hospital_net::HospitalNet;
use e2e_support::{PATIENCE, TempDir, world};
use vigie_certs::pki::SSO_DNS;
use vigie_lab::oidc_app::{HeaderApp, OidcPortal, PortalConfig};

const PORTAL_PORT: u16 = 8000;
const PORTAL: &str = "http://portal.hopital.example:8000";
const SECRET: &str = "portal-secret-for-the-lab";
const LEGACY_PORT: u16 = 8100;
const LEGACY: &str = "http://legacy.hopital.example:8100/";

/// The world's root CAs in one PEM file, for curl and the portal.
fn roots(dir: &TempDir) -> std::path::PathBuf {
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
         ports = [\"tcp/{LEGACY_PORT}\"]\nbackend = \"{backend}\"\nprofessions = [\"Médecin\"]\n"
    );
    site.extra += &format!(
        "[sso]\nissuer = \"https://{SSO_DNS}\"\nlisten = \"{lan}:443\"\n\
         [[sso.client]]\nid = \"portal\"\nsecret = \"{SECRET}\"\n\
         redirect_uris = [\"{PORTAL}/callback\"]\n\
         backchannel_logout_uri = \"http://{backend}:{PORTAL_PORT}/backchannel-logout\"\n\
         [[sso.identity_header]]\napp = \"legacy\"\n"
    );
    site
}

fn eventually<T>(what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = Instant::now();
    loop {
        match f() {
            Ok(value) => return value,
            Err(error) if start.elapsed() > PATIENCE => panic!("{what}: {error}"),
            Err(_) => std::thread::sleep(Duration::from_millis(300)),
        }
    }
}

/// The value after `key=` on the portal's page.
fn shown<'a>(page: &'a str, key: &str) -> &'a str {
    let start = page
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {page}"));
    let value = &page[start + key.len() + 1..];
    &value[..value.find('<').unwrap_or(value.len())]
}

#[test]
fn a_doctor_signs_in_to_a_portal_through_her_tunnel_without_a_prompt() {
    if vigie_lab::require_root("network namespaces, TUN devices, nftables, pcscd").is_err() {
        return;
    }
    vigie_lab::init_test_logging();
    let hospital = HospitalNet::start();
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
    let connector = Connector::start_site(&world(), &site(&hospital), Some(&hospital.connector));

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
    let laptop = hospital.laptop();
    let world = world();
    let mut clinician = Clinician::new(&world, hospital.control_address());
    clinician.use_laptop(Arc::clone(&laptop.ns), hospital.control_address());
    clinician.insert(&world, "cps3-doctor");
    let (mut session, status) = clinician.up_granted();
    assert!(status.apps.iter().any(|a| a.name == "sso"), "{status:#?}");
    let jar = dir.path().join("cookies");
    let jar = jar.to_str().expect("UTF-8");
    let page = eventually("the portal through the tunnel", || {
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
    });
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

    // Her session ends: the portal is told, with a token it verified against the keys.
    clinician.down(&mut session);
    eventually("the back-channel logout", || {
        let logouts = portal.logouts();
        if logouts.contains(&sid) {
            Ok(())
        } else {
            Err(format!("{logouts:?}; portal: {}", portal.log_tail(20)))
        }
    });
    drop(connector);
}

//! The hospital's LAN in the demo: a backend namespace behind the connector's, with the
//! applications running for real — the patient record (a web app), the mail server
//! (Dovecot), the staff portal (a Flask and Authlib web app that signs people in with the
//! connector's SSO) and the HR portal, which nobody is granted — and what the clinician's
//! laptop does with them through the tunnel.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::Result;
use super::hospital::{PORTAL_PORT, PORTAL_SECRET, SSO_NAME};
use super::narrate::{command, heading, indented, say};
use super::site::Pki;
use crate::apps::{MailServer, MailUser, WebApp};
use crate::error::LabError;
use crate::oidc_app::{OidcPortal, PortalConfig};
use crate::{NetNs, VethLink};

/// The doctor's mail account.
pub const MAIL_LOGIN: (&str, &str) = ("jeanne", "courrier");
/// The HR portal's port: on the same host as the DPI, published to nobody.
pub const HR_PORT: u16 = 8080;

/// The backend namespace, its link to the connector, and the servers. Dropped in field
/// order: servers, then link, then namespace.
#[derive(Debug)]
pub struct Lan {
    host: Ipv4Addr,
    connector_side: Ipv4Addr,
    ca_file: PathBuf,
    _portal: OidcPortal,
    _dpi: WebApp,
    _hr: WebApp,
    _mail: MailServer,
    _link: VethLink,
    backend: NetNs,
}

impl Lan {
    /// The backend namespace joined to `connector`, with the servers started; their files
    /// in `dir`.
    pub fn start(connector: &NetNs, pki: &Pki, dir: &Path) -> Result<Self> {
        heading("The hospital's network and its applications");
        let backend = NetNs::new()?;
        let link = VethLink::new(connector, &backend)?;
        let host = link.addr_b();
        let hosts = format!("127.0.0.1 localhost\n{} {SSO_NAME}\n", link.addr_a());
        backend.private_etc_file("hosts", &hosts)?;
        let ca_file = pki.server_ca();
        let portal = OidcPortal::start(
            &backend,
            (host, PORTAL_PORT).into(),
            &PortalConfig {
                issuer: format!("https://{SSO_NAME}"),
                client_id: "portal".into(),
                client_secret: PORTAL_SECRET.into(),
                base_url: format!("http://portal.hopital.test:{PORTAL_PORT}"),
                ca_file: ca_file.clone(),
            },
            dir,
        )?;
        let dpi = WebApp::start(&backend, (host, 80).into(), "dpi", dir)?;
        let hr = WebApp::start(&backend, (host, HR_PORT).into(), "rh", dir)?;
        let user = MailUser {
            login: MAIL_LOGIN.0.into(),
            password: MAIL_LOGIN.1.into(),
        };
        let mail = MailServer::start(&backend, (host, 143).into(), &[user], dir)?;
        say(&format!(
            "Behind the connector, the hospital's LAN ({}) has one server at {host}: the patient \
             record (DPI, a web app on port 80), the mail server (a real Dovecot, IMAP on port \
             143), the staff portal (port {PORTAL_PORT}, signing people in with the hospital's \
             SSO at https://{SSO_NAME}, which the connector runs), and the HR portal (port \
             {HR_PORT}), which is published to nobody. The LAN has no route to the outside: a \
             clinician reaches it only through the connector.",
            backend.name()
        ));
        Ok(Self {
            host,
            connector_side: link.addr_a(),
            ca_file,
            _portal: portal,
            _dpi: dpi,
            _hr: hr,
            _mail: mail,
            _link: link,
            backend,
        })
    }

    /// The server's address on the LAN.
    pub fn host(&self) -> Ipv4Addr {
        self.host
    }

    /// The connector's own address on the LAN, where its SSO issuer listens.
    pub fn connector_side(&self) -> Ipv4Addr {
        self.connector_side
    }

    /// The CA that signed the SSO issuer's certificate, as browsers and apps trust it.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The backend namespace's name, for the person to look around.
    pub fn name(&self) -> &str {
        self.backend.name()
    }
}

/// What the clinician does through the tunnel: the apps by name with curl, and what stays
/// out of reach. Returns whether each went as it should.
pub fn show_reach(laptop: &NetNs, lan: &Lan, demo_dir: &Path) -> Result<bool> {
    heading("Through the tunnel: the apps, and nothing else");
    say(
        "The laptop's tunnel routes only the apps' virtual addresses, and their names resolve \
         to them. curl on the laptop opens the patient record by name:",
    );
    let dpi = curl(laptop, &["http://dpi.hopital.test/"]);
    let reached_dpi = dpi.contains(&WebApp::marker("dpi"));
    say("and lists the doctor's mailboxes on the mail server, over IMAP:");
    let login = format!("{}:{}", MAIL_LOGIN.0, MAIL_LOGIN.1);
    let mail = curl(laptop, &["--user", &login, "imap://mail.hopital.test/"]);
    let reached_mail = mail.contains("INBOX");
    say(&format!(
        "The HR portal runs on the same server, port {HR_PORT}, but is published to nobody. \
         Through the DPI's address the connector refuses it at once; the LAN itself has no \
         route from the laptop:"
    ));
    let via_dpi = curl(laptop, &[&format!("http://dpi.hopital.test:{HR_PORT}/")]);
    let direct = curl(laptop, &[&format!("http://{}:{HR_PORT}/", lan.host())]);
    let refused = !via_dpi.contains(&WebApp::marker("rh")) && !direct.contains("This is");
    let signed_in = show_sign_in(laptop, lan, demo_dir)?;
    Ok(reached_dpi && reached_mail && refused && signed_in)
}

/// The staff portal signs the doctor in with the hospital's SSO: no login page, no password.
fn show_sign_in(laptop: &NetNs, lan: &Lan, demo_dir: &Path) -> Result<bool> {
    say(&format!(
        "The staff portal knows nothing of cards: it signs people in with OpenID Connect, at the \
         hospital's issuer https://{SSO_NAME}, which the connector runs. The doctor's browser \
         (curl, following redirects) goes there through her tunnel, and the issuer knows her \
         by her session: no login page, no second PIN. The portal reads who she is from the \
         ID token:"
    ));
    let jar = demo_dir.join("portal-cookies.txt");
    let jar = jar
        .to_str()
        .ok_or_else(|| LabError::Misuse("a UTF-8 demo path".into()))?;
    let ca = lan
        .ca_file
        .to_str()
        .ok_or_else(|| LabError::Misuse("a UTF-8 PKI path".into()))?;
    let url = format!("http://portal.hopital.test:{PORTAL_PORT}/");
    let page = curl(
        laptop,
        &["--location", "-c", jar, "-b", jar, "--cacert", ca, &url],
    );
    Ok(page.contains("Signed in"))
}

/// Runs curl inside `laptop`, shown; its output and errors, as one text.
fn curl(laptop: &NetNs, args: &[&str]) -> String {
    command(&format!("curl {}", args.join(" ")));
    let output = laptop
        .command("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output();
    let text = match output {
        Ok(output) => {
            String::from_utf8_lossy(&output.stdout).into_owned()
                + &String::from_utf8_lossy(&output.stderr)
        }
        Err(error) => format!("curl could not run ({error}); install curl"),
    };
    indented(&text);
    text
}

//! The hospital's LAN in the demo: a backend namespace behind the connector's, with the
//! applications running for real — the patient record (a web app), the mail server
//! (Dovecot) and the HR portal, which nobody is granted — and what the clinician's laptop
//! does with them through the tunnel.

use std::net::Ipv4Addr;

use super::Result;
use super::narrate::{command, heading, indented, say};
use crate::apps::{MailServer, MailUser, WebApp};
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
    _dpi: WebApp,
    _hr: WebApp,
    _mail: MailServer,
    _link: VethLink,
    backend: NetNs,
}

impl Lan {
    /// The backend namespace joined to `connector`, with the servers started; their files
    /// in `dir`.
    pub fn start(connector: &NetNs, dir: &std::path::Path) -> Result<Self> {
        heading("The hospital's network and its applications");
        let backend = NetNs::new()?;
        let link = VethLink::new(connector, &backend)?;
        let host = link.addr_b();
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
             143), and the HR portal (port {HR_PORT}), which is published to nobody. The LAN has \
             no route to the outside: a clinician reaches it only through the connector.",
            backend.name()
        ));
        Ok(Self {
            host,
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

    /// The backend namespace's name, for the person to look around.
    pub fn name(&self) -> &str {
        self.backend.name()
    }
}

/// What the clinician does through the tunnel: the apps by name with curl, and what stays
/// out of reach. Returns whether each went as it should.
pub fn show_reach(laptop: &NetNs, lan: &Lan) -> Result<bool> {
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
    Ok(reached_dpi && reached_mail && refused)
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

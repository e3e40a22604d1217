//! The connector's configuration file (TOML, `/etc/vigie/connector.toml` by default).
//!
//! Strict: a key this version does not know is an error naming the key and the file, so a
//! typo never silently leaves a setting at its default. Relative paths are taken relative to
//! the file's own folder.
//!
//! ```toml
//! [directory]
//! path = "/var/lib/vigie/connector.db"
//!
//! [hr.csv]
//! path = "/var/lib/vigie/hr/export.csv"
//! delimiter = ";"
//! list_separator = "|"            # between groups or professions inside one cell
//! date_format = "%d/%m/%Y"        # strftime-style, as HR writes dates
//! ignored_columns = ["MATRICULE"]
//! max_removed_percent = 20        # refuse a sync that removes more of the people than this
//! [hr.csv.columns]                # our field = the HR export's column header
//! id_nat = "IDNAT"
//! surname = "NOM"
//! given_name = "PRENOM"
//! professions = "PROFESSION"
//! groups = "SERVICES"
//! status = "STATUT"
//! start_date = "DATE_ENTREE"
//! end_date = "DATE_SORTIE"
//! [hr.csv.status_values]
//! active = ["ACTIF"]
//! suspended = ["SUSPENDU"]
//! departed = ["SORTI"]
//!
//! # Or people from Active Directory (an OpenLDAP example is in `crate::hr::ldap`). With both
//! # sections, `[hr] source = "csv"` or `"ldap"` (or `hr sync --source`) picks one.
//! [hr.ldap]
//! url = "ldaps://ad.hopital.example"  # AD requires LDAPS (or starttls = true on ldap://)
//! ca_file = "ad-ca.pem"           # the authorities of the server's certificate
//! bind_dn = "CN=svc-vigie,OU=Services,DC=hopital,DC=example"
//! bind_password_file = "ldap-password"  # first line; never logged
//! base_dn = "OU=Personnel,DC=hopital,DC=example"
//! filter = "(&(objectCategory=person)(objectClass=user)(employeeID=*))"
//! page_size = 1000                # AD serves at most 1000 entries per page
//! timeout_seconds = 30
//! date_format = "filetime"        # accountExpires; "generalized" or strftime otherwise
//! max_removed_percent = 20
//! [hr.ldap.attributes]            # our field = the directory's attribute
//! id_nat = "employeeID"
//! surname = "sn"
//! given_name = "givenName"
//! professions = "title"
//! groups = "memberOf"             # group DNs count by their CN
//! account_control = "userAccountControl"  # a disabled account (0x2) is suspended
//! end_date = "accountExpires"
//!
//! [enrolment]
//! on_first_use = false
//!
//! [addresses]
//! apps = "100.80.0.0/16"          # virtual addresses of published apps
//! clients = "100.96.0.0/12"       # tunnel addresses of clients
//!
//! [[app]]
//! name = "dpi"
//! dns_name = "dpi.hopital.example"
//! ports = ["tcp/443"]
//! backend = "dpi-backend.hopital.example"
//! groups = ["urgences"]
//! professions = ["Médecin"]
//!
//! [audit]
//! dir = "/var/log/vigie/audit"
//!
//! [dataplane]                     # WireGuard tunnels (needs root: a TUN device, nftables)
//! enabled = true
//! port = 51820                    # UDP; list it in session.endpoints for clients
//! tun = "vigie0"
//!
//! [admin]                         # metrics and health over HTTP; off without this section
//! listen = "127.0.0.1:9819"       # loopback by default; never the internet-facing address
//!
//! [log]
//! level = "info"                  # error, warn (the default), info, debug; -v overrides it
//! ```
//!
//! Apps in the file are applied to the directory each time the connector or its CLI starts,
//! and when a running connector reloads its configuration; see [`crate::apps`] for how they
//! combine with apps published from the command line.
//!
//! A file with mistakes is refused with every problem found, each at its line and column
//! ([`problems`]).

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::apps::{Ipv4Range, PortRange, TUNNEL_SPACE};

mod log;
pub mod problems;

pub use log::{LogConfig, LogLevel};
pub use problems::Problem;

/// Where the configuration file is looked for when none is named.
pub const DEFAULT_PATH: &str = "/etc/vigie/connector.toml";

/// The whole configuration file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// `[directory]`.
    #[serde(default)]
    pub directory: DirectoryConfig,
    /// `[hr]`.
    #[serde(default)]
    pub hr: HrConfig,
    /// `[enrolment]`.
    #[serde(default)]
    pub enrolment: EnrolmentConfig,
    /// `[addresses]`.
    #[serde(default)]
    pub addresses: AddressesConfig,
    /// `[[app]]`, in file order.
    #[serde(default, rename = "app")]
    pub apps: Vec<AppConfig>,
    /// `[audit]`.
    #[serde(default)]
    pub audit: AuditConfig,
    /// `[listen]`, `[tls]`, `[trust]`, `[session]`, `[state]`: see [`crate::serve::config`].
    #[serde(default)]
    pub listen: crate::serve::config::ListenConfig,
    /// `[tls]`.
    #[serde(default)]
    pub tls: crate::serve::config::TlsConfig,
    /// `[trust]`.
    #[serde(default)]
    pub trust: crate::serve::config::TrustFiles,
    /// `[session]`.
    #[serde(default)]
    pub session: crate::serve::config::SessionLimits,
    /// `[state]`.
    #[serde(default)]
    pub state: crate::serve::config::StateConfig,
    /// `[dataplane]`: see [`crate::dataplane::DataPlaneConfig`].
    #[serde(default)]
    pub dataplane: crate::dataplane::DataPlaneConfig,
    /// `[sso]`: the OpenID Connect issuer, if the site runs it; see [`crate::sso::config`].
    #[serde(default)]
    pub sso: Option<crate::sso::SsoConfig>,
    /// `[admin]`: the metrics and health endpoint, if the site wants it; see
    /// [`crate::serve::admin`].
    #[serde(default)]
    pub admin: Option<crate::serve::admin::AdminConfig>,
    /// `[log]`.
    #[serde(default)]
    pub log: LogConfig,
}

/// `[directory]`: the embedded database.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DirectoryConfig {
    /// The SQLite file; created with its folder on first use.
    pub path: PathBuf,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            path: "/var/lib/vigie/connector.db".into(),
        }
    }
}

/// `[hr]`: where people come from.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrConfig {
    /// Which of the two `hr sync` reads when both are configured (`--source` overrides it).
    #[serde(default)]
    pub source: Option<HrSource>,
    /// `[hr.csv]`: a CSV export from the HR system.
    pub csv: Option<crate::hr::HrCsvConfig>,
    /// `[hr.ldap]`: an LDAP directory or Active Directory.
    pub ldap: Option<crate::hr::ldap::HrLdapConfig>,
}

/// `[hr] source`: where `hr sync` reads people from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HrSource {
    /// `[hr.csv]`.
    Csv,
    /// `[hr.ldap]`.
    Ldap,
}

/// `[enrolment]`: how cards get bound to people.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrolmentConfig {
    /// Enrol an unknown card at its first admission when its idNat is an active person's
    /// (the CPS3 → CPS4 change-over). Off by default: cards come from the enrolment desk.
    #[serde(default)]
    pub on_first_use: bool,
}

/// `[addresses]`: the virtual address ranges, inside 100.64.0.0/10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressesConfig {
    /// Where published apps get their stable virtual addresses.
    pub apps: Ipv4Range,
    /// Where clients get their tunnel addresses; the data plane's device takes the first.
    pub clients: Ipv4Range,
}

impl Default for AddressesConfig {
    fn default() -> Self {
        Self {
            apps: Ipv4Range::new([100, 80, 0, 0], 16),
            clients: Ipv4Range::new([100, 96, 0, 0], 12),
        }
    }
}

/// `[[app]]`: an app published from the file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    /// A short name admins use (`dpi`, `mail`).
    pub name: String,
    /// The name clients resolve to the app's virtual address.
    pub dns_name: String,
    /// Ports and protocols: `tcp/443`, `tcp/8000-8010`, `udp/53`.
    pub ports: Vec<PortRange>,
    /// The backend on the hospital network: an IP address or a DNS name.
    pub backend: String,
    /// Groups (from HR) granted the app.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Professions granted the app.
    #[serde(default)]
    pub professions: Vec<String>,
}

/// `[audit]`: where the audit log goes.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AuditConfig {
    /// The folder of the day files.
    pub dir: PathBuf,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            dir: "/var/log/vigie/audit".into(),
        }
    }
}

/// Why the configuration cannot be used. Always the local administrator's to fix.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error(
        "cannot read the configuration file {path}: {source}; create it or name another \
             with --config or VIGIE_CONFIG"
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML for this version, or values are out of bounds: every
    /// problem found, each at its line when known.
    #[error("{}", list(path, problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and where.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// The problems, for a file that was read but is wrong.
    pub fn problems(&self) -> &[Problem] {
        match self {
            Self::Invalid { problems, .. } => problems,
            Self::Unreadable { .. } => &[],
        }
    }
}

/// `file:line:column: problem`, one per line.
fn list(path: &Path, problems: &[Problem]) -> String {
    let lines: Vec<String> = problems
        .iter()
        .map(|problem| format!("{}:{problem}", path.display()))
        .collect();
    lines.join("\n")
}

impl ConnectorConfig {
    /// Reads, parses and checks the file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
            path: path.to_owned(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, path, base)
    }

    /// Parses and checks configuration text; `path` names it in errors and relative paths are
    /// resolved against `base`.
    pub fn parse(text: &str, path: &Path, base: &Path) -> Result<Self, ConfigError> {
        let invalid = |problems: Vec<Problem>| ConfigError::Invalid {
            path: path.to_owned(),
            problems,
        };
        let document = problems::Document::parse(text).map_err(invalid)?;
        let mut config: Self = document.read().map_err(invalid)?;
        let mut found: Vec<Problem> = config
            .problems()
            .into_iter()
            .map(|(key, message)| document.at_key(&key, message))
            .collect();
        problems::sort(&mut found);
        if !found.is_empty() {
            return Err(invalid(found));
        }
        config.resolve_paths(base);
        Ok(config)
    }

    /// Values no connector can work with, each with the dotted key it is about.
    fn problems(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut add = |key: &str, result: Result<(), String>| {
            if let Err(message) = result {
                found.push((key_named_in(&message).unwrap_or(key).to_owned(), message));
            }
        };
        add("addresses", self.check_addresses());
        if let Some(csv) = &self.hr.csv {
            add("hr.csv", csv.check());
        }
        if let Some(ldap) = &self.hr.ldap {
            add("hr.ldap", ldap.check());
        }
        let serve = crate::serve::config::ServeSections {
            listen: &self.listen,
            trust: &self.trust,
            session: &self.session,
        };
        for message in serve.problems() {
            add("listen", Err(message));
        }
        add("sso", self.check_sso());
        if let Some(admin) = &self.admin {
            add("admin.listen", admin.check(self));
        }
        found.extend(self.app_problems());
        found
    }

    fn check_addresses(&self) -> Result<(), String> {
        let AddressesConfig { apps, clients } = self.addresses;
        for (key, range) in [("addresses.apps", apps), ("addresses.clients", clients)] {
            if !TUNNEL_SPACE.covers(range) {
                return Err(format!(
                    "{key} = \"{range}\" must lie inside {TUNNEL_SPACE}"
                ));
            }
        }
        if apps.overlaps(clients) {
            return Err(format!(
                "addresses.apps ({apps}) and addresses.clients ({clients}) overlap; give them separate ranges"
            ));
        }
        Ok(())
    }

    fn check_sso(&self) -> Result<(), String> {
        let Some(sso) = &self.sso else {
            return Ok(());
        };
        sso.check()?;
        let public = self.listen.address;
        if public.is_unspecified() || public == sso.listen.ip() {
            return Err(format!(
                "with [sso], listen.address must be the connector's internet-facing address \
                 and sso.listen ({}) its address on the hospital network: the issuer must \
                 not be reachable from outside but through the tunnels",
                sso.listen
            ));
        }
        Ok(())
    }

    fn app_problems(&self) -> Vec<(String, String)> {
        let mut found = Vec::new();
        let mut names = HashSet::new();
        let mut dns_names = HashSet::new();
        for (index, app) in self.apps.iter().enumerate() {
            let key = format!("app[{index}]");
            if let Err(e) =
                crate::apps::check_definition(&app.name, &app.dns_name, &app.backend, &app.ports)
            {
                found.push((key.clone(), format!("[[app]] {:?}: {e}", app.name)));
            }
            if !names.insert(app.name.as_str()) {
                let message = format!(
                    "[[app]] name {:?} appears twice; app names are unique",
                    app.name
                );
                found.push((format!("{key}.name"), message));
            }
            if !dns_names.insert(app.dns_name.to_ascii_lowercase()) {
                let message = format!(
                    "[[app]] dns_name {:?} appears twice; each app needs its own name",
                    app.dns_name
                );
                found.push((format!("{key}.dns_name"), message));
            }
        }
        found
    }

    fn resolve_paths(&mut self, base: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        resolve(&mut self.directory.path);
        resolve(&mut self.audit.dir);
        if let Some(csv) = &mut self.hr.csv {
            resolve(&mut csv.path);
        }
        if let Some(ldap) = &mut self.hr.ldap {
            ldap.resolve_paths(base);
        }
        if let Some(sso) = &mut self.sso {
            sso.certificate.iter_mut().for_each(resolve);
            sso.key.iter_mut().for_each(resolve);
            for client in &mut sso.clients {
                client.jwks_file.iter_mut().for_each(resolve);
            }
        }
        let (tls, trust, state) = (&mut self.tls, &mut self.trust, &mut self.state);
        crate::serve::config::resolve_paths(tls, trust, state, base);
    }
}

/// The dotted key a check's message starts with (`listen.max_handshakes must be…`), if any.
fn key_named_in(message: &str) -> Option<&str> {
    let first = message.split_whitespace().next()?;
    let dotted = first.contains('.')
        && first
            .chars()
            .all(|c| c.is_ascii_lowercase() || c == '_' || c == '.');
    dotted.then_some(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ConnectorConfig, ConfigError> {
        ConnectorConfig::parse(
            text,
            Path::new("/etc/vigie/connector.toml"),
            Path::new("/etc/vigie"),
        )
    }

    #[test]
    fn a_full_file_parses_and_resolves_relative_paths() {
        let config = parse(
            r#"
            [directory]
            path = "state/connector.db"
            [hr.csv]
            path = "/srv/hr/export.csv"
            date_format = "%d/%m/%Y"
            [hr.csv.columns]
            id_nat = "IDNAT"
            [enrolment]
            on_first_use = true
            [[app]]
            name = "dpi"
            dns_name = "dpi.hopital.example"
            ports = ["tcp/443", "tcp/8000-8010"]
            backend = "198.18.10.1"
            professions = ["Médecin"]
            "#,
        )
        .unwrap();
        assert_eq!(
            config.directory.path,
            Path::new("/etc/vigie/state/connector.db")
        );
        assert!(config.enrolment.on_first_use);
        assert_eq!(config.apps[0].ports.len(), 2);
        assert_eq!(config.hr.csv.unwrap().columns.id_nat, "IDNAT");
        assert_eq!(config.addresses.apps.to_string(), "100.80.0.0/16");
    }

    #[test]
    fn unknown_keys_are_named_with_the_file() {
        let error = parse("[enrolment]\non_frist_use = true\n")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("on_frist_use") && error.contains("/etc/vigie/connector.toml"),
            "{error}"
        );
    }

    #[test]
    fn every_problem_is_reported_at_its_line_and_column() {
        let text = "[enrolment]\non_frist_use = true\n\n[listen]\nport = \"https\"\n\
                    max_handshakes = 0\n\n[session]\nidle_timeout = \"0s\"\n";
        let error = parse(text).unwrap_err();
        let problems = error.problems();
        assert_eq!(problems.len(), 2, "{error}");
        let text = error.to_string();
        assert!(
            text.contains(
                "/etc/vigie/connector.toml:2:1: unknown key `on_frist_use` in [enrolment]"
            ),
            "{text}"
        );
        assert!(text.contains("/etc/vigie/connector.toml:5:8: "), "{text}");
        assert!(text.contains("in [listen]"), "{text}");

        let checked = parse("[listen]\nmax_handshakes = 0\n[session]\nidle_timeout = \"0s\"\n")
            .unwrap_err()
            .to_string();
        let lines: Vec<&str> = checked.lines().collect();
        assert_eq!(lines.len(), 2, "{checked}");
        assert!(
            lines[0].starts_with("/etc/vigie/connector.toml:2:1: listen.max_handshakes"),
            "{checked}"
        );
        assert!(
            lines[1].starts_with("/etc/vigie/connector.toml:4:1: session.idle_timeout"),
            "{checked}"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(
            parse("[addresses]\napps = \"10.0.0.0/16\"\nclients = \"100.96.0.0/12\"\n").is_err()
        );
        assert!(
            parse("[addresses]\napps = \"100.96.0.0/16\"\nclients = \"100.96.0.0/12\"\n").is_err()
        );
        assert!(parse("[hr.csv]\npath = \"x\"\ndate_format = \"%Q\"\n").is_err());
        let app = "[[app]]\nname = \"dpi\"\ndns_name = \"dpi.example\"\nports = [\"tcp/443\"]\nbackend = \"198.18.10.1\"\n";
        assert!(parse(app).is_ok());
        assert!(parse(&format!("{app}{app}")).is_err());
        assert!(parse(&app.replace("tcp/443", "tcp/99999")).is_err());
    }
}

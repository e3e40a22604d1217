//! Published apps: what a hospital makes reachable, to whom, and at which virtual address.
//!
//! An app has a name, a DNS name, ports and protocols, and a backend on the hospital network.
//! It is granted to groups (from HR) and to professions; a person reaches an app when one of
//! their groups or professions is granted it ([`reachable`], compared without regard to case).
//! Each app gets a virtual address from the configured app range, stored in the directory
//! and never given to another app, so it stays the same across restarts, edits, and even a
//! withdrawal followed by a new publication under the same name.
//!
//! # Apps from the configuration file and from the command line
//!
//! Both end up in the directory; each app remembers where it came from.
//!
//! - An app defined in the file (`[[app]]`) belongs to the file: at each start its definition
//!   and its file grants are made to match the file, and `app publish` of that name is refused
//!   (edit the file instead). An app removed from the file is withdrawn at the next start.
//! - An app published with `app publish` belongs to the CLI until the file defines the same
//!   name, at which point the file takes it over (keeping its address).
//! - Grants added with `app grant` are kept on any app, across restarts. A grant that comes
//!   from the file can only be taken back by editing the file.

mod ports;
mod range;

use std::net::Ipv4Addr;

pub use ports::{PortRange, PortRangeError, Protocol};
pub use range::{Ipv4Range, RangeError, TUNNEL_SPACE};

use crate::person::Person;

/// Where an app or a grant was defined.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppSource {
    /// The configuration file.
    Config,
    /// An admin on the command line.
    Admin,
}

impl AppSource {
    /// `config` or `admin`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Config => "config",
            Self::Admin => "admin",
        }
    }
}

/// Who a grant is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum GrantTarget {
    /// Members of a group.
    Group(String),
    /// Holders of a profession.
    Profession(String),
}

impl GrantTarget {
    /// `group` or `profession`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Group(_) => "group",
            Self::Profession(_) => "profession",
        }
    }

    /// The group or profession name.
    pub fn name(&self) -> &str {
        match self {
            Self::Group(name) | Self::Profession(name) => name,
        }
    }

    /// Whether the person is covered by this grant.
    pub fn covers(&self, person: &Person) -> bool {
        let same = |a: &String| a.to_lowercase() == self.name().to_lowercase();
        match self {
            Self::Group(_) => person.groups.iter().any(same),
            Self::Profession(_) => person.professions.iter().any(same),
        }
    }
}

impl std::fmt::Display for GrantTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.kind(), self.name())
    }
}

/// One grant of an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// To whom.
    pub target: GrantTarget,
    /// Defined where.
    pub source: AppSource,
}

/// What an admin defines when publishing an app.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppDefinition {
    /// The short name.
    pub name: String,
    /// The DNS name clients resolve.
    pub dns_name: String,
    /// Ports and protocols.
    pub ports: Vec<PortRange>,
    /// The backend: an IP address or a DNS name on the hospital network.
    pub backend: String,
}

/// An app as published in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublishedApp {
    /// Its definition.
    pub definition: AppDefinition,
    /// Its stable virtual address.
    pub virtual_address: Ipv4Addr,
    /// Where it was defined.
    pub source: AppSource,
    /// Its grants, sorted.
    pub grants: Vec<Grant>,
}

/// An app a person may reach, and the grants that let them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reach<'a> {
    /// The app.
    pub app: &'a PublishedApp,
    /// The grants that cover the person.
    pub because: Vec<&'a Grant>,
}

/// The apps `person` may reach, by grant (their HR status is checked separately, by
/// [`Person::access`]).
pub fn reachable<'a>(person: &Person, apps: &'a [PublishedApp]) -> Vec<Reach<'a>> {
    apps.iter()
        .filter_map(|app| {
            let because: Vec<&Grant> = app
                .grants
                .iter()
                .filter(|g| g.target.covers(person))
                .collect();
            (!because.is_empty()).then_some(Reach { app, because })
        })
        .collect()
}

/// Checks an app's definition; the message says what to fix.
pub fn check_definition(
    name: &str,
    dns_name: &str,
    backend: &str,
    ports: &[PortRange],
) -> Result<(), String> {
    let name_ok = !name.is_empty()
        && name.len() <= 63
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !name_ok {
        return Err(format!(
            "app name {name:?} must be 1 to 63 letters, digits, '-' or '_'"
        ));
    }
    if !is_dns_name(dns_name) {
        return Err(format!(
            "dns_name {dns_name:?} is not a valid DNS name (like dpi.hopital.example)"
        ));
    }
    if backend.parse::<std::net::IpAddr>().is_err() && !is_dns_name(backend) {
        return Err(format!(
            "backend {backend:?} must be an IP address or a DNS name"
        ));
    }
    if ports.is_empty() {
        return Err("an app needs at least one port, like tcp/443".into());
    }
    Ok(())
}

fn is_dns_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::tests::person;

    fn app(name: &str, grants: Vec<GrantTarget>) -> PublishedApp {
        PublishedApp {
            definition: AppDefinition {
                name: name.into(),
                dns_name: format!("{name}.hopital.example"),
                ports: vec!["tcp/443".parse().unwrap()],
                backend: "198.18.10.1".into(),
            },
            virtual_address: Ipv4Addr::new(100, 80, 0, 1),
            source: AppSource::Admin,
            grants: grants
                .into_iter()
                .map(|target| Grant {
                    target,
                    source: AppSource::Admin,
                })
                .collect(),
        }
    }

    #[test]
    fn reach_follows_groups_and_professions_without_case() {
        let claire = person("0751234567");
        let apps = [
            app("dpi", vec![GrantTarget::Profession("médecin".into())]),
            app("paie", vec![GrantTarget::Group("rh".into())]),
            app(
                "mail",
                vec![
                    GrantTarget::Group("URGENCES".into()),
                    GrantTarget::Group("rh".into()),
                ],
            ),
        ];
        let reach = reachable(&claire, &apps);
        let names: Vec<_> = reach
            .iter()
            .map(|r| r.app.definition.name.as_str())
            .collect();
        assert_eq!(names, ["dpi", "mail"]);
        assert_eq!(reach[1].because.len(), 1);
    }

    #[test]
    fn definitions_are_checked() {
        let ports = ["tcp/443".parse().unwrap()];
        assert!(check_definition("dpi", "dpi.hopital.example", "198.18.10.1", &ports).is_ok());
        assert!(check_definition("d pi", "dpi.hopital.example", "198.18.10.1", &ports).is_err());
        assert!(check_definition("dpi", "dpi..example", "198.18.10.1", &ports).is_err());
        assert!(check_definition("dpi", "dpi.hopital.example", "bad host!", &ports).is_err());
        assert!(check_definition("dpi", "dpi.hopital.example", "198.18.10.1", &[]).is_err());
    }
}

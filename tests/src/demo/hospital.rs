//! What the demo's hospital knows: its people, as HR exports them, and the connector's
//! configuration file.

use std::net::Ipv4Addr;

use super::Result;
use super::site::{PORT, Pki};
use crate::card::CardIdentity;

/// One person of the HR export, and the card of the test PKI that is theirs.
#[derive(Debug, Clone)]
pub struct Person {
    /// The card's folder name in the PKI (`cps4-doctor`).
    pub card: &'static str,
    /// The national identifier, read from the card's identity.
    pub id_nat: String,
    /// HR columns.
    pub surname: &'static str,
    /// HR columns.
    pub given_name: &'static str,
    /// HR columns.
    pub profession: &'static str,
    /// HR columns.
    pub group: &'static str,
    /// `ACTIF` or `SUSPENDU`.
    pub status: &'static str,
}

/// (card, surname, given name, profession, group, HR status): the people `vigie-pki` makes
/// cards for, as the hospital's HR knows them.
const PEOPLE: [(&str, &str, &str, &str, &str, &str); 3] = [
    (
        "cps4-doctor",
        "TESTEUR",
        "Jeanne",
        "Médecin",
        "urgences",
        "ACTIF",
    ),
    (
        "cps3-pharmacist",
        "PHARMATEST",
        "Carole",
        "Pharmacien",
        "pharmacie",
        "ACTIF",
    ),
    (
        "cps4-nurse",
        "SOIGNANT",
        "Hélène",
        "Infirmier",
        "soins",
        "SUSPENDU",
    ),
];

/// The people of the HR export, with the idNat of their card in `pki`.
pub fn people(pki: &Pki) -> Result<Vec<Person>> {
    PEOPLE
        .iter()
        .map(|&(card, surname, given_name, profession, group, status)| {
            let identity = CardIdentity::load(&pki.card_dir(card))?;
            Ok(Person {
                card,
                id_nat: identity.id_nat,
                surname,
                given_name,
                profession,
                group,
                status,
            })
        })
        .collect()
}

/// The HR export: a header and one row per person.
pub fn hr_csv(people: &[Person]) -> String {
    let mut csv = String::from("IDNAT;NOM;PRENOM;PROFESSION;SERVICES;STATUT;ENTREE;SORTIE\n");
    for p in people {
        csv.push_str(&format!(
            "{};{};{};{};{};{};01/01/2020;\n",
            p.id_nat, p.surname, p.given_name, p.profession, p.group, p.status
        ));
    }
    csv
}

/// The connector's WireGuard port (UDP), in its namespace.
pub const WIREGUARD_PORT: u16 = 51820;
/// The connector's DNS address inside tunnels, told to clients in their grant.
pub const DNS_SERVER: &str = "100.80.0.53";

/// The name of the hospital's SSO issuer (the connector's certificate names it).
pub const SSO_NAME: &str = "sso.vigie.test";
/// The portal's port, on the LAN's server.
pub const PORTAL_PORT: u16 = 8000;
/// The portal's secret at the issuer.
pub const PORTAL_SECRET: &str = "portal-secret-of-the-demo";

/// `connector.toml` for a site whose trust and TLS files come from `pki`, reached by clients
/// at `public` (the address of the connector they know), with its SSO issuer on `lan` (its
/// own address on the hospital LAN) and the portal on `backend`.
pub fn config_text(pki: &Pki, public: Ipv4Addr, lan: Ipv4Addr, backend: Ipv4Addr) -> String {
    let pki = pki.dir().display();
    format!(
        r#"# Written by vigie-lab demo. See connector/src/config.rs for every key.
[directory]
path = "state/connector.db"

[audit]
dir = "audit"

[hr.csv]
path = "hr.csv"
date_format = "%d/%m/%Y"
[hr.csv.columns]
id_nat = "IDNAT"
surname = "NOM"
given_name = "PRENOM"
professions = "PROFESSION"
groups = "SERVICES"
status = "STATUT"
start_date = "ENTREE"
end_date = "SORTIE"
[hr.csv.status_values]
active = ["ACTIF"]
suspended = ["SUSPENDU"]
departed = ["SORTI"]

[listen]
address = "{public}"
port = {PORT}

[tls]
certificate = "{pki}/connector/server-chain.pem"
key = "{pki}/connector/server.key.pem"

[trust]
roots = ["{pki}/trust/roots"]
intermediates = ["{pki}/trust/intermediates"]
crls = ["{pki}/crl"]

[session]
endpoints = ["{public}:{WIREGUARD_PORT}"]   # where clients send WireGuard
dns_server = "{DNS_SERVER}"

[dataplane]
enabled = true
port = {WIREGUARD_PORT}

[state]
dir = "state"

# The SSO issuer: on the connector's LAN address, reached by browsers through their tunnel.
[sso]
issuer = "https://{SSO_NAME}"
listen = "{lan}:443"

[[sso.client]]
id = "portal"
secret = "{PORTAL_SECRET}"
redirect_uris = ["http://portal.hopital.test:{PORTAL_PORT}/callback"]
backchannel_logout_uri = "http://{backend}:{PORTAL_PORT}/backchannel-logout"
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hr_export_has_one_row_per_person_with_their_status() {
        let people: Vec<Person> = PEOPLE
            .iter()
            .map(
                |&(card, surname, given_name, profession, group, status)| Person {
                    card,
                    id_nat: format!("id-{card}"),
                    surname,
                    given_name,
                    profession,
                    group,
                    status,
                },
            )
            .collect();
        let csv = hr_csv(&people);
        assert_eq!(csv.lines().count(), 4);
        assert!(csv.contains("id-cps4-nurse;SOIGNANT;Hélène;Infirmier;soins;SUSPENDU;"));
    }
}

//! `[hr.ldap]`: where the LDAP directory is and which attributes hold what.

use std::path::PathBuf;

use serde::Deserialize;

use crate::hr::StatusValues;

/// How to read people from an LDAP directory or Active Directory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrLdapConfig {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Use StartTLS on an `ldap://` URL.
    #[serde(default)]
    pub starttls: bool,
    /// PEM certificates of the authorities that sign the server's certificate (LDAPS and
    /// StartTLS); the system's authorities when absent.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// The DN the connector binds as (a read-only service account).
    pub bind_dn: String,
    /// A file holding the bind password (its first line; keep it readable by the connector
    /// only). The password is never logged.
    pub bind_password_file: PathBuf,
    /// Where people are searched (the whole subtree).
    pub base_dn: String,
    /// The search filter.
    #[serde(default = "default_filter")]
    pub filter: String,
    /// Entries per page of the search (paged results control); Active Directory serves at most
    /// 1000 (500 by default).
    #[serde(default = "default_page_size")]
    pub page_size: u16,
    /// How long to wait for the server to connect or answer one request, in seconds (30 by
    /// default).
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
    /// Which attribute holds which field.
    #[serde(default)]
    pub attributes: HrAttributes,
    /// Groups found by a second search, for directories whose people carry no `memberOf`.
    #[serde(default)]
    pub group_search: Option<GroupSearch>,
    /// Which values of the status attribute mean what.
    #[serde(default)]
    pub status_values: StatusValues,
    /// How dates are written: `generalized` (LDAP GeneralizedTime, `20270131000000Z`, the
    /// default), `filetime` (Active Directory's `accountExpires`: 100 ns since 1601; 0 and
    /// the largest value mean none), or a strftime-style format such as `%Y-%m-%d`.
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// As in `[hr.csv]`: the largest share (percent) of the directory's current people one
    /// sync may remove (20 by default); `hr sync --accept-removals` goes past it.
    #[serde(default = "default_max_removed_percent")]
    pub max_removed_percent: u8,
}

/// The attribute holding each field. `id_nat`, `surname` and `given_name` are required on every
/// entry; an empty name leaves an optional field unread. Names are compared without case.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HrAttributes {
    /// The idNat (`employeeID` in Active Directory, `employeeNumber` in OpenLDAP).
    pub id_nat: String,
    /// The surname.
    pub surname: String,
    /// The given name.
    pub given_name: String,
    /// The professions (each value one profession).
    pub professions: String,
    /// The groups. Values written as a DN (`memberOf`: `CN=Urgences,OU=Groupes,…`) count by
    /// their first RDN's value (`Urgences`).
    pub groups: String,
    /// The HR status, mapped through `status_values`; without it every entry is active.
    pub status: String,
    /// Active Directory's `userAccountControl`: an entry whose account is disabled (bit 0x2)
    /// is suspended, whatever its status attribute says.
    pub account_control: String,
    /// The first day of work.
    pub start_date: String,
    /// The last day of work.
    pub end_date: String,
}

impl Default for HrAttributes {
    fn default() -> Self {
        Self {
            id_nat: "employeeNumber".into(),
            surname: "sn".into(),
            given_name: "givenName".into(),
            professions: "title".into(),
            groups: "memberOf".into(),
            status: String::new(),
            account_control: String::new(),
            start_date: String::new(),
            end_date: String::new(),
        }
    }
}

impl HrAttributes {
    /// The attributes to ask the server for.
    pub fn requested(&self) -> Vec<&str> {
        [
            &self.id_nat,
            &self.surname,
            &self.given_name,
            &self.professions,
            &self.groups,
            &self.status,
            &self.account_control,
            &self.start_date,
            &self.end_date,
        ]
        .into_iter()
        .map(|a| a.trim())
        .filter(|a| !a.is_empty())
        .collect()
    }
}

/// `[hr.ldap.group_search]`: groups that list their members, each member gaining the group's
/// name. Member DNs are compared without case and without spaces around `,` and `=`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSearch {
    /// Where groups are searched (the whole subtree).
    pub base_dn: String,
    /// The search filter (`groupOfNames` and AD's `group` by default).
    #[serde(default = "default_group_filter")]
    pub filter: String,
    /// The attribute listing the members' DNs (`member` by default).
    #[serde(default = "default_member_attribute")]
    pub member_attribute: String,
    /// The attribute naming the group (`cn` by default; the DN's first RDN when absent).
    #[serde(default = "default_name_attribute")]
    pub name_attribute: String,
}

fn default_group_filter() -> String {
    "(|(objectClass=groupOfNames)(objectClass=group))".into()
}

fn default_member_attribute() -> String {
    "member".into()
}

fn default_name_attribute() -> String {
    "cn".into()
}

fn default_filter() -> String {
    "(objectClass=person)".into()
}

fn default_page_size() -> u16 {
    500
}

fn default_timeout() -> u32 {
    30
}

fn default_date_format() -> String {
    "generalized".into()
}

fn default_max_removed_percent() -> u8 {
    20
}

impl HrLdapConfig {
    /// Checks the settings that parsing alone cannot.
    pub(crate) fn check(&self) -> Result<(), String> {
        let url = self.url.trim().to_ascii_lowercase();
        let ldaps = url.starts_with("ldaps://");
        if !ldaps && !url.starts_with("ldap://") {
            return Err(format!(
                "hr.ldap.url {:?} must start with ldap:// or ldaps://",
                self.url
            ));
        }
        if ldaps && self.starttls {
            return Err(
                "hr.ldap.starttls applies to ldap:// URLs; an ldaps:// URL is already \
                 encrypted, remove starttls"
                    .into(),
            );
        }
        if self.page_size == 0 {
            return Err(
                "hr.ldap.page_size must be at least 1 (Active Directory allows up to \
                 1000)"
                    .into(),
            );
        }
        if self.timeout_seconds == 0 {
            return Err("hr.ldap.timeout_seconds must be at least 1".into());
        }
        let a = &self.attributes;
        for (key, value) in [
            ("id_nat", &a.id_nat),
            ("surname", &a.surname),
            ("given_name", &a.given_name),
        ] {
            if value.trim().is_empty() {
                return Err(format!("hr.ldap.attributes.{key} must name an attribute"));
            }
        }
        super::entries::DateFormat::parse(&self.date_format).map(|_| ())
    }

    /// Makes the file paths absolute against the configuration file's folder.
    pub(crate) fn resolve_paths(&mut self, base: &std::path::Path) {
        for path in [Some(&mut self.bind_password_file), self.ca_file.as_mut()]
            .into_iter()
            .flatten()
        {
            if path.is_relative() {
                *path = base.join(&*path);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::config::{ConfigError, ConnectorConfig};

    fn parse(text: &str) -> Result<ConnectorConfig, ConfigError> {
        ConnectorConfig::parse(
            text,
            Path::new("/etc/vigie/connector.toml"),
            Path::new("/etc/vigie"),
        )
    }

    const AD: &str = r#"
        [hr.ldap]
        url = "ldaps://ad.hopital.example"
        ca_file = "ad-ca.pem"
        bind_dn = "CN=svc-vigie,OU=Services,DC=hopital,DC=example"
        bind_password_file = "ldap-password"
        base_dn = "OU=Personnel,DC=hopital,DC=example"
        filter = "(&(objectCategory=person)(objectClass=user)(employeeID=*))"
        page_size = 1000
        date_format = "filetime"
        [hr.ldap.attributes]
        id_nat = "employeeID"
        professions = "title"
        groups = "memberOf"
        account_control = "userAccountControl"
        end_date = "accountExpires"
    "#;

    #[test]
    fn an_active_directory_section_parses_and_resolves_its_files() {
        let config = parse(AD).unwrap();
        let ldap = config.hr.ldap.unwrap();
        assert_eq!(
            ldap.bind_password_file,
            Path::new("/etc/vigie/ldap-password")
        );
        assert_eq!(
            ldap.ca_file.as_deref(),
            Some(Path::new("/etc/vigie/ad-ca.pem"))
        );
        assert_eq!(ldap.attributes.surname, "sn");
        assert_eq!(
            ldap.attributes.requested(),
            [
                "employeeID",
                "sn",
                "givenName",
                "title",
                "memberOf",
                "userAccountControl",
                "accountExpires"
            ]
        );
    }

    #[test]
    fn the_openldap_example_of_the_module_docs_parses() {
        let docs = include_str!("mod.rs");
        let example: String = docs
            .lines()
            .skip_while(|l| !l.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|l| !l.starts_with("//! ```"))
            .map(|l| format!("{}\n", l.trim_start_matches("//!")))
            .collect();
        let ldap = parse(&example).unwrap().hr.ldap.unwrap();
        assert!(ldap.starttls);
        assert_eq!(ldap.attributes.status, "employeeType");
        assert_eq!(ldap.group_search.unwrap().member_attribute, "member");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let error = parse(&AD.replace("page_size", "pagesize")).unwrap_err();
        assert!(error.to_string().contains("pagesize"), "{error}");
        let error = parse(&AD.replace("bind_password_file", "bind_password"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("bind_password"), "{error}");
        for (from, to) in [
            ("ldaps://", "https://"),
            ("page_size = 1000", "page_size = 0"),
            ("\"filetime\"", "\"%H\""),
            ("id_nat = \"employeeID\"", "id_nat = \"\""),
            ("ldaps://", "ldaps://x\"\nstarttls = true\nfoo = \""),
        ] {
            assert!(parse(&AD.replace(from, to)).is_err(), "{to} accepted");
        }
        let starttls = AD.replace("ldaps://", "ldaps://x\"\nstarttls = true\n#\"");
        let error = parse(&starttls).unwrap_err().to_string();
        assert!(error.contains("starttls"), "{error}");
    }
}

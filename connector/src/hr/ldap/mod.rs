//! HR from an LDAP directory or Active Directory.
//!
//! [`read_directory`] binds as a read-only service account, searches the people under a base
//! DN page by page ([`client`], the only part that does I/O) and turns the entries into the
//! same [`HrImport`] the CSV export gives ([`entries`], no I/O). From there the sync is the
//! CSV's: [`crate::hr::plan`], the removal limit, dry run, the withdrawn-access list and the
//! audit are shared.
//!
//! A bad entry (no or an invalid idNat, an idNat on several entries, a bad date or status, a
//! single-valued field with several values) is reported by its DN and left out; the person it
//! names keeps what the directory had. A server that cannot be reached, a refused bind or a
//! failed search stop the sync before anything is compared, so nothing is changed.
//!
//! `[hr.ldap]` for Active Directory is shown in [`crate::config`]; for OpenLDAP, with the idNat
//! in `employeeNumber`, the HR status in `employeeType` and groups that list their members:
//!
//! ```toml
//! [hr.ldap]
//! url = "ldap://ldap.hopital.example"
//! starttls = true
//! ca_file = "ldap-ca.pem"
//! bind_dn = "cn=vigie,ou=services,dc=hopital,dc=example"
//! bind_password_file = "ldap-password"
//! base_dn = "ou=people,dc=hopital,dc=example"
//! filter = "(&(objectClass=inetOrgPerson)(employeeNumber=*))"
//! date_format = "%Y-%m-%d"
//! [hr.ldap.attributes]
//! id_nat = "employeeNumber"
//! professions = "title"
//! groups = ""                     # "memberOf" with the memberof overlay
//! status = "employeeType"
//! [hr.ldap.status_values]
//! active = ["ACTIF"]
//! suspended = ["SUSPENDU"]
//! departed = ["SORTI"]
//! [hr.ldap.group_search]
//! base_dn = "ou=groups,dc=hopital,dc=example"
//! filter = "(objectClass=groupOfNames)"
//! ```
//!
//! Groups come from an attribute of the person (`memberOf`), from a second search for groups
//! that list their members (`[hr.ldap.group_search]`, for `groupOfNames` without the
//! `memberof` overlay), or both.

pub mod client;
mod config;
pub mod entries;

use std::path::PathBuf;

pub use config::{GroupSearch, HrAttributes, HrLdapConfig};
pub use entries::{LdapEntry, add_search_groups, read_entries};

use crate::hr::HrImport;

/// Reads the directory's people. Fails only when the directory as a whole cannot be read.
pub fn read_directory(config: &HrLdapConfig) -> Result<HrImport, HrLdapError> {
    let entries = client::search(config)?;
    Ok(read_entries(&entries, config))
}

/// Why the LDAP directory cannot be read. Nothing is changed in Vigie's directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HrLdapError {
    /// The password file cannot be read (local configuration).
    #[error(
        "cannot read the LDAP bind password file {path}: {source}; check [hr.ldap] \
         bind_password_file and the file's permissions; nothing was changed"
    )]
    PasswordFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The password file's first line is empty (local configuration).
    #[error(
        "the LDAP bind password file {path} is empty; write the service account's password \
         on its first line; nothing was changed"
    )]
    EmptyPassword {
        /// The file.
        path: PathBuf,
    },
    /// The CA file cannot be used (local configuration).
    #[error(
        "cannot use [hr.ldap] ca_file {path}: {message}; it must hold the PEM certificates of \
         the authorities that sign the LDAP server's certificate; nothing was changed"
    )]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The server cannot be reached, or TLS with it failed (network or server).
    #[error(
        "cannot connect to the LDAP server {url}: {message}; check [hr.ldap] url, that the \
         server is up and reachable from the connector, and its certificate; nothing was changed"
    )]
    Connect {
        /// The URL.
        url: String,
        /// Why.
        message: String,
    },
    /// The server refused the service account (wrong DN or password, account locked).
    #[error(
        "the LDAP server refused to bind as {bind_dn}: {message}; check [hr.ldap] bind_dn and \
         the password in bind_password_file; nothing was changed"
    )]
    Bind {
        /// The DN.
        bind_dn: String,
        /// The server's answer.
        message: String,
    },
    /// The search failed (bad base DN or filter, rights, time limit).
    #[error(
        "the LDAP search under {base_dn} with filter {filter} failed: {message}; check \
         [hr.ldap] base_dn and filter, and that the service account may read them; nothing \
         was changed"
    )]
    Search {
        /// The base DN.
        base_dn: String,
        /// The filter.
        filter: String,
        /// The server's answer.
        message: String,
    },
}

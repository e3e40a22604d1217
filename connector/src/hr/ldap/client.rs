//! Talking to the LDAP server: bind as the service account, search people page by page.
//! The only part of the LDAP sync that does I/O.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ldap3::adapters::PagedResults;
use ldap3::{LdapConn, LdapConnSettings, Scope, SearchEntry};
use zeroize::Zeroizing;

use super::HrLdapError;
use super::config::HrLdapConfig;
use super::entries::{LdapEntry, add_search_groups};

/// The service account's password. Its `Debug` prints nothing and its memory is wiped.
pub struct BindPassword(Zeroizing<String>);

impl std::fmt::Debug for BindPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BindPassword(..)")
    }
}

impl BindPassword {
    /// Reads the first line of `path` (a trailing newline is not part of the password).
    pub fn read(path: &Path) -> Result<Self, HrLdapError> {
        let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|source| {
            HrLdapError::PasswordFile {
                path: path.to_owned(),
                source,
            }
        })?);
        let line = text.lines().next().unwrap_or_default();
        if line.is_empty() {
            return Err(HrLdapError::EmptyPassword {
                path: path.to_owned(),
            });
        }
        Ok(Self(Zeroizing::new(line.to_owned())))
    }
}

/// Binds and reads every entry under `base_dn` that matches `filter`, one page at a time.
pub fn search(config: &HrLdapConfig) -> Result<Vec<LdapEntry>, HrLdapError> {
    let password = BindPassword::read(&config.bind_password_file)?;
    let timeout = Duration::from_secs(u64::from(config.timeout_seconds));
    let mut conn = connect(config, timeout)?;
    tracing::debug!(url = %config.url, bind_dn = %config.bind_dn, "binding to the LDAP server");
    conn.with_timeout(timeout)
        .simple_bind(&config.bind_dn, &password.0)
        .and_then(ldap3::LdapResult::success)
        .map_err(|e| HrLdapError::Bind {
            bind_dn: config.bind_dn.clone(),
            message: e.to_string(),
        })?;
    let entries = read_people(&mut conn, config, timeout);
    if let Err(e) = conn.unbind() {
        tracing::debug!(error = %e, "LDAP unbind failed");
    }
    let entries = entries?;
    tracing::debug!(entries = entries.len(), "LDAP search done");
    Ok(entries)
}

fn connect(config: &HrLdapConfig, timeout: Duration) -> Result<LdapConn, HrLdapError> {
    let mut settings = LdapConnSettings::new()
        .set_conn_timeout(timeout)
        .set_starttls(config.starttls);
    if let Some(ca_file) = &config.ca_file {
        settings = settings.set_config(tls_config(ca_file)?);
    }
    LdapConn::with_settings(settings, config.url.trim()).map_err(|e| HrLdapError::Connect {
        url: config.url.clone(),
        message: e.to_string(),
    })
}

/// A TLS client that trusts only the authorities in `ca_file`.
fn tls_config(ca_file: &Path) -> Result<Arc<rustls::ClientConfig>, HrLdapError> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let bad = |message: String| HrLdapError::CaFile {
        path: ca_file.to_owned(),
        message,
    };
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca_file).map_err(|e| bad(e.to_string()))?;
    for cert in certs {
        let cert = cert.map_err(|e| bad(e.to_string()))?;
        roots.add(cert).map_err(|e| bad(e.to_string()))?;
    }
    if roots.is_empty() {
        return Err(bad("it holds no PEM certificate".into()));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The people, with the groups of the group search when there is one.
fn read_people(
    conn: &mut LdapConn,
    config: &HrLdapConfig,
    timeout: Duration,
) -> Result<Vec<LdapEntry>, HrLdapError> {
    let search = Search {
        base_dn: &config.base_dn,
        filter: &config.filter,
        attributes: config.attributes.requested(),
        page_size: config.page_size,
        timeout,
    };
    let mut people = paged_search(conn, &search)?;
    if let Some(groups) = &config.group_search {
        let search = Search {
            base_dn: &groups.base_dn,
            filter: &groups.filter,
            attributes: vec![&groups.member_attribute, &groups.name_attribute],
            ..search
        };
        let found = paged_search(conn, &search)?;
        tracing::debug!(groups = found.len(), "LDAP group search done");
        add_search_groups(&mut people, &found, groups);
    }
    Ok(people)
}

/// One subtree search.
struct Search<'a> {
    base_dn: &'a str,
    filter: &'a str,
    attributes: Vec<&'a str>,
    page_size: u16,
    timeout: Duration,
}

fn paged_search(conn: &mut LdapConn, search: &Search<'_>) -> Result<Vec<LdapEntry>, HrLdapError> {
    let failed = |e: ldap3::LdapError| HrLdapError::Search {
        base_dn: search.base_dn.to_owned(),
        filter: search.filter.to_owned(),
        message: e.to_string(),
    };
    let pages = PagedResults::new(i32::from(search.page_size));
    let mut stream = conn
        .with_timeout(search.timeout)
        .streaming_search_with(
            pages,
            search.base_dn,
            Scope::Subtree,
            search.filter,
            search.attributes.clone(),
        )
        .map_err(failed)?;
    let mut entries = Vec::new();
    while let Some(entry) = stream.next().map_err(failed)? {
        // Referrals (Active Directory sends some for other domains) are not followed.
        if entry.is_ref() || entry.is_intermediate() {
            continue;
        }
        // TODO: `SearchEntry::construct` panics on an entry whose BER decodes but is not
        // shaped like a search entry; a broken or hostile LDAP server could thus abort the
        // sync (nothing is changed, but the error is a panic rather than a clear message).
        // Decoding the entry ourselves from `entry.0` would remove it.
        entries.push(entry_of(SearchEntry::construct(entry)));
    }
    stream.result().success().map_err(failed)?;
    Ok(entries)
}

/// Our copy of an entry; values that are not UTF-8 are kept with replacement characters, so
/// they fail the checks that follow rather than vanish.
fn entry_of(entry: SearchEntry) -> LdapEntry {
    let mut attrs = entry.attrs;
    for (name, values) in entry.bin_attrs {
        let values = values
            .iter()
            .map(|v| String::from_utf8_lossy(v).into_owned());
        attrs.entry(name).or_default().extend(values);
    }
    LdapEntry {
        dn: entry.dn,
        attrs,
        search_groups: Vec::new(),
    }
}

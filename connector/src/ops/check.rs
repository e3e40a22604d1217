//! `vigie-connector check-config`: everything `serve` reads at start, read the same way but
//! without starting — the file (every problem, at its line), the connector's certificate and
//! key, the trust anchors, CRLs and blocklist, the SSO issuer's certificate and the apps'
//! keys, the apps' backends (with the data plane), the directory and the folders.
//!
//! Every problem is reported, not just the first, each with what to do.

use std::path::Path;

use crate::config::ConnectorConfig;
use crate::directory::Directory;
use crate::serve::config::TrustFiles;
use crate::serve::{crl_fetch, files, tls};

use super::Finding;

/// What checking a configuration file found.
#[derive(Debug)]
pub struct Checked {
    /// The configuration, if the file could be read at all.
    pub config: Option<ConnectorConfig>,
    /// One finding per check.
    pub findings: Vec<Finding>,
}

/// Checks the configuration file at `path` and everything it names.
pub fn check_config(path: &Path) -> Checked {
    let config = match ConnectorConfig::load(path) {
        Ok(config) => config,
        Err(error) => {
            let findings = error.to_string().lines().map(Finding::fail).collect();
            return Checked {
                config: None,
                findings,
            };
        }
    };
    let mut findings = vec![Finding::ok(format!(
        "{}: syntax, keys and values",
        path.display()
    ))];
    findings.push(tls_files(&config));
    findings.extend(trust_files(&config));
    findings.extend(sso_files(&config));
    findings.extend(backends(&config));
    findings.push(directory(&config));
    findings.extend(folders(&config));
    Checked {
        config: Some(config),
        findings,
    }
}

/// `[tls]`: the chain and key read, and fitting each other.
fn tls_files(config: &ConnectorConfig) -> Finding {
    let identity = match files::server_identity(&config.tls) {
        Ok(identity) => identity,
        Err(error) => {
            return Finding::fail(format!(
                "[tls]: {error}; give the connector's certificate chain (PEM, leaf first) and \
                 its private key (PEM)"
            ));
        }
    };
    match tls::web_config(&identity) {
        Ok(_) => Finding::ok(format!(
            "[tls]: certificate chain of {} and its key",
            identity.chain.len()
        )),
        Err(error) => Finding::fail(format!(
            "[tls]: the key cannot serve the certificate ({error}); give the key that goes \
             with {}",
            config.tls.certificate.display()
        )),
    }
}

/// `[trust]` as `serve` reads it: with the folder of fetched CRLs when it exists.
pub fn trust_as_served(config: &ConnectorConfig) -> TrustFiles {
    let mut trust = config.trust.clone();
    let fetched = config.state.dir.join(crl_fetch::FOLDER);
    if fetched.is_dir() {
        trust.crls.push(fetched);
    }
    trust
}

/// `[trust]`: anchors, CRLs and blocklist each read, and a verifier made of them.
fn trust_files(config: &ConnectorConfig) -> Vec<Finding> {
    let trust = trust_as_served(config);
    let anchors = TrustFiles {
        crls: Vec::new(),
        blocklist: None,
        ..trust.clone()
    };
    let fix = "fix or remove the file, or name the right one in [trust]";
    let parts = (
        files::trust_config(&anchors),
        files::crls(&trust),
        files::blocklist(&trust),
    );
    let (anchors, crls, blocklist) = match parts {
        (Ok(anchors), Ok(crls), Ok(blocklist)) => (anchors, crls, blocklist),
        (anchors, crls, blocklist) => {
            let errors = [anchors.err(), crls.err(), blocklist.err()];
            let failed = errors.into_iter().flatten();
            return failed
                .map(|e| Finding::fail(format!("{e}; {fix}")))
                .collect();
        }
    };
    let counts = (anchors.roots.len(), anchors.intermediates.len(), crls.len());
    let verifier = vigie_certs::Verifier::new(vigie_certs::TrustConfig {
        crls,
        blocklist,
        ..anchors
    });
    vec![match verifier {
        Ok(_) => Finding::ok(format!(
            "[trust]: {} roots, {} intermediates, {} CRLs, blocklist read",
            counts.0, counts.1, counts.2
        )),
        Err(error) => Finding::fail(format!(
            "[trust]: {error}; list the CAs that issue the cards (roots and intermediates) and \
             their CRLs only"
        )),
    }]
}

/// `[sso]`: the apps' keys, and the issuer's own certificate when it has one.
fn sso_files(config: &ConnectorConfig) -> Vec<Finding> {
    let Some(sso) = &config.sso else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    let mut keys = sso.clone();
    findings.push(match keys.load_client_keys() {
        Ok(()) => Finding::ok(format!("[sso]: {} registered apps", sso.clients.len())),
        Err(error) => Finding::fail(format!(
            "[[sso.client]] jwks_file {error}; give the app's public keys as a JWKS file"
        )),
    });
    if let (Some(certificate), Some(key)) = (&sso.certificate, &sso.key) {
        let files = crate::serve::config::TlsConfig {
            certificate: certificate.clone(),
            key: key.clone(),
        };
        let read = files::server_identity(&files).map_err(|e| e.to_string());
        let made = read.and_then(|identity| tls::web_config(&identity).map_err(|e| e.to_string()));
        if let Err(error) = made {
            findings.push(Finding::fail(format!(
                "[sso] certificate and key: {error}; give the issuer's chain and its key (PEM)"
            )));
        }
    }
    for wanted in &sso.identity_headers {
        if !config.apps.iter().any(|app| app.name == wanted.app) {
            findings.push(Finding::warn(format!(
                "[[sso.identity_header]] app {:?} is not an [[app]] of the file: `serve` \
                 refuses to start unless it was published with `app publish`",
                wanted.app
            )));
        }
    }
    findings
}

/// With the data plane, every app's backend must resolve to an IPv4 address.
fn backends(config: &ConnectorConfig) -> Vec<Finding> {
    if !config.dataplane.enabled {
        return Vec::new();
    }
    let mut findings: Vec<Finding> = config
        .apps
        .iter()
        .filter_map(|app| crate::dataplane::hook::resolve_backend(&app.name, &app.backend).err())
        .map(|error| Finding::fail(error.to_string()))
        .collect();
    if let Some(std::net::IpAddr::V6(address)) = config.session.dns_server {
        findings.push(Finding::fail(format!(
            "session.dns_server {address}: the tunnel carries IPv4; give an IPv4 address"
        )));
    }
    if findings.is_empty() {
        let count = config.apps.len();
        findings.push(Finding::ok(format!(
            "[[app]]: the backends of the {count} apps of the file resolve"
        )));
    }
    findings
}

/// `[directory]`: opens when it exists.
fn directory(config: &ConnectorConfig) -> Finding {
    let path = &config.directory.path;
    if !path.exists() {
        return Finding::ok(format!(
            "[directory] {}: not there yet; it is made at first use",
            path.display()
        ));
    }
    let opened = Directory::open(path).and_then(|d| Ok((d.schema_version()?, d.apps()?.len())));
    match opened {
        Ok((version, apps)) => Finding::ok(format!(
            "[directory] {}: schema version {version}, {apps} apps published",
            path.display()
        )),
        Err(error) => Finding::fail(format!(
            "[directory] {}: {error}; restore it from a backup or name another",
            path.display()
        )),
    }
}

/// `[audit] dir` and `[state] dir`: folders, or not there yet (made at first use).
fn folders(config: &ConnectorConfig) -> Vec<Finding> {
    [
        ("[audit] dir", &config.audit.dir),
        ("[state] dir", &config.state.dir),
    ]
    .into_iter()
    .filter(|(_, dir)| !dir.is_dir())
    .map(|(key, dir)| match dir.exists() {
        true => Finding::fail(format!(
            "{key} {} is not a folder; remove the file or name another folder",
            dir.display()
        )),
        false => Finding::ok(format!(
            "{key} {}: not there yet; it is made at first use",
            dir.display()
        )),
    })
    .collect()
}

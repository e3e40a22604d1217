//! Certificates about to expire: the connector's own (`[tls]`, `[sso]`), and the trust
//! anchors the cards chain to. An expired certificate fails; one expiring within
//! [`WARN_BEFORE`] warns, with time to replace it.

use std::path::Path;

use x509_cert::Certificate;
use x509_cert::der::Decode as _;

use super::{Finding, date, from_now};
use crate::config::ConnectorConfig;
use crate::serve::config::TlsConfig;
use crate::serve::files;

/// How long before an expiry a warning is given.
pub const WARN_BEFORE: u64 = 30 * 86_400;

/// The expiry of every certificate the configuration names, at `now` (Unix seconds).
pub fn expiries(config: &ConnectorConfig, now: u64) -> Vec<Finding> {
    let mut findings = vec![own("[tls] certificate", &config.tls, now)];
    if let Some(sso) = &config.sso {
        if let (Some(certificate), Some(key)) = (&sso.certificate, &sso.key) {
            let tls = TlsConfig {
                certificate: certificate.clone(),
                key: key.clone(),
            };
            findings.push(own("[sso] certificate", &tls, now));
        }
    }
    for (key, paths) in [
        ("[trust] root", &config.trust.roots),
        ("[trust] intermediate", &config.trust.intermediates),
    ] {
        findings.extend(anchors(key, paths, now));
    }
    findings
}

/// The connector's own certificate: the chain's leaf.
fn own(key: &str, tls: &TlsConfig, now: u64) -> Finding {
    let leaf = files::server_identity(tls)
        .map_err(|e| e.to_string())
        .and_then(|identity| {
            let leaf = identity.chain.first().ok_or("no certificate")?;
            Certificate::from_der(leaf).map_err(|e| e.to_string())
        });
    match leaf {
        Ok(leaf) => judge(key, &leaf, now, "renew it and put the new chain in place"),
        Err(error) => Finding::fail(format!("{key} {}: {error}", tls.certificate.display())),
    }
}

/// Each certificate of the trust files or folders.
fn anchors(key: &str, paths: &[std::path::PathBuf], now: u64) -> Vec<Finding> {
    let mut findings = Vec::new();
    for path in expand(paths) {
        let Ok(bytes) = std::fs::read(&path) else {
            findings.push(Finding::fail(format!(
                "{key} {}: cannot be read",
                path.display()
            )));
            continue;
        };
        let Ok(certificates) = vigie_certs::pem::certificates(&bytes) else {
            findings.push(Finding::fail(format!(
                "{key} {}: not a certificate",
                path.display()
            )));
            continue;
        };
        for der in certificates {
            match Certificate::from_der(&der) {
                Ok(cert) => findings.push(judge(
                    key,
                    &cert,
                    now,
                    "install its successor from the authority in [trust] before then",
                )),
                Err(error) => {
                    findings.push(Finding::fail(format!("{key} {}: {error}", path.display())));
                }
            }
        }
    }
    findings
}

/// Files as named, and the files of named folders.
fn expand(paths: &[std::path::PathBuf]) -> Vec<std::path::PathBuf> {
    let mut all = Vec::new();
    for path in paths {
        match std::fs::read_dir(path) {
            Ok(entries) => {
                let mut inside: Vec<_> = entries
                    .filter_map(|e| Some(e.ok()?.path()))
                    .filter(|p| p.is_file())
                    .collect();
                inside.sort();
                all.extend(inside);
            }
            Err(_) if Path::new(path).is_file() => all.push(path.clone()),
            Err(_) => {}
        }
    }
    all
}

/// ok, warn within [`WARN_BEFORE`] of the end, fail outside the validity.
fn judge(key: &str, cert: &Certificate, now: u64, remedy: &str) -> Finding {
    let validity = &cert.tbs_certificate.validity;
    let subject = cert.tbs_certificate.subject.to_string();
    let not_before = validity.not_before.to_unix_duration().as_secs();
    let not_after = validity.not_after.to_unix_duration().as_secs();
    let left = i64::try_from(not_after).unwrap_or(i64::MAX) - i64::try_from(now).unwrap_or(0);
    let end = format!("{} ({})", date(not_after), from_now(left));
    if now < not_before {
        return Finding::fail(format!(
            "{key} {subject}: not valid before {}; check the clock, or the certificate's dates",
            date(not_before)
        ));
    }
    if now > not_after {
        return Finding::fail(format!("{key} {subject}: expired {end}; {remedy}"));
    }
    if not_after - now < WARN_BEFORE {
        return Finding::warn(format!("{key} {subject}: expires {end}; {remedy}"));
    }
    Finding::ok(format!("{key} {subject}: valid until {end}"))
}

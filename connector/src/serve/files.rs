//! Reading what `serve` needs from disk: the trust anchors, CRLs and blocklist, and the
//! connector's own certificate and key. At start any problem stops the start with the file
//! named; the CRLs and the blocklist are read again when they change (by `serve`'s
//! revocation watcher). `check-config` reads them the same way.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer, PrivateKeyDer};
use vigie_certs::{Blocklist, TrustConfig};

use super::ServeError;
use super::config::{TlsConfig, TrustFiles};
use super::tls::ServerIdentity;

/// The verifier configuration from `[trust]`.
pub fn trust_config(files: &TrustFiles) -> Result<TrustConfig, ServeError> {
    let roots = certificates(&files.roots)?;
    if roots.is_empty() {
        return Err(ServeError::Config(
            "[trust] roots names no certificate; list the IGC-Santé root certificates \
             (files or folders)"
                .into(),
        ));
    }
    let mut config = TrustConfig::new(roots, certificates(&files.intermediates)?);
    config.crls = crls(files)?;
    config.crl_grace = files.crl_grace;
    config.blocklist = blocklist(files)?;
    Ok(config)
}

/// Every CRL of `[trust] crls` (in `serve`, the folder of fetched CRLs is among them).
pub fn crls(files: &TrustFiles) -> Result<Vec<CertificateRevocationListDer<'static>>, ServeError> {
    let mut all = Vec::new();
    for path in expand(&files.crls)? {
        let bytes = read(&path)?;
        all.extend(vigie_certs::pem::crls(&bytes).map_err(|e| bad_file(&path, e))?);
    }
    Ok(all)
}

/// The emergency blocklist of `[trust] blocklist`; empty when none is configured.
pub fn blocklist(files: &TrustFiles) -> Result<Blocklist, ServeError> {
    let Some(path) = &files.blocklist else {
        return Ok(Blocklist::new());
    };
    let text = String::from_utf8_lossy(&read(path)?).into_owned();
    Blocklist::from_toml(&text).map_err(|e| bad_file(path, e))
}

/// What the revocation files look like now (name, size and modification time of each, in
/// order), to notice a change without reading them. An unreadable file or folder counts as
/// a state of its own, so that it is noticed when it comes back.
pub fn revocation_stamp(files: &TrustFiles) -> Vec<(PathBuf, Option<(u64, SystemTime)>)> {
    let listed = expand(&files.crls).unwrap_or_else(|_| files.crls.clone());
    listed
        .iter()
        .chain(&files.blocklist)
        .map(|path| {
            let meta = std::fs::metadata(path).ok();
            let stamp = meta.and_then(|m| Some((m.len(), m.modified().ok()?)));
            (path.clone(), stamp)
        })
        .collect()
}

/// The server chain and key from `[tls]`.
pub fn server_identity(tls: &TlsConfig) -> Result<ServerIdentity, ServeError> {
    let chain = certificates(std::slice::from_ref(&tls.certificate))?;
    if chain.is_empty() {
        return Err(bad_file(&tls.certificate, "no certificate in it"));
    }
    let key_bytes = zeroize::Zeroizing::new(read(&tls.key)?);
    let key = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| bad_file(&tls.key, e))?;
    Ok(ServerIdentity { chain, key })
}

fn certificates(paths: &[PathBuf]) -> Result<Vec<CertificateDer<'static>>, ServeError> {
    let mut certs = Vec::new();
    for path in expand(paths)? {
        let bytes = read(&path)?;
        certs.extend(vigie_certs::pem::certificates(&bytes).map_err(|e| bad_file(&path, e))?);
    }
    Ok(certs)
}

/// Files as named, and the files of named folders in name order.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, ServeError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|e| unreadable(path, e))?;
        let mut inside = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| unreadable(path, e))?.path();
            if entry.is_file() {
                inside.push(entry);
            }
        }
        inside.sort();
        files.extend(inside);
    }
    Ok(files)
}

fn read(path: &Path) -> Result<Vec<u8>, ServeError> {
    std::fs::read(path).map_err(|e| unreadable(path, e))
}

fn unreadable(path: &Path, error: std::io::Error) -> ServeError {
    ServeError::File {
        path: path.to_owned(),
        detail: error.to_string(),
    }
}

fn bad_file(path: &Path, error: impl std::fmt::Display) -> ServeError {
    ServeError::File {
        path: path.to_owned(),
        detail: error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_roots_is_a_configuration_error() {
        let error = trust_config(&TrustFiles::default()).unwrap_err();
        assert!(error.to_string().contains("[trust] roots"), "{error}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let files = TrustFiles {
            roots: vec!["/nonexistent/vigie/root.pem".into()],
            ..TrustFiles::default()
        };
        let error = trust_config(&files).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/vigie/root.pem"), "{error}");
    }

    #[test]
    fn a_changed_or_added_revocation_file_changes_the_stamp() {
        let dir = tempfile::tempdir().unwrap();
        let crl_dir = dir.path().join("crl");
        std::fs::create_dir(&crl_dir).unwrap();
        std::fs::write(crl_dir.join("a.crl"), b"one").unwrap();
        let files = TrustFiles {
            crls: vec![crl_dir.clone()],
            blocklist: Some(dir.path().join("blocklist.toml")),
            ..TrustFiles::default()
        };
        let first = revocation_stamp(&files);
        assert_eq!(first, revocation_stamp(&files), "nothing changed");
        std::fs::write(dir.path().join("blocklist.toml"), b"id_nats = []").unwrap();
        let second = revocation_stamp(&files);
        assert_ne!(first, second, "the blocklist appeared");
        std::fs::write(crl_dir.join("b.crl"), b"two").unwrap();
        assert_ne!(second, revocation_stamp(&files), "a CRL was added");
    }
}

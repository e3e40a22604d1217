//! Reading what `serve` needs from disk at start: the trust anchors, CRLs and blocklist, and
//! the connector's own certificate and key. Any problem stops the start with the file named.

use std::path::{Path, PathBuf};

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
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
    for path in expand(&files.crls)? {
        let bytes = read(&path)?;
        let crls = vigie_certs::pem::crls(&bytes).map_err(|e| bad_file(&path, e))?;
        config.crls.extend(crls);
    }
    config.crl_grace = files.crl_grace;
    if let Some(path) = &files.blocklist {
        let text = String::from_utf8_lossy(&read(path)?).into_owned();
        config.blocklist = Blocklist::from_toml(&text).map_err(|e| bad_file(path, e))?;
    }
    Ok(config)
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
}

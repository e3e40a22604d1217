//! Reading a verifier's trust material from the files and folders an operator points at: the
//! connector's configuration and `vigie-pki verify` both use this.

use std::path::{Path, PathBuf};

use der::Decode;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use x509_cert::Certificate;

use crate::pem::{self, PemError};
use crate::verifier::TrustConfig;

/// Extensions read from a trust folder.
pub const CERTIFICATE_EXTENSIONS: &[&str] = &["pem", "crt", "cer", "der"];
/// Extensions read from a CRL folder.
pub const CRL_EXTENSIONS: &[&str] = &["crl", "pem", "der"];

/// Why trust material could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// A file or folder could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A file holds no usable certificate or CRL.
    #[error("{}: {source}", path.display())]
    Content {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        source: PemError,
    },
    /// A certificate that cannot be parsed.
    #[error("{}: not an X.509 certificate ({detail})", path.display())]
    NotCertificate {
        /// The file.
        path: PathBuf,
        /// The parser's diagnosis.
        detail: String,
    },
}

/// A [`TrustConfig`] with default policy from certificate and CRL files or folders.
/// Self-signed certificates become trust anchors, the others known intermediates.
pub fn trust_config(trust: &[PathBuf], crls: &[PathBuf]) -> Result<TrustConfig, LoadError> {
    let mut roots = Vec::new();
    let mut intermediates = Vec::new();
    for path in files_under(trust, CERTIFICATE_EXTENSIONS)? {
        for cert in certificates(&path)? {
            let parsed = Certificate::from_der(&cert).map_err(|e| LoadError::NotCertificate {
                path: path.clone(),
                detail: e.to_string(),
            })?;
            let tbs = &parsed.tbs_certificate;
            match tbs.subject == tbs.issuer {
                true => roots.push(cert),
                false => intermediates.push(cert),
            }
        }
    }
    let mut config = TrustConfig::new(roots, intermediates);
    for path in files_under(crls, CRL_EXTENSIONS)? {
        config.crls.extend(revocation_lists(&path)?);
    }
    Ok(config)
}

/// Every certificate in one PEM or DER file.
pub fn certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, LoadError> {
    let bytes = read(path)?;
    pem::certificates(&bytes).map_err(|source| content(path, source))
}

/// Every CRL in one PEM or DER file.
pub fn revocation_lists(
    path: &Path,
) -> Result<Vec<CertificateRevocationListDer<'static>>, LoadError> {
    let bytes = read(path)?;
    pem::crls(&bytes).map_err(|source| content(path, source))
}

/// The files named, and the files with one of `extensions` in the folders named and their
/// subfolders, each folder sorted by name.
pub fn files_under(paths: &[PathBuf], extensions: &[&str]) -> Result<Vec<PathBuf>, LoadError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            walk(path, extensions, &mut files)?;
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn walk(dir: &Path, extensions: &[&str], files: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let entries = std::fs::read_dir(dir).map_err(|source| LoadError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            walk(&entry, extensions, files)?;
        } else if has_extension(&entry, extensions) {
            files.push(entry);
        }
    }
    Ok(())
}

fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| extensions.contains(&e))
}

fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })
}

fn content(path: &Path, source: PemError) -> LoadError {
    LoadError::Content {
        path: path.to_owned(),
        source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_are_filtered_and_sorted_and_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["b.pem", "a.der", "notes.txt", "sub/c.crt"] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let files = files_under(&[dir.path().to_owned()], CERTIFICATE_EXTENSIONS).unwrap();
        let names: Vec<_> = files.iter().map(|p| p.file_name().unwrap()).collect();
        assert_eq!(names, ["a.der", "b.pem", "c.crt"]);
        let err = trust_config(&[dir.path().to_owned()], &[]).unwrap_err();
        assert!(err.to_string().contains("a.der"), "{err}");
        let missing = trust_config(&[dir.path().join("nope.pem")], &[]).unwrap_err();
        assert!(matches!(missing, LoadError::Io { .. }), "{missing}");
    }
}

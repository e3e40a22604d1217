//! Finding the authentication certificate through the card's PKCS#15 directory files.
//!
//! The ODF (`5031`) points at the certificate directory (CDF, ODF entry `A4`); the CDF lists
//! the certificates with a label and a path. We take the one labelled as the authentication
//! certificate (`Certificat d'Authentification CPS`), or the first one when none says so.
//! Both files come from the card and are parsed as untrusted bytes.

use crate::error::CardError;
use crate::tlv;

/// ODF entry tag of the certificate directory (`certificates [4]`).
const ODF_CDF: u32 = 0xA4;
/// CDF entry tag of an X.509 certificate object.
const CDF_X509: u32 = 0x30;
/// Label words that mark the authentication certificate.
const AUTH_LABELS: [&str; 2] = ["authentification", "authentication"];

/// The path of the CDF, from the ODF.
pub fn cdf_path(odf: &[u8]) -> Result<Vec<u8>, CardError> {
    for entry in tlv::elements(odf) {
        let entry = entry?;
        if entry.tag == ODF_CDF {
            return path_in(entry.value).map(<[u8]>::to_vec);
        }
    }
    Err(CardError::malformed(
        "the PKCS#15 object directory lists no certificates",
    ))
}

/// The path of the authentication certificate, from the CDF.
pub fn auth_certificate_path(cdf: &[u8]) -> Result<Vec<u8>, CardError> {
    let mut first = None;
    for entry in tlv::elements(cdf) {
        let entry = entry?;
        if entry.tag != CDF_X509 {
            continue;
        }
        let (label, path) = certificate_entry(entry.value)?;
        let is_auth = AUTH_LABELS
            .iter()
            .any(|word| label.to_lowercase().contains(word));
        if is_auth {
            return Ok(path.to_vec());
        }
        first.get_or_insert_with(|| path.to_vec());
    }
    first.ok_or_else(|| CardError::malformed("the PKCS#15 certificate directory is empty"))
}

/// The label and path of one certificate object:
/// `SEQUENCE { common { label UTF8String, … }, commonCert { … }, [1] { SEQUENCE { Path } } }`.
fn certificate_entry(object: &[u8]) -> Result<(String, &[u8]), CardError> {
    let label = tlv::find_path(object, &[0x30, 0x0C])?
        .map(|bytes| String::from_utf8_lossy(bytes).into_owned())
        .unwrap_or_default();
    let attributes = tlv::find_path(object, &[0xA1, 0x30])?
        .ok_or_else(|| CardError::malformed("a certificate entry without a path"))?;
    Ok((label, path_in(attributes)?))
}

/// The `path` OCTET STRING of a PKCS#15 `Path` wrapped in a SEQUENCE.
fn path_in(value: &[u8]) -> Result<&[u8], CardError> {
    tlv::find_path(value, &[0x30, 0x04])?
        .ok_or_else(|| CardError::malformed("a PKCS#15 entry without a file path"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A DER element with a short length.
    pub fn der(tag: u8, value: &[u8]) -> Vec<u8> {
        let mut out = vec![tag, u8::try_from(value.len()).expect("short")];
        out.extend_from_slice(value);
        out
    }

    pub fn cert_entry(label: &str, path: &[u8]) -> Vec<u8> {
        let common = der(0x30, &der(0x0C, label.as_bytes()));
        let common_cert = der(0x30, &der(0x04, &[0x01]));
        let typed = der(0xA1, &der(0x30, &der(0x30, &der(0x04, path))));
        der(0x30, &[common, common_cert, typed].concat())
    }

    #[test]
    fn finds_the_cdf_among_other_directories() {
        let odf = [
            der(0xA0, &der(0x30, &der(0x04, &[0x3F, 0x00, 0x50, 0x01]))),
            der(0xA4, &der(0x30, &der(0x04, &[0x3F, 0x00, 0x50, 0x04]))),
            vec![0x00, 0x00],
        ]
        .concat();
        assert_eq!(cdf_path(&odf).expect("cdf"), [0x3F, 0x00, 0x50, 0x04]);
    }

    #[test]
    fn picks_the_authentication_certificate_by_label() {
        let cdf = [
            cert_entry("Certificat de Signature CPS", &[0xC0, 0x01]),
            cert_entry("Certificat d'Authentification CPS", &[0xC0, 0x02]),
        ]
        .concat();
        assert_eq!(auth_certificate_path(&cdf).expect("path"), [0xC0, 0x02]);
    }

    #[test]
    fn falls_back_to_the_first_certificate() {
        let cdf = cert_entry("Cert", &[0xC0, 0x07]);
        assert_eq!(auth_certificate_path(&cdf).expect("path"), [0xC0, 0x07]);
    }

    #[test]
    fn empty_or_broken_directories_are_errors() {
        assert!(cdf_path(&[]).is_err());
        assert!(auth_certificate_path(&[0xFF; 8]).is_err());
        assert!(auth_certificate_path(&der(0x30, &der(0x30, &[]))).is_err());
    }
}

//! What the help desk needs from the card's authentication certificate: who holds the card,
//! and the size of its key.
//!
//! This is a display-only reading of the subject (`CN` = idNat, `SN`, `GN`, `title` =
//! profession). Validation of the certificate and the authoritative identity are the
//! connector's job, with `vigie-certs`.
// TODO: use vigie-certs' identity extractor once it exists, so the client names the holder
// exactly as the connector will (idNat kind, UPN, Luhn check).

use der::{Decode, asn1::ObjectIdentifier};
use x509_cert::Certificate;

use crate::error::CardError;
use crate::tlv;

const CN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");
const SN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.4");
const GN: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.42");
const TITLE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.12");

/// The holder of a card, as its certificate names them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Holder {
    /// National identifier (idNat), from the subject CN.
    pub id_nat: Option<String>,
    /// Surname.
    pub surname: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Profession (subject `title`).
    pub profession: Option<String>,
    /// Issuing CA's common name.
    pub issuer: Option<String>,
    /// End of validity, as printed by the certificate (UTC).
    pub not_after: String,
}

/// Reads the holder from a DER certificate.
pub fn holder(cert_der: &[u8]) -> Result<Holder, CardError> {
    let cert = parse(cert_der)?;
    let tbs = &cert.tbs_certificate;
    let subject = |oid| attribute(&tbs.subject, oid);
    Ok(Holder {
        id_nat: subject(CN),
        surname: subject(SN),
        given_name: subject(GN),
        profession: subject(TITLE),
        issuer: attribute(&tbs.issuer, CN),
        not_after: tbs.validity.not_after.to_string(),
    })
}

/// The RSA modulus length in bytes of the certificate's public key.
pub fn rsa_modulus_len(cert_der: &[u8]) -> Result<usize, CardError> {
    let cert = parse(cert_der)?;
    let key = cert
        .tbs_certificate
        .subject_public_key_info
        .subject_public_key;
    let bytes = key
        .as_bytes()
        .ok_or_else(|| CardError::malformed("the certificate's key has unused bits"))?;
    let modulus = tlv::find_path(bytes, &[0x30, 0x02])?
        .ok_or_else(|| CardError::malformed("the certificate's key is not an RSA key"))?;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    if significant == 0 {
        return Err(CardError::malformed(
            "the certificate's RSA modulus is zero",
        ));
    }
    Ok(significant)
}

fn parse(cert_der: &[u8]) -> Result<Certificate, CardError> {
    Certificate::from_der(cert_der)
        .map_err(|e| CardError::malformed(format!("the authentication certificate: {e}")))
}

fn attribute(name: &x509_cert::name::Name, oid: ObjectIdentifier) -> Option<String> {
    name.0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|atv| atv.oid == oid)
        .map(|atv| String::from_utf8_lossy(atv.value.value()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(holder(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(rsa_modulus_len(&[]).is_err());
    }
}

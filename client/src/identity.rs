//! What the help desk needs from the card's authentication certificate: who holds the card,
//! and the size of its key.
//!
//! The holder is read with `vigie-certs`' extractor, so the client names them exactly as the
//! connector will (idNat and its register, names, profession, UPN). When that strict reading
//! fails (a card whose certificate is not shaped like a CPS one), a lenient reading of the
//! subject still shows what is there, with the reason, because that is what the help desk
//! needs to see. Validation of the certificate is the connector's job.

use der::{Decode, asn1::ObjectIdentifier};
use vigie_certs::{CardIdentity, IdNatKind};
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
    /// The register the idNat belongs to (RPPS, ADELI, structure), when it parsed.
    pub register: Option<String>,
    /// The UPN of the subject alternative name (`8.99700123456@carte-cps.fr`).
    pub upn: Option<String>,
    /// Why the strict CPS reading failed, if it did.
    pub not_cps_shaped: Option<String>,
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
    let mut holder = Holder {
        id_nat: subject(CN),
        surname: subject(SN),
        given_name: subject(GN),
        profession: subject(TITLE),
        issuer: attribute(&tbs.issuer, CN),
        not_after: tbs.validity.not_after.to_string(),
        ..Holder::default()
    };
    match CardIdentity::from_certificate(&cert) {
        Ok(identity) => {
            holder.register = Some(register(identity.id_nat.kind()));
            holder.upn = identity.upn;
        }
        Err(e) => holder.not_cps_shaped = Some(e.to_string()),
    }
    Ok(holder)
}

fn register(kind: &IdNatKind) -> String {
    match kind {
        IdNatKind::Rpps => "RPPS".into(),
        IdNatKind::Adeli => "ADELI".into(),
        IdNatKind::Structure {
            prefix,
            structure_id,
            ..
        } => {
            let register = match prefix {
                '1' => "ADELI cabinet",
                '3' => "FINESS",
                '4' => "SIREN",
                '5' => "SIRET",
                '6' => "RPPS cabinet",
                _ => "structure",
            };
            format!("staff card of {register} {structure_id}")
        }
        other => format!("unknown register ({other:?})"),
    }
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
    fn reads_a_cps_shaped_certificate() {
        let holder = holder(&crate::testing::identity().cert_der).expect("holder");
        assert_eq!(holder.id_nat.as_deref(), Some("899700123450"));
        assert_eq!(holder.surname.as_deref(), Some("TESTEUR"));
        assert_eq!(holder.given_name.as_deref(), Some("JEANNE"));
        assert_eq!(holder.profession.as_deref(), Some("M\u{e9}decin"));
        assert_eq!(holder.issuer.as_deref(), Some("Vigie Test CA"));
        assert_eq!(
            holder.register.as_deref(),
            Some("RPPS"),
            "{:?}",
            holder.not_cps_shaped
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(holder(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
        assert!(rsa_modulus_len(&[]).is_err());
    }
}

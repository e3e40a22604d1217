//! Who a card certificate names: the idNat from the CN, names and profession from the subject,
//! the UPN from the subject alternative name, and which card (serial, issuer) it is.
//!
//! Extraction only reads; it does not decide whether the certificate is trustworthy. The
//! [`Verifier`](crate::Verifier) does both and hands out identities only for valid chains.

use der::asn1::{Any, ObjectIdentifier};
use der::{Decode, Tag, Tagged};
use x509_cert::Certificate;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::idnat::{IdNat, IdNatError};
use crate::oids;

/// The person and card behind an authentication certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CardIdentity {
    /// The national identifier, from the subject CN.
    pub id_nat: IdNat,
    /// Family name (subject SN).
    pub surname: String,
    /// Given name (subject GN).
    pub given_name: String,
    /// Profession label (subject `title`), e.g. `Médecin`; absent on some staff cards.
    pub profession: Option<String>,
    /// The UPN from the SAN, e.g. `8.99700434378@carte-cps.fr`.
    pub upn: Option<String>,
    /// The certificate's serial number, upper-case hex without separators.
    pub card_serial: String,
    /// The issuing CA's distinguished name (RFC 4514 form).
    pub issuer: String,
}

impl CardIdentity {
    /// Reads the identity from a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, IdentityError> {
        let cert =
            Certificate::from_der(der).map_err(|e| IdentityError::Malformed(e.to_string()))?;
        Self::from_certificate(&cert)
    }

    /// Reads the identity from a parsed certificate.
    pub fn from_certificate(cert: &Certificate) -> Result<Self, IdentityError> {
        Self::with_issuer_text(cert, cert.tbs_certificate.issuer.to_string())
    }

    /// [`from_certificate`](Self::from_certificate), with the issuer's DN already written out
    /// (the verifier knows its CAs' names by heart).
    pub(crate) fn with_issuer_text(
        cert: &Certificate,
        issuer: String,
    ) -> Result<Self, IdentityError> {
        let tbs = &cert.tbs_certificate;
        let cn = single_attribute(tbs, oids::CN, "CN")?.ok_or(IdentityError::Missing("CN"))?;
        let id_nat = IdNat::parse(&cn).map_err(IdentityError::BadIdNat)?;
        let surname = single_attribute(tbs, oids::SURNAME, "SN")?;
        let given_name = single_attribute(tbs, oids::GIVEN_NAME, "GN")?;
        let profession = single_attribute(tbs, oids::TITLE, "title")?;
        let upn = upn(cert)?;
        if let Some(upn) = &upn {
            check_upn(upn, &id_nat)?;
        }
        Ok(Self {
            id_nat,
            surname: surname.ok_or(IdentityError::Missing("SN"))?,
            given_name: given_name.ok_or(IdentityError::Missing("GN"))?,
            profession,
            upn,
            card_serial: serial_hex(tbs.serial_number.as_bytes()),
            issuer,
        })
    }

    /// The key that names the person across cards: the idNat. A CPS3 and the CPS4 that replaces
    /// it give the same key.
    pub fn person_key(&self) -> &str {
        self.id_nat.as_str()
    }
}

/// Why no identity could be read from a certificate.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// The bytes are not an X.509 certificate.
    #[error("not a well-formed X.509 certificate: {0}")]
    Malformed(String),
    /// A subject attribute a card certificate must carry is absent.
    #[error("the certificate subject has no {0} attribute")]
    Missing(&'static str),
    /// A subject attribute appears more than once, so the identity is ambiguous.
    #[error("the certificate subject has more than one {0} attribute")]
    Repeated(&'static str),
    /// An attribute's text is not valid in its string type (bad UTF-8, for instance).
    #[error("the {0} attribute is not valid text")]
    BadText(&'static str),
    /// The CN is not a well-formed idNat.
    #[error("the CN is not a valid idNat: {0}")]
    BadIdNat(IdNatError),
    /// The subject alternative name extension cannot be read.
    #[error("the subject alternative name is malformed: {0}")]
    BadSan(String),
    /// The UPN names someone else than the CN.
    #[error("the UPN {upn:?} does not match the idNat {id_nat}")]
    UpnMismatch {
        /// The UPN as found.
        upn: String,
        /// The idNat from the CN.
        id_nat: String,
    },
}

fn single_attribute(
    tbs: &x509_cert::TbsCertificate,
    oid: ObjectIdentifier,
    label: &'static str,
) -> Result<Option<String>, IdentityError> {
    let mut values = tbs
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .filter(|atv| atv.oid == oid);
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(IdentityError::Repeated(label));
    }
    directory_string(&first.value)
        .map(Some)
        .ok_or(IdentityError::BadText(label))
}

/// Decodes the string types a DN attribute may use; `None` if the bytes are not valid text.
fn directory_string(value: &Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String => String::from_utf8(bytes.to_vec()).ok(),
        Tag::PrintableString | Tag::Ia5String if bytes.is_ascii() => {
            String::from_utf8(bytes.to_vec()).ok()
        }
        Tag::BmpString if bytes.len() % 2 == 0 => {
            let units = bytes
                .chunks_exact(2)
                .map(|p| u16::from_be_bytes([p[0], p[1]]));
            char::decode_utf16(units)
                .collect::<Result<String, _>>()
                .ok()
        }
        _ => None,
    }
    .filter(|text| !text.chars().any(char::is_control))
}

fn upn(cert: &Certificate) -> Result<Option<String>, IdentityError> {
    let san = cert
        .tbs_certificate
        .get::<SubjectAltName>()
        .map_err(|e| IdentityError::BadSan(e.to_string()))?;
    let Some((_, SubjectAltName(names))) = san else {
        return Ok(None);
    };
    let mut upns = names.iter().filter_map(|name| match name {
        GeneralName::OtherName(other) if other.type_id == oids::UPN => Some(&other.value),
        _ => None,
    });
    let Some(first) = upns.next() else {
        return Ok(None);
    };
    if upns.next().is_some() {
        return Err(IdentityError::Repeated("UPN"));
    }
    match first.tag() {
        Tag::Utf8String => directory_string(first)
            .map(Some)
            .ok_or(IdentityError::BadText("UPN")),
        _ => Err(IdentityError::BadText("UPN")),
    }
}

fn check_upn(upn: &str, id_nat: &IdNat) -> Result<(), IdentityError> {
    let local = upn.rsplit_once('@').map_or(upn, |(local, _)| local);
    if local == id_nat.upn_local_part() {
        Ok(())
    } else {
        Err(IdentityError::UpnMismatch {
            upn: upn.to_owned(),
            id_nat: id_nat.to_string(),
        })
    }
}

/// A serial number as upper-case hex without separators or leading zero bytes.
pub(crate) fn serial_hex(bytes: &[u8]) -> String {
    let start = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len().saturating_sub(1));
    bytes[start..].iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf8(bytes: &[u8]) -> Any {
        Any::new(Tag::Utf8String, bytes).unwrap()
    }

    #[test]
    fn directory_strings_decode_or_refuse() {
        assert_eq!(
            directory_string(&utf8("Médecin".as_bytes())).as_deref(),
            Some("Médecin")
        );
        assert_eq!(directory_string(&utf8(&[0x4D, 0xC3, 0x28])), None);
        assert_eq!(directory_string(&utf8(b"a\nb")), None);
        let bmp = Any::new(Tag::BmpString, [0x00, 0x41, 0x00, 0xE9]).unwrap();
        assert_eq!(directory_string(&bmp).as_deref(), Some("Aé"));
        let printable = Any::new(Tag::PrintableString, b"FR".as_slice()).unwrap();
        assert_eq!(directory_string(&printable).as_deref(), Some("FR"));
    }

    #[test]
    fn upn_must_match_the_idnat() {
        let id = IdNat::parse("500000000029751/CPAT0001").unwrap();
        assert!(check_upn("5.00000000029751/CPAT0001@carte-cps.fr", &id).is_ok());
        assert!(matches!(
            check_upn("5.00000000029752/CPAT0001@carte-cps.fr", &id),
            Err(IdentityError::UpnMismatch { .. })
        ));
    }

    #[test]
    fn garbage_is_malformed() {
        assert!(matches!(
            CardIdentity::from_der(b"\x30\x03\x02\x01"),
            Err(IdentityError::Malformed(_))
        ));
        assert!(matches!(
            CardIdentity::from_der(&[]),
            Err(IdentityError::Malformed(_))
        ));
    }

    #[test]
    fn serial_hex_is_upper_case_without_leading_zero_bytes() {
        assert_eq!(serial_hex(&[0x00, 0x0a, 0xff, 0x01]), "0AFF01");
        assert_eq!(serial_hex(&[0x00]), "00");
    }
}

//! Building and signing certificates and CRLs shaped like IGC-Santé's: DNs with UTF8String
//! attributes (PrintableString for `C`), multi-valued RDNs, and the extensions card
//! certificates carry.

use std::net::IpAddr;
use std::time::Duration;

use der::asn1::{Any, BitString, Ia5String, Null, ObjectIdentifier, OctetString, SetOfVec};
use der::asn1::{GeneralizedTime, UtcTime};
use der::{Decode, Encode, Tag};
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
use x509_cert::ext::pkix::crl::dp::DistributionPoint;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName, OtherName};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, CrlDistributionPoints};
use x509_cert::ext::pkix::{CrlNumber, ExtendedKeyUsage};
use x509_cert::ext::pkix::{SubjectAltName, SubjectKeyIdentifier};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use crate::oids;

/// One attribute of a DN: its type and its text.
#[derive(Clone, Debug)]
pub struct Attr {
    /// Attribute type.
    pub oid: ObjectIdentifier,
    /// Attribute text; `C` is written as PrintableString, the rest as UTF8String.
    pub value: String,
}

impl Attr {
    /// An attribute.
    pub fn new(oid: ObjectIdentifier, value: &str) -> Self {
        Self {
            oid,
            value: value.to_owned(),
        }
    }
}

/// Builds a DN from RDNs in X.509 order (`C` first); an RDN with several attributes is
/// multi-valued (`CN=…+SN=…+GN=…`).
pub fn name(rdns: &[Vec<Attr>]) -> der::Result<Name> {
    let rdns = rdns
        .iter()
        .map(|attrs| {
            let values = attrs
                .iter()
                .map(attribute)
                .collect::<der::Result<Vec<_>>>()?;
            Ok(RelativeDistinguishedName(SetOfVec::try_from(values)?))
        })
        .collect::<der::Result<Vec<_>>>()?;
    Ok(RdnSequence(rdns))
}

fn attribute(attr: &Attr) -> der::Result<AttributeTypeAndValue> {
    let tag = if attr.oid == oids::COUNTRY {
        Tag::PrintableString
    } else {
        Tag::Utf8String
    };
    Ok(AttributeTypeAndValue {
        oid: attr.oid,
        value: Any::new(tag, attr.value.as_bytes())?,
    })
}

/// What a certificate says, apart from who signs it.
#[derive(Clone, Debug)]
pub struct CertSpec {
    /// Serial number (positive, big-endian, at most 20 bytes).
    pub serial: Vec<u8>,
    /// Subject DN.
    pub subject: Name,
    /// Start of validity, seconds since the Unix epoch.
    pub not_before: u64,
    /// End of validity, seconds since the Unix epoch.
    pub not_after: u64,
    /// Extensions beyond SKI and AKI, which are always added.
    pub extensions: Vec<Extension>,
}

/// A signing CA: its certificate and key.
#[derive(Clone)]
pub struct Issuer<'a> {
    /// The CA certificate (for a self-signed root, the root being made is its own issuer: use
    /// [`self_signed`]).
    pub cert: &'a Certificate,
    /// The CA key.
    pub key: &'a RsaPrivateKey,
}

/// Makes a self-signed certificate (a root).
pub fn self_signed(spec: &CertSpec, key: &RsaPrivateKey) -> der::Result<Certificate> {
    let public = RsaPublicKey::from(key);
    sign(spec, &public, &spec.subject, &public, key)
}

/// Makes a certificate for `subject_key` signed by `issuer`.
pub fn issue(
    spec: &CertSpec,
    subject_key: &RsaPublicKey,
    issuer: &Issuer<'_>,
) -> der::Result<Certificate> {
    issue_for_spki(spec, spki(subject_key)?, issuer)
}

/// Makes a certificate for any subject key (an ECDSA P-256 server key, for instance), given
/// as its SubjectPublicKeyInfo, signed by `issuer`.
pub fn issue_for_spki(
    spec: &CertSpec,
    subject_key: SubjectPublicKeyInfoOwned,
    issuer: &Issuer<'_>,
) -> der::Result<Certificate> {
    let tbs = tbs_for_spki(spec, subject_key, issuer)?;
    let signature = rsa_sign(issuer.key, &tbs.to_der()?)?;
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: sha256_with_rsa(),
        signature,
    })
}

/// The to-be-signed part of the certificate [`issue_for_spki`] makes, for callers that sign
/// it with another RSA implementation (PKCS#1 v1.5, SHA-256, the issuer's key).
pub fn tbs_for_spki(
    spec: &CertSpec,
    subject_key: SubjectPublicKeyInfoOwned,
    issuer: &Issuer<'_>,
) -> der::Result<TbsCertificate> {
    let issuer_spki = spki(&RsaPublicKey::from(issuer.key))?;
    let issuer_name = &issuer.cert.tbs_certificate.subject;
    tbs(spec, subject_key, issuer_name, &issuer_spki)
}

fn sign(
    spec: &CertSpec,
    subject_key: &RsaPublicKey,
    issuer_name: &Name,
    issuer_public: &RsaPublicKey,
    issuer_key: &RsaPrivateKey,
) -> der::Result<Certificate> {
    let tbs = tbs(spec, spki(subject_key)?, issuer_name, &spki(issuer_public)?)?;
    let signature = rsa_sign(issuer_key, &tbs.to_der()?)?;
    Ok(Certificate {
        tbs_certificate: tbs,
        signature_algorithm: sha256_with_rsa(),
        signature,
    })
}

fn tbs(
    spec: &CertSpec,
    spki: SubjectPublicKeyInfoOwned,
    issuer_name: &Name,
    issuer_spki: &SubjectPublicKeyInfoOwned,
) -> der::Result<TbsCertificate> {
    let mut extensions = spec.extensions.clone();
    extensions.push(ext(&SubjectKeyIdentifier(key_id(&spki)?), &spec.subject)?);
    if issuer_spki != &spki {
        extensions.push(ext(&authority_key_id(issuer_spki)?, &spec.subject)?);
    }
    Ok(TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&spec.serial)?,
        signature: sha256_with_rsa(),
        issuer: issuer_name.clone(),
        validity: Validity {
            not_before: time(spec.not_before)?,
            not_after: time(spec.not_after)?,
        },
        subject: spec.subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    })
}

/// Makes a v2 CRL listing `revoked` (serial, revocation time) with a CRL number.
pub fn crl(
    issuer: &Issuer<'_>,
    number: u64,
    this_update: u64,
    next_update: u64,
    revoked: &[(Vec<u8>, u64)],
) -> der::Result<CertificateList> {
    let entries = revoked
        .iter()
        .map(|(serial, when)| {
            Ok(RevokedCert {
                serial_number: SerialNumber::new(serial)?,
                revocation_date: time(*when)?,
                crl_entry_extensions: None,
            })
        })
        .collect::<der::Result<Vec<_>>>()?;
    let issuer_name = &issuer.cert.tbs_certificate.subject;
    let number = CrlNumber(der::asn1::Uint::new(&number.to_be_bytes())?);
    let aki = authority_key_id(&spki(&RsaPublicKey::from(issuer.key))?)?;
    let tbs = TbsCertList {
        version: Version::V2,
        signature: sha256_with_rsa(),
        issuer: issuer_name.clone(),
        this_update: time(this_update)?,
        next_update: Some(time(next_update)?),
        revoked_certificates: (!entries.is_empty()).then_some(entries),
        crl_extensions: Some(vec![ext(&number, issuer_name)?, ext(&aki, issuer_name)?]),
    };
    let signature = rsa_sign(issuer.key, &tbs.to_der()?)?;
    Ok(CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: sha256_with_rsa(),
        signature,
    })
}

/// Encodes an extension value.
pub fn ext<T: AsExtension>(value: &T, subject: &Name) -> der::Result<Extension> {
    value.to_extension(subject, &[])
}

/// `basicConstraints` for a CA (critical).
pub fn ca_constraints(path_len: Option<u8>) -> BasicConstraints {
    BasicConstraints {
        ca: true,
        path_len_constraint: path_len,
    }
}

/// `extKeyUsage` with these purposes.
pub fn eku(purposes: &[ObjectIdentifier]) -> ExtendedKeyUsage {
    ExtendedKeyUsage(purposes.to_vec())
}

/// A SAN with a UPN otherName.
pub fn san_upn(upn: &str) -> der::Result<SubjectAltName> {
    let value = Any::new(Tag::Utf8String, upn.as_bytes())?;
    Ok(SubjectAltName(vec![GeneralName::OtherName(OtherName {
        type_id: oids::UPN,
        value,
    })]))
}

/// A SAN for a server: DNS names and IP addresses.
pub fn san_server(dns: &[&str], ips: &[IpAddr]) -> der::Result<SubjectAltName> {
    let mut names = dns
        .iter()
        .map(|d| Ok(GeneralName::DnsName(Ia5String::new(d)?)))
        .collect::<der::Result<Vec<_>>>()?;
    for ip in ips {
        let bytes = match ip {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        names.push(GeneralName::IpAddress(OctetString::new(bytes)?));
    }
    Ok(SubjectAltName(names))
}

/// A CRL distribution point with one URI.
pub fn crl_distribution_point(uri: &str) -> der::Result<CrlDistributionPoints> {
    let name = GeneralName::UniformResourceIdentifier(Ia5String::new(uri)?);
    Ok(CrlDistributionPoints(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![name])),
        reasons: None,
        crl_issuer: None,
    }]))
}

/// `sha256WithRSAEncryption` with its NULL parameters.
pub(crate) fn sha256_with_rsa() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: oids::SHA256_WITH_RSA,
        parameters: Some(Any::from(Null)),
    }
}

fn rsa_sign(key: &RsaPrivateKey, message: &[u8]) -> der::Result<BitString> {
    let signer = SigningKey::<Sha256>::new(key.clone());
    let signature = signer.sign(message).to_vec();
    BitString::from_bytes(&signature)
}

/// The SubjectPublicKeyInfo of an RSA public key.
pub fn spki(key: &RsaPublicKey) -> der::Result<SubjectPublicKeyInfoOwned> {
    let der = key
        .to_public_key_der()
        .map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
    SubjectPublicKeyInfoOwned::from_der(der.as_bytes())
}

/// Key identifier: the first 160 bits of the SHA-256 of the public key bits (RFC 7093).
fn key_id(spki: &SubjectPublicKeyInfoOwned) -> der::Result<OctetString> {
    let digest = Sha256::digest(spki.subject_public_key.raw_bytes());
    OctetString::new(&digest[..20])
}

fn authority_key_id(key: &SubjectPublicKeyInfoOwned) -> der::Result<AuthorityKeyIdentifier> {
    Ok(AuthorityKeyIdentifier {
        key_identifier: Some(key_id(key)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    })
}

/// UTCTime up to 2049, GeneralizedTime after, as RFC 5280 asks.
pub fn time(unix: u64) -> der::Result<Time> {
    let duration = Duration::from_secs(unix);
    let utc = UtcTime::from_unix_duration(duration);
    match utc {
        Ok(utc) => Ok(Time::UtcTime(utc)),
        Err(_) => Ok(Time::GeneralTime(GeneralizedTime::from_unix_duration(
            duration,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use der::Tagged;

    use super::*;

    #[test]
    fn names_use_printable_country_utf8_rest_and_multi_valued_rdns() {
        let name = name(&[
            vec![Attr::new(oids::COUNTRY, "FR")],
            vec![
                Attr::new(oids::CN, "899700123450"),
                Attr::new(oids::SURNAME, "ÉTÉ"),
            ],
        ])
        .unwrap();
        assert_eq!(name.0.len(), 2);
        let country = name.0[0].0.iter().next().unwrap();
        assert_eq!(country.value.tag(), Tag::PrintableString);
        let person: Vec<_> = name.0[1].0.iter().collect();
        assert_eq!(person.len(), 2, "CN and SN share one RDN");
        assert!(person.iter().all(|atv| atv.value.tag() == Tag::Utf8String));
    }

    #[test]
    fn times_switch_to_generalized_after_2049() {
        assert!(matches!(time(2_524_607_999).unwrap(), Time::UtcTime(_)));
        assert!(matches!(time(2_524_608_000).unwrap(), Time::GeneralTime(_)));
    }
}

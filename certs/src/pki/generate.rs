//! Makes every certificate, key and CRL of a test world in memory, deterministically from a seed
//! and a generation time.

use std::net::{IpAddr, Ipv4Addr};

use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::Certificate;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};

use super::PkiError;
use super::keys::{derive, rsa_keys};
use super::spec::{CAS, CaDef, CardDef, Expected, Generation, UNKNOWN_CA, cards};
use super::x509::{self, Attr, CertSpec, Issuer};
use crate::oids;

const DAY: u64 = 86_400;
const YEAR: u64 = 365 * DAY;
const CA_BITS: usize = 4096;
const CARD_BITS: usize = 2048;

/// The connector's DNS name in the lab.
pub const CONNECTOR_DNS: &str = "connector.vigie.test";
/// The name of the connector's SSO issuer in the test world; the server certificate names it
/// too.
pub const SSO_DNS: &str = "sso.vigie.test";
/// The connector's underlay address in the lab.
pub const CONNECTOR_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

pub(crate) struct BuiltCa {
    pub def: CaDef,
    pub cert: Certificate,
    pub key: RsaPrivateKey,
    pub crl: Option<CertificateList>,
}

pub(crate) struct BuiltCard {
    pub def: CardDef,
    pub card_number: String,
    pub auth: Certificate,
    pub auth_key: RsaPrivateKey,
    pub sign: Certificate,
    pub sign_key: RsaPrivateKey,
    pub issuer_cert: Certificate,
}

pub(crate) struct Built {
    pub cas: Vec<BuiltCa>,
    pub unknown: BuiltCa,
    pub cards: Vec<BuiltCard>,
    pub server: Certificate,
    pub server_key: RsaPrivateKey,
    /// The same server names with an ECDSA P-256 key (PKCS#8 DER).
    pub server_ec: Certificate,
    pub server_ec_key: zeroize::Zeroizing<Vec<u8>>,
}

pub(crate) fn build(seed: u64, now: u64) -> Result<Built, PkiError> {
    let cards = cards();
    let mut labels: Vec<(String, usize)> =
        CAS.iter().map(|c| (c.stem.to_owned(), CA_BITS)).collect();
    labels.push((UNKNOWN_CA.stem.to_owned(), CARD_BITS));
    labels.push(("server".to_owned(), CARD_BITS));
    for card in &cards {
        labels.push((format!("card/{}/auth", card.name), CARD_BITS));
        labels.push((format!("card/{}/sign", card.name), CARD_BITS));
    }
    let mut keys = rsa_keys(seed, &labels)?.into_iter();
    let mut next_key = move || {
        keys.next()
            .ok_or_else(|| PkiError::Internal("fewer keys than asked".into()))
    };

    let mut cas: Vec<BuiltCa> = Vec::new();
    for def in CAS {
        let key = next_key()?;
        let parent = def
            .parent
            .and_then(|p| cas.iter().find(|c| c.def.stem == p));
        let cert = ca_certificate(seed, now, def, &key, parent)?;
        cas.push(BuiltCa {
            def: *def,
            cert,
            key,
            crl: None,
        });
    }
    let unknown_key = next_key()?;
    let unknown_cert = ca_certificate(seed, now, &UNKNOWN_CA, &unknown_key, None)?;
    let unknown = BuiltCa {
        def: UNKNOWN_CA,
        cert: unknown_cert,
        key: unknown_key,
        crl: None,
    };
    let server_key = next_key()?;
    let server = server_certificate(
        seed,
        now,
        &x509::spki(&RsaPublicKey::from(&server_key))?,
        &cas,
    )?;
    let (server_ec_key, server_ec_spki) = super::ec::p256_key(seed, "server-ec")?;
    let server_ec = server_certificate(seed, now, &server_ec_spki, &cas)?;

    let mut built_cards = Vec::new();
    for (index, def) in cards.into_iter().enumerate() {
        let issuer = if def.issuer == UNKNOWN_CA.stem {
            &unknown
        } else {
            find_ca(&cas, def.issuer)?
        };
        let (auth_key, sign_key) = (next_key()?, next_key()?);
        built_cards.push(card(seed, now, index, def, issuer, auth_key, sign_key)?);
    }
    for ca in cas.iter_mut().filter(|c| c.def.personnes) {
        ca.crl = Some(ca_crl(now, ca, &built_cards)?);
    }
    Ok(Built {
        cas,
        unknown,
        cards: built_cards,
        server,
        server_key,
        server_ec,
        server_ec_key,
    })
}

fn find_ca<'a>(cas: &'a [BuiltCa], stem: &str) -> Result<&'a BuiltCa, PkiError> {
    cas.iter()
        .find(|c| c.def.stem == stem)
        .ok_or_else(|| PkiError::UnknownCa(stem.to_owned()))
}

/// A positive serial of 16 bytes derived from the seed and a label.
pub(crate) fn serial(seed: u64, label: &str) -> Vec<u8> {
    let mut bytes = derive(seed, &format!("serial/{label}"))[..16].to_vec();
    bytes[0] = (bytes[0] & 0x3f) | 0x10;
    bytes
}

fn ca_name(def: &CaDef) -> der::Result<x509_cert::name::Name> {
    let (org, units): (&str, &[&str]) = match def.role {
        super::CaRole::Untrusted => ("CLINIQUE HORS CONFIANCE", &["TEST"]),
        _ => ("ASIP-SANTE", &["0002 187512751", "IGC-SANTE TEST"]),
    };
    let mut rdns = vec![
        vec![Attr::new(oids::COUNTRY, "FR")],
        vec![Attr::new(oids::ORGANIZATION, org)],
    ];
    rdns.extend(
        units
            .iter()
            .map(|u| vec![Attr::new(oids::ORGANIZATIONAL_UNIT, u)]),
    );
    rdns.push(vec![Attr::new(oids::CN, def.cn)]);
    x509::name(&rdns)
}

fn ca_certificate(
    seed: u64,
    now: u64,
    def: &CaDef,
    key: &RsaPrivateKey,
    parent: Option<&BuiltCa>,
) -> Result<Certificate, PkiError> {
    let subject = ca_name(def)?;
    let path_len = parent.map(|_| 0);
    let usage = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    let extensions = vec![
        x509::ext(&x509::ca_constraints(path_len), &subject)?,
        x509::ext(&usage, &subject)?,
    ];
    let spec = CertSpec {
        serial: serial(seed, def.stem),
        subject,
        not_before: now - 2 * YEAR,
        not_after: now + if parent.is_some() { 17 } else { 18 } * YEAR,
        extensions,
    };
    Ok(match parent {
        None => x509::self_signed(&spec, key)?,
        Some(parent) => {
            let issuer = Issuer {
                cert: &parent.cert,
                key: &parent.key,
            };
            x509::issue(&spec, &RsaPublicKey::from(key), &issuer)?
        }
    })
}

/// The connector's certificate for `key` (RSA or ECDSA; both serial numbers derive from the
/// seed and the key, so the two certificates differ).
fn server_certificate(
    seed: u64,
    now: u64,
    key: &x509_cert::spki::SubjectPublicKeyInfoOwned,
    cas: &[BuiltCa],
) -> Result<Certificate, PkiError> {
    let ca = find_ca(cas, "elementaire-organisations")?;
    let subject = x509::name(&[
        vec![Attr::new(oids::COUNTRY, "FR")],
        vec![Attr::new(oids::ORGANIZATION, "CH TEST")],
        vec![Attr::new(oids::CN, CONNECTOR_DNS)],
    ])?;
    let ips = [IpAddr::V4(CONNECTOR_IP), IpAddr::V4(Ipv4Addr::LOCALHOST)];
    let usage = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
    let extensions = vec![
        x509::ext(&usage, &subject)?,
        x509::ext(&x509::eku(&[oids::SERVER_AUTH]), &subject)?,
        x509::ext(
            &x509::san_server(&[CONNECTOR_DNS, SSO_DNS], &ips)?,
            &subject,
        )?,
    ];
    let label = match key.algorithm.oid == oids::EC_PUBLIC_KEY {
        true => "server-ec",
        false => "server",
    };
    let spec = CertSpec {
        serial: serial(seed, label),
        subject,
        not_before: now - DAY,
        not_after: now + 2 * YEAR,
        extensions,
    };
    let issuer = Issuer {
        cert: &ca.cert,
        key: &ca.key,
    };
    Ok(x509::issue_for_spki(&spec, key.clone(), &issuer)?)
}

/// The subject of a card certificate, per the IGC-Santé card profile.
pub(crate) fn card_subject(def: &CardDef) -> der::Result<x509_cert::name::Name> {
    let mut rdns = vec![vec![Attr::new(oids::COUNTRY, "FR")]];
    if let Some((org, unit, locality)) = def.establishment {
        rdns.push(vec![Attr::new(oids::ORGANIZATION, org)]);
        rdns.push(vec![Attr::new(oids::ORGANIZATIONAL_UNIT, unit)]);
        rdns.push(vec![Attr::new(oids::LOCALITY, locality)]);
    }
    if let Some(profession) = def.profession {
        rdns.push(vec![Attr::new(oids::TITLE, profession)]);
    }
    rdns.push(vec![
        Attr::new(oids::CN, &def.id_nat),
        Attr::new(oids::SURNAME, def.surname),
        Attr::new(oids::GIVEN_NAME, def.given_name),
    ]);
    x509::name(&rdns)
}

fn card(
    seed: u64,
    now: u64,
    index: usize,
    def: CardDef,
    issuer: &BuiltCa,
    auth_key: RsaPrivateKey,
    sign_key: RsaPrivateKey,
) -> Result<BuiltCard, PkiError> {
    let (not_before, not_after) = match (def.expected, def.generation) {
        (Expected::Expired, _) => (now - 4 * YEAR, now - 30 * DAY),
        (_, Generation::Cps3) => (now - YEAR, now + 2 * YEAR),
        (_, Generation::Cps4) => (now - YEAR, now + 5 * YEAR),
    };
    let signer = Issuer {
        cert: &issuer.cert,
        key: &issuer.key,
    };
    let make = |usage: &str, key: &RsaPrivateKey| -> Result<Certificate, PkiError> {
        let subject = card_subject(&def)?;
        let extensions = card_extensions(&def, usage, issuer, &subject)?;
        let spec = CertSpec {
            serial: serial(seed, &format!("card/{}/{usage}", def.name)),
            subject,
            not_before,
            not_after,
            extensions,
        };
        Ok(x509::issue(&spec, &RsaPublicKey::from(key), &signer)?)
    };
    let auth = make("auth", &auth_key)?;
    let sign = make("sign", &sign_key)?;
    Ok(BuiltCard {
        card_number: format!("{:010}", 2_600_000_001 + index as u64),
        def,
        auth,
        auth_key,
        sign,
        sign_key,
        issuer_cert: issuer.cert.clone(),
    })
}

fn card_extensions(
    def: &CardDef,
    usage: &str,
    issuer: &BuiltCa,
    subject: &x509_cert::name::Name,
) -> Result<Vec<x509_cert::ext::Extension>, PkiError> {
    let id = crate::IdNat::parse(&def.id_nat).map_err(|e| PkiError::Internal(e.to_string()))?;
    let upn = format!("{}@carte-cps.fr", id.upn_local_part());
    let mut extensions = vec![x509::ext(&x509::san_upn(&upn)?, subject)?];
    if usage == "auth" {
        let ku = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
        extensions.push(x509::ext(&ku, subject)?);
        let eku = x509::eku(&[oids::CLIENT_AUTH, oids::SMARTCARD_LOGON]);
        extensions.push(x509::ext(&eku, subject)?);
    } else {
        extensions.push(x509::ext(
            &KeyUsage(KeyUsages::NonRepudiation.into()),
            subject,
        )?);
    }
    if !issuer.def.crl_name.is_empty() {
        let uri = format!(
            "http://igc-sante.esante.gouv.fr/CRL/{}.crl",
            issuer.def.crl_name
        );
        extensions.push(x509::ext(&x509::crl_distribution_point(&uri)?, subject)?);
    }
    Ok(extensions)
}

fn ca_crl(now: u64, ca: &BuiltCa, cards: &[BuiltCard]) -> Result<CertificateList, PkiError> {
    let revoked: Vec<(Vec<u8>, u64)> = cards
        .iter()
        .filter(|c| c.def.expected == Expected::Revoked && c.def.issuer == ca.def.stem)
        .flat_map(|c| [&c.auth, &c.sign])
        .map(|cert| {
            (
                cert.tbs_certificate.serial_number.as_bytes().to_vec(),
                now - 10 * DAY,
            )
        })
        .collect();
    let issuer = Issuer {
        cert: &ca.cert,
        key: &ca.key,
    };
    Ok(x509::crl(&issuer, 1, now - 3600, now + 7 * DAY, &revoked)?)
}

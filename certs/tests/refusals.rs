//! Each refusal reason the verifier can give, with certificates and CRLs made by the test PKI's
//! own authorities, and the runtime replacement of CRLs and the blocklist.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers stop loudly on a broken fixture"
)]

mod common;

use std::time::Duration;

use common::*;
use der::asn1::{Any, SetOfVec};
use der::{Decode, Encode, Tag};
use rsa::RsaPublicKey;
use rustls_pki_types::{CertificateDer, CertificateRevocationListDer};
use vigie_certs::pki::x509::{self, Attr, CertSpec, Issuer};
use vigie_certs::pki::{World, test_key};
use vigie_certs::{
    Blocklist, ConfigError, CrlError, Fault, IdentityError, Refusal, TrustConfig, oids,
};
use x509_cert::Certificate;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{KeyUsage, KeyUsages};
use x509_cert::name::{Name, RelativeDistinguishedName};

const DOCTOR: &str = "899700123450";

fn card_name(cn: &str) -> Name {
    x509::name(&[
        vec![Attr::new(oids::COUNTRY, "FR")],
        vec![Attr::new(oids::TITLE, "Médecin")],
        vec![
            Attr::new(oids::CN, cn),
            Attr::new(oids::SURNAME, "TEST"),
            Attr::new(oids::GIVEN_NAME, "ANNE"),
        ],
    ])
    .unwrap()
}

fn card_extensions(subject: &Name) -> Vec<Extension> {
    let usage = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
    vec![
        x509::ext(&usage, subject).unwrap(),
        x509::ext(&x509::eku(&[oids::CLIENT_AUTH]), subject).unwrap(),
    ]
}

fn spec(world: &World, serial: u8, subject: Name, extensions: Vec<Extension>) -> CertSpec {
    let now = world.index().generated_at;
    CertSpec {
        serial: vec![0x42, serial],
        subject,
        not_before: now - DAY,
        not_after: now + 365 * DAY,
        extensions,
    }
}

/// A card issued by the world CA `stem` with a fresh deterministic key.
fn issue(world: &World, stem: &str, spec: &CertSpec) -> CertificateDer<'static> {
    let key = test_key(9, "refusal-card", 2048).unwrap();
    der(world
        .authority(stem)
        .unwrap()
        .issue(spec, &RsaPublicKey::from(&key))
        .unwrap())
}

#[test]
fn stale_crl_fails_closed_after_the_grace_only() {
    let world = world();
    let verifier = verifier(world.trust_config().unwrap());
    let leaf = world.card_auth("cps4-doctor").unwrap();
    // CRLs are valid for 7 days, the grace is one day.
    assert_eq!(
        code(&verifier.verify(&leaf, &[], at(&world, 7 * DAY + 3600))),
        "accepted"
    );
    let verdict = verifier.verify(&leaf, &[], at(&world, 8 * DAY + 60));
    assert_eq!(code(&verdict), "stale_crl", "{verdict:?}");
    assert_eq!(verdict.unwrap_err().fault(), Fault::RevocationData);
    let statuses = verifier.crl_statuses(at(&world, 8 * DAY + 60));
    assert_eq!(statuses.len(), 3);
    assert!(statuses.iter().all(|s| s.stale));

    // A fresh CRL, re-signed with the CA key and swapped in at runtime, lifts the refusal.
    let now = world.index().generated_at + 8 * DAY;
    let authority = world.authority("elementaire-personnes").unwrap();
    let fresh = authority.crl(2, now, now + 7 * DAY, &[]).unwrap();
    let mut crls = world.trust_config().unwrap().crls;
    crls[0] = CertificateRevocationListDer::from(fresh);
    verifier.update_crls(&crls).unwrap();
    assert_eq!(
        code(&verifier.verify(&leaf, &[], at(&world, 8 * DAY + 60))),
        "accepted"
    );
}

#[test]
fn crl_updates_at_runtime_revoke_and_unrevoke() {
    let world = world();
    let mut config = world.trust_config().unwrap();
    let real_crls = config.crls.clone();
    let now = world.index().generated_at;
    let empty = world
        .authority("elementaire-personnes")
        .unwrap()
        .crl(0, now - 7200, now + DAY, &[])
        .unwrap();
    config.crls[0] = CertificateRevocationListDer::from(empty);
    let verifier = verifier(config);
    let revoked = world.card_auth("cps3-revoked").unwrap();
    assert_eq!(
        code(&verifier.verify(&revoked, &[], at(&world, 60))),
        "accepted"
    );
    verifier.update_crls(&real_crls).unwrap();
    assert_eq!(
        code(&verifier.verify(&revoked, &[], at(&world, 60))),
        "revoked"
    );
    let garbage = [CertificateRevocationListDer::from(vec![1, 2, 3])];
    assert!(verifier.update_crls(&garbage).is_err());
    assert_eq!(
        code(&verifier.verify(&revoked, &[], at(&world, 60))),
        "revoked",
        "a bad update changes nothing"
    );
}

#[test]
fn missing_crl_is_refused_unless_allowed() {
    let world = world();
    let mut config = world.trust_config().unwrap();
    config
        .crls
        .retain(|crl| !crl.as_ref().windows(11).any(|w| w == b"ELEMENTAIRE"));
    assert_eq!(config.crls.len(), 2);
    let leaf = world.card_auth("cps4-doctor").unwrap();
    let verdict = verifier(config.clone()).verify(&leaf, &[], at(&world, 60));
    assert_eq!(code(&verdict), "revocation_unknown", "{verdict:?}");
    config.crls.clear();
    let verdict = verifier(config.clone()).verify(&leaf, &[], at(&world, 60));
    assert_eq!(code(&verdict), "revocation_unknown", "{verdict:?}");
    config.require_crl = false;
    assert_eq!(
        code(&verifier(config).verify(&leaf, &[], at(&world, 60))),
        "accepted"
    );
}

#[test]
fn blocklist_acts_at_once_by_certificate_or_by_person() {
    let world = world();
    let verifier = verifier(world.trust_config().unwrap());
    let v4 = world.card_auth("cps4-doctor").unwrap();
    let v3 = world.card_auth("cps3-doctor").unwrap();
    let card = verifier.verify(&v4, &[], at(&world, 60)).unwrap();

    let mut list = Blocklist::new();
    list.block_certificate(&card.issuer, &card.serial).unwrap();
    verifier.set_blocklist(list);
    let verdict = verifier.verify(&v4, &[], at(&world, 60));
    assert_eq!(code(&verdict), "blocklisted_certificate");
    assert_eq!(verdict.unwrap_err().fault(), Fault::LocalDecision);
    assert_eq!(
        code(&verifier.verify(&v3, &[], at(&world, 60))),
        "accepted",
        "only that card"
    );

    let mut list = Blocklist::new();
    list.block_id_nat(card.identity.person_key());
    verifier.set_blocklist(list);
    for leaf in [&v4, &v3] {
        assert_eq!(
            code(&verifier.verify(leaf, &[], at(&world, 60))),
            "blocklisted_id_nat"
        );
    }
    verifier.set_blocklist(Blocklist::new());
    assert_eq!(code(&verifier.verify(&v4, &[], at(&world, 60))), "accepted");
}

#[test]
fn validity_window_and_presented_chain() {
    let world = world();
    let verifier = verifier(world.trust_config().unwrap());
    let leaf = world.card_auth("cps4-nurse").unwrap();
    // Nurse's certificate starts one year before the world's generation time.
    let two_years_before = secs_to_time(world.index().generated_at - 2 * 365 * DAY);
    let early = verifier.verify(&leaf, &[], two_years_before);
    assert_eq!(code(&early), "not_yet_valid", "{early:?}");
    let expired = verifier.verify(
        &world.card_auth("cps4-expired").unwrap(),
        &[],
        at(&world, 60),
    );
    assert!(
        matches!(expired, Err(Refusal::Expired { not_after }) if not_after < world.index().generated_at)
    );

    // A client that sends its intermediate is accepted too, and the verifier with no configured
    // intermediates needs it.
    let chain = std::fs::read(world.card_dir("cps4-nurse").unwrap().join("chain.pem")).unwrap();
    let presented = vigie_certs::pem::certificates(&chain).unwrap();
    let mut config = world.trust_config().unwrap();
    config.intermediates.clear();
    // CRLs are only accepted from configured CAs, so without intermediates they go too.
    config.crls.clear();
    config.require_crl = false;
    let bare = common::verifier(config);
    assert_eq!(
        code(&bare.verify(&leaf, &[], at(&world, 60))),
        "unknown_issuer"
    );
    assert_eq!(
        code(&bare.verify(&leaf, &presented, at(&world, 60))),
        "accepted"
    );
}

fn secs_to_time(secs: u64) -> rustls_pki_types::UnixTime {
    rustls_pki_types::UnixTime::since_unix_epoch(Duration::from_secs(secs))
}

#[test]
fn tampered_signature_and_garbage() {
    let world = world();
    let verifier = verifier(world.trust_config().unwrap());
    let mut bytes = world.card_auth("cps4-doctor").unwrap().as_ref().to_vec();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    let verdict = verifier.verify(&der(bytes), &[], at(&world, 60));
    assert_eq!(code(&verdict), "bad_signature", "{verdict:?}");
    for garbage in [
        vec![],
        vec![0x30, 0x03, 0x02, 0x01, 0x01],
        b"-----BEGIN".to_vec(),
    ] {
        assert_eq!(
            code(&verifier.verify(&der(garbage), &[], at(&world, 60))),
            "malformed_certificate"
        );
    }
}

#[test]
fn bad_utf8_and_upn_mismatch_are_identity_refusals() {
    let world = world();
    let verifier = verifier(world.trust_config().unwrap());
    let mut subject = card_name(DOCTOR);
    let bad = AttributeTypeAndValue {
        oid: oids::SURNAME,
        value: Any::new(Tag::Utf8String, [0x54, 0xC3, 0x28]).unwrap(),
    };
    let cn = AttributeTypeAndValue {
        oid: oids::CN,
        value: Any::new(Tag::Utf8String, DOCTOR.as_bytes()).unwrap(),
    };
    let gn = AttributeTypeAndValue {
        oid: oids::GIVEN_NAME,
        value: Any::new(Tag::Utf8String, b"ANNE".as_slice()).unwrap(),
    };
    subject.0[2] = RelativeDistinguishedName(SetOfVec::try_from(vec![cn, bad, gn]).unwrap());
    let extensions = card_extensions(&subject);
    let leaf = issue(
        &world,
        "elementaire-personnes",
        &spec(&world, 1, subject, extensions),
    );
    let verdict = verifier.verify(&leaf, &[], at(&world, 60));
    assert_eq!(
        verdict,
        Err(Refusal::BadIdentity(IdentityError::BadText("SN")))
    );

    let subject = card_name(DOCTOR);
    let mut extensions = card_extensions(&subject);
    extensions.push(
        x509::ext(
            &x509::san_upn("8.99700075122@carte-cps.fr").unwrap(),
            &subject,
        )
        .unwrap(),
    );
    let leaf = issue(
        &world,
        "elementaire-personnes",
        &spec(&world, 2, subject, extensions),
    );
    let verdict = verifier.verify(&leaf, &[], at(&world, 60));
    assert!(
        matches!(
            verdict,
            Err(Refusal::BadIdentity(IdentityError::UpnMismatch { .. }))
        ),
        "{verdict:?}"
    );
}

#[test]
fn a_sub_ca_under_a_pathlen_zero_intermediate_breaks_the_chain() {
    let world = world();
    let now = world.index().generated_at;
    let parent = world.authority("elementaire-personnes").unwrap();
    let parent_key = rsa_key_of(&world, "elementaire-personnes");
    let sub_key = test_key(9, "sub-ca", 2048).unwrap();
    let sub_name = x509::name(&[vec![Attr::new(oids::CN, "SOUS-AC PIRATE")]]).unwrap();
    let usage = KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign);
    let sub_spec = CertSpec {
        serial: vec![0x51],
        extensions: vec![
            x509::ext(&x509::ca_constraints(None), &sub_name).unwrap(),
            x509::ext(&usage, &sub_name).unwrap(),
        ],
        subject: sub_name,
        not_before: now - DAY,
        not_after: now + 365 * DAY,
    };
    let parent_issuer = Issuer {
        cert: parent.certificate(),
        key: &parent_key,
    };
    let sub_cert = x509::issue(&sub_spec, &RsaPublicKey::from(&sub_key), &parent_issuer).unwrap();
    let subject = card_name(DOCTOR);
    let extensions = card_extensions(&subject);
    let card_key = test_key(9, "refusal-card", 2048).unwrap();
    let leaf = x509::issue(
        &spec(&world, 3, subject, extensions),
        &RsaPublicKey::from(&card_key),
        &Issuer {
            cert: &sub_cert,
            key: &sub_key,
        },
    )
    .unwrap();
    let presented = [der(sub_cert.to_der().unwrap())];
    let mut config = world.trust_config().unwrap();
    config.require_crl = false;
    let verdict = verifier(config).verify(&der(leaf.to_der().unwrap()), &presented, at(&world, 60));
    assert_eq!(code(&verdict), "bad_chain", "{verdict:?}");
}

fn rsa_key_of(world: &World, stem: &str) -> rsa::RsaPrivateKey {
    rsa_key_at(&world.dir().join(format!("ca-keys/{stem}.key.pem")))
}

#[test]
fn configuration_mistakes_and_tls_hints() {
    let world = world();
    let config = world.trust_config().unwrap();
    let verifier = verifier(config.clone());
    let hints = verifier.acceptable_issuer_subjects();
    assert_eq!(hints.len(), 7, "three roots and four intermediates");
    for hint in hints {
        let name = Name::from_der(hint).unwrap();
        assert!(name.to_string().contains("IGC-SANTE"), "{name}");
    }
    let root = Certificate::from_der(config.roots[0].as_ref()).unwrap();
    assert_eq!(hints[0], root.tbs_certificate.subject.to_der().unwrap());

    let none = vigie_certs::Verifier::new(TrustConfig::new(vec![], config.intermediates.clone()));
    assert!(matches!(none, Err(ConfigError::NoRoots)));
    let bad_root = vigie_certs::Verifier::new(TrustConfig::new(vec![der(vec![0x30, 0])], vec![]));
    assert!(matches!(
        bad_root,
        Err(ConfigError::BadRoot { index: 0, .. })
    ));
    let mut bad_crl = config;
    bad_crl
        .crls
        .push(CertificateRevocationListDer::from(vec![0x30, 0]));
    assert!(matches!(
        vigie_certs::Verifier::new(bad_crl),
        Err(ConfigError::Crl(_))
    ));
}

#[test]
fn crls_must_be_signed_by_a_configured_ca_and_never_go_back_in_time() {
    let world = world();
    let verifier = verifier(world.trust_config().unwrap());
    let now = world.index().generated_at;
    let el = world.authority("elementaire-personnes").unwrap();

    // The EL PERSONNES name, but signed with another key.
    let forger = test_key(9, "forger", 2048).unwrap();
    let forged = x509::crl(
        &Issuer {
            cert: el.certificate(),
            key: &forger,
        },
        9,
        now,
        now + DAY,
        &[],
    )
    .unwrap();
    let err = verifier.update_crls(&[CertificateRevocationListDer::from(forged.to_der().unwrap())]);
    assert!(
        matches!(err, Err(CrlError::BadSignature { index: 0, .. })),
        "{err:?}"
    );

    // A CRL from a CA the verifier does not know.
    let unknown_pem = std::fs::read(world.dir().join("unknown-ca/root.pem")).unwrap();
    let unknown =
        Certificate::from_der(vigie_certs::pem::certificates(&unknown_pem).unwrap()[0].as_ref())
            .unwrap();
    let unknown_key = rsa_key_at(&world.dir().join("unknown-ca/root.key.pem"));
    let foreign = x509::crl(
        &Issuer {
            cert: &unknown,
            key: &unknown_key,
        },
        1,
        now,
        now + DAY,
        &[],
    )
    .unwrap();
    let err = verifier.update_crls(&[CertificateRevocationListDer::from(
        foreign.to_der().unwrap(),
    )]);
    assert!(
        matches!(err, Err(CrlError::UnknownIssuer { index: 0, .. })),
        "{err:?}"
    );

    // An older, empty EL CRL replayed after the current one keeps the card revoked.
    let revoked = world.card_auth("cps3-revoked").unwrap();
    let old = el.crl(0, now - 30 * DAY, now + 30 * DAY, &[]).unwrap();
    let mut crls = world.trust_config().unwrap().crls;
    crls[0] = CertificateRevocationListDer::from(old);
    verifier.update_crls(&crls).unwrap();
    assert_eq!(
        code(&verifier.verify(&revoked, &[], at(&world, 60))),
        "revoked"
    );
}

fn rsa_key_at(path: &std::path::Path) -> rsa::RsaPrivateKey {
    use rsa::pkcs8::DecodePrivateKey;
    rsa::RsaPrivateKey::from_pkcs8_pem(&std::fs::read_to_string(path).unwrap()).unwrap()
}

//! Interop with openssl both ways: `openssl verify` accepts what vigie-pki writes, and the
//! verifier judges certificates that openssl made (signed by the world's CA keys) the same way
//! it judges its own.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers stop loudly on a broken fixture"
)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::*;
use rustls_pki_types::{CertificateRevocationListDer, UnixTime};
use vigie_certs::pki::{CaRole, Expected, World};
use vigie_certs::{IdNatKind, IdentityError, Refusal, TrustConfig};

const EXTENSIONS: &str = "\
[card]
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth, 1.3.6.1.4.1.311.20.2.2
subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:UPN
[server_eku]
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
[no_eku]
keyUsage = critical, digitalSignature
[sign_only]
keyUsage = critical, nonRepudiation
extendedKeyUsage = clientAuth
";

/// A scratch folder with the openssl extension file.
fn scratch() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("ext.cnf"), EXTENSIONS).unwrap();
    dir
}

struct Issued {
    pem: PathBuf,
    der: Vec<u8>,
}

/// Has openssl make a key of `bits`, a request for `subject`, and a certificate signed by the
/// world CA `ca` (file stem) with the `section` extensions and `upn`.
fn openssl_card(world: &World, dir: &Path, ca: &str, subject: &str, opts: &CardOpts<'_>) -> Issued {
    let ext = fs::read_to_string(dir.join("ext.cnf"))
        .unwrap()
        .replace("UPN", opts.upn);
    let ext_file = format!("ext-{}.cnf", opts.name);
    fs::write(dir.join(&ext_file), ext).unwrap();
    let (key, csr, pem) = (
        format!("{}.key", opts.name),
        format!("{}.csr", opts.name),
        format!("{}.pem", opts.name),
    );
    let bits = format!("rsa:{}", opts.bits);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            &bits,
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-utf8",
            "-multivalue-rdn",
            "-subj",
            subject,
        ],
    );
    let (ca_cert, ca_key) = ca_files(world, ca);
    let days = opts.days.to_string();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            ca_cert.to_str().unwrap(),
            "-CAkey",
            ca_key.to_str().unwrap(),
            "-set_serial",
            opts.serial,
            "-days",
            &days,
            "-sha256",
            "-extfile",
            &ext_file,
            "-extensions",
            opts.section,
            "-out",
            &pem,
        ],
    );
    let der = openssl(dir, &["x509", "-in", &pem, "-outform", "DER"]);
    Issued {
        pem: dir.join(pem),
        der,
    }
}

struct CardOpts<'a> {
    name: &'a str,
    upn: &'a str,
    section: &'a str,
    bits: u32,
    days: u32,
    serial: &'a str,
}

impl<'a> CardOpts<'a> {
    fn new(name: &'a str, upn: &'a str) -> Self {
        Self {
            name,
            upn,
            section: "card",
            bits: 2048,
            days: 365,
            serial: "0x5EED01",
        }
    }
}

fn ca_files(world: &World, stem: &str) -> (PathBuf, PathBuf) {
    let entry = world.index().cas.iter().find(|c| c.stem == stem).unwrap();
    (
        world.dir().join(&entry.certificate),
        world.dir().join(&entry.key),
    )
}

fn verify_now(config: TrustConfig, der: &[u8]) -> Result<vigie_certs::VerifiedCard, Refusal> {
    verifier(config).verify(&common::der(der.to_vec()), &[], UnixTime::now())
}

#[test]
fn openssl_verify_accepts_every_chain_vigie_pki_writes() {
    let world = world();
    let dir = scratch();
    let attime = (world.index().generated_at + 3600).to_string();
    for card in &world.index().cards {
        let card_dir = world.card_dir(&card.name).unwrap();
        let leaf = dir.path().join(format!("{}.pem", card.name));
        let auth = card_dir.join("auth.crt.der");
        openssl(
            dir.path(),
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                auth.to_str().unwrap(),
                "-out",
                leaf.to_str().unwrap(),
            ],
        );
        let root = match card.expected {
            Expected::UnknownCa => world.dir().join("unknown-ca/root.pem"),
            _ => root_of(&world, &card.issuer),
        };
        let chain = card_dir.join("chain.pem");
        let (ok, out) = openssl_status(
            dir.path(),
            &[
                "verify",
                "-attime",
                &attime,
                "-CAfile",
                root.to_str().unwrap(),
                "-untrusted",
                chain.to_str().unwrap(),
                leaf.to_str().unwrap(),
            ],
        );
        let wanted = card.expected != Expected::Expired;
        assert_eq!(ok, wanted, "{}: {out}", card.name);
    }
    let root = world.dir().join("trust/roots/racine-elementaire.pem");
    let chain = world.dir().join("connector/server-chain.pem");
    let (ok, out) = openssl_status(
        dir.path(),
        &[
            "verify",
            "-attime",
            &attime,
            "-CAfile",
            root.to_str().unwrap(),
            "-untrusted",
            chain.to_str().unwrap(),
            "-purpose",
            "sslserver",
            "-verify_hostname",
            "connector.vigie.test",
            chain.to_str().unwrap(),
        ],
    );
    assert!(ok, "server chain: {out}");
}

/// The root above the intermediate whose CN is `issuer_cn`.
fn root_of(world: &World, issuer_cn: &str) -> PathBuf {
    let intermediate = world
        .index()
        .cas
        .iter()
        .find(|c| c.name == issuer_cn)
        .unwrap();
    let family = intermediate.stem.split('-').next().unwrap();
    let root = world
        .index()
        .cas
        .iter()
        .find(|c| c.role == CaRole::Root && c.stem == format!("racine-{family}"))
        .unwrap();
    world.dir().join(&root.certificate)
}

#[test]
fn openssl_crl_check_sees_the_revoked_card() {
    let world = world();
    let dir = scratch();
    let attime = (world.index().generated_at + 3600).to_string();
    let crl_pem = openssl(
        dir.path(),
        &[
            "crl",
            "-inform",
            "DER",
            "-in",
            world
                .dir()
                .join("crl/elementaire-personnes.crl")
                .to_str()
                .unwrap(),
        ],
    );
    let mut bundle = fs::read(world.dir().join("trust/roots/racine-elementaire.pem")).unwrap();
    bundle.extend(crl_pem);
    fs::write(dir.path().join("bundle.pem"), bundle).unwrap();
    let untrusted = world
        .dir()
        .join("trust/intermediates/elementaire-personnes.pem");
    for (name, wanted) in [("cps3-revoked", false), ("cps4-doctor", true)] {
        let auth = world.card_dir(name).unwrap().join("auth.crt.der");
        openssl(
            dir.path(),
            &[
                "x509",
                "-inform",
                "DER",
                "-in",
                auth.to_str().unwrap(),
                "-out",
                "leaf.pem",
            ],
        );
        let (ok, out) = openssl_status(
            dir.path(),
            &[
                "verify",
                "-attime",
                &attime,
                "-crl_check",
                "-CAfile",
                "bundle.pem",
                "-untrusted",
                untrusted.to_str().unwrap(),
                "leaf.pem",
            ],
        );
        assert_eq!(ok, wanted, "{name}: {out}");
    }
}

#[test]
fn openssl_made_cards_of_each_idnat_kind_are_admitted_with_their_identity() {
    let world = world();
    let dir = scratch();
    let cases = [
        (
            "rpps",
            "/C=FR/title=Médecin/CN=899700888888+SN=OPENSSL+GN=ÉLODIE",
            "8.99700888888@carte-cps.fr",
        ),
        (
            "adeli",
            "/C=FR/title=Infirmier/CN=0759876543+SN=OPENSSL+GN=NOÉ",
            "0.759876543@carte-cps.fr",
        ),
        (
            "staff",
            r"/C=FR/O=CH TEST/CN=3750000001\/AGENT42+SN=OPENSSL+GN=LÉA",
            "3.750000001/AGENT42@carte-cps.fr",
        ),
    ];
    for (name, subject, upn) in cases {
        let issued = openssl_card(
            &world,
            dir.path(),
            "fort-personnes",
            subject,
            &CardOpts::new(name, upn),
        );
        let card = verify_now(world.trust_config().unwrap(), &issued.der)
            .unwrap_or_else(|r| panic!("{name}: {r}"));
        let identity = card.identity;
        assert_eq!(identity.surname, "OPENSSL");
        assert_eq!(identity.upn.as_deref(), Some(upn));
        assert_eq!(identity.card_serial, "5EED01");
        match (name, identity.id_nat.kind()) {
            ("rpps", IdNatKind::Rpps) => assert_eq!(identity.given_name, "ÉLODIE"),
            ("adeli", IdNatKind::Adeli) => {
                assert_eq!(identity.profession.as_deref(), Some("Infirmier"))
            }
            (
                "staff",
                IdNatKind::Structure {
                    prefix: '3',
                    structure_id,
                    internal_id,
                },
            ) => {
                assert_eq!(
                    (structure_id.as_str(), internal_id.as_str()),
                    ("750000001", "AGENT42")
                );
            }
            (name, kind) => panic!("{name}: unexpected kind {kind:?}"),
        }
        assert!(issued.pem.exists());
    }
}

#[test]
fn openssl_made_cards_are_refused_for_each_certificate_fault() {
    let world = world();
    let dir = scratch();
    let good_subject = "/C=FR/title=Médecin/CN=899700888888+SN=OPENSSL+GN=ÉLODIE";
    let upn = "8.99700888888@carte-cps.fr";
    let cases: [(&str, &str, CardOpts<'_>, &str); 7] = [
        (
            "wrong_eku",
            good_subject,
            CardOpts {
                section: "server_eku",
                ..CardOpts::new("eku", upn)
            },
            "wrong_eku",
        ),
        (
            "no_eku",
            good_subject,
            CardOpts {
                section: "no_eku",
                ..CardOpts::new("noeku", upn)
            },
            "wrong_eku",
        ),
        (
            "ku",
            good_subject,
            CardOpts {
                section: "sign_only",
                ..CardOpts::new("ku", upn)
            },
            "wrong_key_usage",
        ),
        (
            "small",
            good_subject,
            CardOpts {
                bits: 1024,
                ..CardOpts::new("small", upn)
            },
            "key_too_small",
        ),
        (
            "no_cn",
            "/C=FR/SN=OPENSSL/GN=X",
            CardOpts::new("nocn", upn),
            "bad_identity",
        ),
        (
            "two_cn",
            "/C=FR/CN=899700888888/CN=899700888888+SN=A+GN=B",
            CardOpts::new("twocn", upn),
            "bad_identity",
        ),
        (
            "luhn",
            "/C=FR/CN=899700888886+SN=A+GN=B",
            CardOpts::new("luhn", "8.99700888886@carte-cps.fr"),
            "bad_identity",
        ),
    ];
    for (label, subject, opts, wanted) in cases {
        let issued = openssl_card(&world, dir.path(), "elementaire-personnes", subject, &opts);
        let verdict = verify_now(world.trust_config().unwrap(), &issued.der);
        assert_eq!(code(&verdict), wanted, "{label}: {verdict:?}");
        if let Err(Refusal::BadIdentity(reason)) = &verdict {
            let expected = match label {
                "no_cn" => matches!(reason, IdentityError::Missing("CN")),
                "two_cn" => matches!(reason, IdentityError::Repeated("CN")),
                _ => matches!(reason, IdentityError::BadIdNat(_)),
            };
            assert!(expected, "{label}: {reason}");
        }
    }
}

#[test]
fn openssl_made_cards_expire_and_foreign_cas_are_unknown() {
    let world = world();
    let dir = scratch();
    let subject = "/C=FR/title=Médecin/CN=899700888888+SN=OPENSSL+GN=ÉLODIE";
    let upn = "8.99700888888@carte-cps.fr";
    let short = openssl_card(
        &world,
        dir.path(),
        "standard-personnes",
        subject,
        &CardOpts {
            days: 1,
            ..CardOpts::new("short", upn)
        },
    );
    let later = UnixTime::since_unix_epoch(std::time::Duration::from_secs(
        secs(UnixTime::now()) + 2 * DAY,
    ));
    let verdict =
        verifier(world.trust_config().unwrap()).verify(&der(short.der.clone()), &[], later);
    assert_eq!(code(&verdict), "expired", "{verdict:?}");
    let before =
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(secs(UnixTime::now()) - DAY));
    let verdict = verifier(world.trust_config().unwrap()).verify(&der(short.der), &[], before);
    assert_eq!(code(&verdict), "not_yet_valid", "{verdict:?}");

    openssl(
        dir.path(),
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "rogue.key",
            "-out",
            "rogue.pem",
            "-subj",
            "/C=FR/O=ROGUE/CN=AC IGC-SANTE ELEMENTAIRE PERSONNES",
            "-days",
            "30",
        ],
    );
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "r.key",
            "-out",
            "r.csr",
            "-utf8",
            "-multivalue-rdn",
            "-subj",
            subject,
        ],
    );
    fs::write(dir.path().join("ext-r.cnf"), EXTENSIONS.replace("UPN", upn)).unwrap();
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "r.csr",
            "-CA",
            "rogue.pem",
            "-CAkey",
            "rogue.key",
            "-set_serial",
            "7",
            "-days",
            "30",
            "-extfile",
            "ext-r.cnf",
            "-extensions",
            "card",
            "-outform",
            "DER",
            "-out",
            "r.der",
        ],
    );
    let rogue = fs::read(dir.path().join("r.der")).unwrap();
    assert_eq!(
        code(&verify_now(world.trust_config().unwrap(), &rogue)),
        "unknown_issuer"
    );
}

#[test]
fn an_openssl_crl_revokes_an_openssl_card() {
    let world = world();
    let dir = scratch();
    let subject = "/C=FR/title=Pharmacien/CN=899700888888+SN=OPENSSL+GN=ÉLODIE";
    let issued = openssl_card(
        &world,
        dir.path(),
        "elementaire-personnes",
        subject,
        &CardOpts {
            serial: "0x0BADCAFE",
            ..CardOpts::new("rev", "8.99700888888@carte-cps.fr")
        },
    );
    let (ca_cert, ca_key) = ca_files(&world, "elementaire-personnes");
    let conf = "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\n\
                default_md = sha256\ndefault_crl_days = 7\n";
    fs::write(dir.path().join("ca.cnf"), conf).unwrap();
    fs::write(dir.path().join("index.txt"), "").unwrap();
    fs::write(dir.path().join("crlnumber"), "01\n").unwrap();
    let ca_args = [
        "-config",
        "ca.cnf",
        "-cert",
        ca_cert.to_str().unwrap(),
        "-keyfile",
        ca_key.to_str().unwrap(),
    ];
    let mut revoke = vec!["ca", "-revoke", issued.pem.to_str().unwrap()];
    revoke.extend(ca_args);
    openssl(dir.path(), &revoke);
    let mut gencrl = vec!["ca", "-gencrl", "-out", "el.crl"];
    gencrl.extend(ca_args);
    openssl(dir.path(), &gencrl);
    let crl_der = openssl(dir.path(), &["crl", "-in", "el.crl", "-outform", "DER"]);

    let mut config = world.trust_config().unwrap();
    assert_eq!(code(&verify_now(config.clone(), &issued.der)), "accepted");
    config.crls = vec![CertificateRevocationListDer::from(crl_der)];
    let verdict = verify_now(config, &issued.der);
    assert!(
        matches!(&verdict, Err(Refusal::Revoked { serial, .. }) if serial == "0BADCAFE"),
        "{verdict:?}"
    );
}

#[test]
fn an_openssl_made_ecdsa_card_is_refused_as_unsupported_key() {
    let world = world();
    let dir = scratch();
    let upn = "8.99700888888@carte-cps.fr";
    fs::write(
        dir.path().join("ext-ec.cnf"),
        EXTENSIONS.replace("UPN", upn),
    )
    .unwrap();
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "ec.key",
            "-out",
            "ec.csr",
            "-utf8",
            "-multivalue-rdn",
            "-subj",
            "/C=FR/CN=899700888888+SN=EC+GN=CARD",
        ],
    );
    let (ca_cert, ca_key) = ca_files(&world, "fort-personnes");
    openssl(
        dir.path(),
        &[
            "x509",
            "-req",
            "-in",
            "ec.csr",
            "-CA",
            ca_cert.to_str().unwrap(),
            "-CAkey",
            ca_key.to_str().unwrap(),
            "-set_serial",
            "9",
            "-days",
            "30",
            "-extfile",
            "ext-ec.cnf",
            "-extensions",
            "card",
            "-outform",
            "DER",
            "-out",
            "ec.der",
        ],
    );
    let ec = fs::read(dir.path().join("ec.der")).unwrap();
    let verdict = verify_now(world.trust_config().unwrap(), &ec);
    assert_eq!(code(&verdict), "unsupported_key", "{verdict:?}");
}

//! What the test world contains: the IGC-Santé-shaped CAs and the card holders, as tables.

use serde::{Deserialize, Serialize};

use crate::idnat::luhn_key;

/// Where a CA sits in the hierarchy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaRole {
    /// A trusted root (`trust/roots/`).
    Root,
    /// A trusted intermediate (`trust/intermediates/`).
    Intermediate,
    /// The unrelated root of `unknown-ca/`, trusted by nobody.
    Untrusted,
}

/// One CA of the world.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CaDef {
    /// File stem (`racine-elementaire`, `elementaire-personnes`, ...).
    pub stem: &'static str,
    /// Subject CN.
    pub cn: &'static str,
    /// Issuer's stem, `None` for a root.
    pub parent: Option<&'static str>,
    pub role: CaRole,
    /// Whether it issues cards and so publishes a CRL.
    pub personnes: bool,
    /// The name of its CRL at the (mocked) IGC-Santé site.
    pub crl_name: &'static str,
}

const fn ca(
    stem: &'static str,
    cn: &'static str,
    parent: Option<&'static str>,
    personnes: bool,
    crl_name: &'static str,
) -> CaDef {
    let role = if parent.is_some() {
        CaRole::Intermediate
    } else {
        CaRole::Root
    };
    CaDef {
        stem,
        cn,
        parent,
        role,
        personnes,
        crl_name,
    }
}

/// The IGC-Santé test hierarchy: three roots, their PERSONNES CAs, and the CA of server
/// certificates. Parents come before children.
pub(crate) const CAS: &[CaDef] = &[
    ca(
        "racine-elementaire",
        "TEST AC RACINE IGC-SANTE ELEMENTAIRE",
        None,
        false,
        "ACR-EL-TEST",
    ),
    ca(
        "racine-standard",
        "TEST AC RACINE IGC-SANTE STANDARD",
        None,
        false,
        "ACR-ST-TEST",
    ),
    ca(
        "racine-fort",
        "TEST AC RACINE IGC-SANTE FORT",
        None,
        false,
        "ACR-FO-TEST",
    ),
    ca(
        "elementaire-personnes",
        "TEST AC IGC-SANTE ELEMENTAIRE PERSONNES",
        Some("racine-elementaire"),
        true,
        "ACI-EL-PP-TEST",
    ),
    ca(
        "standard-personnes",
        "TEST AC IGC-SANTE STANDARD PERSONNES",
        Some("racine-standard"),
        true,
        "ACI-ST-PP-TEST",
    ),
    ca(
        "fort-personnes",
        "TEST AC IGC-SANTE FORT PERSONNES",
        Some("racine-fort"),
        true,
        "ACI-FO-PP-TEST",
    ),
    ca(
        "elementaire-organisations",
        "TEST AC IGC-SANTE ELEMENTAIRE ORGANISATIONS",
        Some("racine-elementaire"),
        false,
        "ACI-EL-ORG-TEST",
    ),
];

/// The unrelated root that signs the unknown-CA card.
pub(crate) const UNKNOWN_CA: CaDef = CaDef {
    stem: "unknown-ca",
    cn: "TEST AC RACINE HORS CONFIANCE",
    parent: None,
    role: CaRole::Untrusted,
    personnes: false,
    crl_name: "",
};

/// Card generation, which decides the emulator's personality and the validity length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Generation {
    /// IAS-ECC card, TLS 1.2 with PKCS#1 v1.5 only; certificates valid 3 years.
    Cps3,
    /// ChipDoc card, RSA-PSS capable; certificates valid 6 years.
    Cps4,
}

/// What the verifier should say about a card of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Expected {
    /// Admitted.
    Accepted,
    /// Refused: certificate expired.
    Expired,
    /// Refused: listed in its CA's CRL.
    Revoked,
    /// Refused: chains to no trusted root.
    UnknownCa,
}

/// One card holder of the world.
#[derive(Clone, Debug)]
pub(crate) struct CardDef {
    pub name: &'static str,
    pub generation: Generation,
    pub issuer: &'static str,
    pub surname: &'static str,
    pub given_name: &'static str,
    pub profession: Option<&'static str>,
    pub id_nat: String,
    pub expected: Expected,
    /// Establishment attributes of staff cards: O, OU, L.
    pub establishment: Option<(&'static str, &'static str, &'static str)>,
}

fn rpps(body: &str) -> String {
    format!("8{body}{}", luhn_key(body))
}

fn card(
    name: &'static str,
    generation: Generation,
    issuer: &'static str,
    (surname, given_name): (&'static str, &'static str),
    profession: Option<&'static str>,
    id_nat: String,
    expected: Expected,
) -> CardDef {
    CardDef {
        name,
        generation,
        issuer,
        surname,
        given_name,
        profession,
        id_nat,
        expected,
        establishment: None,
    }
}

/// The card holders. `cps4-doctor` and `cps3-doctor` are one person changing card generation.
pub(crate) fn cards() -> Vec<CardDef> {
    use Expected::*;
    use Generation::*;
    let doctor = rpps("9970012345");
    let mut staff = card(
        "cps4-staff",
        Cps4,
        "standard-personnes",
        ("TESTAGENT", "LUC"),
        None,
        "500000000029751/CPAT0001".to_owned(),
        Accepted,
    );
    staff.establishment = Some(("CH TEST", "300000000029751", "Paris (75)"));
    vec![
        card(
            "cps4-doctor",
            Cps4,
            "elementaire-personnes",
            ("TESTEUR", "JEANNE"),
            Some("Médecin"),
            doctor.clone(),
            Accepted,
        ),
        card(
            "cps3-doctor",
            Cps3,
            "standard-personnes",
            ("TESTEUR", "JEANNE"),
            Some("Médecin"),
            doctor,
            Accepted,
        ),
        card(
            "cps4-nurse",
            Cps4,
            "fort-personnes",
            ("SOIGNANT", "HÉLÈNE"),
            Some("Infirmier"),
            "0751234567".to_owned(),
            Accepted,
        ),
        card(
            "cps3-pharmacist",
            Cps3,
            "elementaire-personnes",
            ("PHARMATEST", "CAROLE"),
            Some("Pharmacien"),
            rpps("9970007512"),
            Accepted,
        ),
        staff,
        card(
            "cps4-expired",
            Cps4,
            "fort-personnes",
            ("ANCIEN", "MARC"),
            Some("Médecin"),
            rpps("9970055501"),
            Expired,
        ),
        card(
            "cps3-revoked",
            Cps3,
            "elementaire-personnes",
            ("REVOQUE", "ALICE"),
            Some("Sage-femme"),
            rpps("9970066602"),
            Revoked,
        ),
        card(
            "cps4-unknown-ca",
            Cps4,
            "unknown-ca",
            ("INCONNU", "BRUNO"),
            Some("Médecin"),
            rpps("9970077703"),
            UnknownCa,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::{IdNat, IdNatKind};

    #[test]
    fn card_table_matches_the_world_contract() {
        let cards = cards();
        let names: BTreeSet<_> = cards.iter().map(|c| c.name).collect();
        assert_eq!(names.len(), cards.len(), "card names are unique");
        let doctor = |name| {
            cards
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.id_nat.clone())
        };
        assert_eq!(doctor("cps4-doctor"), doctor("cps3-doctor"));
        let kinds: Vec<_> = cards
            .iter()
            .map(|c| IdNat::parse(&c.id_nat).map(|id| id.kind().clone()))
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(kinds.contains(&IdNatKind::Rpps) && kinds.contains(&IdNatKind::Adeli));
        assert!(
            kinds
                .iter()
                .any(|k| matches!(k, IdNatKind::Structure { .. }))
        );
        let accepted_issuers: BTreeSet<_> = cards
            .iter()
            .filter(|c| c.expected == Expected::Accepted)
            .map(|c| c.issuer)
            .collect();
        let personnes: BTreeSet<_> = CAS.iter().filter(|c| c.personnes).map(|c| c.stem).collect();
        assert_eq!(
            accepted_issuers, personnes,
            "accepted cards span the PERSONNES CAs"
        );
    }

    #[test]
    fn parents_come_before_children() {
        for (i, ca) in CAS.iter().enumerate() {
            if let Some(parent) = ca.parent {
                assert!(CAS[..i].iter().any(|p| p.stem == parent), "{}", ca.stem);
            }
        }
    }
}

//! `world.toml`: the index of a world, written by [`World::generate`](super::World::generate)
//! and read by tests and the lab to find cards and CAs without knowing the generator.

use serde::{Deserialize, Serialize};

use super::PkiError;
use super::generate::{Built, BuiltCard};
use super::spec::{CaRole, Expected, Generation};
use crate::{IdNat, IdNatKind};

/// `world.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorldIndex {
    /// The seed the world was made from.
    pub seed: u64,
    /// The generation time, seconds since the Unix epoch.
    pub generated_at: u64,
    /// Every CA, roots first.
    pub cas: Vec<CaEntry>,
    /// Every card identity.
    pub cards: Vec<CardEntry>,
}

/// One CA in `world.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaEntry {
    /// File stem, used by [`World::authority`](super::World::authority).
    pub stem: String,
    /// Subject CN.
    pub name: String,
    /// Root, intermediate or untrusted.
    pub role: CaRole,
    /// Certificate path relative to the world folder.
    pub certificate: String,
    /// Key path relative to the world folder.
    pub key: String,
    /// CRL path relative to the world folder, for PERSONNES CAs.
    pub crl: Option<String>,
}

/// One card identity in `world.toml`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardEntry {
    /// Folder name under `cards/`.
    pub name: String,
    /// Display name.
    pub holder: String,
    /// The idNat in the CN.
    pub id_nat: String,
    /// `rpps`, `adeli` or `structure`.
    pub kind: String,
    /// `cps3` or `cps4`.
    pub generation: Generation,
    /// Issuing CA's CN.
    pub issuer: String,
    /// Profession label, if any.
    pub profession: Option<String>,
    /// What the verifier should say.
    pub expected: Expected,
}

pub(crate) fn index_of(seed: u64, now: u64, built: &Built) -> Result<WorldIndex, PkiError> {
    let cas = built
        .cas
        .iter()
        .map(|ca| CaEntry {
            stem: ca.def.stem.to_owned(),
            name: ca.def.cn.to_owned(),
            role: ca.def.role,
            certificate: match ca.def.role {
                CaRole::Root => format!("trust/roots/{}.pem", ca.def.stem),
                _ => format!("trust/intermediates/{}.pem", ca.def.stem),
            },
            key: format!("ca-keys/{}.key.pem", ca.def.stem),
            crl: ca.crl.as_ref().map(|_| format!("crl/{}.crl", ca.def.stem)),
        })
        .collect();
    let cards = built
        .cards
        .iter()
        .map(|card| card_entry(card, built))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(WorldIndex {
        seed,
        generated_at: now,
        cas,
        cards,
    })
}

fn card_entry(card: &BuiltCard, built: &Built) -> Result<CardEntry, PkiError> {
    let id = IdNat::parse(&card.def.id_nat).map_err(|e| PkiError::Internal(e.to_string()))?;
    let kind = match id.kind() {
        IdNatKind::Rpps => "rpps",
        IdNatKind::Adeli => "adeli",
        IdNatKind::Structure { .. } => "structure",
        _ => "other",
    };
    let issuer = built
        .cas
        .iter()
        .chain([&built.unknown])
        .find(|c| c.def.stem == card.def.issuer)
        .map_or_else(String::new, |c| c.def.cn.to_owned());
    Ok(CardEntry {
        name: card.def.name.to_owned(),
        holder: format!("{} {}", card.def.given_name, card.def.surname),
        id_nat: card.def.id_nat.clone(),
        kind: kind.to_owned(),
        generation: card.def.generation,
        issuer,
        profession: card.def.profession.map(str::to_owned),
        expected: card.def.expected,
    })
}

//! The directory's part of admission: given a verified card identity at a time, is the person
//! known and working, is the card theirs, and which apps may they reach?
//!
//! The listeners and the TLS verification come later and call [`admit`] once the certificate
//! chain is valid. The answer is a typed [`Verdict`]; a refusal has a stable code for the audit
//! log and a hint the enrolment desk or helpdesk can act on.

use std::fmt;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use vigie_certs::IdNat;

use crate::apps::{PortRange, reachable};
use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::card::{CardRecord, CardRef, EnrolmentKind};
use crate::config::EnrolmentConfig;
use crate::directory::{Directory, DirectoryError};
use crate::person::{AccessBlock, Person};

/// What the TLS layer learnt from a verified card certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionRequest {
    /// The idNat from the certificate.
    pub id_nat: IdNat,
    /// The certificate's serial and issuer.
    pub card: CardRef,
}

/// An app the admitted person may reach, as the client will be told about it (never the
/// backend).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppAccess {
    /// The app's name.
    pub name: String,
    /// Its DNS name.
    pub dns_name: String,
    /// Its virtual address.
    pub virtual_address: Ipv4Addr,
    /// Its ports.
    pub ports: Vec<PortRange>,
}

/// An accepted admission.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The person, as the directory has them.
    pub person: Person,
    /// Their card's record.
    pub card: CardRecord,
    /// Whether the card was enrolled by this admission (enrol on first use).
    pub enrolled_now: bool,
    /// The apps they may reach, by name.
    pub apps: Vec<AppAccess>,
}

/// Why an admission is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No person with this idNat in the directory.
    UnknownPerson,
    /// The person is known but may not be admitted now.
    Person(AccessBlock),
    /// The card was never enrolled, and enrolment on first use is off.
    CardNotEnrolled,
    /// The card was revoked.
    CardRevoked {
        /// The reason given at revocation.
        reason: String,
    },
    /// The card is enrolled for another idNat than its certificate's.
    CardOfAnotherPerson,
    /// The person is admitted by HR but no app is granted to them.
    NoAppGranted,
}

impl Refusal {
    /// The stable reason code written in the audit log.
    pub fn code(&self) -> &'static str {
        match self {
            Self::UnknownPerson => "unknown-person",
            Self::Person(block) => block.code(),
            Self::CardNotEnrolled => "card-not-enrolled",
            Self::CardRevoked { .. } => "card-revoked",
            Self::CardOfAnotherPerson => "card-other-holder",
            Self::NoAppGranted => "no-app-granted",
        }
    }

    /// What the enrolment desk or helpdesk can do about it.
    pub fn desk_hint(&self) -> &'static str {
        match self {
            Self::UnknownPerson => {
                "the person is not in the HR export; ask HR to add them, then run \
                 `vigie-connector hr sync`"
            }
            Self::Person(AccessBlock::NotStarted(_)) => {
                "the person's start date is later; HR can correct it"
            }
            Self::Person(_) => "HR lists the person as not working here now; HR can correct it",
            Self::CardNotEnrolled => {
                "enrol the card: `vigie-connector card enrol --idnat IDNAT --cert FILE`"
            }
            Self::CardRevoked { .. } => "the card was revoked; enrol the person's new card",
            Self::CardOfAnotherPerson => {
                "the card is bound to someone else; check `vigie-connector card list`"
            }
            Self::NoAppGranted => {
                "grant an app to one of the person's groups or professions: \
                 `vigie-connector app grant`"
            }
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Person(block) => write!(f, "{} ({block}): {}", self.code(), self.desk_hint()),
            Self::CardRevoked { reason } => {
                write!(f, "card-revoked ({reason}): {}", self.desk_hint())
            }
            _ => write!(f, "{}: {}", self.code(), self.desk_hint()),
        }
    }
}

/// The answer to an admission request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Come in.
    Accepted(Admitted),
    /// Stay out, because…
    Refused(Refusal),
}

/// Decides an admission at `now`. With `on_first_use`, an unknown card whose idNat is an
/// active person's is enrolled as part of the decision.
pub fn admit(
    directory: &Directory,
    request: &AdmissionRequest,
    policy: EnrolmentConfig,
    now: DateTime<Utc>,
) -> Result<Verdict, DirectoryError> {
    let Some(person) = directory.person(&request.id_nat)? else {
        return Ok(Verdict::Refused(Refusal::UnknownPerson));
    };
    if let Err(block) = person.access(crate::person::hr_day(now)) {
        return Ok(Verdict::Refused(Refusal::Person(block)));
    }
    let (card, enrolled_now) = match directory.card(&request.card)? {
        Some(card) if card.id_nat != request.id_nat => {
            return Ok(Verdict::Refused(Refusal::CardOfAnotherPerson));
        }
        Some(CardRecord {
            revoked: Some(revocation),
            ..
        }) => {
            return Ok(Verdict::Refused(Refusal::CardRevoked {
                reason: revocation.reason,
            }));
        }
        Some(card) => (card, false),
        None if policy.on_first_use => (enrol_on_first_use(directory, request, now)?, true),
        None => return Ok(Verdict::Refused(Refusal::CardNotEnrolled)),
    };
    let published = directory.apps()?;
    let apps: Vec<AppAccess> = reachable(&person, &published)
        .into_iter()
        .map(|reach| AppAccess {
            name: reach.app.definition.name.clone(),
            dns_name: reach.app.definition.dns_name.clone(),
            virtual_address: reach.app.virtual_address,
            ports: reach.app.definition.ports.clone(),
        })
        .collect();
    if apps.is_empty() {
        return Ok(Verdict::Refused(Refusal::NoAppGranted));
    }
    Ok(Verdict::Accepted(Admitted {
        person,
        card,
        enrolled_now,
        apps,
    }))
}

fn enrol_on_first_use(
    directory: &Directory,
    request: &AdmissionRequest,
    now: DateTime<Utc>,
) -> Result<CardRecord, DirectoryError> {
    let record = CardRecord {
        card: request.card.clone(),
        id_nat: request.id_nat.clone(),
        enrolled_at: now,
        enrolled_by: Actor::Card(request.id_nat.to_string()).to_field(),
        how: EnrolmentKind::FirstUse,
        revoked: None,
    };
    directory.enrol_card(&record)?;
    Ok(record)
}

impl Verdict {
    /// The audit records for this verdict: the admission itself, preceded by the card's
    /// enrolment when it happened on first use.
    pub fn audit_events(&self, request: &AdmissionRequest) -> Vec<AuditEvent> {
        let actor = Actor::Card(request.id_nat.to_string());
        let base = |kind| {
            AuditEvent::new(kind, actor.clone())
                .field("id_nat", request.id_nat.as_str())
                .field("card_serial", request.card.serial())
                .field("card_issuer", request.card.issuer())
        };
        match self {
            Self::Accepted(admitted) => {
                let apps: Vec<&str> = admitted.apps.iter().map(|a| a.name.as_str()).collect();
                let accepted = base(AuditKind::AdmissionAccepted).field("apps", apps);
                if admitted.enrolled_now {
                    vec![
                        base(AuditKind::CardEnrolled)
                            .field("how", EnrolmentKind::FirstUse.as_str()),
                        accepted,
                    ]
                } else {
                    vec![accepted]
                }
            }
            Self::Refused(refusal) => vec![
                base(AuditKind::AdmissionRefused)
                    .field("reason", refusal.code())
                    .field("detail", refusal.to_string()),
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::apps::{AppDefinition, GrantTarget};
    use crate::hr::{HrImport, HrRecord, plan};
    use crate::person::PersonStatus;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn record(id_nat: &str, status: PersonStatus, start: Option<NaiveDate>) -> HrRecord {
        HrRecord {
            line: 2,
            id_nat: IdNat::parse(id_nat).unwrap(),
            surname: "Martin".into(),
            given_name: "Claire".into(),
            professions: vec!["Médecin".into()],
            groups: vec![],
            status,
            start_date: start,
            end_date: None,
        }
    }

    fn directory() -> Directory {
        let mut directory = Directory::open_in_memory().unwrap();
        let later = NaiveDate::from_ymd_opt(2099, 1, 1);
        let records = vec![
            record("0751234567", PersonStatus::Active, None),
            record("0751234568", PersonStatus::Suspended, None),
            record("0751234569", PersonStatus::Active, later),
        ];
        let plan = plan(
            HrImport {
                records,
                problems: vec![],
            },
            &[],
            now().date_naive(),
        )
        .unwrap();
        directory.apply_sync(&plan, "test", now()).unwrap();
        let app = AppDefinition {
            name: "dpi".into(),
            dns_name: "dpi.hopital.example".into(),
            ports: vec!["tcp/443".parse().unwrap()],
            backend: "198.18.10.1".into(),
        };
        directory
            .publish_app(&app, "100.80.0.0/16".parse().unwrap(), now())
            .unwrap();
        directory
            .grant_app("dpi", &GrantTarget::Profession("médecin".into()))
            .unwrap();
        directory
    }

    fn request(id_nat: &str, serial: &str) -> AdmissionRequest {
        AdmissionRequest {
            id_nat: IdNat::parse(id_nat).unwrap(),
            card: CardRef::new(serial, "CN=TEST AC IGC-SANTE FORT PERSONNES"),
        }
    }

    fn code(verdict: &Verdict) -> &'static str {
        match verdict {
            Verdict::Accepted(_) => "accepted",
            Verdict::Refused(refusal) => refusal.code(),
        }
    }

    #[test]
    fn people_are_checked_before_cards() {
        let directory = directory();
        let policy = EnrolmentConfig { on_first_use: true };
        let verdict = |id| code(&admit(&directory, &request(id, "01"), policy, now()).unwrap());
        assert_eq!(verdict("0751234560"), "unknown-person");
        assert_eq!(verdict("0751234568"), "person-suspended");
        assert_eq!(verdict("0751234569"), "person-not-started");
    }

    #[test]
    fn enrolment_on_first_use_follows_the_policy() {
        let directory = directory();
        let off = EnrolmentConfig {
            on_first_use: false,
        };
        let on = EnrolmentConfig { on_first_use: true };
        let claire = request("0751234567", "0A");
        assert_eq!(
            code(&admit(&directory, &claire, off, now()).unwrap()),
            "card-not-enrolled"
        );
        let Verdict::Accepted(admitted) = admit(&directory, &claire, on, now()).unwrap() else {
            panic!("refused")
        };
        assert!(admitted.enrolled_now);
        assert_eq!(
            admitted.apps[0].virtual_address,
            Ipv4Addr::new(100, 80, 0, 1)
        );
        assert_eq!(Verdict::Accepted(admitted).audit_events(&claire).len(), 2);
        let Verdict::Accepted(again) = admit(&directory, &claire, off, now()).unwrap() else {
            panic!("refused")
        };
        assert!(!again.enrolled_now);
        let thief = request("0751234569", "0A");
        assert_eq!(
            code(&admit(&directory, &thief, on, now() + chrono::Days::new(365 * 80)).unwrap()),
            "card-other-holder"
        );
    }
}

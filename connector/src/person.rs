//! People as the directory knows them, and whether they may be admitted today.

use std::fmt;

use chrono::{DateTime, Local, NaiveDate, Utc};
use vigie_certs::IdNat;

/// A person's HR status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PersonStatus {
    /// Working; may be admitted between their start and end dates.
    Active,
    /// Temporarily barred by HR.
    Suspended,
    /// Gone, or no longer in the HR export.
    Departed,
}

impl PersonStatus {
    /// The stable name stored in the directory and shown to admins.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Departed => "departed",
        }
    }

    /// The inverse of [`Self::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Active, Self::Suspended, Self::Departed]
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

/// A person in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Their national identifier, the key shared by all their cards.
    pub id_nat: IdNat,
    /// Surname.
    pub surname: String,
    /// Given name.
    pub given_name: String,
    /// Professions, as HR writes them (`Médecin`, `Infirmier`).
    pub professions: Vec<String>,
    /// Groups (departments, teams).
    pub groups: Vec<String>,
    /// HR status.
    pub status: PersonStatus,
    /// First day of work, if HR gave one.
    pub start_date: Option<NaiveDate>,
    /// Last day of work (inclusive), if HR gave one.
    pub end_date: Option<NaiveDate>,
}

/// Why a known person may not be admitted. Each has a stable code for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AccessBlock {
    /// HR suspended them.
    Suspended,
    /// HR lists them as departed, or they left the HR export.
    Departed,
    /// Their first day is later.
    NotStarted(NaiveDate),
    /// Their last day has passed.
    Ended(NaiveDate),
}

impl AccessBlock {
    /// The stable reason code.
    pub fn code(self) -> &'static str {
        match self {
            Self::Suspended => "person-suspended",
            Self::Departed => "person-departed",
            Self::NotStarted(_) => "person-not-started",
            Self::Ended(_) => "person-ended",
        }
    }
}

impl fmt::Display for AccessBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Suspended => f.write_str("suspended in HR"),
            Self::Departed => f.write_str("departed (or no longer in the HR export)"),
            Self::NotStarted(day) => write!(f, "starts on {day}"),
            Self::Ended(day) => write!(f, "last day was {day}"),
        }
    }
}

/// The hospital's day at `now`. HR writes dates as the hospital's own days, so they are
/// read in the machine's time zone (`/etc/localtime`, or `TZ`): a connector set to
/// Europe/Paris, or to Indian/Reunion overseas, lets a last working day end at local
/// midnight. A machine left on UTC reads them one or two hours off around midnight.
pub fn hr_day(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&Local).date_naive()
}

impl Person {
    /// Whether the person may be admitted on `today`, a day as [`hr_day`] gives it (dates
    /// are whole days: the start date and the end date both count as working days).
    pub fn access(&self, today: NaiveDate) -> Result<(), AccessBlock> {
        match self.status {
            PersonStatus::Suspended => return Err(AccessBlock::Suspended),
            PersonStatus::Departed => return Err(AccessBlock::Departed),
            PersonStatus::Active => {}
        }
        if let Some(start) = self.start_date.filter(|&start| today < start) {
            return Err(AccessBlock::NotStarted(start));
        }
        if let Some(end) = self.end_date.filter(|&end| today > end) {
            return Err(AccessBlock::Ended(end));
        }
        Ok(())
    }

    /// "Given Surname".
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name, self.surname)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn person(id_nat: &str) -> Person {
        Person {
            id_nat: IdNat::parse(id_nat).unwrap(),
            surname: "Martin".into(),
            given_name: "Claire".into(),
            professions: vec!["Médecin".into()],
            groups: vec!["urgences".into()],
            status: PersonStatus::Active,
            start_date: None,
            end_date: None,
        }
    }

    #[test]
    fn dates_are_inclusive_whole_days() {
        let day = |d| NaiveDate::from_ymd_opt(2027, 3, d).unwrap();
        let mut p = person("0751234567");
        p.start_date = Some(day(10));
        p.end_date = Some(day(20));
        assert_eq!(p.access(day(9)), Err(AccessBlock::NotStarted(day(10))));
        assert_eq!(p.access(day(10)), Ok(()));
        assert_eq!(p.access(day(20)), Ok(()));
        assert_eq!(p.access(day(21)), Err(AccessBlock::Ended(day(20))));
    }

    #[test]
    fn status_outranks_dates() {
        let mut p = person("0751234567");
        p.status = PersonStatus::Suspended;
        let today = NaiveDate::from_ymd_opt(2027, 3, 1).unwrap();
        assert_eq!(p.access(today).unwrap_err().code(), "person-suspended");
        assert_eq!(
            PersonStatus::from_name("departed"),
            Some(PersonStatus::Departed)
        );
    }
}

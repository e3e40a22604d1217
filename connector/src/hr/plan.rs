//! Comparing an HR export with the directory.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use vigie_certs::IdNat;

use super::{HrFileError, HrImport, RowProblem};
use crate::person::{AccessBlock, Person, PersonStatus};

/// What a sync changes. Built by [`plan`], shown by a dry run, applied by
/// [`crate::directory::Directory::apply_sync`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncPlan {
    /// People the directory did not know.
    pub added: Vec<Person>,
    /// People whose HR data changed.
    pub changed: Vec<PersonChange>,
    /// People the export no longer lists; they become departed.
    pub removed: Vec<PersonChange>,
    /// People listed with no change.
    pub unchanged: usize,
    /// People who had access before the sync and do not after it.
    pub withdrawn: Vec<Withdrawal>,
    /// Rows left out.
    pub problems: Vec<RowProblem>,
}

/// One person's data before and after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonChange {
    /// As the directory has it.
    pub before: Person,
    /// As it will be.
    pub after: Person,
    /// The names of the fields that differ.
    pub fields: Vec<&'static str>,
}

/// A person who loses access, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Withdrawal {
    /// Who.
    pub id_nat: IdNat,
    /// Why they may no longer be admitted.
    pub reason: AccessBlock,
}

impl SyncPlan {
    /// Refuses a plan that removes more than `percent` of the `current` (not departed) people:
    /// an export cut short must not lock out half the hospital. Up to 3 removals are always
    /// accepted, so small directories can shrink.
    pub fn check_removals(&self, current: usize, percent: u8) -> Result<(), HrFileError> {
        let removed = self.removed.len();
        if removed > 3 && removed * 100 > usize::from(percent) * current {
            return Err(HrFileError::TooManyRemoved {
                removed,
                current,
                percent,
            });
        }
        Ok(())
    }

    /// Whether applying the plan would change anything.
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.changed.is_empty() && self.removed.is_empty()
    }
}

/// Compares `import` with the people of the directory, as of `today`.
pub fn plan(
    import: HrImport,
    current: &[Person],
    today: NaiveDate,
) -> Result<SyncPlan, HrFileError> {
    if import.records.is_empty() {
        return Err(HrFileError::NoValidRows(import.problems.len()));
    }
    let known: HashMap<&IdNat, &Person> = current.iter().map(|p| (&p.id_nat, p)).collect();
    let mut plan = SyncPlan {
        added: Vec::new(),
        changed: Vec::new(),
        removed: Vec::new(),
        unchanged: 0,
        withdrawn: Vec::new(),
        problems: Vec::new(),
    };
    for record in &import.records {
        let after = record.to_person();
        match known.get(&record.id_nat) {
            None => plan.added.push(after),
            Some(before) => match differences(before, &after) {
                fields if fields.is_empty() => plan.unchanged += 1,
                fields => plan.changed.push(PersonChange {
                    before: (*before).clone(),
                    after,
                    fields,
                }),
            },
        }
    }
    let listed: HashSet<&IdNat> = import
        .records
        .iter()
        .map(|r| &r.id_nat)
        .chain(import.problems.iter().filter_map(|p| p.id_nat.as_ref()))
        .collect();
    for person in current
        .iter()
        .filter(|p| !listed.contains(&p.id_nat) && p.status != PersonStatus::Departed)
    {
        let after = Person {
            status: PersonStatus::Departed,
            ..person.clone()
        };
        plan.removed.push(PersonChange {
            before: person.clone(),
            after,
            fields: vec!["status"],
        });
    }
    plan.withdrawn = withdrawals(&plan, today);
    plan.problems = import.problems;
    Ok(plan)
}

fn differences(before: &Person, after: &Person) -> Vec<&'static str> {
    let checks = [
        ("surname", before.surname != after.surname),
        ("given_name", before.given_name != after.given_name),
        ("professions", before.professions != after.professions),
        ("groups", before.groups != after.groups),
        ("status", before.status != after.status),
        ("start_date", before.start_date != after.start_date),
        ("end_date", before.end_date != after.end_date),
    ];
    checks
        .into_iter()
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| name)
        .collect()
}

fn withdrawals(plan: &SyncPlan, today: NaiveDate) -> Vec<Withdrawal> {
    plan.changed
        .iter()
        .chain(&plan.removed)
        .filter(|c| c.before.access(today).is_ok())
        .filter_map(|c| {
            c.after.access(today).err().map(|reason| Withdrawal {
                id_nat: c.after.id_nat.clone(),
                reason,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hr::HrRecord;
    use crate::person::tests::person;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2027, 1, 15).unwrap()
    }

    fn people(count: u32) -> Vec<Person> {
        (0..count)
            .map(|i| person(&format!("07512{i:05}")))
            .collect()
    }

    fn import_of(people: &[Person]) -> HrImport {
        let records = people
            .iter()
            .map(|p| HrRecord {
                line: 2,
                id_nat: p.id_nat.clone(),
                surname: p.surname.clone(),
                given_name: p.given_name.clone(),
                professions: p.professions.clone(),
                groups: p.groups.clone(),
                status: p.status,
                start_date: p.start_date,
                end_date: p.end_date,
            })
            .collect();
        HrImport {
            records,
            problems: Vec::new(),
        }
    }

    #[test]
    fn a_short_export_is_held_back_by_the_removal_limit() {
        let current = people(20);
        let plan = plan(import_of(&current[..10]), &current, today()).unwrap();
        assert_eq!((plan.removed.len(), plan.unchanged), (10, 10));
        assert_eq!(plan.withdrawn.len(), 10);
        assert!(matches!(
            plan.check_removals(20, 20),
            Err(HrFileError::TooManyRemoved { removed: 10, .. })
        ));
        assert!(plan.check_removals(20, 50).is_ok());
        let small = super::plan(import_of(&current[..17]), &current, today()).unwrap();
        assert!(
            small.check_removals(20, 10).is_ok(),
            "3 removals are always accepted"
        );
    }

    #[test]
    fn an_export_without_good_rows_is_refused() {
        let current = people(2);
        let empty = HrImport::default();
        assert!(matches!(
            plan(empty, &current, today()),
            Err(HrFileError::NoValidRows(0))
        ));
    }
}

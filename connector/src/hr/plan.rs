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

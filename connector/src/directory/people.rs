//! People: reading them, and applying an HR sync plan.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, Transaction, params};
use vigie_certs::IdNat;

use super::{Directory, DirectoryError, parse_date, parse_id_nat, time_text};
use crate::hr::SyncPlan;
use crate::person::{Person, PersonStatus};

const SELECT: &str = "SELECT id_nat, surname, given_name, status, start_date, end_date FROM people";

impl Directory {
    /// Every person, ordered by idNat.
    pub fn people(&self) -> Result<Vec<Person>, DirectoryError> {
        let mut statement = self.conn.prepare(&format!("{SELECT} ORDER BY id_nat"))?;
        let rows = statement
            .query_map([], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(|row| self.complete(row)).collect()
    }

    /// The person with this idNat, if known.
    pub fn person(&self, id_nat: &IdNat) -> Result<Option<Person>, DirectoryError> {
        let sql = format!("{SELECT} WHERE id_nat = ?1");
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row([id_nat.as_str()], read_row)
            .optional()?;
        row.map(|row| self.complete(row)).transpose()
    }

    /// Applies an HR sync plan in one transaction and ends the live sessions of the people
    /// whose access it withdraws. Returns the ids of the sessions ended.
    pub fn apply_sync(
        &mut self,
        plan: &SyncPlan,
        source: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, DirectoryError> {
        let tx = self.conn.transaction()?;
        for person in plan
            .added
            .iter()
            .chain(plan.changed.iter().chain(&plan.removed).map(|c| &c.after))
        {
            write_person(&tx, person, now)?;
        }
        let mut ended = Vec::new();
        for withdrawal in &plan.withdrawn {
            ended.extend(super::sessions::end_for_person(
                &tx,
                &withdrawal.id_nat,
                withdrawal.reason.code(),
                now,
            )?);
        }
        tx.execute(
            "INSERT INTO hr_syncs (at, source, added, changed, removed, withdrawn, problems)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                time_text(now),
                source,
                plan.added.len(),
                plan.changed.len(),
                plan.removed.len(),
                plan.withdrawn.len(),
                plan.problems.len()
            ],
        )?;
        tx.commit()?;
        Ok(ended)
    }

    fn complete(&self, row: PersonRow) -> Result<Person, DirectoryError> {
        let list = |sql: &str| -> Result<Vec<String>, DirectoryError> {
            let mut statement = self.conn.prepare_cached(sql)?;
            let items = statement
                .query_map([&row.id_nat], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(items)
        };
        Ok(Person {
            professions: list(
                "SELECT profession FROM person_professions WHERE id_nat = ?1 ORDER BY profession",
            )?,
            groups: list(
                "SELECT group_name FROM person_groups WHERE id_nat = ?1 ORDER BY group_name",
            )?,
            id_nat: parse_id_nat(&row.id_nat)?,
            status: PersonStatus::from_name(&row.status)
                .ok_or_else(|| DirectoryError::Corrupt(format!("status {:?}", row.status)))?,
            start_date: parse_date(row.start_date)?,
            end_date: parse_date(row.end_date)?,
            surname: row.surname,
            given_name: row.given_name,
        })
    }
}

/// A `people` row before its lists are attached.
struct PersonRow {
    id_nat: String,
    surname: String,
    given_name: String,
    status: String,
    start_date: Option<String>,
    end_date: Option<String>,
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<PersonRow> {
    Ok(PersonRow {
        id_nat: row.get(0)?,
        surname: row.get(1)?,
        given_name: row.get(2)?,
        status: row.get(3)?,
        start_date: row.get(4)?,
        end_date: row.get(5)?,
    })
}

/// Inserts or replaces a person and their professions and groups.
pub(super) fn write_person(
    tx: &Transaction<'_>,
    person: &Person,
    now: DateTime<Utc>,
) -> Result<(), DirectoryError> {
    let id = person.id_nat.as_str();
    cached(
        tx,
        "INSERT INTO people (id_nat, surname, given_name, status, start_date, end_date, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (id_nat) DO UPDATE SET surname = ?2, given_name = ?3, status = ?4,
             start_date = ?5, end_date = ?6, updated_at = ?7",
        params![
            id,
            person.surname,
            person.given_name,
            person.status.as_str(),
            person.start_date.map(|d| d.to_string()),
            person.end_date.map(|d| d.to_string()),
            time_text(now)
        ],
    )?;
    cached(tx, "DELETE FROM person_professions WHERE id_nat = ?1", [id])?;
    cached(tx, "DELETE FROM person_groups WHERE id_nat = ?1", [id])?;
    for profession in &person.professions {
        cached(
            tx,
            "INSERT OR IGNORE INTO person_professions (id_nat, profession) VALUES (?1, ?2)",
            [id, profession],
        )?;
    }
    for group in &person.groups {
        cached(
            tx,
            "INSERT OR IGNORE INTO person_groups (id_nat, group_name) VALUES (?1, ?2)",
            [id, group],
        )?;
    }
    Ok(())
}

/// Runs a statement through the connection's statement cache (a sync writes thousands).
fn cached(
    tx: &Transaction<'_>,
    sql: &str,
    params: impl rusqlite::Params,
) -> rusqlite::Result<usize> {
    tx.prepare_cached(sql)?.execute(params)
}

#[cfg(test)]
mod tests {
    use chrono::NaiveDate;

    use super::*;
    use crate::hr::{HrImport, plan};
    use crate::person::tests::person;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn record_of(p: &Person, line: u64) -> crate::hr::HrRecord {
        crate::hr::HrRecord {
            line,
            id_nat: p.id_nat.clone(),
            surname: p.surname.clone(),
            given_name: p.given_name.clone(),
            professions: p.professions.clone(),
            groups: p.groups.clone(),
            status: p.status,
            start_date: p.start_date,
            end_date: p.end_date,
        }
    }

    #[test]
    fn a_sync_round_trips_people_and_withdraws_the_removed() {
        let mut directory = Directory::open_in_memory().unwrap();
        let today = now().date_naive();
        let mut claire = person("0751234567");
        claire.start_date = NaiveDate::from_ymd_opt(2020, 1, 1);
        let paul = Person {
            given_name: "Paul".into(),
            ..person("0751234568")
        };
        let import = HrImport {
            records: vec![record_of(&claire, 2), record_of(&paul, 3)],
            problems: vec![],
        };
        let first = plan(import, &directory.people().unwrap(), today).unwrap();
        assert_eq!(first.added.len(), 2);
        directory.apply_sync(&first, "test", now()).unwrap();
        assert_eq!(
            directory.person(&claire.id_nat).unwrap(),
            Some(claire.clone())
        );

        let import = HrImport {
            records: vec![record_of(&claire, 2)],
            problems: vec![],
        };
        let second = plan(import, &directory.people().unwrap(), today).unwrap();
        assert_eq!(second.removed.len(), 1);
        assert_eq!(second.withdrawn[0].id_nat, paul.id_nat);
        directory.apply_sync(&second, "test", now()).unwrap();
        let paul_now = directory.person(&paul.id_nat).unwrap().unwrap();
        assert_eq!(paul_now.status, PersonStatus::Departed);
    }
}

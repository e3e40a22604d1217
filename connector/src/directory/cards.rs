//! Cards: enrolment records and revocation.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Row, params};
use vigie_certs::IdNat;

use super::{Directory, DirectoryError, parse_id_nat, parse_time, time_text};
use crate::card::{CardRecord, CardRef, EnrolmentKind, Revocation};

const SELECT: &str = "SELECT serial, issuer, id_nat, enrolled_at, enrolled_by, enrolled_how,
                             revoked_at, revoked_by, revoke_reason FROM cards";

impl Directory {
    /// The record of a card, if it was ever enrolled.
    pub fn card(&self, card: &CardRef) -> Result<Option<CardRecord>, DirectoryError> {
        let sql = format!("{SELECT} WHERE serial = ?1 AND issuer = ?2");
        let row = self
            .conn
            .prepare_cached(&sql)?
            .query_row([card.serial(), card.issuer()], read_row)
            .optional()?;
        row.map(CardRow::into_record).transpose()
    }

    /// Every card, or one person's, ordered by holder then enrolment time.
    pub fn cards(&self, holder: Option<&IdNat>) -> Result<Vec<CardRecord>, DirectoryError> {
        let sql = format!("{SELECT} WHERE ?1 IS NULL OR id_nat = ?1 ORDER BY id_nat, enrolled_at");
        let mut statement = self.conn.prepare(&sql)?;
        let rows = statement
            .query_map([holder.map(IdNat::as_str)], read_row)?
            .collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(CardRow::into_record).collect()
    }

    /// Binds a card to its holder. Enrolling a card again for the same person is a no-op
    /// (returns `false`); a card held by someone else, or revoked, is refused.
    pub fn enrol_card(&self, record: &CardRecord) -> Result<bool, DirectoryError> {
        if self.person(&record.id_nat)?.is_none() {
            return Err(DirectoryError::UnknownPerson(record.id_nat.to_string()));
        }
        if let Some(existing) = self.card(&record.card)? {
            return match existing {
                CardRecord {
                    revoked: Some(_), ..
                } => Err(DirectoryError::CardRevoked {
                    serial: record.card.serial().to_owned(),
                    issuer: record.card.issuer().to_owned(),
                }),
                CardRecord { ref id_nat, .. } if *id_nat == record.id_nat => Ok(false),
                CardRecord { id_nat, .. } => Err(DirectoryError::CardTaken {
                    serial: record.card.serial().to_owned(),
                    issuer: record.card.issuer().to_owned(),
                    owner: id_nat.to_string(),
                }),
            };
        }
        self.conn.execute(
            "INSERT INTO cards
                 (serial, issuer, id_nat, status, enrolled_at, enrolled_by, enrolled_how)
             VALUES (?1, ?2, ?3, 'enrolled', ?4, ?5, ?6)",
            params![
                record.card.serial(),
                record.card.issuer(),
                record.id_nat.as_str(),
                time_text(record.enrolled_at),
                record.enrolled_by,
                record.how.as_str()
            ],
        )?;
        Ok(true)
    }

    /// Revokes a card and ends the live sessions opened with it. Returns the sessions ended,
    /// or `None` if the card is unknown. Revoking a revoked card changes nothing.
    pub fn revoke_card(
        &mut self,
        card: &CardRef,
        by: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<String>>, DirectoryError> {
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            "UPDATE cards
             SET status = 'revoked', revoked_at = ?3, revoked_by = ?4, revoke_reason = ?5
             WHERE serial = ?1 AND issuer = ?2 AND status = 'enrolled'",
            params![card.serial(), card.issuer(), time_text(now), by, reason],
        )?;
        let known: bool = tx.query_row(
            "SELECT count(*) > 0 FROM cards WHERE serial = ?1 AND issuer = ?2",
            [card.serial(), card.issuer()],
            |r| r.get(0),
        )?;
        let ended = if changed > 0 {
            super::sessions::end_for_card(&tx, card, "card-revoked", now)?
        } else {
            Vec::new()
        };
        tx.commit()?;
        Ok(known.then_some(ended))
    }
}

struct CardRow {
    serial: String,
    issuer: String,
    id_nat: String,
    enrolled_at: String,
    enrolled_by: String,
    how: String,
    revoked_at: Option<String>,
    revoked_by: Option<String>,
    reason: Option<String>,
}

fn read_row(row: &Row<'_>) -> rusqlite::Result<CardRow> {
    Ok(CardRow {
        serial: row.get(0)?,
        issuer: row.get(1)?,
        id_nat: row.get(2)?,
        enrolled_at: row.get(3)?,
        enrolled_by: row.get(4)?,
        how: row.get(5)?,
        revoked_at: row.get(6)?,
        revoked_by: row.get(7)?,
        reason: row.get(8)?,
    })
}

impl CardRow {
    fn into_record(self) -> Result<CardRecord, DirectoryError> {
        let how = match self.how.as_str() {
            "desk" => EnrolmentKind::Desk,
            "first-use" => EnrolmentKind::FirstUse,
            other => return Err(DirectoryError::Corrupt(format!("enrolment kind {other:?}"))),
        };
        let revoked = match self.revoked_at {
            Some(at) => Some(Revocation {
                at: parse_time(&at)?,
                by: self.revoked_by.unwrap_or_default(),
                reason: self.reason.unwrap_or_default(),
            }),
            None => None,
        };
        Ok(CardRecord {
            card: CardRef::new(&self.serial, &self.issuer),
            id_nat: parse_id_nat(&self.id_nat)?,
            enrolled_at: parse_time(&self.enrolled_at)?,
            enrolled_by: self.enrolled_by,
            how,
            revoked,
        })
    }
}

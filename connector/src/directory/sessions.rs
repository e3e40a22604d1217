//! Sessions as rows: started by the admission pipeline, ended when access is withdrawn.
//!
//! The live session state (tunnels, timers) belongs to the session layer; this table is what
//! survives a restart and what HR syncs and card revocations act on.

use std::net::Ipv4Addr;

use chrono::{DateTime, NaiveDate, Utc};
use rusqlite::{Connection, params};
use vigie_certs::IdNat;

use super::{Directory, DirectoryError, time_text};
use crate::card::CardRef;

/// A live session, as `vigie-connector session list` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveSessionRow {
    /// The session id (hex).
    pub id: String,
    /// The card holder's national identifier.
    pub id_nat: String,
    /// The card's certificate serial and issuer.
    pub card: CardRef,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
}

impl Directory {
    /// Every live session, oldest first.
    pub fn list_live_sessions(&self) -> Result<Vec<LiveSessionRow>, DirectoryError> {
        let mut statement = self.conn.prepare(
            "SELECT id, id_nat, card_serial, card_issuer, started_at FROM sessions
             WHERE ended_at IS NULL ORDER BY started_at, id",
        )?;
        let rows = statement
            .query_map([], |r| {
                Ok(LiveSessionRow {
                    id: r.get(0)?,
                    id_nat: r.get(1)?,
                    card: CardRef::new(&r.get::<_, String>(2)?, &r.get::<_, String>(3)?),
                    started_at: r.get(4)?,
                })
            })?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// Of the sessions `ids`, those the directory has ended, each with the reason written
    /// (`admin-kill`, `person-suspended`, `card-revoked`…). One lookup by key per id.
    pub fn ended_among(&self, ids: &[String]) -> Result<Vec<(String, String)>, DirectoryError> {
        let mut statement = self.conn.prepare_cached(
            "SELECT end_reason FROM sessions WHERE id = ?1 AND ended_at IS NOT NULL",
        )?;
        let mut ended = Vec::new();
        for id in ids {
            let reason: Option<Option<String>> = statement
                .query_row([id], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    other => Err(other),
                })?;
            if let Some(reason) = reason {
                ended.push((id.clone(), reason.unwrap_or_default()));
            }
        }
        Ok(ended)
    }

    /// A number that changes when another connection (another process: `session kill`,
    /// `hr sync`, `card revoke`) has committed a change to the database since this
    /// connection last asked; this connection's own changes leave it as it is (SQLite's
    /// `data_version`). Lets `serve` skip looking for withdrawn sessions when nobody else
    /// wrote.
    pub fn data_version(&self) -> Result<i64, DirectoryError> {
        let version = self
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        Ok(version)
    }

    /// Records a new live session, holding tunnel address `address`.
    pub fn start_session(
        &self,
        id: &str,
        id_nat: &IdNat,
        card: &CardRef,
        address: Ipv4Addr,
        now: DateTime<Utc>,
    ) -> Result<(), DirectoryError> {
        self.conn
            .prepare_cached(
                "INSERT INTO sessions (id, id_nat, card_serial, card_issuer, started_at,
                                   tunnel_address)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                id,
                id_nat.as_str(),
                card.serial(),
                card.issuer(),
                time_text(now),
                address.to_string()
            ])?;
        Ok(())
    }

    /// The live sessions with their tunnel address, for a connector that starts again: the
    /// sessions it was serving when it stopped. Rows without a usable address are left out.
    pub fn sessions_to_restore(&self) -> Result<Vec<(LiveSessionRow, Ipv4Addr)>, DirectoryError> {
        let live = self.list_live_sessions()?;
        let mut statement = self
            .conn
            .prepare_cached("SELECT tunnel_address FROM sessions WHERE id = ?1")?;
        let mut restored = Vec::new();
        for row in live {
            let address: Option<String> = statement.query_row([&row.id], |r| r.get(0))?;
            if let Some(address) = address.and_then(|a| a.parse().ok()) {
                restored.push((row, address));
            }
        }
        Ok(restored)
    }

    /// The ids of a person's live sessions.
    pub fn live_sessions(&self, id_nat: &IdNat) -> Result<Vec<String>, DirectoryError> {
        let mut statement = self.conn.prepare(
            "SELECT id FROM sessions WHERE id_nat = ?1 AND ended_at IS NULL ORDER BY id",
        )?;
        let ids = statement
            .query_map([id_nat.as_str()], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Ends one live session with `reason`; false if it was not live (already ended, or
    /// unknown).
    pub fn end_session(
        &self,
        id: &str,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DirectoryError> {
        let changed = self
            .conn
            .prepare_cached(
                "UPDATE sessions SET ended_at = ?2, end_reason = ?3
                 WHERE id = ?1 AND ended_at IS NULL",
            )?
            .execute(params![id, time_text(now), reason])?;
        Ok(changed == 1)
    }

    /// Ends the live sessions of the people whose last working day (HR's end date, which
    /// counts as a working day) is before `today`, with the reason `person-ended`; returns
    /// their ids. The date passing is enough: no new HR export is needed.
    pub fn end_sessions_past_last_day(
        &self,
        today: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, DirectoryError> {
        let mut statement = self.conn.prepare_cached(
            "UPDATE sessions SET ended_at = ?2, end_reason = 'person-ended'
             WHERE ended_at IS NULL AND id_nat IN
                 (SELECT id_nat FROM people WHERE end_date IS NOT NULL AND end_date < ?1)
             RETURNING id",
        )?;
        let ids = statement
            .query_map(params![today.to_string(), time_text(now)], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Ends every live session with `reason`; returns their ids.
    pub fn end_all_sessions(
        &self,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, DirectoryError> {
        let mut statement = self.conn.prepare_cached(
            "UPDATE sessions SET ended_at = ?1, end_reason = ?2
             WHERE ended_at IS NULL RETURNING id",
        )?;
        let ids = statement
            .query_map(params![time_text(now), reason], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        Ok(ids)
    }

    /// Ends a person's live sessions with `reason`; returns their ids.
    pub fn end_sessions_of_person(
        &self,
        id_nat: &IdNat,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, DirectoryError> {
        end_for_person(&self.conn, id_nat, reason, now)
    }
}

/// Ends a person's live sessions; returns their ids.
pub(super) fn end_for_person(
    conn: &Connection,
    id_nat: &IdNat,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DirectoryError> {
    let mut statement = conn.prepare_cached(
        "UPDATE sessions SET ended_at = ?2, end_reason = ?3
         WHERE id_nat = ?1 AND ended_at IS NULL RETURNING id",
    )?;
    let ids = statement
        .query_map(params![id_nat.as_str(), time_text(now), reason], |r| {
            r.get(0)
        })?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Ends the live sessions opened with one card; returns their ids.
pub(super) fn end_for_card(
    conn: &Connection,
    card: &CardRef,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, DirectoryError> {
    let mut statement = conn.prepare_cached(
        "UPDATE sessions SET ended_at = ?3, end_reason = ?4
         WHERE card_serial = ?1 AND card_issuer = ?2 AND ended_at IS NULL RETURNING id",
    )?;
    let ids = statement
        .query_map(
            params![card.serial(), card.issuer(), time_text(now), reason],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ending_one_session_leaves_the_others_live() {
        let dir = tempfile::tempdir().unwrap();
        let directory = Directory::open(&dir.path().join("connector.db")).unwrap();
        let id_nat = IdNat::parse("0751234567").unwrap();
        directory
            .conn
            .execute(
                "INSERT INTO people (id_nat, surname, given_name, status, updated_at)
                 VALUES (?1, 'TESTEUR', 'JEANNE', 'active', '2026-01-01T00:00:00Z')",
                [id_nat.as_str()],
            )
            .unwrap();
        let card = CardRef::new("01", "CN=TEST");
        let now = Utc::now();
        let address = Ipv4Addr::new(100, 96, 0, 2);
        directory
            .start_session("aa", &id_nat, &card, address, now)
            .unwrap();
        directory
            .start_session("bb", &id_nat, &card, address, now)
            .unwrap();
        let restored = directory.sessions_to_restore().unwrap();
        assert_eq!(restored.len(), 2);
        assert_eq!(restored[0].1, address);

        assert_eq!(directory.list_live_sessions().unwrap().len(), 2);
        assert!(directory.end_session("aa", "client quit", now).unwrap());
        let ended = directory.ended_among(&["aa".into(), "bb".into(), "zz".into()]);
        assert_eq!(ended.unwrap(), vec![("aa".into(), "client quit".into())]);
        let live = directory.list_live_sessions().unwrap();
        assert_eq!(live.len(), 1);
        assert_eq!(
            (live[0].id.as_str(), live[0].id_nat.as_str()),
            ("bb", "0751234567")
        );
        assert!(!directory.end_session("aa", "client quit", now).unwrap());
        assert!(!directory.end_session("zz", "client quit", now).unwrap());
        assert_eq!(
            directory.live_sessions(&id_nat).unwrap(),
            vec!["bb".to_owned()]
        );
        let before = directory.data_version().unwrap();
        directory.end_session("bb", "client quit", now).unwrap();
        assert_eq!(directory.data_version().unwrap(), before, "its own changes");
        directory
            .start_session("cc", &id_nat, &card, address, now)
            .unwrap();
        let other = Directory::open(&dir.path().join("connector.db")).unwrap();
        other.end_session("cc", "admin-kill", now).unwrap();
        assert_ne!(
            directory.data_version().unwrap(),
            before,
            "another's change"
        );
    }

    #[test]
    fn only_the_sessions_of_people_past_their_last_day_end_when_the_day_passes() {
        let dir = tempfile::tempdir().unwrap();
        let directory = Directory::open(&dir.path().join("connector.db")).unwrap();
        let today = NaiveDate::from_ymd_opt(2026, 12, 4).unwrap();
        let people = [
            ("0751234567", Some("2026-12-03")),
            ("0751234568", Some("2026-12-04")),
            ("0751234569", None),
        ];
        let now = Utc::now();
        let card = CardRef::new("01", "CN=TEST");
        for (n, (id_nat, end)) in people.into_iter().enumerate() {
            directory
                .conn
                .execute(
                    "INSERT INTO people (id_nat, surname, given_name, status, end_date, updated_at)
                     VALUES (?1, 'TESTEUR', 'JEANNE', 'active', ?2, '2026-01-01T00:00:00Z')",
                    params![id_nat, end],
                )
                .unwrap();
            let id_nat = IdNat::parse(id_nat).unwrap();
            let address = Ipv4Addr::new(100, 96, 0, 2 + u8::try_from(n).unwrap());
            directory
                .start_session(&format!("s{n}"), &id_nat, &card, address, now)
                .unwrap();
        }
        let ended = directory.end_sessions_past_last_day(today, now).unwrap();
        assert_eq!(ended, ["s0"], "the last day counts as a working day");
        let rows = directory.ended_among(&["s0".into(), "s1".into(), "s2".into()]);
        assert_eq!(rows.unwrap(), [("s0".into(), "person-ended".into())]);
        let tomorrow = today.succ_opt().unwrap();
        let ended = directory.end_sessions_past_last_day(tomorrow, now).unwrap();
        assert_eq!(ended, ["s1"], "ended once each");
    }
}

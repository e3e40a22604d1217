//! The directory: the connector's embedded SQLite database, and all of its SQL.
//!
//! One file (WAL mode, foreign keys on) holds people from HR, their cards, published apps with
//! their grants and stable virtual addresses, sessions, and a record of HR syncs. The schema
//! comes from numbered migrations built into the binary ([`migrations`]). The rest of the crate
//! sees typed rows only: [`Person`](crate::person::Person),
//! [`CardRecord`](crate::card::CardRecord), [`PublishedApp`](crate::apps::PublishedApp).
//!
//! Times are passed in by the caller; nothing here reads the clock.

mod apps;
pub use apps::{ConfigChange, Published};
mod cards;
pub mod migrations;
mod people;
mod sessions;
pub use sessions::LiveSessionRow;

use std::path::{Path, PathBuf};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use rusqlite::Connection;

/// Why the directory could not answer or change. `Database`, `Open` and `TooNew` are local
/// problems (disk, permissions, versions); the others are an admin's request that does not fit
/// what the directory holds.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The database file cannot be opened or created.
    #[error(
        "cannot open the directory database {path}: {source}; check [directory] path and \
             that the connector's user may write to its folder"
    )]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: rusqlite::Error,
    },
    /// A query failed.
    #[error("directory database error: {0}")]
    Database(#[from] rusqlite::Error),
    /// The database was written by a newer connector.
    #[error(
        "the directory database has schema version {found}, newer than this connector \
             ({supported}); run the newer connector or restore a backup"
    )]
    TooNew {
        /// In the file.
        found: u32,
        /// Known to this build.
        supported: u32,
    },
    /// A stored value cannot be read back.
    #[error("the directory database holds an unreadable value ({0}); restore a backup")]
    Corrupt(String),
    /// No person with this idNat.
    #[error(
        "no person with idNat {0} in the directory; run `vigie-connector hr sync` or check \
             the idNat"
    )]
    UnknownPerson(String),
    /// No app with this name.
    #[error("no published app named {0:?}; see `vigie-connector app list`")]
    UnknownApp(String),
    /// An app's name or DNS name is already used, or it belongs to the configuration file.
    #[error("{0}")]
    AppConflict(String),
    /// The card is already bound to someone else.
    #[error(
        "card {serial} from {issuer} is already enrolled for {owner}; revoke it first if \
             it changed hands"
    )]
    CardTaken {
        /// Its serial.
        serial: String,
        /// Its issuer.
        issuer: String,
        /// Its holder's idNat.
        owner: String,
    },
    /// The card was revoked; it cannot be enrolled again.
    #[error(
        "card {serial} from {issuer} was revoked; a revoked card cannot be enrolled again, \
             enrol the holder's new card"
    )]
    CardRevoked {
        /// Its serial.
        serial: String,
        /// Its issuer.
        issuer: String,
    },
    /// The app range has no free address left.
    #[error("no free virtual address left in {0}; widen [addresses] apps")]
    RangeFull(String),
}

/// The directory database.
#[derive(Debug)]
pub struct Directory {
    conn: Connection,
    /// The published apps as last read, with the database's `data_version` then; used while
    /// no other connection has written since and this one has not changed an app.
    apps_read: std::cell::RefCell<Option<(i64, Vec<crate::apps::PublishedApp>)>>,
}

impl Directory {
    /// Opens (creating it and its folder if needed) the database at `path` and brings its
    /// schema up to date.
    pub fn open(path: &Path) -> Result<Self, DirectoryError> {
        let open_error = |source| DirectoryError::Open {
            path: path.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| open_error(io_to_sqlite(e)))?;
        }
        let conn = Connection::open(path).map_err(open_error)?;
        Self::setup(conn)
    }

    /// A directory in memory, for tests and dry runs of tools.
    pub fn open_in_memory() -> Result<Self, DirectoryError> {
        Self::setup(Connection::open_in_memory()?)
    }

    fn setup(mut conn: Connection) -> Result<Self, DirectoryError> {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::migrate(&mut conn)?;
        Ok(Self {
            conn,
            apps_read: std::cell::RefCell::new(None),
        })
    }

    /// Commits of this connection stop waiting for the disk (SQLite's `synchronous =
    /// NORMAL` in WAL mode); `serve` asks for it, so that admissions do not queue behind one
    /// `fsync` each for the session rows they write. A committed change still survives the
    /// connector crashing or being killed; a power cut or an operating-system crash may lose
    /// the last commits before the next checkpoint (never the database's consistency). What
    /// must last is in the audit log, which syncs every record before anyone is told.
    /// Changes made by the admin commands (HR sync, card revocation, kills) use their own
    /// connection and keep waiting for the disk.
    pub fn commit_without_waiting_for_disk(&self) -> Result<(), DirectoryError> {
        self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        Ok(())
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, DirectoryError> {
        migrations::version(&self.conn)
    }
}

fn io_to_sqlite(error: std::io::Error) -> rusqlite::Error {
    rusqlite::Error::ToSqlConversionFailure(Box::new(error))
}

/// The stored form of a time.
fn time_text(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, DirectoryError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| DirectoryError::Corrupt(format!("time {text:?}")))
}

fn parse_date(text: Option<String>) -> Result<Option<NaiveDate>, DirectoryError> {
    text.map(|t| {
        t.parse()
            .map_err(|_| DirectoryError::Corrupt(format!("date {t:?}")))
    })
    .transpose()
}

fn parse_id_nat(text: &str) -> Result<vigie_certs::IdNat, DirectoryError> {
    vigie_certs::IdNat::parse(text).map_err(|_| DirectoryError::Corrupt(format!("idNat {text:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_gets_the_current_schema_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/connector.db");
        let directory = Directory::open(&path).unwrap();
        assert_eq!(
            directory.schema_version().unwrap(),
            migrations::SCHEMA_VERSION
        );
        drop(directory);
        let directory = Directory::open(&path).unwrap();
        assert_eq!(
            directory.schema_version().unwrap(),
            migrations::SCHEMA_VERSION
        );
        let mode: String = directory
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let synchronous = |d: &Directory| -> i64 {
            d.conn
                .query_row("PRAGMA synchronous", [], |r| r.get(0))
                .unwrap()
        };
        assert_eq!(
            synchronous(&directory),
            2,
            "FULL: commits wait for the disk"
        );
        directory.commit_without_waiting_for_disk().unwrap();
        assert_eq!(
            synchronous(&directory),
            1,
            "NORMAL, for serve's session rows"
        );
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connector.db");
        let directory = Directory::open(&path).unwrap();
        directory
            .conn
            .execute("UPDATE schema_version SET version = 99", [])
            .unwrap();
        drop(directory);
        assert!(matches!(
            Directory::open(&path),
            Err(DirectoryError::TooNew { found: 99, .. })
        ));
    }
}

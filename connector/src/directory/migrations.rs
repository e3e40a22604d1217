//! Numbered schema migrations, applied in order, each in its own transaction together with
//! the `schema_version` row that records it.

use rusqlite::{Connection, OptionalExtension};

use super::DirectoryError;

/// Every migration, in order; the number is the schema version it brings the database to.
const MIGRATIONS: &[(u32, &str)] = &[
    (1, include_str!("migrations/0001_initial.sql")),
    (2, include_str!("migrations/0002_session_address.sql")),
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = 2;

/// Brings the database up to [`SCHEMA_VERSION`]; refuses one written by a newer build.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), DirectoryError> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL) STRICT",
    )?;
    let current = version(conn)?;
    if current > SCHEMA_VERSION {
        return Err(DirectoryError::TooNew {
            found: current,
            supported: SCHEMA_VERSION,
        });
    }
    for &(number, sql) in MIGRATIONS.iter().filter(|(n, _)| *n > current) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute("INSERT INTO schema_version (version) VALUES (?1)", [number])?;
        tx.commit()?;
        tracing::info!(version = number, "directory schema migrated");
    }
    Ok(())
}

/// The schema version recorded in the database (0 for a new one).
pub(super) fn version(conn: &Connection) -> Result<u32, DirectoryError> {
    let version = conn
        .query_row("SELECT max(version) FROM schema_version", [], |row| {
            row.get::<_, Option<u32>>(0)
        })
        .optional()?;
    Ok(version.flatten().unwrap_or(0))
}

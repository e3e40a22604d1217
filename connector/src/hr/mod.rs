//! HR synchronisation: who works here, read from the HR system's CSV export.
//!
//! A sync reads the export ([`parse_csv`]), compares it with the directory ([`plan`]) and,
//! unless it is a dry run, applies the plan in one transaction
//! ([`crate::directory::Directory::apply_sync`]). What HR says wins for the people it lists;
//! a person the directory knows and the export no longer lists becomes departed.
//!
//! A bad import loses nothing: rows with an invalid idNat, a bad date or status, a wrong
//! number of fields, or an idNat that appears twice are reported with their line and left
//! out, and the people they name keep what the directory had for them (they are not treated
//! as removed). An export with no usable row at all is refused as a whole.
//!
//! The plan lists the people whose access is withdrawn by the sync (suspended, departed,
//! removed, or past their last day), so the session layer can end their live sessions.

mod config;
mod csv;
pub mod ldap;
mod plan;

use std::fmt;

use vigie_certs::IdNat;
use vigie_certs::idnat::IdNatError;

pub use self::csv::parse_csv;
pub use config::{HrColumns, HrCsvConfig, StatusValues};
pub use plan::{PersonChange, SyncPlan, Withdrawal, plan};

use crate::person::{Person, PersonStatus};

/// One good row of the export, or one good entry of the LDAP directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HrRecord {
    /// The line the row starts on (the header is line 1); for a directory entry, its position
    /// in the search results.
    pub line: u64,
    /// The person's idNat.
    pub id_nat: IdNat,
    /// Surname.
    pub surname: String,
    /// Given name.
    pub given_name: String,
    /// Professions, sorted, without duplicates.
    pub professions: Vec<String>,
    /// Groups, sorted, without duplicates.
    pub groups: Vec<String>,
    /// HR status.
    pub status: PersonStatus,
    /// First day of work.
    pub start_date: Option<chrono::NaiveDate>,
    /// Last day of work.
    pub end_date: Option<chrono::NaiveDate>,
}

impl HrRecord {
    /// The person this row describes.
    pub fn to_person(&self) -> Person {
        Person {
            id_nat: self.id_nat.clone(),
            surname: self.surname.clone(),
            given_name: self.given_name.clone(),
            professions: self.professions.clone(),
            groups: self.groups.clone(),
            status: self.status,
            start_date: self.start_date,
            end_date: self.end_date,
        }
    }
}

/// A parsed export: the good rows and what was wrong with the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HrImport {
    /// Rows that will be applied.
    pub records: Vec<HrRecord>,
    /// Rows left out (and unmapped columns, on line 1), in line order.
    pub problems: Vec<RowProblem>,
}

/// Where a problem was found, for the admin to look it up.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Origin {
    /// A line of the CSV export (the header is line 1).
    Line(u64),
    /// An LDAP entry, by its DN.
    Entry(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Line(line) => write!(f, "line {line}"),
            Self::Entry(dn) => write!(f, "entry {dn}"),
        }
    }
}

/// A row (or LDAP entry) left out of the sync, or a header column that is not mapped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowProblem {
    /// The line in the file, or the entry in the directory.
    pub origin: Origin,
    /// The row's idNat, when it could be read.
    pub id_nat: Option<IdNat>,
    /// What is wrong.
    pub kind: RowProblemKind,
}

/// What is wrong with a row.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RowProblemKind {
    /// A header column that is neither mapped nor listed in `ignored_columns`.
    UnknownColumn(String),
    /// The row has more or fewer fields than the header.
    FieldCount {
        /// Fields in the header.
        expected: usize,
        /// Fields in the row.
        found: usize,
    },
    /// The CSV reader could not read the row (an unclosed quote, for example).
    Unreadable(String),
    /// A field is not UTF-8.
    NotUtf8,
    /// The idNat is not valid.
    BadIdNat(String, IdNatError),
    /// A required field is empty.
    Missing(&'static str),
    /// A date does not match the configured format.
    BadDate {
        /// Which date.
        field: &'static str,
        /// As written.
        value: String,
        /// The configured format.
        format: String,
    },
    /// A status value that is not in `status_values`.
    BadStatus(String),
    /// The end date is before the start date.
    EndsBeforeStart,
    /// The idNat appears on several rows; none of them is applied.
    Duplicate {
        /// The first line it appears on.
        first_line: u64,
        /// How many rows carry it.
        count: usize,
    },
    /// The idNat appears on several LDAP entries; none of them is applied.
    DuplicateEntry {
        /// The DN of the first entry that carries it.
        first_dn: String,
        /// How many entries carry it.
        count: usize,
    },
    /// An LDAP attribute that must hold one value holds several.
    MultipleValues {
        /// The attribute.
        attribute: String,
        /// How many values it holds.
        count: usize,
    },
    /// Active Directory's `userAccountControl` is not a number.
    BadAccountControl(String),
}

impl RowProblem {
    /// Whether the problem left a row or entry out (rather than naming an unmapped column).
    pub fn leaves_out_a_record(&self) -> bool {
        !matches!(self.kind, RowProblemKind::UnknownColumn(_))
    }
}

impl fmt::Display for RowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.origin)?;
        if let Some(id_nat) = &self.id_nat {
            write!(f, "idNat {id_nat}: ")?;
        }
        match &self.kind {
            RowProblemKind::UnknownColumn(name) => write!(
                f,
                "column {name:?} is not mapped; it is ignored (map it in [hr.csv.columns] \
                 or list it in ignored_columns)"
            ),
            RowProblemKind::FieldCount { expected, found } => write!(
                f,
                "{found} fields where the header has {expected}; row left out"
            ),
            RowProblemKind::Unreadable(why) => write!(f, "unreadable row ({why}); row left out"),
            RowProblemKind::NotUtf8 => {
                f.write_str("a field is not UTF-8; export the file as UTF-8")
            }
            RowProblemKind::BadIdNat(text, why) => {
                write!(f, "invalid idNat {text:?}: {why}; row left out")
            }
            RowProblemKind::Missing(field) => write!(f, "the {field} is empty; row left out"),
            RowProblemKind::BadDate {
                field,
                value,
                format,
            } => write!(
                f,
                "the {field} {value:?} does not match the format {format:?}; row left out"
            ),
            RowProblemKind::BadStatus(value) => {
                let section = match self.origin {
                    Origin::Line(_) => "hr.csv",
                    Origin::Entry(_) => "hr.ldap",
                };
                write!(
                    f,
                    "status {value:?} is not in [{section}.status_values]; row left out"
                )
            }
            RowProblemKind::EndsBeforeStart => {
                f.write_str("the end date is before the start date; row left out")
            }
            RowProblemKind::Duplicate { first_line, count } => write!(
                f,
                "the idNat appears on {count} rows (first on line {first_line}); all of \
                 them are left out and the directory keeps what it had"
            ),
            RowProblemKind::DuplicateEntry { first_dn, count } => write!(
                f,
                "the idNat appears on {count} entries (first on {first_dn}); all of them are \
                 left out and the directory keeps what it had"
            ),
            RowProblemKind::MultipleValues { attribute, count } => write!(
                f,
                "attribute {attribute} holds {count} values where one is expected; entry left out"
            ),
            RowProblemKind::BadAccountControl(value) => write!(
                f,
                "userAccountControl {value:?} is not a number; entry left out"
            ),
        }
    }
}

/// Why an export cannot be used at all. Nothing is changed in the directory.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HrFileError {
    /// The file cannot be read.
    #[error(
        "cannot read the HR export {path}: {source}; check [hr.csv] path and the file's permissions"
    )]
    Unreadable {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is empty.
    #[error("the HR export is empty; nothing was changed")]
    Empty,
    /// The header row cannot be read.
    #[error("the HR export's header cannot be read ({0}); nothing was changed")]
    Header(String),
    /// A required column is not in the header.
    #[error(
        "the HR export has no column {0:?}; check [hr.csv.columns] against the \
             export's header; nothing was changed"
    )]
    MissingColumn(String),
    /// Not a single row could be used.
    #[error("no row of the HR export could be used ({0} rows had problems); nothing was changed")]
    NoValidRows(usize),
    /// The export would remove more people than `max_removed_percent` allows.
    #[error(
        "the HR export would remove {removed} of the {current} people in the directory, more \
         than max_removed_percent ({percent}%) allows; check that the export is complete, then \
         run again with --accept-removals if it is right; nothing was changed"
    )]
    TooManyRemoved {
        /// People the sync would remove.
        removed: usize,
        /// People in the directory who are not departed.
        current: usize,
        /// The configured limit.
        percent: u8,
    },
}

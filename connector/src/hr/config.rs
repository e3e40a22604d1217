//! `[hr.csv]`: how to read the HR system's CSV export.

use std::fmt::Write as _;
use std::path::PathBuf;

use serde::Deserialize;

/// How to read the HR export.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrCsvConfig {
    /// The export file.
    pub path: PathBuf,
    /// The field separator, one character (`;` by default, as French spreadsheets write).
    #[serde(default = "default_delimiter")]
    pub delimiter: char,
    /// The separator between several groups or professions in one cell (`|` by default).
    #[serde(default = "default_list_separator")]
    pub list_separator: char,
    /// How dates are written, strftime-style (`%Y-%m-%d` by default; `%d/%m/%Y` is common).
    #[serde(default = "default_date_format")]
    pub date_format: String,
    /// Which column holds which field.
    #[serde(default)]
    pub columns: HrColumns,
    /// Which values of the status column mean what.
    #[serde(default)]
    pub status_values: StatusValues,
    /// Columns of the export that are expected and not used; any other unmapped column is
    /// reported, as it usually means the export or the mapping changed.
    #[serde(default)]
    pub ignored_columns: Vec<String>,
    /// The largest share (percent) of the directory's current people that one sync may
    /// remove for being absent from the export (20 by default). A larger drop usually means a
    /// truncated or wrong export; `hr sync --accept-removals` applies it anyway.
    #[serde(default = "default_max_removed_percent")]
    pub max_removed_percent: u8,
}

/// The header of the column holding each field. `id_nat`, `surname` and `given_name` must be
/// in the export; a missing optional column leaves that field empty (and without a status
/// column every listed person is active).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HrColumns {
    /// The idNat (required).
    pub id_nat: String,
    /// The surname (required).
    pub surname: String,
    /// The given name (required).
    pub given_name: String,
    /// The professions, separated by `list_separator`.
    pub professions: String,
    /// The groups (departments, teams), separated by `list_separator`.
    pub groups: String,
    /// The HR status.
    pub status: String,
    /// The first day of work.
    pub start_date: String,
    /// The last day of work.
    pub end_date: String,
}

impl Default for HrColumns {
    fn default() -> Self {
        Self {
            id_nat: "id_nat".into(),
            surname: "surname".into(),
            given_name: "given_name".into(),
            professions: "professions".into(),
            groups: "groups".into(),
            status: "status".into(),
            start_date: "start_date".into(),
            end_date: "end_date".into(),
        }
    }
}

/// The values of the status column, compared without regard to case or surrounding spaces.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StatusValues {
    /// Working; may be admitted.
    pub active: Vec<String>,
    /// Temporarily barred (leave, disciplinary); refused.
    pub suspended: Vec<String>,
    /// Gone; refused.
    pub departed: Vec<String>,
}

impl Default for StatusValues {
    fn default() -> Self {
        let list = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect();
        Self {
            active: list(&["active", "actif"]),
            suspended: list(&["suspended", "suspendu"]),
            departed: list(&["departed", "sorti", "parti"]),
        }
    }
}

fn default_delimiter() -> char {
    ';'
}

fn default_list_separator() -> char {
    '|'
}

fn default_max_removed_percent() -> u8 {
    20
}

fn default_date_format() -> String {
    "%Y-%m-%d".into()
}

impl HrCsvConfig {
    /// A configuration with every default and this export path.
    pub fn with_path(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            delimiter: default_delimiter(),
            list_separator: default_list_separator(),
            date_format: default_date_format(),
            columns: HrColumns::default(),
            status_values: StatusValues::default(),
            ignored_columns: Vec::new(),
            max_removed_percent: default_max_removed_percent(),
        }
    }

    /// Checks the settings that parsing alone cannot.
    pub(crate) fn check(&self) -> Result<(), String> {
        if !self.delimiter.is_ascii() || self.delimiter == '"' || self.delimiter == '\n' {
            return Err(format!(
                "hr.csv.delimiter {:?} must be one ASCII character other than a quote or a newline",
                self.delimiter
            ));
        }
        if self.list_separator == self.delimiter {
            return Err("hr.csv.list_separator must differ from hr.csv.delimiter".into());
        }
        let sample = chrono::NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default();
        let items = chrono::format::StrftimeItems::new(&self.date_format);
        let valid = !items
            .clone()
            .any(|item| matches!(item, chrono::format::Item::Error));
        let mut written = String::new();
        let reread = (valid && write!(written, "{}", sample.format_with_items(items)).is_ok())
            .then(|| chrono::NaiveDate::parse_from_str(&written, &self.date_format).ok())
            .flatten();
        if reread != Some(sample) {
            return Err(format!(
                "hr.csv.date_format {:?} cannot write and read back a full date; use something \
                 like \"%Y-%m-%d\" or \"%d/%m/%Y\"",
                self.date_format
            ));
        }
        Ok(())
    }
}

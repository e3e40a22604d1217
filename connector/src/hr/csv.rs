//! Reading the HR export: a CSV file whose bytes come from another system, so every field is
//! checked and a bad row is reported by line without stopping the good ones.

use std::collections::HashMap;

use chrono::NaiveDate;
use vigie_certs::IdNat;

use super::config::HrCsvConfig;
use super::{HrFileError, HrImport, HrRecord, Origin, RowProblem, RowProblemKind};
use crate::person::PersonStatus;

/// Where each mapped field sits in a row.
struct Layout {
    id_nat: usize,
    surname: usize,
    given_name: usize,
    professions: Option<usize>,
    groups: Option<usize>,
    status: Option<usize>,
    start_date: Option<usize>,
    end_date: Option<usize>,
    width: usize,
}

/// Parses an export. Fails only when the file as a whole cannot be used (no header, a required
/// column missing); row-level trouble goes into [`HrImport::problems`].
pub fn parse_csv(bytes: &[u8], config: &HrCsvConfig) -> Result<HrImport, HrFileError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(u8::try_from(config.delimiter).unwrap_or(b';'))
        .flexible(true)
        .has_headers(false)
        .from_reader(bytes);
    let mut rows = reader.byte_records();
    let header = match rows.next() {
        Some(Ok(header)) => header,
        Some(Err(e)) => return Err(HrFileError::Header(e.to_string())),
        None => return Err(HrFileError::Empty),
    };
    let header: Vec<String> = header
        .iter()
        .map(|f| String::from_utf8_lossy(f).trim().to_owned())
        .collect();
    let (layout, mut problems) = layout(&header, config)?;
    let mut lines = LineCounter {
        bytes,
        offset: 0,
        line: 1,
    };
    let mut import = HrImport::default();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    for row in rows {
        let offset = match &row {
            Ok(record) => record.position().map(csv::Position::byte),
            Err(e) => e.position().map(csv::Position::byte),
        };
        let line = lines.line_at(offset.unwrap_or(0));
        let row = row.map_err(|e| Box::new((None, RowProblemKind::Unreadable(e.to_string()))));
        match row.and_then(|r| read_row(&r, &layout, config)) {
            Ok(None) => {}
            Ok(Some(record)) => import.records.push(HrRecord { line, ..record }),
            Err(problem) => {
                let (id_nat, kind) = *problem;
                problems.push(RowProblem {
                    origin: Origin::Line(line),
                    id_nat,
                    kind,
                });
            }
        }
    }
    drop_duplicates(&mut import, &mut problems, &mut first_line);
    problems.sort_by(|a, b| a.origin.cmp(&b.origin));
    import.problems = problems;
    Ok(import)
}

/// Turns byte offsets into line numbers (the CSV reader does not count blank lines), moving
/// forward only so the whole file is scanned once. Lines end as the CSV reader ends records:
/// with `\n`, `\r\n`, or a lone `\r` (old exports).
struct LineCounter<'a> {
    bytes: &'a [u8],
    offset: usize,
    line: u64,
}

impl LineCounter<'_> {
    fn line_at(&mut self, offset: u64) -> u64 {
        let offset = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(self.bytes.len());
        // The reader's record position can point at the blank lines it skipped before it.
        let blank = self.bytes[offset..]
            .iter()
            .take_while(|b| matches!(b, b'\n' | b'\r'))
            .count();
        let offset = offset + blank;
        if offset > self.offset {
            let ends = (self.offset..offset)
                .filter(|&i| is_line_end(self.bytes, i))
                .count();
            self.line += ends as u64;
            self.offset = offset;
        }
        self.line
    }
}

/// Whether the byte at `i` ends a line: a `\n`, or a `\r` not followed by `\n`.
fn is_line_end(bytes: &[u8], i: usize) -> bool {
    match bytes.get(i) {
        Some(b'\n') => true,
        Some(b'\r') => bytes.get(i + 1) != Some(&b'\n'),
        _ => false,
    }
}

/// Finds the mapped columns in the header and reports the unmapped ones.
fn layout(
    header: &[String],
    config: &HrCsvConfig,
) -> Result<(Layout, Vec<RowProblem>), HrFileError> {
    let find = |name: &str| {
        header
            .iter()
            .position(|h| h.eq_ignore_ascii_case(name.trim()))
    };
    let require =
        |name: &str| find(name).ok_or_else(|| HrFileError::MissingColumn(name.to_owned()));
    let c = &config.columns;
    let layout = Layout {
        id_nat: require(&c.id_nat)?,
        surname: require(&c.surname)?,
        given_name: require(&c.given_name)?,
        professions: find(&c.professions),
        groups: find(&c.groups),
        status: find(&c.status),
        start_date: find(&c.start_date),
        end_date: find(&c.end_date),
        width: header.len(),
    };
    let mapped = [
        &c.id_nat,
        &c.surname,
        &c.given_name,
        &c.professions,
        &c.groups,
        &c.status,
        &c.start_date,
        &c.end_date,
    ];
    let known = |h: &String| {
        mapped
            .into_iter()
            .chain(&config.ignored_columns)
            .any(|m| m.trim().eq_ignore_ascii_case(h))
    };
    let problems = header
        .iter()
        .filter(|h| !known(h))
        .map(|h| RowProblem {
            origin: Origin::Line(1),
            id_nat: None,
            kind: RowProblemKind::UnknownColumn(h.clone()),
        })
        .collect();
    Ok((layout, problems))
}

/// The outcome of reading one row: a record, nothing (a blank row), or a problem with the
/// row's idNat when it could be read.
type RowOutcome = Result<Option<HrRecord>, Box<(Option<IdNat>, RowProblemKind)>>;

/// Reads one data row into a record (its `line` is filled in by the caller).
fn read_row(row: &csv::ByteRecord, layout: &Layout, config: &HrCsvConfig) -> RowOutcome {
    if row.iter().all(|f| f.iter().all(u8::is_ascii_whitespace)) {
        return Ok(None);
    }
    if row.len() != layout.width {
        let (expected, found) = (layout.width, row.len());
        return Err(Box::new((
            None,
            RowProblemKind::FieldCount { expected, found },
        )));
    }
    let id_nat = cell(row, layout.id_nat).map_err(|kind| Box::new((None, kind)))?;
    let id_nat =
        IdNat::parse(&id_nat).map_err(|e| Box::new((None, RowProblemKind::BadIdNat(id_nat, e))))?;
    match fields(row, layout, config, id_nat.clone()) {
        Ok(record) => Ok(Some(record)),
        Err(kind) => Err(Box::new((Some(id_nat), kind))),
    }
}

/// One cell, trimmed.
fn cell(row: &csv::ByteRecord, index: usize) -> Result<String, RowProblemKind> {
    let raw = row.get(index).unwrap_or_default();
    let text = std::str::from_utf8(raw).map_err(|_| RowProblemKind::NotUtf8)?;
    Ok(text.trim().to_owned())
}

fn fields(
    row: &csv::ByteRecord,
    layout: &Layout,
    config: &HrCsvConfig,
    id_nat: IdNat,
) -> Result<HrRecord, RowProblemKind> {
    let optional = |index: Option<usize>| {
        index
            .map(|i| cell(row, i))
            .transpose()
            .map(Option::unwrap_or_default)
    };
    let record = HrRecord {
        line: 0,
        surname: required(cell(row, layout.surname)?, "surname")?,
        given_name: required(cell(row, layout.given_name)?, "given name")?,
        professions: split(&optional(layout.professions)?, config.list_separator),
        groups: split(&optional(layout.groups)?, config.list_separator),
        status: status(&optional(layout.status)?, layout.status.is_some(), config)?,
        start_date: date(&optional(layout.start_date)?, "start date", config)?,
        end_date: date(&optional(layout.end_date)?, "end date", config)?,
        id_nat,
    };
    match (record.start_date, record.end_date) {
        (Some(start), Some(end)) if end < start => Err(RowProblemKind::EndsBeforeStart),
        _ => Ok(record),
    }
}

fn required(value: String, field: &'static str) -> Result<String, RowProblemKind> {
    if value.is_empty() {
        Err(RowProblemKind::Missing(field))
    } else {
        Ok(value)
    }
}

fn split(cell: &str, separator: char) -> Vec<String> {
    let mut items: Vec<String> = cell
        .split(separator)
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    items.sort();
    items.dedup();
    items
}

fn status(
    value: &str,
    has_column: bool,
    config: &HrCsvConfig,
) -> Result<PersonStatus, RowProblemKind> {
    if !has_column {
        return Ok(PersonStatus::Active);
    }
    let values = &config.status_values;
    let is = |list: &[String]| list.iter().any(|v| v.trim().eq_ignore_ascii_case(value));
    if is(&values.active) {
        Ok(PersonStatus::Active)
    } else if is(&values.suspended) {
        Ok(PersonStatus::Suspended)
    } else if is(&values.departed) {
        Ok(PersonStatus::Departed)
    } else {
        Err(RowProblemKind::BadStatus(value.to_owned()))
    }
}

fn date(
    value: &str,
    field: &'static str,
    config: &HrCsvConfig,
) -> Result<Option<NaiveDate>, RowProblemKind> {
    if value.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(value, &config.date_format)
        .map(Some)
        .map_err(|_| RowProblemKind::BadDate {
            field,
            value: value.to_owned(),
            format: config.date_format.clone(),
        })
}

/// Keeps no record of an idNat that appears more than once: which row is right cannot be
/// told, so the directory keeps what it had for that person and every occurrence is reported.
fn drop_duplicates(
    import: &mut HrImport,
    problems: &mut Vec<RowProblem>,
    first_line: &mut HashMap<String, u64>,
) {
    let mut count: HashMap<String, usize> = HashMap::new();
    for record in &import.records {
        *count.entry(record.id_nat.to_string()).or_default() += 1;
        first_line
            .entry(record.id_nat.to_string())
            .or_insert(record.line);
    }
    import.records.retain(|record| {
        let key = record.id_nat.to_string();
        if count[&key] == 1 {
            return true;
        }
        problems.push(RowProblem {
            origin: Origin::Line(record.line),
            id_nat: Some(record.id_nat.clone()),
            kind: RowProblemKind::Duplicate {
                first_line: first_line[&key],
                count: count[&key],
            },
        });
        false
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> HrCsvConfig {
        let mut config = HrCsvConfig::with_path("hr.csv");
        config.date_format = "%d/%m/%Y".into();
        config
    }

    const HEADER: &str =
        "id_nat;surname;given_name;professions;groups;status;start_date;end_date\n";

    #[test]
    fn good_rows_are_read_with_their_lines() {
        let text = format!(
            "{HEADER}0751234567;Martin;Claire;Infirmier;urgences|rea;actif;01/02/2020;\n\n0751234568;Durand;Paul;;;SUSPENDU;;\n"
        );
        let import = parse_csv(text.as_bytes(), &config()).unwrap();
        assert!(import.problems.is_empty(), "{:?}", import.problems);
        let lines: Vec<u64> = import.records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
        assert_eq!(import.records[0].groups, ["rea", "urgences"]);
        assert_eq!(
            import.records[0].start_date,
            NaiveDate::from_ymd_opt(2020, 2, 1)
        );
        assert_eq!(import.records[1].status, PersonStatus::Suspended);
    }

    #[test]
    fn bad_rows_are_reported_by_line_and_the_rest_kept() {
        let text = format!(
            "{HEADER}81234567890;Bad;Luhn;;;actif;;\n0751234567;Martin;Claire;;;actif;;\n0751234568;Short;Row\n\
             0751234569;Date;Bad;;;actif;2020-01-01;\n0751234570;Dup;One;;;actif;;\n0751234570;Dup;Two;;;actif;;\n\
             0751234571;Status;Odd;;;retired;;\n"
        );
        let import = parse_csv(text.as_bytes(), &config()).unwrap();
        assert_eq!(import.records.len(), 1);
        let lines: Vec<Origin> = import.problems.iter().map(|p| p.origin.clone()).collect();
        assert_eq!(lines, [2, 4, 5, 6, 7, 8].map(Origin::Line));
        assert!(matches!(
            import.problems[0].kind,
            RowProblemKind::BadIdNat(..)
        ));
        assert!(matches!(
            import.problems[2].kind,
            RowProblemKind::BadDate { .. }
        ));
        assert_eq!(
            import.problems[2].id_nat.as_ref().map(IdNat::as_str),
            Some("0751234569")
        );
        assert!(matches!(
            import.problems[3].kind,
            RowProblemKind::Duplicate {
                first_line: 6,
                count: 2
            }
        ));
        assert!(import.problems[1].to_string().starts_with("line 4: "));
    }

    #[test]
    fn unknown_columns_are_reported_and_missing_required_ones_refuse_the_file() {
        let text = "id_nat;surname;given_name;shoe_size;MATRICULE\n0751234567;Martin;Claire;42;x\n";
        let mut config = config();
        config.ignored_columns = vec!["matricule".into()];
        let import = parse_csv(text.as_bytes(), &config).unwrap();
        assert_eq!(import.records.len(), 1);
        assert_eq!(import.problems.len(), 1);
        assert_eq!(
            import.problems[0].kind,
            RowProblemKind::UnknownColumn("shoe_size".into())
        );
        let missing = parse_csv(b"id_nat;surname\n0751234567;Martin\n", &config);
        assert!(matches!(missing, Err(HrFileError::MissingColumn(c)) if c == "given_name"));
        assert!(matches!(parse_csv(b"", &config), Err(HrFileError::Empty)));
    }

    #[test]
    fn lines_are_counted_with_any_line_ending() {
        let text =
            format!("{HEADER}0751234567;Martin;Claire;;;actif;;\r\r0751234568;x;y;;;actif;;\r");
        let import = parse_csv(text.replace('\n', "\r").as_bytes(), &config()).unwrap();
        let lines: Vec<u64> = import.records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
        let import = parse_csv(text.replace('\n', "\r\n").as_bytes(), &config()).unwrap();
        let lines: Vec<u64> = import.records.iter().map(|r| r.line).collect();
        assert_eq!(lines, [2, 4]);
    }

    #[test]
    fn a_byte_order_mark_and_odd_bytes_do_not_break_parsing() {
        let text = b"\xEF\xBB\xBFid_nat;surname;given_name\n0751234567;Mart\xFFin;Claire\n\"0751234568;x\n";
        let import = parse_csv(text, &config()).unwrap();
        assert!(import.records.is_empty());
        assert_eq!(import.problems[0].kind, RowProblemKind::NotUtf8);
    }
}

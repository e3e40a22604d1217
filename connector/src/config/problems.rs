//! What is wrong with a configuration file, and where: each problem names the line and column
//! of the file, the key and its section, so that an administrator can go straight to it.
//!
//! A file is read in two passes. The first parses the TOML syntax and keeps every value's
//! position; the second reads the sections into their types. When the second pass fails,
//! each top-level section is read again on its own, so that a mistake in `[listen]` does not
//! hide another in `[trust]`: every section with a problem is reported, not just the first.
//! Checks made after reading (values out of bounds, overlapping ranges) name their key, whose
//! position is then looked up in the parsed file.
//!
//! This module does not decide what is valid: serde and the sections' own checks do.

use std::fmt;
use std::ops::Range;

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One thing wrong with the configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Line and column in the file, from 1, when known.
    pub at: Option<(usize, usize)>,
    /// What is wrong, naming the key, and what to do.
    pub message: String,
}

impl Problem {
    /// A problem with no position in the file.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            at: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.at {
            Some((line, column)) => write!(f, "{line}:{column}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// A parsed configuration file, with the position of every key and value.
pub struct Document<'a> {
    text: &'a str,
    root: Spanned<DeTable<'a>>,
}

impl<'a> Document<'a> {
    /// Parses the TOML syntax; every syntax error is a problem.
    pub fn parse(text: &'a str) -> Result<Self, Vec<Problem>> {
        let (root, errors) = DeTable::parse_recoverable(text);
        let document = Self { text, root };
        if errors.is_empty() {
            return Ok(document);
        }
        let problems = errors.iter().map(|e| document.problem_of(e)).collect();
        Err(problems)
    }

    /// Reads the whole file into `T`; on failure, every top-level section that cannot be read
    /// is a problem of its own.
    pub fn read<T: DeserializeOwned>(&self) -> Result<T, Vec<Problem>> {
        let whole = toml::de::Deserializer::from(self.root.clone());
        let error = match T::deserialize(whole) {
            Ok(value) => return Ok(value),
            Err(error) => error,
        };
        let mut problems: Vec<Problem> = self
            .root
            .get_ref()
            .iter()
            .filter_map(|(key, value)| {
                let mut alone = DeTable::new();
                alone.insert(key.clone(), value.clone());
                let alone = Spanned::new(self.root.span(), alone);
                T::deserialize(toml::de::Deserializer::from(alone)).err()
            })
            .map(|e| self.problem_of(&e))
            .collect();
        if problems.is_empty() {
            problems.push(self.problem_of(&error));
        }
        sort(&mut problems);
        Err(problems)
    }

    /// A problem about the setting at `key` (dotted, `listen.port`; `app[2]` for the third
    /// `[[app]]`), placed at the key when the file has it.
    pub fn at_key(&self, key: &str, message: impl Into<String>) -> Problem {
        Problem {
            at: self
                .locate(key)
                .map(|span| line_column(self.text, span.start)),
            message: message.into(),
        }
    }

    /// The position of the key (or array element) at dotted `path`.
    fn locate(&self, path: &str) -> Option<Range<usize>> {
        let mut table = self.root.get_ref();
        let mut found = None;
        for segment in path.split('.') {
            let (name, index) = split_index(segment);
            let (key, value) = table.get_key_value(name)?;
            found = Some(key.span());
            let mut value = value;
            if let Some(index) = index {
                let DeValue::Array(items) = value.get_ref() else {
                    return found;
                };
                value = items.get(index)?;
                found = Some(value.span());
            }
            match value.get_ref() {
                DeValue::Table(inner) => table = inner,
                _ => break,
            }
        }
        found
    }

    /// A problem from a toml error: its position, and its message said for an administrator.
    fn problem_of(&self, error: &toml::de::Error) -> Problem {
        let span = error.span();
        let place = span.as_ref().map(|s| place_of(self.text, s.start));
        let written = span.as_ref().and_then(|s| self.text.get(s.clone()));
        let message = match (error.message(), written) {
            ("duplicate key", Some(key)) => format!("duplicate key `{}`", shorten(key)),
            (message, _) => message.to_owned(),
        };
        Problem {
            at: span.map(|s| line_column(self.text, s.start)),
            message: reword(&message, place.unwrap_or(Place::Unknown)),
        }
    }
}

/// Problems in the order of the file, those without a line last.
pub fn sort(problems: &mut [Problem]) {
    problems.sort_by_key(|p| p.at.unwrap_or((usize::MAX, 0)));
}

/// Where in the file's structure an error is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place<'a> {
    /// On a table header line (`[hr.csv]`): the error is about the table's name.
    Header(&'a str),
    /// Inside the table under this header.
    In(&'a str),
    /// Before any header, or nowhere known.
    Unknown,
}

/// A piece of the file for a message: one line, at most 60 characters.
fn shorten(text: &str) -> String {
    text.lines()
        .next()
        .unwrap_or_default()
        .trim()
        .chars()
        .take(60)
        .collect()
}

/// `app[2]` → (`app`, Some(2)); `listen` → (`listen`, None).
fn split_index(segment: &str) -> (&str, Option<usize>) {
    let Some((name, rest)) = segment.split_once('[') else {
        return (segment, None);
    };
    (name, rest.trim_end_matches(']').parse().ok())
}

/// Line and column (from 1, in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}

/// The table header (`[hr.csv]`, `[[app]]`) that the byte at `offset` is on or under.
fn place_of(text: &str, offset: usize) -> Place<'_> {
    let Some(before) = text.get(..offset.min(text.len())) else {
        return Place::Unknown;
    };
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = text.get(line_start..).and_then(|t| t.lines().next());
    if let Some(header) = line.and_then(header) {
        return Place::Header(header);
    }
    let previous = text.get(..line_start).unwrap_or_default();
    match previous.lines().rev().find_map(header) {
        Some(found) => Place::In(found),
        None => Place::Unknown,
    }
}

/// The `[…]` or `[[…]]` of a table header line.
fn header(line: &str) -> Option<&str> {
    let line = line.trim();
    if !line.starts_with('[') {
        return None;
    }
    line.get(..=line.rfind(']')?)
}

/// serde's words for a TOML file: keys rather than fields, the section named, what to do.
fn reword(message: &str, place: Place<'_>) -> String {
    let within = match place {
        Place::In(section) => format!(" in {section}"),
        Place::Header(_) | Place::Unknown => String::new(),
    };
    if let Some(rest) = message.strip_prefix("unknown field ") {
        let (key, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
        let hint = match expected {
            "" => String::new(),
            known => format!(" (known here: {known})"),
        };
        let what = match place {
            Place::Header(header) => format!("unknown section {key} ({header})"),
            _ => format!("unknown key {key}{within}"),
        };
        return format!(
            "{what}: check its spelling or remove it; this version does not know it{hint}"
        );
    }
    if let Some(key) = message.strip_prefix("missing field ") {
        return format!("missing key {key}{within}: add it");
    }
    if let Some(key) = message.strip_prefix("duplicate key ") {
        return match place {
            Place::Header(header) => format!("{header} appears twice: merge the two tables"),
            _ => format!("key {key}{within} is given twice: keep one"),
        };
    }
    format!("{}{within}", message.trim_end_matches('\n'))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Sections {
        #[serde(default)]
        one: Option<Inner>,
        #[serde(default)]
        two: Option<Inner>,
        #[serde(default)]
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        port: u16,
    }

    fn problems(text: &str) -> Vec<String> {
        let document = match Document::parse(text) {
            Ok(document) => document,
            Err(problems) => return problems.iter().map(ToString::to_string).collect(),
        };
        match document.read::<Sections>() {
            Ok(_) => Vec::new(),
            Err(problems) => problems.iter().map(ToString::to_string).collect(),
        }
    }

    #[test]
    fn a_good_file_is_read_whole() {
        let text = "[one]\nport = 1\n[[list]]\nport = 2\n[[list]]\nport = 3\n";
        let sections: Sections = Document::parse(text).unwrap().read().unwrap();
        assert_eq!(sections.one.map(|one| one.port), Some(1));
        assert!(sections.two.is_none());
        let ports: Vec<u16> = sections.list.iter().map(|inner| inner.port).collect();
        assert_eq!(ports, [2, 3]);
    }

    #[test]
    fn each_broken_section_is_reported_at_its_line() {
        let found = problems("[one]\nport = 1\nprot = 2\n\n[two]\nport = \"x\"\n");
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found[0].starts_with("3:1: unknown key `prot` in [one]: check its spelling"),
            "{}",
            found[0]
        );
        assert!(found[0].contains("known here: `port`"), "{}", found[0]);
        assert!(found[1].starts_with("6:8: "), "{}", found[1]);
        assert!(found[1].contains("in [two]"), "{}", found[1]);
    }

    #[test]
    fn unknown_sections_and_missing_keys_are_named() {
        let found = problems("[tree]\nport = 1\n[one]\n");
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(
            found
                .iter()
                .any(|p| p.contains("unknown section `tree` ([tree])")),
            "{found:#?}"
        );
        assert!(found.iter().any(|p| p.contains("missing key `port`")));
    }

    #[test]
    fn a_key_or_table_given_twice_is_named() {
        let found = problems("[one]\nport = 1\nport = 2\n");
        assert!(
            found[0].starts_with("3:1: key `port` in [one] is given twice"),
            "{found:#?}"
        );
        let found = problems("[one]\nport = 1\n[one]\nport = 2\n");
        assert!(found[0].contains("[one] appears twice"), "{found:#?}");
    }

    #[test]
    fn syntax_errors_are_all_reported() {
        let found = problems("[one]\nport = \nname = \"x\n");
        assert!(!found.is_empty());
        assert!(found[0].starts_with("2:"), "{found:#?}");
    }

    #[test]
    fn keys_are_found_in_sections_and_arrays_of_tables() {
        let text = "[one]\nport = 1\n[[list]]\nport = 2\n[[list]]\nport = 3\n";
        let document = Document::parse(text).unwrap();
        assert_eq!(document.at_key("one.port", "x").at, Some((2, 1)));
        assert_eq!(document.at_key("list[1]", "x").at.map(|a| a.0), Some(5));
        assert_eq!(document.at_key("list[1].port", "x").at, Some((6, 1)));
        assert_eq!(document.at_key("two.port", "x").at, None);
        assert_eq!(document.at_key("one.port", "x").to_string(), "2:1: x");
    }

    #[test]
    fn columns_count_characters() {
        assert_eq!(line_column("a\nbé = 1", 6), (2, 4));
        assert_eq!(line_column("", 9), (1, 1));
    }
}

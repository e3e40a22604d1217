//! Turning directory entries into HR records. No I/O: the entries come from
//! [`super::client`] or from a test; every value is checked, and a bad entry is reported by
//! its DN without stopping the good ones.

use std::collections::HashMap;

use chrono::NaiveDate;
use vigie_certs::IdNat;

use super::config::{GroupSearch, HrLdapConfig};
use crate::hr::{HrImport, HrRecord, Origin, RowProblem, RowProblemKind};
use crate::person::PersonStatus;

/// One entry as the server returned it: its DN and the values of the requested attributes
/// (attribute names as the server wrote them; they are looked up without case).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LdapEntry {
    /// The entry's distinguished name.
    pub dn: String,
    /// Attribute name → values.
    pub attrs: HashMap<String, Vec<String>>,
    /// Names of the groups that list this entry as a member (`[hr.ldap.group_search]`).
    pub search_groups: Vec<String>,
}

impl LdapEntry {
    fn values(&self, attribute: &str) -> &[String] {
        let attribute = attribute.trim();
        if attribute.is_empty() {
            return &[];
        }
        self.attrs
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(attribute))
            .map_or(&[], |(_, values)| values.as_slice())
    }

    /// The attribute's single value, trimmed; `None` when absent or blank.
    fn one(&self, attribute: &str) -> Result<Option<String>, RowProblemKind> {
        let values: Vec<&str> = self
            .values(attribute)
            .iter()
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        match values.as_slice() {
            [] => Ok(None),
            [value] => Ok(Some((*value).to_owned())),
            more => Err(RowProblemKind::MultipleValues {
                attribute: attribute.trim().to_owned(),
                count: more.len(),
            }),
        }
    }
}

/// How dates are written in the directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DateFormat {
    /// LDAP GeneralizedTime (`20270131000000Z`); the date is taken as written.
    Generalized,
    /// Active Directory's FILETIME: 100 ns ticks since 1601-01-01 UTC.
    FileTime,
    /// A strftime-style format.
    Strftime(String),
}

impl DateFormat {
    /// Reads `[hr.ldap] date_format`.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        match text.trim() {
            "generalized" => Ok(Self::Generalized),
            "filetime" => Ok(Self::FileTime),
            format => {
                let sample = NaiveDate::from_ymd_opt(2026, 12, 31).unwrap_or_default();
                let written = format_date(sample, format);
                if written.and_then(|w| NaiveDate::parse_from_str(&w, format).ok()) == Some(sample)
                {
                    Ok(Self::Strftime(format.to_owned()))
                } else {
                    Err(format!(
                        "hr.ldap.date_format {text:?} is neither \"generalized\", \"filetime\" \
                         nor a strftime format that writes and reads back a full date"
                    ))
                }
            }
        }
    }

    /// The date a value names; `Ok(None)` for AD's "never" values.
    fn read(&self, value: &str) -> Option<Option<NaiveDate>> {
        match self {
            Self::Generalized => {
                let digits = value
                    .get(..8)
                    .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))?;
                NaiveDate::parse_from_str(digits, "%Y%m%d").ok().map(Some)
            }
            Self::FileTime => {
                let ticks: i64 = value.parse().ok()?;
                if ticks <= 0 || ticks == i64::MAX {
                    return Some(None);
                }
                // accountExpires is the first moment the account is closed: the last day of
                // work is the day before that moment's midnight.
                let days = (ticks - 1) / 864_000_000_000;
                let epoch = NaiveDate::from_ymd_opt(1601, 1, 1)?;
                epoch
                    .checked_add_days(chrono::Days::new(u64::try_from(days).ok()?))
                    .map(Some)
            }
            Self::Strftime(format) => NaiveDate::parse_from_str(value, format).ok().map(Some),
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Generalized => "generalized".into(),
            Self::FileTime => "filetime".into(),
            Self::Strftime(format) => format.clone(),
        }
    }
}

/// Gives each person the names of the `groups` (entries found by the group search) that list
/// them as members.
pub fn add_search_groups(people: &mut [LdapEntry], groups: &[LdapEntry], search: &GroupSearch) {
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, person) in people.iter().enumerate() {
        index.insert(normalise_dn(&person.dn), i);
    }
    for group in groups {
        let name = (group.one(&search.name_attribute).ok().flatten())
            .or_else(|| first_rdn_value(&group.dn))
            .unwrap_or_else(|| group.dn.clone());
        for member in group.values(&search.member_attribute) {
            if let Some(&i) = index.get(&normalise_dn(member)) {
                people[i].search_groups.push(name.clone());
            }
        }
    }
}

/// A DN for comparison: lower case, without spaces around `,` and `=`.
fn normalise_dn(dn: &str) -> String {
    dn.split(',')
        .map(|rdn| {
            let (name, value) = rdn.split_once('=').unwrap_or((rdn, ""));
            format!("{}={}", name.trim(), value.trim())
        })
        .collect::<Vec<_>>()
        .join(",")
        .to_lowercase()
}

/// `date` written with a strftime-style `format`, or `None` when the format is not valid.
fn format_date(date: NaiveDate, format: &str) -> Option<String> {
    use std::fmt::Write as _;
    let items = chrono::format::StrftimeItems::new(format);
    if items
        .clone()
        .any(|item| matches!(item, chrono::format::Item::Error))
    {
        return None;
    }
    let mut written = String::new();
    write!(written, "{}", date.format_with_items(items)).ok()?;
    Some(written)
}

/// Reads the entries into an import: good records (their `line` is the entry's position,
/// from 1) and problems named by DN (entries sharing an idNat last).
pub fn read_entries(entries: &[LdapEntry], config: &HrLdapConfig) -> HrImport {
    let dates = DateFormat::parse(&config.date_format).unwrap_or(DateFormat::Generalized);
    let mut import = HrImport::default();
    for (index, entry) in entries.iter().enumerate() {
        let position = u64::try_from(index).unwrap_or(u64::MAX).saturating_add(1);
        match read_entry(entry, config, &dates) {
            Ok(record) => import.records.push(HrRecord {
                line: position,
                ..record
            }),
            Err(problem) => {
                let (id_nat, kind) = *problem;
                import.problems.push(RowProblem {
                    origin: Origin::Entry(entry.dn.clone()),
                    id_nat,
                    kind,
                });
            }
        }
    }
    drop_duplicates(&mut import, entries);
    import
}

type EntryOutcome = Result<HrRecord, Box<(Option<IdNat>, RowProblemKind)>>;

fn read_entry(entry: &LdapEntry, config: &HrLdapConfig, dates: &DateFormat) -> EntryOutcome {
    let attributes = &config.attributes;
    let bare = |kind| Box::new((None, kind));
    let text = entry
        .one(&attributes.id_nat)
        .map_err(bare)?
        .ok_or_else(|| bare(RowProblemKind::Missing("idNat")))?;
    let id_nat = IdNat::parse(&text).map_err(|e| bare(RowProblemKind::BadIdNat(text, e)))?;
    fields(entry, config, dates, id_nat.clone()).map_err(|kind| Box::new((Some(id_nat), kind)))
}

fn fields(
    entry: &LdapEntry,
    config: &HrLdapConfig,
    dates: &DateFormat,
    id_nat: IdNat,
) -> Result<HrRecord, RowProblemKind> {
    let a = &config.attributes;
    let record = HrRecord {
        line: 0,
        surname: entry
            .one(&a.surname)?
            .ok_or(RowProblemKind::Missing("surname"))?,
        given_name: (entry.one(&a.given_name)?).ok_or(RowProblemKind::Missing("given name"))?,
        professions: list(entry.values(&a.professions).iter()),
        groups: list(entry.values(&a.groups).iter().chain(&entry.search_groups)),
        status: status(entry, config)?,
        start_date: date(entry, &a.start_date, "start date", dates)?,
        end_date: date(entry, &a.end_date, "end date", dates)?,
        id_nat,
    };
    match (record.start_date, record.end_date) {
        (Some(start), Some(end)) if end < start => Err(RowProblemKind::EndsBeforeStart),
        _ => Ok(record),
    }
}

/// Values sorted and without duplicates; a DN counts by its first RDN's value.
fn list<'a>(values: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut items: Vec<String> = values
        .map(|v| first_rdn_value(v.trim()).unwrap_or_else(|| v.trim().to_owned()))
        .filter(|v| !v.is_empty())
        .collect();
    items.sort();
    items.dedup();
    items
}

/// `Urgences` for `CN=Urgences,OU=Groupes,DC=…`; `None` when the value is not a DN.
fn first_rdn_value(value: &str) -> Option<String> {
    let (name, rest) = value.split_once('=')?;
    let is_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    if !is_name || !rest.contains(['=']) {
        return None;
    }
    let mut out = String::new();
    let mut chars = rest.chars();
    while let Some(c) = chars.next() {
        match c {
            ',' | '+' => break,
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    Some(out.trim().to_owned())
}

fn status(entry: &LdapEntry, config: &HrLdapConfig) -> Result<PersonStatus, RowProblemKind> {
    let a = &config.attributes;
    let mut status = if a.status.trim().is_empty() {
        PersonStatus::Active
    } else {
        let value = entry
            .one(&a.status)?
            .ok_or(RowProblemKind::Missing("status"))?;
        let values = &config.status_values;
        let is = |list: &[String]| list.iter().any(|v| v.trim().eq_ignore_ascii_case(&value));
        if is(&values.active) {
            PersonStatus::Active
        } else if is(&values.suspended) {
            PersonStatus::Suspended
        } else if is(&values.departed) {
            PersonStatus::Departed
        } else {
            return Err(RowProblemKind::BadStatus(value));
        }
    };
    if let Some(flags) = entry.one(&a.account_control)? {
        // AD writes the flags as a signed 32-bit number.
        let flags = (flags.parse::<i64>().ok())
            .filter(|f| i32::try_from(*f).is_ok() || u32::try_from(*f).is_ok())
            .ok_or(RowProblemKind::BadAccountControl(flags))?;
        const ACCOUNT_DISABLE: i64 = 0x2;
        if flags & ACCOUNT_DISABLE != 0 && status == PersonStatus::Active {
            status = PersonStatus::Suspended;
        }
    }
    Ok(status)
}

fn date(
    entry: &LdapEntry,
    attribute: &str,
    field: &'static str,
    dates: &DateFormat,
) -> Result<Option<NaiveDate>, RowProblemKind> {
    let Some(value) = entry.one(attribute)? else {
        return Ok(None);
    };
    dates.read(&value).ok_or_else(|| RowProblemKind::BadDate {
        field,
        value,
        format: dates.name(),
    })
}

/// Keeps no record of an idNat carried by several entries: which is right cannot be told,
/// so the directory keeps what it had and every entry is reported.
fn drop_duplicates(import: &mut HrImport, entries: &[LdapEntry]) {
    let dn = |record: &HrRecord| {
        usize::try_from(record.line - 1)
            .ok()
            .and_then(|i| entries.get(i))
            .map(|e| e.dn.clone())
            .unwrap_or_default()
    };
    let mut seen: HashMap<IdNat, (String, usize)> = HashMap::new();
    for record in &import.records {
        seen.entry(record.id_nat.clone())
            .or_insert_with(|| (dn(record), 0))
            .1 += 1;
    }
    let mut kept = Vec::with_capacity(import.records.len());
    for record in std::mem::take(&mut import.records) {
        match &seen[&record.id_nat] {
            (_, 1) => kept.push(record),
            (first_dn, count) => import.problems.push(RowProblem {
                origin: Origin::Entry(dn(&record)),
                kind: RowProblemKind::DuplicateEntry {
                    first_dn: first_dn.clone(),
                    count: *count,
                },
                id_nat: Some(record.id_nat),
            }),
        }
    }
    import.records = kept;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hr::ldap::HrAttributes;

    fn config() -> HrLdapConfig {
        let text = "url = \"ldap://127.0.0.1\"\nbind_dn = \"cn=x\"\nbind_password_file = \"p\"\n\
                    base_dn = \"dc=x\"\n";
        let mut config: HrLdapConfig = toml::from_str(text).unwrap();
        config.attributes = HrAttributes {
            id_nat: "employeeID".into(),
            status: "employeeType".into(),
            account_control: "userAccountControl".into(),
            end_date: "accountExpires".into(),
            ..HrAttributes::default()
        };
        config.date_format = "filetime".into();
        config
    }

    fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> LdapEntry {
        LdapEntry {
            search_groups: Vec::new(),
            dn: dn.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
                .collect(),
        }
    }

    fn claire(dn: &str, id_nat: &str) -> LdapEntry {
        entry(
            dn,
            &[
                ("EMPLOYEEID", &[id_nat]),
                ("sn", &["Martin"]),
                ("givenName", &["Claire"]),
                ("employeeType", &["actif"]),
                ("userAccountControl", &["512"]),
                ("accountExpires", &["9223372036854775807"]),
                (
                    "memberOf",
                    &[
                        "CN=Urgences\\, adultes,OU=Groupes,DC=hopital,DC=example",
                        "cn=rea,dc=x",
                    ],
                ),
            ],
        )
    }

    #[test]
    fn an_active_directory_entry_is_read() {
        let import = read_entries(&[claire("CN=Claire", "0751234567")], &config());
        assert!(import.problems.is_empty(), "{:?}", import.problems);
        let record = &import.records[0];
        assert_eq!(record.line, 1);
        assert_eq!(record.groups, ["Urgences, adultes", "rea"]);
        assert_eq!(record.status, PersonStatus::Active);
        assert_eq!(record.end_date, None, "the largest FILETIME means never");
    }

    #[test]
    fn a_disabled_account_is_suspended_and_expiry_is_the_last_day() {
        let mut entry = claire("CN=Claire", "0751234567");
        entry
            .attrs
            .insert("userAccountControl".into(), vec!["514".into()]);
        // 2027-02-01T00:00:00Z: AD closes the account at that midnight, so the 31st is the
        // last day of work.
        let ticks = (NaiveDate::from_ymd_opt(2027, 2, 1).unwrap()
            - NaiveDate::from_ymd_opt(1601, 1, 1).unwrap())
        .num_days()
            * 864_000_000_000;
        entry
            .attrs
            .insert("accountExpires".into(), vec![ticks.to_string()]);
        let import = read_entries(&[entry], &config());
        let record = &import.records[0];
        assert_eq!(record.status, PersonStatus::Suspended);
        assert_eq!(record.end_date, NaiveDate::from_ymd_opt(2027, 1, 31));
    }

    #[test]
    fn bad_entries_are_named_by_dn_and_the_good_ones_kept() {
        let mut two_names = claire("CN=Two", "0751234569");
        two_names
            .attrs
            .insert("sn".into(), vec!["A".into(), "B".into()]);
        let mut odd_flags = claire("CN=Flags", "0751234570");
        odd_flags
            .attrs
            .insert("userAccountControl".into(), vec!["x".into()]);
        let entries = [
            claire("CN=Bad", "81234567890"),
            claire("CN=Good", "0751234567"),
            claire("CN=Dup1", "0751234568"),
            claire("CN=Dup2", "0751234568"),
            two_names,
            odd_flags,
            entry("CN=Empty", &[]),
        ];
        let import = read_entries(&entries, &config());
        assert_eq!(import.records.len(), 1);
        assert_eq!(import.records[0].line, 2);
        let named: Vec<String> = import.problems.iter().map(ToString::to_string).collect();
        let expected = [
            "entry CN=Bad: invalid idNat",
            "entry CN=Two: idNat 0751234569: attribute sn holds 2 values",
            "entry CN=Flags: idNat 0751234570: userAccountControl \"x\"",
            "entry CN=Empty: the idNat is empty",
            "entry CN=Dup1: idNat 0751234568: the idNat appears on 2 entries (first on CN=Dup1)",
            "entry CN=Dup2: idNat 0751234568: the idNat appears on 2 entries (first on CN=Dup1)",
        ];
        assert_eq!(named.len(), expected.len(), "{named:#?}");
        for (text, start) in named.iter().zip(expected) {
            assert!(
                text.starts_with(start),
                "{text:?} does not start with {start:?}"
            );
        }
        assert_eq!(
            import.problems[1].id_nat.as_ref().map(IdNat::as_str),
            Some("0751234569")
        );
    }

    #[test]
    fn date_formats_read_what_directories_write() {
        let generalized = DateFormat::parse("generalized").unwrap();
        let day = NaiveDate::from_ymd_opt(2027, 1, 31);
        assert_eq!(generalized.read("20270131000000Z"), Some(day));
        assert_eq!(generalized.read("2027013"), None);
        assert_eq!(generalized.read("20271331000000Z"), None);
        let filetime = DateFormat::parse("filetime").unwrap();
        assert_eq!(filetime.read("0"), Some(None));
        assert_eq!(filetime.read("soon"), None);
        let custom = DateFormat::parse("%d/%m/%Y").unwrap();
        assert_eq!(custom.read("31/01/2027"), Some(day));
        assert!(DateFormat::parse("%Q").is_err());
        assert!(DateFormat::parse("%H:%M").is_err());
    }

    #[test]
    fn groups_that_list_members_are_given_to_them() {
        let mut people = [claire("uid=claire, ou=People,dc=x", "0751234567")];
        let search = GroupSearch {
            base_dn: "dc=x".into(),
            filter: String::new(),
            member_attribute: "member".into(),
            name_attribute: "cn".into(),
        };
        let groups = [
            entry(
                "cn=Bloc,dc=x",
                &[("member", &["UID=Claire,ou=people, dc=X"])],
            ),
            entry(
                "cn=x,dc=x",
                &[("cn", &["Pharmacie"]), ("member", &["uid=paul,dc=x"])],
            ),
        ];
        add_search_groups(&mut people, &groups, &search);
        assert_eq!(people[0].search_groups, ["Bloc"]);
        let import = read_entries(&people, &config());
        assert_eq!(
            import.records[0].groups,
            ["Bloc", "Urgences, adultes", "rea"]
        );
    }

    #[test]
    fn only_dn_shaped_values_are_cut_to_their_first_rdn() {
        assert_eq!(first_rdn_value("CN=Urgences,OU=G"), Some("Urgences".into()));
        assert_eq!(first_rdn_value("cn=A\\+B+uid=x,dc=y"), Some("A+B".into()));
        assert_eq!(first_rdn_value("urgences"), None);
        assert_eq!(first_rdn_value("a = b"), None);
    }
}

//! The HR export reader on arbitrary bytes: it must never panic, every problem it reports must
//! name a line inside the file, and the sync plan built from what it keeps must hold together.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_connector::hr::{parse_csv, plan, HrCsvConfig};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the delimiter and the date format, the rest is the file.
    let Some((&knobs, bytes)) = data.split_first() else {
        return;
    };
    let mut config = HrCsvConfig::with_path("hr.csv");
    config.delimiter = [';', ',', '\t', '|'][usize::from(knobs & 3)];
    config.list_separator = if config.delimiter == '|' { '+' } else { '|' };
    config.date_format = ["%Y-%m-%d", "%d/%m/%Y"][usize::from((knobs >> 2) & 1)].to_owned();
    config.ignored_columns = vec!["matricule".to_owned()];
    let Ok(import) = parse_csv(bytes, &config) else {
        return;
    };
    // Lines end with \n, \r\n or a lone \r, as the CSV reader ends records.
    let ends = (0..bytes.len()).filter(|&i| match bytes[i] {
        b'\n' => true,
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        _ => false,
    });
    let lines = ends.count() as u64 + 1;
    for problem in &import.problems {
        // Every problem is reported as "line N: …", N inside the file.
        let text = problem.to_string();
        let number = text.strip_prefix("line ").and_then(|rest| rest.split(':').next());
        let line: u64 = number.and_then(|n| n.parse().ok()).expect("a line number");
        assert!(line >= 1 && line <= lines, "line {line} of {lines}: {text}");
    }
    for record in &import.records {
        assert!(record.line >= 2 && record.line <= lines, "line {} of {lines}", record.line);
    }
    let records = import.records.len();
    let today = chrono::NaiveDate::from_ymd_opt(2027, 1, 15).unwrap_or_default();
    if let Ok(plan) = plan(import, &[], today) {
        assert_eq!(plan.added.len(), records);
        assert!(plan.withdrawn.is_empty());
    }
});

//! `vigie-connector audit verify` against edited, deleted and reordered records.

mod common;

use std::path::Path;

use common::{Site, read_lines};

/// A site whose audit log holds a handful of records from real commands.
fn audited_site() -> Site {
    let site = Site::new("");
    site.hr(&["0751234567;Martin;Claire;Médecin;urgences;ACTIF;;"]);
    site.ok(&["hr", "sync"]);
    for name in ["mail", "pacs", "agenda"] {
        site.ok(&[
            "app",
            "publish",
            "--name",
            name,
            "--dns-name",
            &format!("{name}.hopital.example"),
            "--port",
            "tcp/443",
            "--backend",
            "198.18.10.2",
        ]);
    }
    site.ok(&["app", "grant", "mail", "--group", "urgences"]);
    site
}

fn rewrite(path: &Path, change: impl FnOnce(&mut Vec<String>)) {
    let mut lines = read_lines(path);
    change(&mut lines);
    std::fs::write(
        path,
        lines.iter().map(|l| format!("{l}\n")).collect::<String>(),
    )
    .expect("rewrite the day file");
}

fn verify(site: &Site) -> common::Run {
    site.run(&["audit", "verify"])
}

#[test]
fn an_intact_log_verifies_and_records_who_did_what() {
    let site = audited_site();
    let out = site.ok(&["audit", "verify"]);
    assert!(out.contains("chain intact"), "{out}");
    let lines = site.audit_lines();
    let grant = lines
        .iter()
        .find(|l| l.contains("app.granted"))
        .expect("a grant record");
    let record: serde_json::Value = serde_json::from_str(grant).unwrap();
    assert_eq!(record["actor"], "admin:desk-admin");
    assert_eq!(record["fields"]["group"], "urgences");
    assert_eq!(record["hash"].as_str().unwrap().len(), 64);
}

#[test]
fn an_edited_record_is_caught_at_its_line() {
    let site = audited_site();
    let file = site.audit_files().pop().unwrap();
    let line = read_lines(&file)
        .iter()
        .position(|l| l.contains("pacs"))
        .unwrap();
    rewrite(&file, |lines| {
        lines[line] = lines[line].replace("pacs", "paie")
    });
    let run = verify(&site);
    assert_eq!(run.code, 4, "{}", run.all());
    assert!(
        run.stdout
            .contains(&format!("line {}: record edited", line + 1)),
        "{}",
        run.all()
    );
}

#[test]
fn a_deleted_record_is_caught() {
    let site = audited_site();
    let file = site.audit_files().pop().unwrap();
    rewrite(&file, |lines| drop(lines.remove(2)));
    let run = verify(&site);
    assert_eq!(run.code, 4, "{}", run.all());
    assert!(
        run.stdout.contains("line 3: record 3 was deleted"),
        "{}",
        run.all()
    );

    let site = audited_site();
    let file = site.audit_files().pop().unwrap();
    rewrite(&file, |lines| drop(lines.pop()));
    let run = verify(&site);
    assert_eq!(run.code, 4, "{}", run.all());
    assert!(run.stdout.contains("was deleted"), "{}", run.all());
}

#[test]
fn a_reordered_record_is_caught() {
    let site = audited_site();
    let file = site.audit_files().pop().unwrap();
    rewrite(&file, |lines| lines.swap(1, 2));
    let run = verify(&site);
    assert_eq!(run.code, 4, "{}", run.all());
    assert!(
        run.stdout.contains("line 2: record 2 was moved"),
        "{}",
        run.all()
    );
}

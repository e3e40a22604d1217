//! `vigie-connector hr sync` against real files.

mod common;

use common::Site;

const CLAIRE: &str = "0751234567;Martin;Claire;Médecin;urgences;ACTIF;01/01/2020;";
const PAUL: &str = "0751234568;Durand;Paul;Infirmier;urgences|rea;ACTIF;;";
const LEA: &str = "0751234569;Petit;Léa;Infirmier;rea;ACTIF;;";

#[test]
fn good_rows_are_applied_and_bad_rows_reported_by_line() {
    let site = Site::new("");
    site.hr(&[
        CLAIRE,
        "81234567890;Faux;Luhn;;;ACTIF;;",
        PAUL,
        "0751234570;Date;Bad;;;ACTIF;2020-13-01;",
        "0751234571;Dup;A;;;ACTIF;;",
        "0751234571;Dup;B;;;ACTIF;;",
        "0751234572;Short;Row",
    ]);
    let run = site.run(&["hr", "sync"]);
    assert_eq!(run.code, 2, "{}", run.all());
    for line in [
        "line 3: invalid idNat",
        "line 5: idNat 0751234570: the start date",
        "line 6: idNat 0751234571",
        "line 7: idNat 0751234571",
        "line 8: 3 fields",
    ] {
        assert!(
            run.stderr.contains(line),
            "missing {line:?}:\n{}",
            run.all()
        );
    }
    assert!(run.stdout.contains("2 added"), "{}", run.all());
    assert!(
        site.ok(&["user", "show", "0751234568"])
            .contains("Paul Durand")
    );
    assert_ne!(
        site.run(&["user", "show", "0751234571"]).code,
        0,
        "a duplicated idNat is applied"
    );
}

#[test]
fn a_dry_run_changes_nothing() {
    let site = Site::new("");
    site.hr(&[CLAIRE, PAUL]);
    let out = site.ok(&["hr", "sync", "--dry-run"]);
    assert!(out.contains("2 added") && out.contains("Dry run"), "{out}");
    let show = site.run(&["user", "show", "0751234567"]);
    assert_ne!(show.code, 0, "dry run wrote the person:\n{}", show.all());
    assert!(show.stderr.contains("hr sync"), "{}", show.all());
    assert!(!site.audit_lines().iter().any(|l| l.contains("hr.sync")));
}

#[test]
fn suspended_departed_and_removed_people_lose_access_at_the_next_sync() {
    let site = Site::new(
        "[[app]]\nname = \"dpi\"\ndns_name = \"dpi.hopital.example\"\n\
     ports = [\"tcp/443\"]\nbackend = \"198.18.10.1\"\ngroups = [\"urgences\", \"rea\"]\n",
    );
    site.hr(&[CLAIRE, PAUL, LEA]);
    site.ok(&["hr", "sync"]);
    let cert = site.card("paul", "0751234568", "0B01", true);
    site.ok(&[
        "card",
        "enrol",
        "--idnat",
        "0751234568",
        "--cert",
        &cert.to_string_lossy(),
    ]);
    assert!(
        site.ok(&["admit", "--cert", &cert.to_string_lossy()])
            .starts_with("accepted")
    );

    site.hr(&[
        CLAIRE
            .replace("ACTIF;01/01/2020;", "ACTIF;01/01/2020;02/01/2020")
            .as_str(),
        &PAUL.replace("ACTIF", "SUSPENDU"),
    ]);
    let out = site.ok(&["hr", "sync"]);
    assert!(out.contains("Access withdrawn for 3 people"), "{out}");
    for expected in [
        "0751234567 person-ended",
        "0751234568 person-suspended",
        "0751234569 person-departed",
    ] {
        assert!(out.contains(expected), "missing {expected:?}:\n{out}");
    }
    let run = site.run(&["admit", "--cert", &cert.to_string_lossy()]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stdout.contains("refused: person-suspended"),
        "{}",
        run.all()
    );
    assert_eq!(
        site.audit_lines()
            .iter()
            .filter(|l| l.contains("person.access-withdrawn"))
            .count(),
        3
    );

    site.hr(&[CLAIRE, PAUL, LEA]);
    let out = site.ok(&["hr", "sync"]);
    assert!(!out.contains("Access withdrawn"), "{out}");
    assert!(
        site.ok(&["admit", "--cert", &cert.to_string_lossy()])
            .starts_with("accepted")
    );
}

#[test]
fn people_who_have_not_started_are_refused() {
    let site = Site::new(
        "[enrolment]\non_first_use = true\n[[app]]\nname = \"dpi\"\ndns_name = \"dpi.hopital.example\"\nports = [\"tcp/443\"]\nbackend = \"198.18.10.1\"\nprofessions = [\"Médecin\"]\n",
    );
    site.hr(&["0751234567;Martin;Claire;Médecin;urgences;ACTIF;01/01/2099;"]);
    site.ok(&["hr", "sync"]);
    let cert = site.card("claire", "0751234567", "0C01", false);
    let run = site.run(&["admit", "--cert", &cert.to_string_lossy()]);
    assert!(
        run.stdout.contains("refused: person-not-started"),
        "{}",
        run.all()
    );
    assert!(
        site.ok(&["user", "show", "0751234567"])
            .contains("starts on 2099-01-01")
    );
    assert!(
        site.ok(&["card", "list"]).contains("No cards"),
        "a refused card was enrolled on first use"
    );
}

#[test]
fn a_file_without_a_usable_row_changes_nothing() {
    let site = Site::new("");
    site.hr(&[CLAIRE]);
    site.ok(&["hr", "sync"]);
    site.hr(&["garbage;;;;;;;"]);
    let run = site.run(&["hr", "sync"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("nothing was changed"), "{}", run.all());
    assert!(
        site.ok(&["user", "show", "0751234567"])
            .contains("status: active")
    );
}

#[test]
fn a_truncated_export_does_not_remove_most_people_without_consent() {
    let site = Site::new("");
    let rows: Vec<String> = (0..10)
        .map(|i| format!("07512000{i:02};Nom{i};Prenom;Infirmier;rea;ACTIF;;"))
        .collect();
    let rows: Vec<&str> = rows.iter().map(String::as_str).collect();
    site.hr(&rows);
    site.ok(&["hr", "sync"]);
    site.hr(&rows[..4]);
    let dry = site.ok(&["hr", "sync", "--dry-run"]);
    assert!(
        dry.contains("6 removed") && dry.contains("would be refused"),
        "{dry}"
    );
    let run = site.run(&["hr", "sync"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("--accept-removals"), "{}", run.all());
    assert!(
        site.ok(&["user", "show", "0751200009"])
            .contains("status: active")
    );
    let out = site.ok(&["hr", "sync", "--accept-removals"]);
    assert!(out.contains("Access withdrawn for 6 people"), "{out}");
    assert!(
        site.ok(&["user", "show", "0751200009"])
            .contains("status: departed")
    );
}

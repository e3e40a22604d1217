//! `vigie-connector hr sync --source ldap` against a real OpenLDAP `slapd`.

mod common;
mod hr_ldap_common;

use common::Site;
use hr_ldap_common::{PEOPLE, SERVICE_PASSWORD, Slapd, group, person};

const CLAIRE: &str = "0751234567";
const PAUL: &str = "0751234568";
const LEA: &str = "0751234569";

/// A site whose `hr sync` reads `server` with pages of `page_size` entries, and `extra` TOML.
fn site(server: &Slapd, page_size: u16, extra: &str) -> Site {
    let site = Site::new("");
    let password = site.path("ldap-password");
    std::fs::write(&password, format!("{SERVICE_PASSWORD}\n")).expect("password file");
    let ldap = hr_ldap_common::connector_config(server, &password, page_size);
    site.configure(&format!("{extra}{ldap}"));
    site
}

fn three_people(server: &Slapd) {
    server.add(&format!(
        "{}{}{}{}",
        person("claire", CLAIRE, "Martin", "ACTIF"),
        person("paul", PAUL, "Durand", "ACTIF"),
        person("lea", LEA, "Petit", "ACTIF"),
        group("Urgences", &["claire", "paul"]),
    ));
}

#[test]
fn the_first_sync_adds_people_with_their_groups() {
    let server = Slapd::start(None);
    three_people(&server);
    let site = site(&server, 500, "");
    let out = site.ok(&["hr", "sync", "--source", "ldap"]);
    assert!(out.contains("3 entries, 0 left out"), "{out}");
    assert!(out.contains("3 added"), "{out}");
    let claire = site.ok(&["user", "show", CLAIRE]);
    assert!(claire.contains("Claire Martin"), "{claire}");
    assert!(claire.contains("groups: Urgences"), "{claire}");
    assert!(claire.contains("professions: Médecin"), "{claire}");
    assert!(
        site.ok(&["user", "show", LEA]).contains("groups: none"),
        "Léa is in no group"
    );
    let summary = site
        .audit_lines()
        .into_iter()
        .find(|l| l.contains("hr.sync"))
        .expect("an hr.sync audit record");
    assert!(summary.contains(&server.url()), "{summary}");
}

#[test]
fn groups_can_come_from_a_search_for_groups_that_list_their_members() {
    let server = Slapd::start(None);
    three_people(&server);
    server.add(&group("Pharmacie", &["lea", "claire"]));
    let site = site(&server, 500, "");
    let text = std::fs::read_to_string(site.path("connector.toml")).expect("config");
    let text = text.replace("groups = \"memberOf\"\n", "groups = \"\"\n")
        + &format!(
            "[hr.ldap.group_search]\nbase_dn = \"ou=groups,{}\"\n",
            hr_ldap_common::SUFFIX
        );
    std::fs::write(site.path("connector.toml"), text).expect("config");
    site.ok(&["hr", "sync", "--source", "ldap"]);
    let claire = site.ok(&["user", "show", CLAIRE]);
    assert!(claire.contains("groups: Pharmacie, Urgences"), "{claire}");
    let lea = site.ok(&["user", "show", LEA]);
    assert!(lea.contains("groups: Pharmacie"), "{lea}");
}

#[test]
fn bad_entries_are_reported_by_dn_and_the_others_still_sync() {
    let server = Slapd::start(None);
    three_people(&server);
    server.add(&format!(
        "{}{}{}",
        person("faux", "0751", "Faux", "ACTIF"),
        person("dup1", "0751234570", "Double", "ACTIF"),
        person("dup2", "0751234570", "Double", "ACTIF"),
    ));
    server.add(&person("retraite", "0751234571", "Odd", "RETRAITE"));
    let site = site(&server, 500, "");
    let run = site.run(&["hr", "sync", "--source", "ldap"]);
    assert_eq!(run.code, 2, "{}", run.all());
    for expected in [
        format!("entry uid=faux,{PEOPLE}: invalid idNat \"0751\""),
        format!("entry uid=dup2,{PEOPLE}: idNat 0751234570: the idNat appears on 2 entries"),
        format!("entry uid=retraite,{PEOPLE}: idNat 0751234571: status \"RETRAITE\""),
    ] {
        assert!(
            run.stderr.contains(&expected),
            "missing {expected:?}:\n{}",
            run.all()
        );
    }
    assert!(
        run.stdout.contains("7 entries, 4 left out"),
        "{}",
        run.all()
    );
    assert!(run.stdout.contains("3 added"), "{}", run.all());
    assert!(site.ok(&["user", "show", PAUL]).contains("Durand"));
    assert_ne!(site.run(&["user", "show", "0751234570"]).code, 0);
}

#[test]
fn removed_and_suspended_entries_lose_access_at_the_next_sync() {
    let server = Slapd::start(None);
    three_people(&server);
    let site = site(
        &server,
        500,
        "[[app]]\nname = \"dpi\"\ndns_name = \"dpi.hopital.example\"\n\
         ports = [\"tcp/443\"]\nbackend = \"198.18.10.1\"\ngroups = [\"Urgences\"]\n",
    );
    site.ok(&["hr", "sync", "--source", "ldap"]);
    let cert = site.card("paul", PAUL, "0B01", true);
    let cert = cert.to_string_lossy();
    site.ok(&["card", "enrol", "--idnat", PAUL, "--cert", &cert]);
    assert!(site.ok(&["admit", "--cert", &cert]).starts_with("accepted"));

    server.modify(&format!(
        "dn: uid=paul,{PEOPLE}\nchangetype: modify\nreplace: employeeType\nemployeeType: SUSPENDU\n"
    ));
    server.delete(&format!("uid=lea,{PEOPLE}"));
    let out = site.ok(&["hr", "sync", "--source", "ldap"]);
    assert!(out.contains("1 changed, 1 removed, 1 unchanged"), "{out}");
    assert!(out.contains("Access withdrawn for 2 people"), "{out}");
    assert!(out.contains(&format!("{PAUL} person-suspended")), "{out}");
    assert!(out.contains(&format!("{LEA} person-departed")), "{out}");
    let run = site.run(&["admit", "--cert", &cert]);
    assert_eq!(run.code, 3, "{}", run.all());
    assert!(
        run.stdout.contains("refused: person-suspended"),
        "{}",
        run.all()
    );
    let withdrawn = site
        .audit_lines()
        .into_iter()
        .filter(|l| l.contains("person.access-withdrawn"))
        .count();
    assert_eq!(withdrawn, 2);
    assert!(site.ok(&["user", "show", LEA]).contains("status: departed"));
}

#[test]
fn a_dry_run_chosen_by_the_configuration_changes_nothing() {
    let server = Slapd::start(None);
    three_people(&server);
    let site = site(&server, 500, "[hr]\nsource = \"ldap\"\n");
    let out = site.ok(&["hr", "sync", "--dry-run"]);
    assert!(out.contains("3 added") && out.contains("Dry run"), "{out}");
    assert_ne!(
        site.run(&["user", "show", CLAIRE]).code,
        0,
        "the dry run wrote"
    );
    assert!(!site.audit_lines().iter().any(|l| l.contains("hr.sync")));
}

#[test]
fn without_a_choice_between_two_sources_the_sync_asks_for_one() {
    let server = Slapd::start(None);
    let site = site(&server, 500, "");
    let run = site.run(&["hr", "sync"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("--source csv|ldap"), "{}", run.all());
}

#[test]
fn a_wrong_bind_password_fails_clearly_and_changes_nothing() {
    let server = Slapd::start(None);
    three_people(&server);
    let site = site(&server, 500, "");
    site.ok(&["hr", "sync", "--source", "ldap"]);
    let syncs = |site: &Site| {
        (site.audit_lines().iter())
            .filter(|l| l.contains("hr.sync"))
            .count()
    };
    assert_eq!(syncs(&site), 1);
    std::fs::write(site.path("ldap-password"), "not-the-password\n").expect("password file");
    let run = site.run(&["hr", "sync", "--source", "ldap"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("refused to bind as cn=vigie")
            && run.stderr.contains("invalidCredentials"),
        "{}",
        run.all()
    );
    assert!(run.stderr.contains("nothing was changed"), "{}", run.all());
    assert!(!run.all().contains("not-the-password"), "{}", run.all());
    assert_eq!(syncs(&site), 1);
    assert!(
        site.ok(&["user", "show", CLAIRE])
            .contains("status: active")
    );
}

#[test]
fn more_entries_than_one_page_are_all_read() {
    let server = Slapd::start(Some(5));
    let people: String = (0..12)
        .map(|i| person(&format!("p{i}"), &format!("07512000{i:02}"), "Nom", "ACTIF"))
        .collect();
    server.add(&people);
    let (unpaged, status) = server.search_unpaged(PEOPLE);
    assert_eq!(
        status,
        Some(4),
        "the server must cut unpaged searches:\n{unpaged}"
    );
    let site = site(&server, 5, "");
    let out = site.ok(&["hr", "sync", "--source", "ldap"]);
    assert!(out.contains("12 entries, 0 left out"), "{out}");
    assert!(out.contains("12 added"), "{out}");
    assert!(
        site.ok(&["user", "show", "0751200011"])
            .contains("status: active")
    );
}

#[test]
fn ldaps_and_starttls_trust_the_configured_authority_only() {
    // The server refuses every operation in clear: the syncs that pass below were encrypted.
    let server = Slapd::start_tls();
    three_people(&server);
    let ca = server.ca_file();
    let plain = server.url();
    let ldaps = format!(
        "url = \"{}\"\nca_file = \"{}\"\n",
        server.ldaps_url(),
        ca.display()
    );
    let starttls = format!(
        "url = \"{plain}\"\nstarttls = true\nca_file = \"{}\"\n",
        ca.display()
    );
    let untrusted = format!("url = \"{}\"\n", server.ldaps_url());
    let with_url = |url: &str| {
        let site = site(&server, 500, "");
        let text = std::fs::read_to_string(site.path("connector.toml")).expect("config");
        let text = text.replace(&format!("url = \"{plain}\"\n"), url);
        std::fs::write(site.path("connector.toml"), text).expect("config");
        site
    };

    let site = with_url(&format!("url = \"{plain}\"\n"));
    let run = site.run(&["hr", "sync", "--source", "ldap"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("confidentialityRequired"),
        "the server accepts a bind in clear:\n{}",
        run.all()
    );

    let site = with_url(&untrusted);
    let run = site.run(&["hr", "sync", "--source", "ldap"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("cannot connect to the LDAP server")
            && run.stderr.contains("certificate"),
        "{}",
        run.all()
    );
    assert_ne!(site.run(&["user", "show", CLAIRE]).code, 0);

    for url in [ldaps, starttls] {
        let site = with_url(&url);
        let out = site.ok(&["hr", "sync", "--source", "ldap"]);
        assert!(out.contains("3 added"), "{url}: {out}");
    }
}

#[test]
fn a_search_that_finds_nobody_changes_nothing() {
    let server = Slapd::start(None);
    three_people(&server);
    let site = site(&server, 500, "");
    site.ok(&["hr", "sync", "--source", "ldap"]);
    let text = std::fs::read_to_string(site.path("connector.toml")).expect("config");
    let text = text.replace("(objectClass=inetOrgPerson)", "(employeeNumber=none)");
    std::fs::write(site.path("connector.toml"), text).expect("config");
    let run = site.run(&["hr", "sync", "--source", "ldap"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(run.stderr.contains("nothing was changed"), "{}", run.all());
    assert!(site.ok(&["user", "show", LEA]).contains("status: active"));
}

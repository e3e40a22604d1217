//! Enrolment, revocation, enrol-on-first-use, published apps and `user show`, through the
//! real binary.

mod common;

use common::Site;

const DPI: &str = "[[app]]\nname = \"dpi\"\ndns_name = \"dpi.hopital.example\"\n\
     ports = [\"tcp/443\"]\nbackend = \"198.18.10.1\"\nprofessions = [\"Médecin\"]\n";

fn site(extra: &str) -> Site {
    let site = Site::new(extra);
    site.hr(&[
        "0751234567;Martin;Claire;Médecin;urgences;ACTIF;;",
        "0751234568;Durand;Paul;Infirmier;rea;ACTIF;;",
    ]);
    site.ok(&["hr", "sync"]);
    site
}

#[test]
fn cards_are_enrolled_listed_and_revoked() {
    let site = site(DPI);
    let der = site.card("claire-cps3", "0751234567", "00AB12", false);
    let pem = site.card("claire-cps4", "0751234567", "CD34", true);
    let (der, pem) = (
        der.to_string_lossy().into_owned(),
        pem.to_string_lossy().into_owned(),
    );

    let run = site.run(&["admit", "--cert", &der]);
    assert!(
        run.stdout.contains("refused: card-not-enrolled") && run.stdout.contains("card enrol"),
        "{}",
        run.all()
    );
    let wrong = site.run(&["card", "enrol", "--idnat", "0751234568", "--cert", &der]);
    assert!(
        wrong.code != 0 && wrong.stderr.contains("is for idNat 0751234567"),
        "{}",
        wrong.all()
    );

    site.ok(&["card", "enrol", "--idnat", "0751234567", "--cert", &der]);
    site.ok(&["card", "enrol", "--idnat", "0751234567", "--cert", &pem]);
    let list = site.ok(&["card", "list", "--idnat", "0751234567"]);
    assert!(
        list.contains("serial AB12")
            && list.contains("serial CD34")
            && list.contains("admin:desk-admin"),
        "{list}"
    );
    assert!(site.ok(&["admit", "--cert", &der]).starts_with("accepted"));

    let issuer = "GIVENNAME=Claire,SN=Martin,CN=0751234567,TITLE=Médecin,C=FR";
    site.ok(&[
        "card", "revoke", "--serial", "ab:12", "--issuer", issuer, "--reason", "lost",
    ]);
    let run = site.run(&["admit", "--cert", &der]);
    assert!(
        run.stdout.contains("refused: card-revoked (lost)"),
        "{}",
        run.all()
    );
    assert!(
        site.ok(&["admit", "--cert", &pem]).starts_with("accepted"),
        "the other card stays valid"
    );
    let again = site.run(&["card", "enrol", "--idnat", "0751234567", "--cert", &der]);
    assert!(
        again.code != 0 && again.stderr.contains("was revoked"),
        "{}",
        again.all()
    );
    assert!(site.ok(&["card", "list"]).contains("revoked"));
    let unknown = site.run(&[
        "card", "revoke", "--serial", "99", "--issuer", issuer, "--reason", "lost",
    ]);
    assert!(
        unknown.code != 0 && unknown.stderr.contains("card list"),
        "{}",
        unknown.all()
    );
    let audit = site.audit_lines().join("\n");
    assert!(
        audit.contains("\"card.revoked\"") && audit.contains("\"reason\":\"lost\""),
        "{audit}"
    );
}

#[test]
fn enrolment_on_first_use_follows_the_policy_both_ways() {
    let site = site(DPI);
    let cert = site.card("claire", "0751234567", "0E01", true);
    let cert = cert.to_string_lossy().into_owned();
    let run = site.run(&["admit", "--cert", &cert]);
    assert!(
        run.stdout.contains("refused: card-not-enrolled"),
        "{}",
        run.all()
    );

    site.configure(&format!("[enrolment]\non_first_use = true\n{DPI}"));
    let out = site.ok(&["admit", "--cert", &cert]);
    assert!(
        out.contains("enrolled on first use")
            && out.contains("dpi dpi.hopital.example 100.80.0.1 tcp/443"),
        "{out}"
    );
    assert!(site.ok(&["card", "list"]).contains("(first-use)"));
    let stranger = site.card("stranger", "0751234599", "0E02", true);
    let run = site.run(&["admit", "--cert", &stranger.to_string_lossy()]);
    assert!(
        run.stdout.contains("refused: unknown-person"),
        "{}",
        run.all()
    );
}

#[test]
fn apps_keep_their_virtual_addresses_across_restarts_and_republication() {
    let site = site(DPI);
    let publish = |name: &str| {
        site.ok(&[
            "app",
            "publish",
            "--name",
            name,
            "--dns-name",
            &format!("{name}.hopital.example"),
            "--port",
            "tcp/443",
            "--port",
            "tcp/8000-8010",
            "--backend",
            "198.18.10.2",
        ])
    };
    assert!(publish("mail").contains("100.80.0.2"));
    assert!(publish("pacs").contains("100.80.0.3"));
    site.ok(&["app", "withdraw", "mail"]);
    assert!(
        publish("agenda").contains("100.80.0.4"),
        "a withdrawn app's address was reused"
    );
    assert!(publish("mail").contains("100.80.0.2"));
    let list = site.ok(&["app", "list"]);
    assert!(
        list.contains("dpi dpi.hopital.example 100.80.0.1 tcp/443 -> 198.18.10.1 (from config)"),
        "{list}"
    );
    assert!(
        list.contains("mail mail.hopital.example 100.80.0.2 tcp/443 tcp/8000-8010"),
        "{list}"
    );

    let refused = site.run(&[
        "app",
        "publish",
        "--name",
        "dpi",
        "--dns-name",
        "x.hopital.example",
        "--port",
        "tcp/1",
        "--backend",
        "198.18.10.9",
    ]);
    assert!(
        refused.code != 0 && refused.stderr.contains("configuration file"),
        "{}",
        refused.all()
    );
    let bad = site.run(&[
        "app",
        "publish",
        "--name",
        "x",
        "--dns-name",
        "x.example",
        "--port",
        "tcp/99999",
        "--backend",
        "198.18.10.9",
    ]);
    assert!(
        bad.code != 0 && bad.stderr.contains("tcp/443"),
        "{}",
        bad.all()
    );
    assert_eq!(
        site.ok(&["app", "list"]),
        list,
        "listing again (a restart) changed something"
    );
}

#[test]
fn grants_decide_what_user_show_explains() {
    let site = site(DPI);
    site.ok(&[
        "app",
        "publish",
        "--name",
        "mail",
        "--dns-name",
        "mail.hopital.example",
        "--port",
        "tcp/993",
        "--backend",
        "mail.hopital.example",
    ]);
    site.ok(&["app", "grant", "mail", "--group", "rea"]);
    let paul = site.ok(&["user", "show", "0751234568"]);
    assert!(paul.contains("can be admitted today and reach:"), "{paul}");
    assert!(
        paul.contains(
            "mail mail.hopital.example 100.80.0.2: granted to group \"rea\" (from admin)"
        ),
        "{paul}"
    );
    assert!(!paul.contains("dpi"), "{paul}");
    let claire = site.ok(&["user", "show", "0751234567"]);
    assert!(
        claire.contains(
            "dpi dpi.hopital.example 100.80.0.1: granted to profession \"Médecin\" (from config)"
        ),
        "{claire}"
    );

    site.ok(&["app", "revoke", "mail", "--group", "rea"]);
    assert!(
        site.ok(&["user", "show", "0751234568"])
            .contains("no app is granted")
    );
    let from_file = site.run(&["app", "revoke", "dpi", "--profession", "Médecin"]);
    assert!(
        from_file.code != 0 && from_file.stderr.contains("configuration file"),
        "{}",
        from_file.all()
    );
}

#[test]
fn the_configuration_is_strict() {
    let site = Site::new("[enrolment]\non_frist_use = true\n");
    let run = site.run(&["check-config"]);
    assert_ne!(run.code, 0);
    assert!(
        run.stdout.contains("connector.toml:")
            && run
                .stdout
                .contains("unknown key `on_frist_use` in [enrolment]"),
        "{}",
        run.all()
    );
    let run = site.run(&["app", "list"]);
    assert!(
        run.code != 0 && run.stderr.contains("on_frist_use"),
        "{}",
        run.all()
    );
    site.configure("");
    site.ok(&["app", "list"]);
}

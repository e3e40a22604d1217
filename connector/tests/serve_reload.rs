//! Reloading the configuration of the real `vigie-connector serve` with `vigie-connector
//! reload` (SIGHUP): a new app is granted to new sessions and live sessions stay; new
//! session limits apply to new grants; a blocklist the reload names ends the session of the
//! card it blocks; a changed setting that needs a restart is reported; a file with mistakes
//! is refused with its file, line, column and key, and the running configuration keeps
//! working. Each reload is counted and audited.

mod serve_common;

use std::time::Duration;

use serve_common::{
    Served, admin_get, ends_with, next_event, sample, sections_for, serve_with_sections,
};
use vigie_protocol::Code;

const ADMIN: &str = "[admin]\nlisten = \"127.0.0.1:0\"\n";

/// An app for doctors, not in the site's file at start.
const LABO: &str = "[[app]]\nname = \"labo\"\ndns_name = \"labo.hopital.example\"\n\
                    ports = [\"tcp/8443\"]\nbackend = \"198.18.10.9\"\n\
                    professions = [\"Médecin\"]\n";

fn rewrite(served: &Served, listen: &str, session: &str, trust: &str, extra: &str) {
    let sections = sections_for(&served.world, listen, session, trust, extra);
    served.site.configure(&sections);
}

fn app_names(grant: &vigie_protocol::SessionGrant) -> Vec<String> {
    let mut names: Vec<String> = grant.apps.iter().map(|a| a.name.clone()).collect();
    names.sort();
    names
}

fn reloads(served: &Served, outcome: &str) -> Option<f64> {
    let (_, page) = admin_get(served, "/metrics");
    let labels = format!("outcome=\"{outcome}\"");
    sample(&page, "vigie_config_reloads_total", &labels)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reload_grants_a_new_app_to_new_sessions_and_live_sessions_stay() {
    let served = serve_with_sections(ADMIN);
    let (mut nurse, nurse_grant, _nurse_quic) = served.granted("cps4-nurse").await;

    let extra = format!("{ADMIN}{LABO}");
    rewrite(
        &served,
        "handshake_timeout = \"5s\"",
        "idle_timeout = \"20m\"",
        "",
        &extra,
    );
    let run = served.site.run(&["reload"]);
    assert_eq!(run.code, 0, "{}", run.all());
    for said in [
        "labo created",
        "labo granted to profession Médecin",
        "[session]: new limits for the sessions admitted from now on",
    ] {
        assert!(run.stdout.contains(said), "{said:?} in {}", run.all());
    }
    let (_, restart) = run
        .stdout
        .split_once("next start")
        .expect("a restart section");
    assert_eq!(
        restart.lines().nth(1).map(str::trim),
        Some("[listen]"),
        "{}",
        run.stdout
    );
    served.wait_log("takes effect only when the connector restarts");

    // The nurse's session was not disturbed.
    let quiet = tokio::time::timeout(Duration::from_secs(2), next_event(&mut nurse)).await;
    assert!(quiet.is_err(), "the live session got {quiet:?}");
    let sessions = served.site.ok(&["session", "list"]);
    assert!(
        sessions.contains(&nurse_grant.session_id.to_string()),
        "{sessions}"
    );

    // A session admitted now gets the new app and the new limits.
    let (_doctor, grant, _quic) = served.granted("cps4-doctor").await;
    assert_eq!(app_names(&grant), ["dpi", "labo", "mail"]);
    assert_eq!(grant.idle_timeout, Some(Duration::from_secs(20 * 60)));
    assert_eq!(reloads(&served, "applied"), Some(1.0));
    let audited = served.wait_audit("config.reload", 1);
    assert_eq!(audited[0]["fields"]["outcome"], "applied", "{audited:?}");
    let published = served.audit_of("app.published");
    let labo = published.iter().find(|r| r["fields"]["app"] == "labo");
    assert_eq!(labo.expect("labo audited")["fields"]["source"], "config");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_with_mistakes_is_refused_at_its_line_and_the_running_configuration_stays() {
    let served = serve_with_sections(ADMIN);
    let extra = format!("{ADMIN}{LABO}");
    rewrite(&served, "", "idle_timout = \"1m\"", "", &extra);
    let text = std::fs::read_to_string(served.site.path("connector.toml")).expect("the file");
    let line = 1 + text
        .lines()
        .position(|l| l.starts_with("idle_timout"))
        .expect("the typo's line");

    let run = served.site.run(&["reload"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("the running configuration stays"),
        "{}",
        run.all()
    );
    let named = format!("connector.toml:{line}:1: unknown key `idle_timout` in [session]");
    assert!(run.stderr.contains(&named), "{named:?} in {}", run.all());
    served.wait_log("configuration not reloaded");
    assert_eq!(reloads(&served, "refused"), Some(1.0));
    let audited = served.wait_audit("config.reload", 1);
    assert_eq!(audited[0]["fields"]["outcome"], "refused");
    assert!(
        audited[0]["fields"]["details"][0]
            .as_str()
            .is_some_and(|d| d.contains(&named))
    );

    // The running configuration is whole: no new app, the old limits.
    let (_doctor, grant, _quic) = served.granted("cps4-doctor").await;
    assert_eq!(app_names(&grant), ["dpi", "mail"]);
    assert_eq!(grant.idle_timeout, Some(Duration::from_secs(15 * 60)));

    // Fixed, it is applied.
    rewrite(&served, "", "idle_timeout = \"1m\"", "", &extra);
    let run = served.site.run(&["reload"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(run.stdout.contains("labo created"), "{}", run.all());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_blocklist_named_by_a_reload_ends_the_session_of_the_card_it_blocks() {
    let served = serve_with_sections(ADMIN);
    let (mut doctor, _, _doctor_quic) = served.granted("cps4-doctor").await;
    let (mut nurse, _, _nurse_quic) = served.granted("cps4-nurse").await;
    let blocklist = served.site.path("blocklist.toml");
    std::fs::write(&blocklist, "id_nats = [\"899700123450\"]\n").expect("a blocklist");
    let dir = served.world_dir().display().to_string();
    let trust = format!("crls = [\"{dir}/crl\"]\nblocklist = \"blocklist.toml\"");
    rewrite(&served, "", "", &trust, ADMIN);

    let run = served.site.run(&["reload"]);
    assert_eq!(run.code, 0, "{}", run.all());
    assert!(
        run.stdout.contains("blocklist: read again now"),
        "{}",
        run.all()
    );
    ends_with(&mut doctor, Code::CARD_REVOKED).await;
    let quiet = tokio::time::timeout(Duration::from_secs(1), next_event(&mut nurse)).await;
    assert!(quiet.is_err(), "the nurse's session got {quiet:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn apps_the_directory_refuses_keep_the_whole_running_configuration() {
    let served = serve_with_sections(ADMIN);
    // An app published from the command line holds the name the file's new app wants.
    let taken = [
        "app",
        "publish",
        "--name",
        "labo-old",
        "--dns-name",
        "labo.hopital.example",
        "--port",
        "tcp/8443",
        "--backend",
        "198.18.10.8",
    ];
    served.site.ok(&taken);
    let extra = format!("{ADMIN}{LABO}");
    rewrite(&served, "", "idle_timeout = \"20m\"", "", &extra);

    let run = served.site.run(&["reload"]);
    assert_eq!(run.code, 1, "{}", run.all());
    assert!(
        run.stderr.contains("[[app]]: the directory refuses them"),
        "{}",
        run.all()
    );
    let (_doctor, grant, _quic) = served.granted("cps4-doctor").await;
    assert_eq!(
        grant.idle_timeout,
        Some(Duration::from_secs(15 * 60)),
        "nothing applied"
    );
    assert_eq!(app_names(&grant), ["dpi", "mail"]);
}

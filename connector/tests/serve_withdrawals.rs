//! Access withdrawn by an administrator's command while `serve` runs in another process:
//! `session kill` (one session, a person's, or all), an `hr sync` that suspends someone, a
//! `card revoke`; and a last working day that passes. Each ends the live sessions concerned
//! within seconds, and each user is told why.

mod serve_common;

use chrono::{NaiveDate, Timelike as _, Utc};
use serve_common::{Served, card_file, ends_with, serve};
use vigie_protocol::Code;

#[tokio::test(flavor = "multi_thread")]
async fn a_kill_an_hr_suspension_and_a_card_revocation_end_live_sessions_with_their_reason() {
    let served = serve();
    let (mut nurse, nurse_grant, _nurse_quic) = served.granted("cps4-nurse").await;
    let nurse_id = nurse_grant.session_id;
    let (mut doctor, doctor_grant, _doctor_quic) = served.granted("cps4-doctor").await;
    let doctor_id = doctor_grant.session_id;

    let listed = served.site.ok(&["session", "list"]);
    for (id, id_nat) in [(nurse_id, "0751234567"), (doctor_id, "899700123450")] {
        let line = listed.lines().find(|l| l.starts_with(&id.to_string()));
        let line = line.unwrap_or_else(|| panic!("{id} missing from:\n{listed}"));
        assert!(line.contains(id_nat), "{line}");
    }

    served.site.ok(&[
        "session",
        "kill",
        &nurse_id.to_string(),
        "--reason",
        "stolen laptop",
    ]);
    ends_with(&mut nurse, Code::ADMIN_KILL).await;
    let again = served.site.run(&["session", "kill", &nurse_id.to_string()]);
    assert_ne!(again.code, 0, "a session is killed once");
    assert!(again.stderr.contains("no live session"), "{}", again.stderr);

    // HR suspends the doctor: the next sync ends her session.
    served.site.hr(&[
        "899700123450;DOCTEUR;Jean;Médecin;urgences;SUSPENDU;01/01/2020;",
        "0751234567;INFIRMIERE;Claire;Infirmier;soins;ACTIF;01/01/2020;",
        "899700075122;PHARMACIEN;Paul;Pharmacien;pharmacie;SUSPENDU;01/01/2020;",
    ]);
    served.site.ok(&["hr", "sync"]);
    ends_with(&mut doctor, Code::HR_SUSPENSION).await;

    // The nurse's card is reported stolen while she is connected again.
    let (mut nurse, _, _nurse_quic) = served.granted("cps4-nurse").await;
    let cert = card_file(&served.world, "cps4-nurse", "auth.crt.der");
    let cert = cert.to_string_lossy();
    served
        .site
        .ok(&["card", "revoke", "--cert", &cert, "--reason", "stolen"]);
    ends_with(&mut nurse, Code::CARD_REVOKED).await;

    // The connector audits each end (3); the kill and the revocation are audited as the
    // admins' own acts too (2).
    let ends = served.wait_audit("session.end", 5);
    assert_eq!(ends.len(), 5, "{ends:#?}");
    let by_admin = ends
        .iter()
        .filter(|e| e["fields"]["reason"] == "admin-kill");
    assert_eq!(by_admin.count(), 1, "{ends:#?}");
    let killed = u64::from(Code::ADMIN_KILL.number());
    assert!(
        ends.iter().any(|e| e["fields"]["reason"] == killed),
        "{ends:#?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_s_sessions_or_every_session_end_with_one_kill() {
    let served = serve();
    let (mut nurse, _, _nurse_quic) = served.granted("cps4-nurse").await;
    let (mut doctor, doctor_grant, _doctor_quic) = served.granted("cps4-doctor").await;

    let bad = served.site.run(&["session", "kill", "--person", "07512"]);
    assert_ne!(bad.code, 0, "a malformed idNat is refused");
    assert!(bad.stderr.contains("not a valid idNat"), "{}", bad.stderr);
    let both = served.site.run(&["session", "kill", "x", "--all"]);
    assert_ne!(both.code, 0, "an id and --all together are refused");

    // A card reported stolen: the nurse's sessions end, the doctor's does not.
    let out = served.site.ok(&[
        "session",
        "kill",
        "--person",
        "0751234567",
        "--reason",
        "card reported stolen",
    ]);
    assert_eq!(out.matches("ended.").count(), 1, "{out}");
    ends_with(&mut nurse, Code::ADMIN_KILL).await;
    let listed = served.site.ok(&["session", "list"]);
    assert!(
        listed.starts_with(&doctor_grant.session_id.to_string()),
        "{listed}"
    );
    assert!(!listed.contains("0751234567"), "{listed}");

    // An incident: every session ends.
    let out = served
        .site
        .ok(&["session", "kill", "--all", "--reason", "incident"]);
    assert!(out.contains(&doctor_grant.session_id.to_string()), "{out}");
    ends_with(&mut doctor, Code::ADMIN_KILL).await;
    assert_eq!(
        served.site.ok(&["session", "list"]).trim(),
        "No live session."
    );
    let again = served.site.ok(&["session", "kill", "--all"]);
    assert!(again.contains("No live session."), "{again}");

    let killed = served.wait_audit("session.end", 4);
    let mut details: Vec<_> = killed
        .iter()
        .filter(|e| e["fields"]["reason"] == "admin-kill")
        .filter_map(|e| e["fields"]["detail"].as_str())
        .collect();
    details.sort_unstable();
    assert_eq!(details, ["card reported stolen", "incident"], "{killed:#?}");
}

/// Writes the end dates of `people` (idNat, last working day) straight into the site's
/// directory, as the days passing would leave them: HR wrote them long ago, and nothing
/// changes in the export when the day comes.
fn set_last_days(served: &Served, people: &[(&str, NaiveDate)]) {
    let updates: String = people
        .iter()
        .map(|(id_nat, day)| {
            format!(
                "db.execute(\"UPDATE people SET end_date = '{day}' WHERE id_nat = '{id_nat}'\")\n"
            )
        })
        .collect();
    let script = format!(
        "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1], timeout=30)\n{updates}db.commit()\n"
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &script])
        .arg(served.site.path("state/connector.db"))
        .status()
        .expect("python3");
    assert!(status.success(), "the end dates written");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_last_working_day_that_passes_in_the_hospital_s_time_zone_ends_the_session() {
    let mut served = serve();
    // The connector runs a day away from UTC (almost), so that its local day and the UTC
    // day always differ: a check made on UTC days would end the wrong session.
    let now = Utc::now();
    let (time_zone, local_today) = if now.hour() >= 12 {
        ("<+2359>-23:59", now.date_naive().succ_opt().expect("a day"))
    } else {
        ("<-2359>+23:59", now.date_naive().pred_opt().expect("a day"))
    };
    served.restart_in_time_zone(time_zone);
    let (mut nurse, _, _nurse_quic) = served.granted("cps4-nurse").await;
    let (_doctor, doctor_grant, _doctor_quic) = served.granted("cps4-doctor").await;

    // The nurse's last day was yesterday, the doctor's is today, in the connector's days.
    let yesterday = local_today.pred_opt().expect("a day");
    set_last_days(
        &served,
        &[("0751234567", yesterday), ("899700123450", local_today)],
    );

    ends_with(&mut nurse, Code::HR_DEPARTURE).await;
    let listed = served.site.ok(&["session", "list"]);
    assert!(
        listed.starts_with(&doctor_grant.session_id.to_string()),
        "the doctor works today, his session goes on: {listed}"
    );
    assert!(!listed.contains("0751234567"), "{listed}");
}

//! Access withdrawn by an administrator's command while `serve` runs in another process:
//! `session kill` (one session, a person's, or all), an `hr sync` that suspends someone, a
//! `card revoke`. Each ends the live
//! sessions concerned within seconds, and each user is told why.

mod serve_common;

use serve_common::{card_file, ends_with, serve};
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

#[tokio::test(flavor = "multi_thread")]
async fn a_last_working_day_that_passes_ends_the_session_without_a_new_hr_export() {
    let served = serve();
    let (mut nurse, _, _nurse_quic) = served.granted("cps4-nurse").await;
    let (_doctor, doctor_grant, _doctor_quic) = served.granted("cps4-doctor").await;

    // The nurse's contract ended yesterday: HR wrote the date long ago, and nothing changes
    // in the export when the day passes. (Written here straight into the directory, as the
    // date passing would leave it.)
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).date_naive();
    let database = served.site.path("state/connector.db");
    let script = format!(
        "import sqlite3, sys\n\
         db = sqlite3.connect(sys.argv[1], timeout=30)\n\
         db.execute(\"UPDATE people SET end_date = '{yesterday}' WHERE id_nat = '0751234567'\")\n\
         db.commit()\n"
    );
    let status = std::process::Command::new("python3")
        .args(["-c", &script])
        .arg(&database)
        .status()
        .expect("python3");
    assert!(status.success(), "the end date written");

    ends_with(&mut nurse, Code::HR_DEPARTURE).await;
    let listed = served.site.ok(&["session", "list"]);
    assert!(
        listed.starts_with(&doctor_grant.session_id.to_string()),
        "the doctor's session goes on: {listed}"
    );
    assert!(!listed.contains("0751234567"), "{listed}");
}

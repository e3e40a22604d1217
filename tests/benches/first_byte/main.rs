//! Time to first app byte: from the moment `vigie up` starts, the card in the reader and the
//! PIN given (`VIGIE_PIN`, as typed), to the first byte of the published web app's answer read
//! on the laptop through the tunnel. In the lab, as root: the real `vigie-connector serve` in a
//! connector namespace with its data plane, the lab's web app on the hospital LAN, the real
//! `vigie up` in a laptop namespace with the emulated card behind the lab's pcscd.
//!
//! Two scenarios, interleaved round by round: a CPS3 (TLS 1.2 over TCP) and a CPS4 (QUIC with
//! TLS 1.3). Each round is a fresh `vigie up`, ended with `vigie down`; a first round of each
//! warms the caches and is not counted. Beside the first byte it reports the emulated card's
//! own time (its RSA, which stands for a real card's on-chip signing, and all its APDUs), the
//! first byte minus that signing time (what the 300 ms target is about), and the phases of
//! `vigie up` read from its debug log, so the table says where the time goes.
//!
//! Run: `sudo cargo bench -p vigie-lab --bench first_byte` (release build). With
//! `VIGIE_BENCH_TSV=path`, every value is appended to that file as
//! `first_byte<TAB>round<TAB>cps3|cps4<TAB>metric<TAB>ms`. [`knobs`] lists what else a run can
//! change: the rounds, a card as slow as a real one (the first byte minus the card's signing
//! should then stay the same, or something in Vigie waits on the card), more apps.

#[path = "../../tests/e2e_support/mod.rs"]
mod e2e_support;
mod knobs;
mod phases;
mod probe;
mod report;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use e2e_support::clinician::{Clinician, Session};
use e2e_support::connector::Connector;
use e2e_support::hospital_net::{HospitalNet, Laptop};
use e2e_support::world;
use knobs::Knobs;
use probe::{Prober, Target};
use report::Rows;
use vigie_lab::apps::WebApp;

/// The published web app, by the name the laptop resolves.
const APP: &str = "dpi.hopital.example";
/// How long one round may take before it is called a failure.
const PATIENCE: Duration = Duration::from_secs(60);
/// What `vigie up` logs: its own debug lines, each with its time.
const CLIENT_LOG: &[(&str, &str)] = &[
    ("VIGIE_LOG", "vigie_client=debug,boringtun=debug"),
    ("NO_COLOR", "1"),
];

/// The metrics of every round, besides the phases: (metric, label).
const FIGURES: &[(&str, &str)] = &[
    ("first_byte_ms", "**first app byte**"),
    ("card_signing_ms", "card signing (emulator)"),
    (
        "first_byte_minus_signing_ms",
        "**first byte − card signing** (target < 300)",
    ),
    ("card_apdus_ms", "card, all APDUs (emulator)"),
    (
        "client_signing_ms",
        "signature as the client waits for it (pcscd, vpcd, card)",
    ),
];

/// One clinician on her own laptop, her card in her own reader.
struct Scenario {
    key: String,
    title: String,
    laptop: Laptop,
    clinician: Clinician,
}

fn main() {
    if vigie_lab::require_root("network namespaces, TUN devices, nftables, pcscd").is_err() {
        return;
    }
    let knobs = Knobs::from_env();
    let hospital = HospitalNet::start();
    let site = site(&hospital, knobs.apps);
    let connector = Connector::start_site(&world(), &site, Some(&hospital.connector));
    let scenarios = [
        scenario(
            &hospital,
            ("cps3", "CPS3, TLS 1.2/TCP"),
            "cps3-doctor",
            &knobs,
        ),
        scenario(
            &hospital,
            ("cps4", "CPS4, QUIC/TLS 1.3"),
            "cps4-nurse",
            &knobs,
        ),
    ];
    let mut sessions = 0;
    for scenario in &scenarios {
        round(scenario, &connector, &mut sessions);
    }
    let mut rows = Rows::default();
    let mut apdus = vec![0; scenarios.len()];
    for number in 1..=knobs.rounds {
        for (scenario, count) in scenarios.iter().zip(&mut apdus) {
            let round = round(scenario, &connector, &mut sessions);
            for (metric, ms) in round.figures {
                rows.push(number, &scenario.key, metric, ms);
            }
            *count = round.apdus;
        }
    }
    let app = app_alone(&hospital);
    print(&rows, &scenarios, knobs.rounds, app);
    for (scenario, count) in scenarios.iter().zip(apdus) {
        println!(
            "{}: {count} APDUs answered by the card before the first byte.",
            scenario.title
        );
    }
    if let Some(path) = std::env::var_os("VIGIE_BENCH_TSV") {
        let path = std::path::PathBuf::from(path);
        rows.append_tsv(&path)
            .unwrap_or_else(|e| panic!("cannot append to {}: {e}", path.display()));
    }
}

/// The hospital's site: the web app, and `apps - 1` more on the same server, published to
/// both clinicians.
fn site(hospital: &HospitalNet, apps: usize) -> e2e_support::connector::Site {
    let backend = hospital.backend_address;
    let app = |name: &str, dns_name: &str| {
        format!(
            "[[app]]\nname = \"{name}\"\ndns_name = \"{dns_name}\"\nports = [\"tcp/80\"]\n\
             backend = \"{backend}\"\nprofessions = [\"Médecin\", \"Infirmier\"]\n"
        )
    };
    let mut published = app("dpi", APP);
    for n in 1..apps {
        published += &app(&format!("app{n}"), &format!("app{n}.hopital.example"));
    }
    e2e_support::connector::Site {
        apps: published,
        ..hospital.site()
    }
}

/// A laptop, a clinician, and `card` in her reader, as slow as `knobs` say.
fn scenario(
    hospital: &HospitalNet,
    (key, title): (&str, &str),
    card: &str,
    knobs: &Knobs,
) -> Scenario {
    let world = world();
    let laptop = hospital.laptop();
    let mut clinician = Clinician::new(&world, hospital.control_address());
    clinician.use_laptop(Arc::clone(&laptop.ns), hospital.control_address());
    clinician.insert(&world, card);
    let inserted = clinician.card().expect("the card just inserted");
    inserted.set_signing_floor(knobs.signing_floor);
    let (key_suffix, title_suffix) = knobs.suffixes();
    Scenario {
        key: key.to_owned() + &key_suffix,
        title: title.to_owned() + &title_suffix,
        laptop,
        clinician,
    }
}

fn target() -> Target {
    Target {
        name: APP.into(),
        port: 80,
        marker: WebApp::marker("dpi"),
    }
}

/// What one round measured.
struct Round {
    /// (metric, milliseconds).
    figures: Vec<(&'static str, f64)>,
    /// APDUs the card answered before the first byte.
    apdus: u64,
}

/// One fresh `vigie up` to the first byte, then `vigie down`.
fn round(scenario: &Scenario, connector: &Connector, sessions: &mut usize) -> Round {
    let Scenario { key, clinician, .. } = scenario;
    let card_before = clinician.card_time();
    let prober = Prober::start(&scenario.laptop.ns, target()).expect("the prober");
    let wall = SystemTime::now();
    let started = Instant::now();
    let mut session = clinician.up_started(CLIENT_LOG);
    let first = prober.wait(PATIENCE, || still_running(&mut session));
    let card = clinician.card_time().since(&card_before);
    let first = first.unwrap_or_else(|e| panic!("{key}: {e}\n{}", session.output()));
    drop(prober);
    clinician.wait_state(&mut session, "active");
    clinician.down(&mut session);
    *sessions += 1;
    connector.wait_log("session left the data plane", *sessions);

    let log = session.stderr();
    let first_byte = millis(first.at - started);
    let signing = millis(card.signing);
    assert_eq!(
        card.signatures, 1,
        "{key}: one card signature before the first byte"
    );
    let mut figures = vec![
        ("first_byte_ms", first_byte),
        ("card_signing_ms", signing),
        ("first_byte_minus_signing_ms", first_byte - signing),
        ("card_apdus_ms", millis(card.apdus)),
    ];
    if let Some(ms) = phases::client_signing_ms(&log) {
        figures.push(("client_signing_ms", ms));
    }
    let phases = phases::read(&log, wall);
    for (phase, ms) in phases::PHASES.iter().zip(phases) {
        figures.extend(ms.map(|ms| (phase.metric, ms)));
    }
    Round {
        figures,
        apdus: card.apdu_count,
    }
}

fn still_running(session: &mut Session) -> Result<(), String> {
    match session.child.try_wait() {
        Ok(Some(exit)) => Err(format!("vigie up exited with {exit}")),
        _ => Ok(()),
    }
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

/// The app's own answer time on the hospital LAN, without Vigie: median of 10 GETs.
fn app_alone(hospital: &HospitalNet) -> Option<f64> {
    let address = SocketAddr::from((hospital.backend_address, 80));
    let times: Vec<f64> = (0..10)
        .filter_map(|_| probe::direct(&hospital.connector, address, &target()).ok())
        .map(millis)
        .collect();
    report::spread(times).map(|s| s.median)
}

fn print(rows: &Rows, scenarios: &[Scenario], rounds: usize, app: Option<f64>) {
    let columns: Vec<(&str, &str)> = scenarios
        .iter()
        .map(|s| (s.key.as_str(), s.title.as_str()))
        .collect();
    let mut metrics: Vec<(&str, &str)> = FIGURES.to_vec();
    println!("Time to first app byte, {rounds} rounds per card (median [min–max], p90; ms):\n");
    println!("{}", report::table(rows, &columns, &metrics));
    metrics.clear();
    for phase in phases::PHASES {
        metrics.push((phase.metric, phase.label));
    }
    println!("Phases of `vigie up`, ms after its start (from its debug log):\n");
    println!("{}", report::table(rows, &columns, &metrics));
    if let Some(ms) = app {
        println!("The web app alone, asked on the hospital LAN without Vigie: {ms:.2} ms.");
    }
    for (key, title) in &columns {
        let Some(spread) = rows.spread(key, "first_byte_minus_signing_ms") else {
            continue;
        };
        let verdict = if spread.p90 < 300.0 { "met" } else { "NOT met" };
        println!(
            "{title}: first byte − card signing, p90 {:.0} ms: target < 300 ms {verdict}.",
            spread.p90
        );
    }
}

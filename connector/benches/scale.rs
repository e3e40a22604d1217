//! Many concurrent sessions on one connector: 10,000 by default, from this one process (QUIC
//! and TCP connections, CPS4-style TLS 1.3 and CPS3-style TLS 1.2), against the real
//! `vigie-connector serve` (release build) with its data plane on.
//!
//! ```text
//!  clients namespace                 connector namespace                  backend namespace
//!  this process's sessions ──veth──▶ vigie-connector serve ──veth──▶ 198.18.10.1:443 (dpi)
//!  (and boringtun for a sample)      [dataplane] TUN, nftables
//! ```
//!
//! Measured per round, with a fresh connector: its resident memory before the first session
//! and with every session live (so memory per session), the time to admit them all (64
//! admissions at a time) and the connector's CPU time for it; then, with all of them live, a
//! sample of sessions (one in 500) opens its WireGuard tunnel with boringtun in this process,
//! keyed with the ephemeral key its hello carried, and sends a TCP SYN to an app it is
//! granted (`dpi`: the app's server must answer SYN-ACK) and one to an app it is not
//! (`pharma`: the connector's filter must answer with a reset). The counts are checked.
//!
//! Needs root for the namespaces, the TUN device and nftables; without it the sessions are
//! opened on 127.0.0.1 with no data plane, and the data plane check is skipped (said so).
//!
//! Run: `cargo bench -p vigie-connector --bench scale` (about 4 minutes for 3 rounds; the
//! first run also makes the bulk cards). `VIGIE_SCALE_SESSIONS` and `VIGIE_SCALE_ROUNDS`
//! change the count and the rounds; with `VIGIE_BENCH_TSV=path`, rows `scale ROUND SCENARIO
//! METRIC VALUE` are appended to that file.

#[path = "../tests/serve_common/mod.rs"]
mod serve_common;

#[path = "../tests/load/mod.rs"]
mod load;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use load::Kind;
use load::lab::Lab;
use load::probe::{self, Probe, Seen};
use serve_common::client::{self, Control};
use serve_common::{LoadSite, Served, serve_load};
use tokio::sync::{Semaphore, mpsc, watch};
use vigie_protocol::{ClientEvent, SessionGrant, WireGuardKey};
use x25519_dalek::{PublicKey, StaticSecret};

const DEFAULT_SESSIONS: usize = 10_000;
const DEFAULT_ROUNDS: usize = 3;
/// Admissions in flight at once.
const IN_FLIGHT: usize = 64;
/// One session in this many opens its tunnel for the data plane check.
const SAMPLE_EVERY: usize = 500;
/// QUIC endpoints the client sessions share.
const ENDPOINTS: usize = 32;
const PATIENCE: Duration = Duration::from_secs(60);
/// The granted app's backend (the test site's `dpi`).
const DPI_BACKEND: Ipv4Addr = Ipv4Addr::new(198, 18, 10, 1);
const DATAPLANE_PORT: u16 = 51_820;

/// A session to open: its card's TLS configuration and its WireGuard key pair.
struct Planned {
    kind: Kind,
    tls: rustls::ClientConfig,
    secret: StaticSecret,
}

/// One round's figures.
#[derive(Default)]
struct Round {
    granted: usize,
    failed: usize,
    live_at_end: usize,
    admit_seconds: f64,
    cpu_seconds: f64,
    rss_before: u64,
    rss_after: u64,
    seen: Vec<Seen>,
}

fn main() {
    let sessions = env_count("VIGIE_SCALE_SESSIONS", DEFAULT_SESSIONS).min(load::BULK_CARDS);
    let rounds = env_count("VIGIE_SCALE_ROUNDS", DEFAULT_ROUNDS).max(1);
    raise_fd_limit();
    let world = serve_common::world();
    let bulk = load::bulk_cards(&world);
    let cards = &bulk.cards[..sessions];
    let rows = load::hr_rows(cards);
    let lab = vigie_lab::require_root("namespaces, a TUN device and nftables")
        .ok()
        .map(|()| Lab::new(&[SocketAddr::from((DPI_BACKEND, 443))]));
    let mut tsv = load::Tsv::from_env("scale");
    let mut results = Vec::new();
    for round in 1..=rounds {
        let planned = plan(&world, cards, bulk.key_pkcs8.as_slice());
        let served = start(&world, &rows, lab.as_ref());
        let result = run_round(&served, planned, lab.as_ref());
        check(&result, sessions, lab.is_some(), &served);
        drop(served);
        record(&mut tsv, round, sessions, &result);
        results.push(result);
    }
    print_table(sessions, lab.is_some(), &results);
}

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Sessions need a file descriptor each on both sides: the soft limit goes up to the hard
/// one for this process and the connector it starts (`ulimit -n`).
fn raise_fd_limit() {
    let pid = std::process::id().to_string();
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let hard = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(4))
        .unwrap_or("unlimited")
        .to_owned();
    let hard = if hard == "unlimited" {
        "1048576".to_owned()
    } else {
        hard
    };
    let set = format!("--nofile={hard}:{hard}");
    let status = std::process::Command::new("prlimit")
        .args(["--pid", &pid, &set])
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("could not raise the open-file limit to {hard}; sessions may fail");
    }
}

/// The sessions of one round: 60 % QUIC, 20 % TCP with TLS 1.3, 20 % TCP with TLS 1.2
/// (PKCS#1 signatures, as a CPS3), each with a fresh WireGuard key pair.
fn plan(
    world: &vigie_certs::pki::World,
    cards: &[vigie_certs::pki::BulkCard],
    key: &[u8],
) -> Vec<Planned> {
    cards
        .iter()
        .enumerate()
        .map(|(i, card)| {
            let kind = Kind::of(i);
            let (_, tls) = load::soft_card(world, card, key, kind);
            let secret = StaticSecret::random_from_rng(rand_core::OsRng);
            Planned { kind, tls, secret }
        })
        .collect()
}

fn start(world: &vigie_certs::pki::World, rows: &[String], lab: Option<&Lab>) -> Served {
    let address = lab
        .map_or(Ipv4Addr::LOCALHOST, |l| l.connector_address)
        .to_string();
    let endpoints = format!("{address}:{DATAPLANE_PORT}");
    let extra =
        format!("[dataplane]\nenabled = true\nport = {DATAPLANE_PORT}\ntun = \"vgscale0\"\n");
    let load = LoadSite {
        hr_rows: rows,
        address: &address,
        endpoints: &endpoints,
        session: "idle_timeout = \"1h\"\nreproof_interval = \"1h\"",
        extra: if lab.is_some() { &extra } else { "" },
        netns: lab.map(|l| l.connector.name()),
        ..LoadSite::default()
    };
    serve_load(world.clone(), &load)
}

/// Runs the round's clients on a runtime whose threads live in the clients' namespace.
fn run_round(served: &Served, planned: Vec<Planned>, lab: Option<&Lab>) -> Round {
    let (address, pid) = (served.address, served.pid());
    let other = lab.map(|_| load::app_address(served, "pharma"));
    let netns = lab.map(|l| l.clients.name().to_owned());
    load::spawn_in_netns(netns, move || sessions(address, pid, planned, other))
        .join()
        .expect("the clients' thread")
}

/// A granted session as its task reports it.
struct Admitted {
    index: usize,
    grant: SessionGrant,
}

async fn sessions(
    address: SocketAddr,
    pid: u32,
    planned: Vec<Planned>,
    other: Option<Ipv4Addr>,
) -> Round {
    let endpoints: Vec<quinn::Endpoint> = (0..ENDPOINTS)
        .map(|_| quinn::Endpoint::client("0.0.0.0:0".parse().expect("an address")).expect("UDP"))
        .collect();
    let total = planned.len();
    let secrets: Vec<StaticSecret> = planned.iter().map(|p| p.secret.clone()).collect();
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let live = Arc::new(AtomicUsize::new(0));
    let (quit, quitting) = watch::channel(false);
    let (report, mut reports) = mpsc::unbounded_channel();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut round = Round {
        rss_before: load::rss(pid),
        ..Round::default()
    };
    let (cpu, started) = (load::cpu_time(pid), Instant::now());
    let mut tasks = Vec::with_capacity(total);
    for (index, planned) in planned.into_iter().enumerate() {
        let endpoint = endpoints[index % ENDPOINTS].clone();
        let session = Session {
            index,
            planned,
            address,
            endpoint,
            permits: permits.clone(),
            live: live.clone(),
            quitting: quitting.clone(),
            report: report.clone(),
        };
        tasks.push(tokio::spawn(session.run()));
    }
    let mut granted = Vec::new();
    for _ in 0..total {
        match reports.recv().await {
            Some(Ok(admitted)) => granted.push(admitted),
            Some(Err(error)) => {
                if round.failed < 5 {
                    eprintln!("a session failed: {error}");
                }
                round.failed += 1;
            }
            None => break,
        }
    }
    round.admit_seconds = started.elapsed().as_secs_f64();
    round.cpu_seconds = (load::cpu_time(pid) - cpu).as_secs_f64();
    round.granted = granted.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    round.rss_after = load::rss(pid);
    if let Some(other) = other {
        round.seen = look_at_data_plane(&granted, &secrets, other).await;
    }
    round.live_at_end = live.load(Ordering::SeqCst);
    let _ = quit.send(true);
    for task in tasks {
        let _ = tokio::time::timeout(PATIENCE, task).await;
    }
    round
}

/// The sampled sessions open their tunnels and send their two SYNs, all at once.
async fn look_at_data_plane(
    granted: &[Admitted],
    secrets: &[StaticSecret],
    other: Ipv4Addr,
) -> Vec<Seen> {
    let mut probes = Vec::new();
    for admitted in granted.iter().filter(|a| a.index % SAMPLE_EVERY == 0) {
        let grant = &admitted.grant;
        let dpi = grant
            .apps
            .iter()
            .find(|a| a.name == "dpi")
            .expect("dpi is granted");
        let (std::net::IpAddr::V4(dpi), std::net::IpAddr::V4(me)) =
            (dpi.address, grant.tunnel_address)
        else {
            panic!("IPv4 addresses in the grant");
        };
        let probe = Probe {
            secret: secrets[admitted.index].clone(),
            connector_key: grant.connector_key.0,
            endpoint: grant.endpoints[0],
            tunnel_address: me,
            granted: (dpi, 443),
            other: (other, 8443),
            index: u32::try_from(admitted.index).expect("an index"),
            first_port: 40_001,
        };
        probes.push(tokio::spawn(probe::run(probe, Duration::from_secs(10))));
    }
    let mut seen = Vec::new();
    for probe in probes {
        match probe.await {
            Ok(Ok(one)) => seen.push(one),
            Ok(Err(error)) => eprintln!("a tunnel probe failed: {error}"),
            Err(error) => eprintln!("a tunnel probe panicked: {error}"),
        }
    }
    seen
}

/// One simulated client.
struct Session {
    index: usize,
    planned: Planned,
    address: SocketAddr,
    endpoint: quinn::Endpoint,
    permits: Arc<Semaphore>,
    live: Arc<AtomicUsize>,
    quitting: watch::Receiver<bool>,
    report: mpsc::UnboundedSender<Result<Admitted, String>>,
}

impl Session {
    async fn run(self) {
        let key = WireGuardKey(PublicKey::from(&self.planned.secret).to_bytes());
        let permit = self.permits.clone().acquire_owned().await.expect("permits");
        match self.planned.kind {
            Kind::Quic => {
                let config = client::quic_config(self.planned.tls.clone());
                let connection =
                    client::connect_quic_with(&self.endpoint, self.address, config).await;
                let connection = match connection {
                    Ok(connection) => connection,
                    Err(error) => return self.failed(format!("QUIC: {error}")),
                };
                let Ok((send, recv)) = connection.open_bi().await else {
                    return self.failed("no control stream".into());
                };
                self.hold(Control::with_key(recv, send, key), permit).await;
                connection.close(quinn::VarInt::from_u32(0), b"");
            }
            Kind::Tcp13 | Kind::Tcp12 => {
                let stream = client::connect_tcp(self.address, self.planned.tls.clone()).await;
                let stream = match stream {
                    Ok(stream) => stream,
                    Err(error) => return self.failed(format!("TLS over TCP: {error}")),
                };
                let (reader, writer) = tokio::io::split(stream);
                self.hold(Control::with_key(reader, writer, key), permit)
                    .await;
            }
        }
    }

    fn failed(&self, error: String) {
        let _ = self
            .report
            .send(Err(format!("session {}: {error}", self.index)));
    }

    /// Waits for the grant, reports it, then keeps the session going until told to quit.
    async fn hold<R, W>(
        &self,
        mut control: Control<R, W>,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) where
        R: tokio::io::AsyncRead + Unpin,
        W: tokio::io::AsyncWrite + Unpin,
    {
        let grant = match tokio::time::timeout(PATIENCE, control.next_event()).await {
            Ok(Ok(Some(ClientEvent::Granted(grant)))) => grant,
            other => return self.failed(format!("no grant: {other:?}")),
        };
        drop(permit);
        self.live.fetch_add(1, Ordering::SeqCst);
        let _ = self.report.send(Ok(Admitted {
            index: self.index,
            grant,
        }));
        let mut quitting = self.quitting.clone();
        loop {
            tokio::select! {
                event = control.next_event() => match event {
                    Ok(Some(ClientEvent::Ended(_))) | Ok(None) | Err(_) => break,
                    Ok(Some(_)) => {}
                },
                _ = quitting.changed() => {
                    let _ = control.quit().await;
                    while let Ok(Ok(Some(_))) = tokio::time::timeout(PATIENCE, control.next_event()).await {}
                    break;
                }
            }
        }
        self.live.fetch_sub(1, Ordering::SeqCst);
    }
}

fn check(round: &Round, sessions: usize, dataplane: bool, served: &Served) {
    assert_eq!(
        round.granted,
        sessions,
        "every session granted; log:\n{}",
        tail(served)
    );
    assert_eq!(
        round.live_at_end, sessions,
        "every session still live after the data plane check"
    );
    if dataplane {
        let sampled = sessions.div_ceil(SAMPLE_EVERY);
        assert_eq!(round.seen.len(), sampled, "every sampled tunnel probed");
        for seen in &round.seen {
            assert!(seen.granted_answered, "a granted app answered: {seen:?}");
            assert!(
                seen.other_refused && !seen.other_answered,
                "the other app refused: {seen:?}"
            );
        }
    }
}

fn tail(served: &Served) -> String {
    let log = served.log();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn record(tsv: &mut load::Tsv, round: usize, sessions: usize, result: &Round) {
    let scenario = format!("sessions-{sessions}");
    let per_session = result.rss_after.saturating_sub(result.rss_before) as f64 / sessions as f64;
    tsv.row(round, &scenario, "admit_all_s", result.admit_seconds);
    tsv.row(
        round,
        &scenario,
        "admissions_per_s",
        sessions as f64 / result.admit_seconds,
    );
    tsv.row(
        round,
        &scenario,
        "admissions_per_cpu_s",
        sessions as f64 / result.cpu_seconds,
    );
    tsv.row(
        round,
        &scenario,
        "rss_before_bytes",
        result.rss_before as f64,
    );
    tsv.row(round, &scenario, "rss_after_bytes", result.rss_after as f64);
    tsv.row(round, &scenario, "bytes_per_session", per_session);
    let answered = result.seen.iter().filter(|s| s.granted_answered).count();
    let refused = result.seen.iter().filter(|s| s.other_refused).count();
    tsv.row(round, &scenario, "sample_granted_answered", answered as f64);
    tsv.row(round, &scenario, "sample_other_refused", refused as f64);
}

fn print_table(sessions: usize, dataplane: bool, results: &[Round]) {
    let pick = |f: &dyn Fn(&Round) -> f64| results.iter().map(f).collect::<Vec<_>>();
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    let n = sessions as f64;
    println!(
        "| measurement | median [min–max] over {} rounds |\n|---|---|",
        results.len()
    );
    println!(
        "| sessions live at once (60 % QUIC, 20 % TCP TLS 1.3, 20 % TCP TLS 1.2) | {sessions} |"
    );
    println!(
        "| time to admit them all, s | {} |",
        load::spread(&pick(&|r| r.admit_seconds), 1)
    );
    println!(
        "| admissions/s | {} |",
        load::spread(&pick(&|r| n / r.admit_seconds), 0)
    );
    println!(
        "| admissions per connector CPU-second | {} |",
        load::spread(&pick(&|r| n / r.cpu_seconds), 0)
    );
    println!(
        "| connector RSS before, MiB | {} |",
        load::spread(&pick(&|r| mib(r.rss_before)), 1)
    );
    println!(
        "| connector RSS with all live, MiB | {} |",
        load::spread(&pick(&|r| mib(r.rss_after)), 1)
    );
    println!(
        "| memory per session, KiB | {} |",
        load::spread(
            &pick(&|r| r.rss_after.saturating_sub(r.rss_before) as f64 / n / 1024.0),
            1
        )
    );
    if dataplane {
        let sampled = sessions.div_ceil(SAMPLE_EVERY);
        let count = |f: fn(&Seen) -> bool| {
            let all: Vec<usize> = results
                .iter()
                .map(|r| r.seen.iter().filter(|s| f(s)).count())
                .collect();
            all.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!(
            "| sampled tunnels: granted app answered (of {sampled} per round) | {} |",
            count(|s| s.granted_answered)
        );
        println!(
            "| sampled tunnels: app not granted refused (of {sampled} per round) | {} |",
            count(|s| s.other_refused && !s.other_answered)
        );
    } else {
        println!("\nData plane check skipped: it needs root.");
    }
}

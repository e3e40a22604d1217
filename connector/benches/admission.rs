//! Full admissions per second on the real `vigie-connector serve` (release build, on
//! 127.0.0.1), with clients in this separate process and software keys standing in for the
//! cards, so the card's own signing time is not what is measured.
//!
//! A full admission is what the connector does for a real card: the TLS 1.3 (QUIC or TCP) or
//! TLS 1.2 (TCP, CPS3-style PKCS#1 signatures) handshake with the card certificate verified
//! (chain, EKU, validity, CRL, blocklist), the identity read, the directory's decision
//! (person, card, dates, apps), the audit records, the session registered and the grant sent.
//! Each client then quits, so the connector's CPU also covers ending each session (one audit
//! record and one directory update). Every card of the pool (1,024 distinct bulk cards) is
//! admitted once before measuring, which enrols it on first use.
//!
//! Headline: admissions per connector CPU-second, the connector's utime + stime from
//! `/proc/PID/stat` over the measured interval. Also the wall-clock rate and p50/p99
//! admission latency (connect to grant) at a few concurrency levels, 3 rounds each, shown as
//! median [min–max].
//!
//! Run: `cargo bench -p vigie-connector --bench admission` (about 3 minutes; the first run
//! also makes the bulk cards, kept under `target/tmp/`). With `VIGIE_BENCH_TSV=path`, rows
//! `admission ROUND SCENARIO METRIC VALUE` are appended to that file; with
//! `VIGIE_BENCH_ONLY=TEXT`, only the scenarios whose name (as in those rows) holds TEXT run.

#[path = "../tests/serve_common/mod.rs"]
mod serve_common;

#[path = "../tests/load/mod.rs"]
mod load;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serve_common::client::{self, Control, Signing, SoftCard};
use serve_common::{LoadSite, serve_load};
use tokio::sync::Mutex;
use vigie_protocol::ClientEvent;

/// Distinct cards cycled through by the clients.
const POOL: usize = 1024;
const ROUNDS: usize = 3;
const MEASURE: Duration = Duration::from_secs(3);
const RAMP: Duration = Duration::from_millis(500);
const PATIENCE: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Transport {
    /// TLS 1.3 over QUIC, RSA-PSS: a CPS4 card's default.
    Quic,
    /// TLS 1.3 over TCP, RSA-PSS: a CPS4 card where UDP is blocked.
    Tcp13,
    /// TLS 1.2 over TCP, PKCS#1 v1.5: a CPS3 card.
    Tcp12,
}

impl Transport {
    fn label(self) -> &'static str {
        match self {
            Self::Quic => "QUIC, TLS 1.3 (CPS4)",
            Self::Tcp13 => "TCP, TLS 1.3 (CPS4)",
            Self::Tcp12 => "TCP, TLS 1.2 (CPS3)",
        }
    }

    fn key(self) -> &'static str {
        match self {
            Self::Quic => "quic13",
            Self::Tcp13 => "tcp13",
            Self::Tcp12 => "tcp12",
        }
    }
}

struct Scenario {
    transport: Transport,
    concurrency: usize,
}

/// One measured interval.
struct Sample {
    per_cpu_second: f64,
    per_second: f64,
    cpu_percent: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

/// The client configurations of the pool's cards, made once.
struct Pool {
    quic: Vec<quinn::ClientConfig>,
    tcp13: Vec<Arc<rustls::ClientConfig>>,
    tcp12: Vec<Arc<rustls::ClientConfig>>,
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let world = serve_common::world();
    let bulk = load::bulk_cards(&world);
    let cards = &bulk.cards[..POOL];
    let pool = Arc::new(pool(&world, cards, bulk.key_pkcs8.as_slice()));
    let rows = load::hr_rows(cards);
    let mut tsv = load::Tsv::from_env("admission");
    let scenarios = |tls: &str| -> Vec<Scenario> {
        let all = [
            (Transport::Quic, 1),
            (Transport::Quic, 16),
            (Transport::Quic, 64),
            (Transport::Tcp13, 16),
            (Transport::Tcp12, 16),
        ];
        let rsa = [(Transport::Quic, 16), (Transport::Tcp12, 16)];
        let chosen: &[(Transport, usize)] = if tls == "server" { &rsa } else { &all };
        chosen
            .iter()
            .map(|&(transport, concurrency)| Scenario {
                transport,
                concurrency,
            })
            .collect()
    };
    println!(
        "| connector certificate | transport | clients | admissions per connector CPU-second \
         | admissions/s | connector CPU % | p50 latency, ms | p99 latency, ms |\n\
         |---|---|---|---|---|---|---|---|"
    );
    // `VIGIE_BENCH_ONLY=quic13-server-ec-c16` runs only the scenarios whose name holds it.
    let only = std::env::var("VIGIE_BENCH_ONLY").unwrap_or_default();
    let name = |s: &Scenario, tls: &str| format!("{}-{tls}-c{}", s.transport.key(), s.concurrency);
    for (tls, tls_label) in [("server-ec", "ECDSA P-256"), ("server", "RSA-2048")] {
        let chosen: Vec<Scenario> = scenarios(tls)
            .into_iter()
            .filter(|s| name(s, tls).contains(&only))
            .collect();
        if chosen.is_empty() {
            continue;
        }
        let load = LoadSite {
            hr_rows: &rows,
            tls,
            ..LoadSite::default()
        };
        let served = serve_load(world.clone(), &load);
        let (address, pid) = (served.address, served.pid());
        let warm = runtime.block_on(run(&pool, address, Transport::Quic, 32, None, pid));
        assert_eq!(warm.failures, 0, "warm-up failures; log:\n{}", served.log());
        for scenario in chosen {
            let mut samples = Vec::new();
            for round in 1..=ROUNDS {
                let (transport, clients) = (scenario.transport, scenario.concurrency);
                let sample =
                    runtime.block_on(run(&pool, address, transport, clients, Some(MEASURE), pid));
                record(&mut tsv, round, &name(&scenario, tls), &sample);
                samples.push(sample);
            }
            print_row(tls_label, &scenario, &samples);
        }
        assert!(
            served.log().is_empty() || !served.log().contains("ERROR"),
            "the connector logged errors:\n{}",
            served.log()
        );
    }
    println!(
        "\n{POOL} distinct cards, each admission a new connection with a full handshake (no \
         resumption), followed by the client quitting; {ROUNDS} rounds of {} s, median \
         [min–max]. Clients and connector share the machine's cores.",
        MEASURE.as_secs()
    );
}

fn pool(world: &vigie_certs::pki::World, cards: &[vigie_certs::pki::BulkCard], key: &[u8]) -> Pool {
    let config = |card: &vigie_certs::pki::BulkCard, signing, tls12| {
        let soft = SoftCard::from_parts(card.certificate.clone(), key.to_vec(), signing);
        SoftCard::tls_config(world, Some(&soft), tls12)
    };
    Pool {
        quic: cards
            .iter()
            .map(|c| client::quic_config(config(c, Signing::Pss, false)))
            .collect(),
        tcp13: cards
            .iter()
            .map(|c| Arc::new(config(c, Signing::Pss, false)))
            .collect(),
        tcp12: cards
            .iter()
            .map(|c| Arc::new(config(c, Signing::Pkcs1, true)))
            .collect(),
    }
}

/// Runs `clients` clients admitting cards of the pool until `measure` has passed after the
/// ramp (or, with `None`, once through the pool); what the connector spent meanwhile.
async fn run(
    pool: &Arc<Pool>,
    address: SocketAddr,
    transport: Transport,
    clients: usize,
    measure: Option<Duration>,
    pid: u32,
) -> Sample {
    let stop = Arc::new(AtomicBool::new(false));
    let counting = Arc::new(AtomicBool::new(measure.is_none()));
    let admitted = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let mut workers = Vec::new();
    for worker in 0..clients {
        let mine: Vec<usize> = (worker..POOL).step_by(clients).collect();
        let state = Worker {
            pool: pool.clone(),
            address,
            transport,
            stop: stop.clone(),
            counting: counting.clone(),
            admitted: admitted.clone(),
            failures: failures.clone(),
            latencies: latencies.clone(),
            once: measure.is_none(),
        };
        workers.push(tokio::spawn(state.run(mine)));
    }
    let window = match measure {
        Some(measure) => {
            tokio::time::sleep(RAMP).await;
            let (cpu, count, start) = (
                load::cpu_time(pid),
                admitted.load(Ordering::SeqCst),
                Instant::now(),
            );
            counting.store(true, Ordering::SeqCst);
            tokio::time::sleep(measure).await;
            counting.store(false, Ordering::SeqCst);
            let window = (
                load::cpu_time(pid) - cpu,
                admitted.load(Ordering::SeqCst) - count,
                start.elapsed(),
            );
            stop.store(true, Ordering::SeqCst);
            Some(window)
        }
        None => None,
    };
    for worker in workers {
        let _ = worker.await;
    }
    let (cpu, count, wall) = window.unwrap_or((
        Duration::ZERO,
        admitted.load(Ordering::SeqCst),
        Duration::ZERO,
    ));
    let mut latencies = latencies.lock().await.clone();
    latencies.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (p50, p99) = match latencies.is_empty() {
        true => (0.0, 0.0),
        false => (
            ms(load::quantile(&latencies, 0.5)),
            ms(load::quantile(&latencies, 0.99)),
        ),
    };
    Sample {
        per_cpu_second: count as f64 / cpu.as_secs_f64().max(1e-9),
        per_second: count as f64 / wall.as_secs_f64().max(1e-9),
        cpu_percent: 100.0 * cpu.as_secs_f64() / wall.as_secs_f64().max(1e-9),
        p50_ms: p50,
        p99_ms: p99,
        failures: failures.load(Ordering::SeqCst),
    }
}

struct Worker {
    pool: Arc<Pool>,
    address: SocketAddr,
    transport: Transport,
    stop: Arc<AtomicBool>,
    counting: Arc<AtomicBool>,
    admitted: Arc<AtomicUsize>,
    failures: Arc<AtomicUsize>,
    latencies: Arc<Mutex<Vec<Duration>>>,
    once: bool,
}

impl Worker {
    async fn run(self, cards: Vec<usize>) {
        let endpoint = match self.transport {
            Transport::Quic => Some(
                quinn::Endpoint::client("127.0.0.1:0".parse().expect("an address"))
                    .expect("a UDP socket"),
            ),
            _ => None,
        };
        'cycle: loop {
            for &card in &cards {
                if self.stop.load(Ordering::SeqCst) {
                    break 'cycle;
                }
                let counted = self.counting.load(Ordering::SeqCst);
                let admission = tokio::time::timeout(PATIENCE, self.admit(endpoint.as_ref(), card));
                match admission.await {
                    Ok(Ok(latency)) => {
                        self.admitted.fetch_add(1, Ordering::SeqCst);
                        if counted && self.counting.load(Ordering::SeqCst) {
                            self.latencies.lock().await.push(latency);
                        }
                    }
                    Ok(Err(error)) => {
                        eprintln!("card {card}: {error}");
                        self.failures.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(_) => {
                        eprintln!("card {card}: no grant within {PATIENCE:?}");
                        self.failures.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
            if self.once {
                break;
            }
        }
        if let Some(endpoint) = endpoint {
            endpoint.wait_idle().await;
        }
    }

    /// One admission of `card`: connect, handshake, grant (timed), then quit and close.
    async fn admit(
        &self,
        endpoint: Option<&quinn::Endpoint>,
        card: usize,
    ) -> Result<Duration, String> {
        let start = Instant::now();
        match (self.transport, endpoint) {
            (Transport::Quic, Some(endpoint)) => {
                let config = self.pool.quic[card].clone();
                let connection = client::connect_quic_with(endpoint, self.address, config)
                    .await
                    .map_err(|e| e.to_string())?;
                let (send, recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
                let latency = session(Control::new(recv, send), start).await;
                connection.close(quinn::VarInt::from_u32(0), b"");
                latency
            }
            (transport, _) => {
                let configs = match transport {
                    Transport::Tcp12 => &self.pool.tcp12,
                    _ => &self.pool.tcp13,
                };
                let config = rustls::ClientConfig::clone(&configs[card]);
                let stream = client::connect_tcp(self.address, config)
                    .await
                    .map_err(|e| e.to_string())?;
                let (reader, writer) = tokio::io::split(stream);
                session(Control::new(reader, writer), start).await
            }
        }
    }
}

/// Waits for the grant, then quits and waits for the connector to close the stream.
async fn session<R, W>(mut control: Control<R, W>, start: Instant) -> Result<Duration, String>
where
    R: tokio::io::AsyncRead + Unpin,
    W: tokio::io::AsyncWrite + Unpin,
{
    let latency = match control.next_event().await {
        Ok(Some(ClientEvent::Granted(_))) => start.elapsed(),
        other => return Err(format!("no grant: {other:?}")),
    };
    control.quit().await.map_err(|e| e.to_string())?;
    while let Ok(Some(_)) = control.next_event().await {}
    Ok(latency)
}

fn record(tsv: &mut load::Tsv, round: usize, name: &str, sample: &Sample) {
    tsv.row(round, name, "admissions_per_cpu_s", sample.per_cpu_second);
    tsv.row(round, name, "admissions_per_s", sample.per_second);
    tsv.row(round, name, "connector_cpu_pct", sample.cpu_percent);
    tsv.row(round, name, "p50_ms", sample.p50_ms);
    tsv.row(round, name, "p99_ms", sample.p99_ms);
    tsv.row(round, name, "failures", sample.failures as f64);
}

fn print_row(tls: &str, scenario: &Scenario, samples: &[Sample]) {
    let pick = |f: fn(&Sample) -> f64| samples.iter().map(f).collect::<Vec<_>>();
    let failures: usize = samples.iter().map(|s| s.failures).sum();
    let note = if failures > 0 {
        format!(" ({failures} failed)")
    } else {
        String::new()
    };
    println!(
        "| {tls} | {} | {} | **{}** | {}{note} | {} | {} | {} |",
        scenario.transport.label(),
        scenario.concurrency,
        load::spread(&pick(|s| s.per_cpu_second), 0),
        load::spread(&pick(|s| s.per_second), 0),
        load::spread(&pick(|s| s.cpu_percent), 0),
        load::spread(&pick(|s| s.p50_ms), 1),
        load::spread(&pick(|s| s.p99_ms), 1),
    );
}

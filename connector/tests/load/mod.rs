//! What the load benchmarks and the soak test share: many distinct card identities (made
//! once and kept under `target/`), the lab's namespaces with an impaired clients' link
//! ([`lab`], [`impair`]), a look through a session's tunnel ([`probe`]), the connector's CPU
//! time and memory read from `/proc`, and the Markdown and TSV reports.
//!
//! Bulk cards share one RSA key pair ([`vigie_certs::pki::BulkCards`]): making 10,000 RSA
//! keys would take longer than the benchmarks themselves, and the connector never compares
//! keys between cards.

#![allow(dead_code, reason = "each benchmark and test uses a different part")]

pub mod impair;
pub mod lab;
pub mod probe;

use std::future::Future;
use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use vigie_certs::pki::{BulkCard, BulkCards, World};

/// How many bulk cards are made and kept (the scale benchmark's sessions).
pub const BULK_CARDS: usize = 10_000;

/// The [`BULK_CARDS`] bulk cards of `world`: read from the cache under `target/`, else made
/// and cached.
pub fn bulk_cards(world: &World) -> BulkCards {
    bulk_cards_of(world, BULK_CARDS)
}

/// `count` bulk cards of `world`, cached under `target/` as [`bulk_cards`] (a cache per
/// count: a test that needs 200 does not make 10,000).
pub fn bulk_cards_of(world: &World, count: usize) -> BulkCards {
    let world_name = world.dir().file_name().expect("a world folder name");
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "bulk-cards-{}-{count}",
        world_name.to_string_lossy()
    ));
    if let Some(cards) = read_cache(&cache, count) {
        return cards;
    }
    eprintln!(
        "making {count} card certificates (once; kept in {})",
        cache.display()
    );
    let cards = world.bulk_cards(count).expect("bulk cards");
    write_cache(&cache, &cards);
    cards
}

fn read_cache(dir: &std::path::Path, count: usize) -> Option<BulkCards> {
    let key = std::fs::read(dir.join("key.pk8.der")).ok()?;
    let bytes = std::fs::read(dir.join("cards.bin")).ok()?;
    let mut cards = Vec::with_capacity(count);
    let mut rest = bytes.as_slice();
    while !rest.is_empty() {
        let (id_nat, tail) = take(rest)?;
        let (certificate, tail) = take(tail)?;
        cards.push(BulkCard {
            id_nat: String::from_utf8(id_nat.to_vec()).ok()?,
            certificate: certificate.to_vec(),
        });
        rest = tail;
    }
    (cards.len() == count).then(|| BulkCards {
        key_pkcs8: key.into(),
        cards,
    })
}

/// A length-prefixed (u32, big-endian) piece and what follows it.
fn take(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (length, rest) = bytes.split_first_chunk::<4>()?;
    let length = usize::try_from(u32::from_be_bytes(*length)).ok()?;
    (rest.len() >= length).then(|| rest.split_at(length))
}

fn write_cache(dir: &std::path::Path, cards: &BulkCards) {
    let staging = dir.with_extension(format!("tmp{}", std::process::id()));
    std::fs::create_dir_all(&staging).expect("the cache folder");
    std::fs::write(staging.join("key.pk8.der"), cards.key_pkcs8.as_slice()).expect("the key");
    let mut bytes = Vec::new();
    for card in &cards.cards {
        for piece in [card.id_nat.as_bytes(), &card.certificate] {
            let length = u32::try_from(piece.len()).expect("a short piece");
            bytes.extend_from_slice(&length.to_be_bytes());
            bytes.extend_from_slice(piece);
        }
    }
    std::fs::write(staging.join("cards.bin"), bytes).expect("the cards");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::rename(&staging, dir).expect("the cache in place");
}

/// How a simulated client connects. The load tests' mix, by card index: 60 % QUIC (a CPS4
/// card, TLS 1.3), 20 % TCP with TLS 1.3 (CPS4), 20 % TCP with TLS 1.2 (a CPS3 card, which
/// signs PKCS#1 v1.5 only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Quic,
    Tcp13,
    Tcp12,
}

impl Kind {
    /// The kind of the card at `index`.
    pub fn of(index: usize) -> Self {
        match index % 5 {
            3 => Self::Tcp13,
            4 => Self::Tcp12,
            _ => Self::Quic,
        }
    }

    /// As the figures name it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Quic => "QUIC, TLS 1.3",
            Self::Tcp13 => "TCP, TLS 1.3",
            Self::Tcp12 => "TCP, TLS 1.2",
        }
    }
}

/// Bulk card `card` as a software card that signs as its `kind` requires (with the bulk
/// cards' shared `key`), and the TLS configuration that presents it.
pub fn soft_card(
    world: &World,
    card: &BulkCard,
    key: &[u8],
    kind: Kind,
) -> (crate::serve_common::client::SoftCard, rustls::ClientConfig) {
    use crate::serve_common::client::{Signing, SoftCard};
    let signing = if kind == Kind::Tcp12 {
        Signing::Pkcs1
    } else {
        Signing::Pss
    };
    let soft = SoftCard::from_parts(card.certificate.clone(), key.to_vec(), signing);
    let tls = SoftCard::tls_config(world, Some(&soft), kind == Kind::Tcp12);
    (soft, tls)
}

/// The HR export rows of the bulk cards' holders: active doctors of the emergency ward
/// (granted `dpi` and `mail` by the test site's apps).
pub fn hr_rows(cards: &[BulkCard]) -> Vec<String> {
    cards
        .iter()
        .enumerate()
        .map(|(i, card)| {
            format!(
                "{};BANC;Carte{i};Médecin;urgences;ACTIF;01/01/2020;",
                card.id_nat
            )
        })
        .collect()
}

/// The virtual address of app `name` on `served`'s site, from `vigie-connector app list`.
pub fn app_address(served: &crate::serve_common::Served, name: &str) -> std::net::Ipv4Addr {
    let listed = served.site.ok(&["app", "list"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .unwrap_or_else(|| panic!("{name} in {listed}"));
    line.split_whitespace()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .expect("a virtual address")
}

/// Runs `work()` to completion on a thread of its own with a multi-thread runtime whose
/// threads live in network namespace `netns` (when one is named): the thread enters it
/// before the runtime starts its workers, which inherit it. The rest of the process stays.
pub fn spawn_in_netns<F>(
    netns: Option<String>,
    work: impl FnOnce() -> F + Send + 'static,
) -> std::thread::JoinHandle<F::Output>
where
    F: Future,
    F::Output: Send + 'static,
{
    std::thread::spawn(move || {
        if let Some(name) = netns {
            let path = format!("/var/run/netns/{name}");
            let file = std::fs::File::open(&path).expect("the namespace's file");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .expect("enter the namespace");
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(work())
    })
}

/// User plus system CPU time of process `pid` so far (all its threads).
pub fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').expect("a stat line").1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields[i].parse::<u64>().expect("a tick count");
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let total = ticks(11) + ticks(12);
    Duration::from_secs_f64(total as f64 / clock_ticks() as f64)
}

/// The kernel's clock ticks per second, in which `/proc` counts CPU time.
fn clock_ticks() -> u64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok());
    out.unwrap_or(100)
}

/// The resident memory of process `pid`, in bytes.
pub fn rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/PID/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .expect("a VmRSS line");
    let kib: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("a size in kB");
    kib * 1024
}

/// The value at quantile `q` (0..=1) of sorted `values`.
pub fn quantile<T: Copy>(sorted: &[T], q: f64) -> T {
    let last = sorted.len().saturating_sub(1);
    sorted[((last as f64) * q).round() as usize]
}

/// `median [min–max]` of `values`, each printed with `digits` decimals.
pub fn spread(values: &[f64], digits: usize) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let (min, max) = (sorted[0], sorted[sorted.len() - 1]);
    let median = if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        (sorted[sorted.len() / 2 - 1] + sorted[sorted.len() / 2]) / 2.0
    };
    format!("{median:.digits$} [{min:.digits$}–{max:.digits$}]")
}

/// The results file of `VIGIE_BENCH_TSV`, if set: rows `section round scenario metric value`.
pub struct Tsv {
    file: Option<std::fs::File>,
    section: &'static str,
}

impl Tsv {
    /// Appends to `$VIGIE_BENCH_TSV` under `section`, or writes nothing when it is not set.
    pub fn from_env(section: &'static str) -> Self {
        let file = std::env::var_os("VIGIE_BENCH_TSV").map(|path| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("VIGIE_BENCH_TSV={}: {e}", path.to_string_lossy()))
        });
        Self { file, section }
    }

    /// One measurement.
    pub fn row(&mut self, round: usize, scenario: &str, metric: &str, value: f64) {
        if let Some(file) = &mut self.file {
            let line = format!(
                "{}\t{round}\t{scenario}\t{metric}\t{value:.6}\n",
                self.section
            );
            file.write_all(line.as_bytes())
                .expect("write VIGIE_BENCH_TSV");
        }
    }
}

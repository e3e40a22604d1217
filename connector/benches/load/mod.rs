//! What the load benchmarks share: many distinct card identities (made once and kept under
//! `target/`), the connector's CPU time and memory read from `/proc`, and the Markdown and
//! TSV reports.
//!
//! Bulk cards share one RSA key pair ([`vigie_certs::pki::BulkCards`]): making 10,000 RSA
//! keys would take longer than the benchmarks themselves, and the connector never compares
//! keys between cards.

#![allow(dead_code, reason = "each benchmark uses a different part")]

pub mod probe;

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use vigie_certs::pki::{BulkCard, BulkCards, World};

/// How many bulk cards are made and kept (the scale benchmark's sessions).
pub const BULK_CARDS: usize = 10_000;

/// The bulk cards of `world`: read from the cache under `target/`, else made and cached.
pub fn bulk_cards(world: &World) -> BulkCards {
    let world_name = world.dir().file_name().expect("a world folder name");
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "bulk-cards-{}-{BULK_CARDS}",
        world_name.to_string_lossy()
    ));
    if let Some(cards) = read_cache(&cache) {
        return cards;
    }
    eprintln!(
        "making {BULK_CARDS} card certificates (once; kept in {})",
        cache.display()
    );
    let cards = world.bulk_cards(BULK_CARDS).expect("bulk cards");
    write_cache(&cache, &cards);
    cards
}

fn read_cache(dir: &std::path::Path) -> Option<BulkCards> {
    let key = std::fs::read(dir.join("key.pk8.der")).ok()?;
    let bytes = std::fs::read(dir.join("cards.bin")).ok()?;
    let mut cards = Vec::with_capacity(BULK_CARDS);
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
    (cards.len() == BULK_CARDS).then(|| BulkCards {
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

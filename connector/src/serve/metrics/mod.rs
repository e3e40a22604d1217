//! The connector's metrics: a few counters of its own, updated where the events happen, and
//! the page `/metrics` serves ([`scrape`]), which adds what other parts already count (live
//! sessions, the data plane's packets and bytes, CRL freshness, the audit writer).
//!
//! No metrics crate: atomics, and small maps whose keys are `'static` names from fixed sets
//! (transports, outcomes, refusal codes), so no label can grow without bound and no
//! identity or address ever becomes a label.

pub mod scrape;
pub mod text;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

/// The counters `serve` keeps.
#[derive(Debug, Default)]
pub struct Metrics {
    /// When `serve` started, Unix seconds.
    started: u64,
    /// (transport, outcome).
    handshakes: Labeled<2>,
    /// (verdict, step, reason).
    admissions: Labeled<3>,
    /// (reason).
    sessions_ended: Labeled<1>,
    /// Live sessions on a QUIC connection.
    live_quic: AtomicI64,
    /// Live sessions on a TCP connection.
    live_tcp: AtomicI64,
    /// (outcome).
    reloads: Labeled<1>,
    /// When the configuration was last applied (start or reload), Unix seconds.
    config_applied: AtomicU64,
}

/// Counters keyed by a fixed number of `'static` label values.
#[derive(Debug)]
pub struct Labeled<const N: usize>(Mutex<BTreeMap<[&'static str; N], u64>>);

impl<const N: usize> Default for Labeled<N> {
    fn default() -> Self {
        Self(Mutex::default())
    }
}

impl<const N: usize> Labeled<N> {
    fn add(&self, labels: [&'static str; N]) {
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(labels).or_default() += 1;
    }

    /// Every label set with its count, in order.
    pub fn snapshot(&self) -> Vec<([&'static str; N], u64)> {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        map.iter()
            .map(|(labels, count)| (*labels, *count))
            .collect()
    }
}

/// How a TLS or QUIC handshake ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handshake {
    /// The handshake finished with a verified card.
    Completed,
    /// The peer or its certificate failed the handshake.
    Failed,
    /// The peer did not finish within `[listen] handshake_timeout`.
    TimedOut,
    /// Too many handshakes in flight: dropped before any crypto.
    Busy,
    /// Under load, a QUIC peer was asked to prove its address first (a stateless retry).
    Retried,
}

impl Handshake {
    fn name(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::TimedOut => "timed_out",
            Self::Busy => "busy",
            Self::Retried => "retried",
        }
    }
}

impl Metrics {
    /// Counters at zero, `serve` started at `started` (Unix seconds).
    pub fn new(started: u64) -> Self {
        Self {
            started,
            config_applied: AtomicU64::new(started),
            ..Self::default()
        }
    }

    /// A handshake on `transport` (`tcp`, `quic`) ended.
    pub fn handshake(&self, transport: &'static str, outcome: Handshake) {
        self.handshakes.add([transport, outcome.name()]);
    }

    /// A card was refused at `step` (`certificate`, `directory`) for `reason` (the audit
    /// log's code).
    pub fn refused(&self, step: &'static str, reason: &'static str) {
        self.admissions.add(["refused", step, reason]);
    }

    /// A card was admitted by the directory.
    pub fn accepted(&self) {
        self.admissions.add(["accepted", "directory", ""]);
    }

    /// A granted session is now held by a connection over `transport`.
    pub fn session_up(&self, transport: &'static str) {
        self.live(transport).fetch_add(1, Ordering::Relaxed);
    }

    /// A session left its connection over `transport`: it ended for `ended` (a code name),
    /// or it waits for its card (`None`).
    pub fn session_down(&self, transport: &'static str, ended: Option<&'static str>) {
        self.live(transport).fetch_sub(1, Ordering::Relaxed);
        if let Some(reason) = ended {
            self.sessions_ended.add([reason]);
        }
    }

    fn live(&self, transport: &'static str) -> &AtomicI64 {
        match transport {
            "quic" => &self.live_quic,
            _ => &self.live_tcp,
        }
    }

    /// A reload of the configuration ended with `outcome` (`applied`, `refused`) at `now`.
    pub fn reloaded(&self, outcome: &'static str, now: u64) {
        self.reloads.add([outcome]);
        if outcome == "applied" {
            self.config_applied.store(now, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_add_up_by_label() {
        let metrics = Metrics::new(1_000);
        metrics.handshake("quic", Handshake::Completed);
        metrics.handshake("quic", Handshake::Completed);
        metrics.handshake("tcp", Handshake::TimedOut);
        assert_eq!(
            metrics.handshakes.snapshot(),
            [(["quic", "completed"], 2), (["tcp", "timed_out"], 1)]
        );
        metrics.session_up("quic");
        metrics.session_up("tcp");
        metrics.session_down("tcp", Some("client quit"));
        metrics.session_down("quic", None);
        assert_eq!(metrics.live_quic.load(Ordering::Relaxed), 0);
        assert_eq!(metrics.sessions_ended.snapshot(), [(["client quit"], 1)]);
        metrics.reloaded("refused", 2_000);
        assert_eq!(metrics.config_applied.load(Ordering::Relaxed), 1_000);
        metrics.reloaded("applied", 3_000);
        assert_eq!(metrics.config_applied.load(Ordering::Relaxed), 3_000);
    }
}

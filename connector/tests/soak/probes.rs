//! The soak test's looks through the tunnels: every few seconds a sample of the live
//! sessions — the next ones in turn, so every session is looked at over the run — opens its
//! WireGuard tunnel with the key of its current connection and sends a TCP SYN to an app it
//! is granted (answered) and one to an app it is not (refused by the connector's filter),
//! with [`crate::load::probe`]. Every probe and its outcome is counted.
//!
//! The test pauses the probes around the connector's restart ([`Probing::pause`]): a
//! session whose client has not yet noticed the restart has no tunnel to look through.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use vigie_protocol::SessionGrant;

use super::fleet::{Current, Records, record};
use crate::load::probe::{self, Probe, Seen};

/// How long one probe may wait for its answers (it sends again every second).
const PATIENCE: Duration = Duration::from_secs(10);

/// Every probe's outcome, summed.
#[derive(Clone, Copy, Debug, Default)]
pub struct Counts {
    /// Probes that ran to the end on an unchanged connection.
    pub sent: u64,
    /// The granted app answered SYN-ACK.
    pub granted_answered: u64,
    /// Of those, the app the reload added.
    pub new_app_answered: u64,
    /// The granted app never answered.
    pub granted_silent: u64,
    /// The other app was refused with a reset.
    pub other_refused: u64,
    /// The other app answered: the filter let a packet through that it should not have.
    pub other_answered: u64,
    /// Neither a reset nor an answer from the other app.
    pub other_silent: u64,
    /// Packets sent again for want of an answer (the lossy link).
    pub resent: u64,
    /// The client reconnected during the probe: not counted above.
    pub interrupted: u64,
    /// The probe could not run (a socket error).
    pub failed: u64,
}

/// What the test and the probe task share.
#[derive(Default)]
pub struct Probing {
    enabled: AtomicBool,
    busy: AtomicBool,
    counts: Mutex<Counts>,
}

impl Probing {
    /// Probes from the next round on.
    pub fn resume(&self) {
        self.enabled.store(true, Ordering::SeqCst);
    }

    /// No probe after this returns (a round under way is waited for).
    pub fn pause(&self) {
        self.enabled.store(false, Ordering::SeqCst);
        let deadline = Instant::now() + 3 * PATIENCE;
        while self.busy.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The counts so far.
    pub fn counts(&self) -> Counts {
        *self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn add(&self, f: impl FnOnce(&mut Counts)) {
        f(&mut self.counts.lock().unwrap_or_else(PoisonError::into_inner));
    }
}

/// What to probe and how often.
pub struct Prober {
    pub records: Records,
    pub probing: Arc<Probing>,
    /// The app no session is granted (its virtual address and port).
    pub other: (Ipv4Addr, u16),
    /// The granted app to look at: this one when the grant has it, else `usual`.
    pub new_app: &'static str,
    pub usual: &'static str,
    pub every: Duration,
    pub per_round: usize,
}

impl Prober {
    /// Probes a round every `every` while enabled, until `quitting` changes.
    pub async fn run(self, mut quitting: watch::Receiver<bool>) {
        let mut cursor = 0;
        let mut serial: u32 = 0;
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                _ = quitting.changed() => return,
            }
            // Busy first, then the check: a pause that saw "not busy" is never overtaken.
            self.probing.busy.store(true, Ordering::SeqCst);
            if self.probing.enabled.load(Ordering::SeqCst) {
                cursor = self.round(cursor, &mut serial).await;
            }
            self.probing.busy.store(false, Ordering::SeqCst);
        }
    }

    /// Probes the next `per_round` connected sessions from `cursor`, all at once; the
    /// cursor for the next round.
    async fn round(&self, cursor: usize, serial: &mut u32) -> usize {
        let total = self.records.len();
        let mut picked = Vec::new();
        let mut at = cursor;
        for _ in 0..total {
            if picked.len() == self.per_round {
                break;
            }
            if let Some(current) = record(&self.records, at).current.clone() {
                picked.push((at, current));
            }
            at = (at + 1) % total;
        }
        let mut running = Vec::new();
        for (index, current) in picked {
            *serial = serial.wrapping_add(1);
            let Some((probe, new_app)) = self.probe(&current.grant, &current, *serial) else {
                self.probing.add(|c| c.failed += 1);
                continue;
            };
            let task = tokio::spawn(probe::run(probe, PATIENCE));
            running.push((index, current.connection, new_app, task));
        }
        for (index, connection, new_app, task) in running {
            let outcome = task.await.map_err(|e| e.to_string()).and_then(|r| r);
            let same = record(&self.records, index)
                .current
                .as_ref()
                .is_some_and(|c| c.connection == connection);
            match outcome {
                Ok(_) if !same => self.probing.add(|c| c.interrupted += 1),
                Ok(seen) => self.probing.add(|c| tally(c, &seen, new_app)),
                Err(_) => self.probing.add(|c| c.failed += 1),
            }
        }
        at
    }

    /// The probe of `current`'s tunnel, and whether it looks at the reload's new app.
    fn probe(&self, grant: &SessionGrant, current: &Current, serial: u32) -> Option<(Probe, bool)> {
        let app = |name: &str| grant.apps.iter().find(|a| a.name == name);
        let (app, new_app) = match app(self.new_app) {
            Some(app) => (app, true),
            None => (app(self.usual)?, false),
        };
        let (IpAddr::V4(address), IpAddr::V4(me)) = (app.address, grant.tunnel_address) else {
            return None;
        };
        let port = app.ports.first()?.first;
        // Fresh source ports for each probe, so no probe meets an earlier one's state.
        let first_port = 20_000 + u16::try_from(serial % 20_000).ok()? * 2;
        let probe = Probe {
            secret: current.secret.clone(),
            connector_key: grant.connector_key.0,
            endpoint: *grant.endpoints.first()?,
            tunnel_address: me,
            granted: (address, port),
            other: self.other,
            index: serial,
            first_port,
        };
        Some((probe, new_app))
    }
}

fn tally(counts: &mut Counts, seen: &Seen, new_app: bool) {
    counts.sent += 1;
    counts.resent += u64::from(seen.resent);
    if seen.granted_answered {
        counts.granted_answered += 1;
        counts.new_app_answered += u64::from(new_app);
    } else {
        counts.granted_silent += 1;
    }
    if seen.other_answered {
        counts.other_answered += 1;
    } else if seen.other_refused {
        counts.other_refused += 1;
    } else {
        counts.other_silent += 1;
    }
}

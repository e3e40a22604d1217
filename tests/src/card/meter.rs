//! Where the emulated card's time goes: its private-key operations, which stand for a real
//! card's on-chip RSA, and every APDU it answered, from the command's bytes to the answer's.
//!
//! Benchmarks read it to report the card's part apart from the rest of a session's start: a
//! real CPS card takes hundreds of milliseconds per signature, the emulator a few, so a figure
//! that includes the card says little about Vigie until the card's own time is taken out.
//!
//! It counts only what the emulator itself does: not vpcd's framing, not pcscd, not the delay
//! of [`super::Faults::set_answer_delay`]. Counters only grow; a caller takes a [`CardTime`]
//! before and after what it measures and subtracts.
//!
//! A private-key operation can also be made to last as long as on a real card
//! ([`CardMeter::set_signing_floor`]): the emulator then waits out the rest, counted as
//! signing, so a benchmark can check that nothing else in a session depends on the card
//! being fast.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The card's counters, shared by every insertion of the same card.
#[derive(Debug, Default)]
pub struct CardMeter {
    signing_floor_nanos: AtomicU64,
    signing_nanos: AtomicU64,
    signatures: AtomicU64,
    apdu_nanos: AtomicU64,
    apdus: AtomicU64,
}

/// What the card had spent at one moment (or between two, after a subtraction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CardTime {
    /// Time in private-key operations (signatures, deciphering).
    pub signing: Duration,
    /// How many private-key operations.
    pub signatures: u64,
    /// Time answering APDUs, the private-key operations included.
    pub apdus: Duration,
    /// How many APDUs.
    pub apdu_count: u64,
}

impl CardMeter {
    /// Runs one private-key operation `f`, waits until it lasted the floor if one is set, and
    /// counts its time.
    pub fn signing<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let value = f();
        let floor = Duration::from_nanos(self.signing_floor_nanos.load(Ordering::Relaxed));
        if let Some(rest) = floor.checked_sub(start.elapsed()) {
            std::thread::sleep(rest);
        }
        add(&self.signing_nanos, start.elapsed());
        self.signatures.fetch_add(1, Ordering::Relaxed);
        value
    }

    /// Makes every private-key operation last at least `floor`, as on a real card's chip
    /// (a few hundred milliseconds for a CPS card); `None` for the emulator's own speed.
    pub fn set_signing_floor(&self, floor: Option<Duration>) {
        let nanos = floor.map_or(0, |f| u64::try_from(f.as_nanos()).unwrap_or(u64::MAX));
        self.signing_floor_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Counts one APDU answered in `took`.
    pub fn add_apdu(&self, took: Duration) {
        add(&self.apdu_nanos, took);
        self.apdus.fetch_add(1, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn total(&self) -> CardTime {
        let nanos = |counter: &AtomicU64| Duration::from_nanos(counter.load(Ordering::Relaxed));
        CardTime {
            signing: nanos(&self.signing_nanos),
            signatures: self.signatures.load(Ordering::Relaxed),
            apdus: nanos(&self.apdu_nanos),
            apdu_count: self.apdus.load(Ordering::Relaxed),
        }
    }
}

impl CardTime {
    /// What was spent since `earlier` (a total taken before this one).
    pub fn since(&self, earlier: &CardTime) -> CardTime {
        CardTime {
            signing: self.signing.saturating_sub(earlier.signing),
            signatures: self.signatures.saturating_sub(earlier.signatures),
            apdus: self.apdus.saturating_sub(earlier.apdus),
            apdu_count: self.apdu_count.saturating_sub(earlier.apdu_count),
        }
    }
}

fn add(counter: &AtomicU64, took: Duration) {
    let nanos = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
    counter.fetch_add(nanos, Ordering::Relaxed);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_and_apdus_add_up_and_since_subtracts() {
        let meter = CardMeter::default();
        let before = meter.total();
        let pause = Duration::from_millis(5);
        let answer = meter.signing(|| {
            std::thread::sleep(pause);
            0x9000
        });
        assert_eq!(answer, 0x9000);
        meter.add_apdu(Duration::from_millis(7));
        let spent = meter.total().since(&before);
        assert_eq!((spent.signatures, spent.apdu_count), (1, 1));
        assert!(spent.signing >= pause, "{spent:?}");
        assert_eq!(spent.apdus, Duration::from_millis(7));
        meter.add_apdu(Duration::from_millis(1));
        let now = meter.total();
        assert_eq!(now.since(&now), CardTime::default());
        assert_eq!(now.since(&before).apdu_count, 2);
        assert_eq!(before.since(&now), CardTime::default(), "never below zero");
    }

    #[test]
    fn a_signing_floor_makes_fast_operations_last_and_counts_the_wait() {
        let meter = CardMeter::default();
        let floor = Duration::from_millis(30);
        meter.set_signing_floor(Some(floor));
        let start = Instant::now();
        meter.signing(|| ());
        assert!(start.elapsed() >= floor);
        assert!(meter.total().signing >= floor, "{:?}", meter.total());
        assert_eq!(meter.total().signatures, 1);
    }
}

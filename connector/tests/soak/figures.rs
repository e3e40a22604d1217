//! The soak test's measurements: the connector's resident memory sampled through the run,
//! the bound its growth must stay within, and the figures printed at the end.
//!
//! The bound, [`allowance`]: once every session is admitted and warmed up, the mean of the
//! last third of a connector's samples may exceed the mean of the first third by at most a
//! tenth, or 4 MiB when that is more. A session costs the connector about 65 KiB, so the
//! sessions the test admits after the reload (a twentieth of them) stay well inside it, as
//! do the allocator's ups and downs (a few hundred KiB over a run); a leak of a kilobyte per
//! re-proof, or per probe, over a three-minute run of 200 sessions, would exceed it. The
//! connector restarted after the kill holds the same sessions: its samples may exceed the
//! first process's steady mean by the same allowance.

use std::time::Duration;

/// What the run was doing when a sample was taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Admission,
    Steady,
    AfterReload,
    Restart,
    AfterRestart,
}

impl Phase {
    pub const ALL: [Self; 5] = [
        Self::Admission,
        Self::Steady,
        Self::AfterReload,
        Self::Restart,
        Self::AfterRestart,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Self::Admission => "admission",
            Self::Steady => "steady",
            Self::AfterReload => "after the reload",
            Self::Restart => "kill to last reconnection",
            Self::AfterRestart => "after the restart",
        }
    }
}

/// One sample of the connector's memory.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    /// Since the start of the run.
    pub at: Duration,
    pub phase: Phase,
    pub pid: u32,
    pub rss: u64,
}

/// The connector's resident memory through the run.
#[derive(Default)]
pub struct Memory {
    pub samples: Vec<Sample>,
}

const MIB: f64 = 1024.0 * 1024.0;

impl Memory {
    /// Samples `pid`'s VmRSS, if the process is there.
    pub fn sample(&mut self, at: Duration, phase: Phase, pid: u32) {
        if let Some(rss) = rss(pid) {
            self.samples.push(Sample {
                at,
                phase,
                pid,
                rss,
            });
        }
    }

    /// The samples of `pid` taken in `phases`, after `from`.
    pub fn of(&self, pid: u32, phases: &[Phase], from: Duration) -> Vec<u64> {
        self.samples
            .iter()
            .filter(|s| s.pid == pid && phases.contains(&s.phase) && s.at >= from)
            .map(|s| s.rss)
            .collect()
    }

    /// `phase  samples  min–max MiB` lines.
    pub fn per_phase(&self) -> Vec<String> {
        Phase::ALL
            .iter()
            .filter_map(|phase| {
                let rss: Vec<u64> = self
                    .samples
                    .iter()
                    .filter(|s| s.phase == *phase)
                    .map(|s| s.rss)
                    .collect();
                let (min, max) = (rss.iter().min()?, rss.iter().max()?);
                Some(format!(
                    "| connector RSS {}, MiB ({} samples) | {:.1}–{:.1} |",
                    phase.name(),
                    rss.len(),
                    *min as f64 / MIB,
                    *max as f64 / MIB
                ))
            })
            .collect()
    }
}

/// VmRSS of `pid`, in bytes; `None` when it is gone.
fn rss(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// How much a steady connector's memory may grow above `mean` bytes.
pub fn allowance(mean: f64) -> f64 {
    (mean / 10.0).max(4.0 * MIB)
}

/// The mean of `values`.
pub fn mean(values: &[u64]) -> f64 {
    values.iter().map(|v| *v as f64).sum::<f64>() / values.len().max(1) as f64
}

/// Checks that the last third of `steady` (samples in time order) is within the allowance
/// of the first third; the two means.
pub fn flat(steady: &[u64]) -> Result<(f64, f64), String> {
    if steady.len() < 6 {
        return Err(format!("too few memory samples: {}", steady.len()));
    }
    let third = steady.len() / 3;
    let first = mean(&steady[..third]);
    let last = mean(&steady[steady.len() - third..]);
    if last > first + allowance(first) {
        return Err(format!(
            "memory grew from {:.1} MiB to {:.1} MiB (allowed: {:.1} MiB more)",
            first / MIB,
            last / MIB,
            allowance(first) / MIB
        ));
    }
    Ok((first, last))
}

/// Checks that no sample of `later` exceeds `reference` by more than the allowance.
pub fn within(reference: f64, later: &[u64]) -> Result<u64, String> {
    let highest = later.iter().copied().max().ok_or("no memory sample")?;
    if highest as f64 > reference + allowance(reference) {
        return Err(format!(
            "memory reached {:.1} MiB against {:.1} MiB before (allowed: {:.1} MiB more)",
            highest as f64 / MIB,
            reference / MIB,
            allowance(reference) / MIB
        ));
    }
    Ok(highest)
}

/// `min / median / max` of `durations`, in seconds.
pub fn spread(durations: &mut [Duration]) -> String {
    durations.sort();
    let (Some(min), Some(max)) = (durations.first(), durations.last()) else {
        return "none".into();
    };
    let median = durations[durations.len() / 2];
    format!(
        "{:.1} / {:.1} / {:.1}",
        min.as_secs_f64(),
        median.as_secs_f64(),
        max.as_secs_f64()
    )
}

pub fn mib(bytes: f64) -> f64 {
    bytes / MIB
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: u64 = 1024 * 1024;

    #[test]
    fn a_flat_run_passes_and_a_leaking_one_fails() {
        let steady: Vec<u64> = (0..30).map(|i| 30 * M + (i % 3) * 100 * 1024).collect();
        assert!(flat(&steady).is_ok());
        // 300 KiB more at each of 30 samples: 6 MiB between the thirds' means.
        let leaking: Vec<u64> = (0..30).map(|i| 30 * M + i * 300 * 1024).collect();
        let error = flat(&leaking).expect_err("a leak is caught");
        assert!(error.contains("memory grew"), "{error}");
    }

    #[test]
    fn the_allowance_is_a_tenth_or_4_mib() {
        assert_eq!(allowance(20.0 * MIB), 4.0 * MIB);
        assert_eq!(allowance(100.0 * MIB), 10.0 * MIB);
        assert!(within(30.0 * MIB, &[33 * M]).is_ok());
        assert!(within(30.0 * MIB, &[35 * M]).is_err());
        assert!(flat(&[M; 3]).is_err(), "too few samples say so");
    }
}

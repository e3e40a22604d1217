//! What a run can change, from the environment: the number of rounds, a card as slow as a
//! real one, more published apps. Runs that change the card or the apps name their scenarios
//! after it (`cps3-signing250ms-apps20`), so their rows never pass for the default ones.

use std::time::Duration;

const DEFAULT_ROUNDS: usize = 10;

/// The run's settings.
#[derive(Debug, Clone, Copy)]
pub struct Knobs {
    /// Rounds per card (`VIGIE_BENCH_ROUNDS`, 10).
    pub rounds: usize,
    /// Each card signature lasts at least this (`VIGIE_BENCH_CARD_SIGNING_MS`; the emulator's
    /// own speed without it).
    pub signing_floor: Option<Duration>,
    /// Apps published to both clinicians, the web app first (`VIGIE_BENCH_APPS`, 1): each
    /// more is a name in the hosts file and a route into the tunnel.
    pub apps: usize,
}

impl Knobs {
    /// Reads the knobs; a value that is not a number stops the run with what to give.
    pub fn from_env() -> Self {
        let rounds = number("VIGIE_BENCH_ROUNDS", "a number of rounds").unwrap_or(DEFAULT_ROUNDS);
        let floor = number("VIGIE_BENCH_CARD_SIGNING_MS", "milliseconds, e.g. 250");
        let apps = number("VIGIE_BENCH_APPS", "a number of apps, e.g. 20").unwrap_or(1);
        assert!(rounds > 0, "VIGIE_BENCH_ROUNDS: give 1 round or more");
        assert!(apps > 0, "VIGIE_BENCH_APPS: give 1 app or more");
        Self {
            rounds,
            signing_floor: floor.map(Duration::from_millis),
            apps,
        }
    }

    /// What to add to a scenario's key and title.
    pub fn suffixes(&self) -> (String, String) {
        let (mut key, mut title) = (String::new(), String::new());
        if let Some(floor) = self.signing_floor {
            key += &format!("-signing{}ms", floor.as_millis());
            title += &format!(", card signing ≥ {} ms", floor.as_millis());
        }
        if self.apps > 1 {
            key += &format!("-apps{}", self.apps);
            title += &format!(", {} apps", self.apps);
        }
        (key, title)
    }
}

fn number<T: std::str::FromStr>(variable: &str, what: &str) -> Option<T> {
    let text = std::env::var(variable).ok()?;
    match text.parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{variable}={text:?}: give {what}"),
    }
}

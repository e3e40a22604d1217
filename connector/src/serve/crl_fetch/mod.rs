//! CRLs fetched by the connector itself from the URLs of `[trust] crl_urls`, and only those:
//! never from an address found in a client's certificate (its CRL distribution points), which
//! would let anyone with a certificate make the connector call out.
//!
//! ```text
//!  at start, then every      HTTP/1.0 GET        accepted by the      <[state] dir>/crl-fetched/
//!  crl_fetch_every ────────▶ (get, response) ──▶ verifier? (check) ──▶ <URL hash>.crl (store)
//!  (sooner after a failure)                                                     │
//!                               the revocation watcher reads it at its next look
//! ```
//!
//! A CRL is signed, so plain HTTP is enough, and it is what IGC-Santé publishes. Whoever sits
//! on the path can still send anything, so a fetched body is stored only once the verifier
//! accepts it: a file the verifier refuses in the folder would hold back every CRL update,
//! and stop the next start. A CRL older than the one in force for its issuer is not stored
//! either, so a replayed CRL cannot come back in force at the next start. The verifier keeps
//! the newer CRL per issuer while the connector runs ([`vigie_certs::Verifier::update_crls`]).
//!
//! Each URL is fetched at start, then every `crl_fetch_every`; after a failure it is tried
//! again sooner, 10 s later and then twice as long each time up to 5 minutes. The CRLs in
//! force stay meanwhile, and the operator is warned once per run of failures; a CRL that goes
//! stale for want of a fresh one is warned about by the revocation watcher.

pub mod check;
mod get;
mod response;
mod store;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vigie_certs::{TrustConfig, Verifier};

pub use crate::http_url::{Host, HttpUrl, UrlError};
pub use get::{Fetched, fetch_dated};
pub use response::{Limits, Parsed, PeerError, header, parse_response};
pub use store::{FOLDER, Folder};

use check::Verdict;

/// Why a fetch did not bring a CRL into the folder, by whom is at fault. (A URL that cannot
/// be fetched is refused when the configuration is read: see [`UrlError`].)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The server could not be reached, or did not answer in time.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// The server answered, but not with a CRL the connector can use.
    #[error(transparent)]
    Peer(#[from] PeerError),
    /// The connector's own folder cannot take the CRL: the local administrator's to fix.
    #[error("cannot store the CRL as {path}: {source}")]
    Store {
        /// The file or folder.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
}

/// The network let the fetch down.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// No connection to the server.
    #[error("cannot connect to {server}: {source}")]
    Connect {
        /// Host and port.
        server: String,
        /// What the system said.
        source: std::io::Error,
    },
    /// The connection broke.
    #[error("the connection failed: {0}")]
    Io(std::io::Error),
    /// The whole fetch took too long.
    #[error("no complete answer within {} s", .0.as_secs())]
    Timeout(Duration),
}

/// The first retry after a failure; each next one waits twice as long.
const FIRST_RETRY: Duration = Duration::from_secs(10);

/// Retries never wait longer than this.
const LONGEST_RETRY: Duration = Duration::from_secs(5 * 60);

/// Fetches the configured CRLs into the folder while the connector runs.
pub struct Fetcher {
    urls: Vec<HttpUrl>,
    every: Duration,
    job: Arc<Job>,
}

/// What every URL's loop shares.
struct Job {
    folder: Folder,
    /// The configured CAs, without CRLs: fetched CRLs are checked against them.
    anchors: TrustConfig,
}

impl Fetcher {
    /// A fetcher for `urls` into `folder`, checking CRLs against the CAs of `trust`; none
    /// when no URL is configured.
    pub fn new(
        urls: &[HttpUrl],
        every: Duration,
        folder: Folder,
        trust: &TrustConfig,
    ) -> Option<Self> {
        if urls.is_empty() {
            return None;
        }
        let anchors = TrustConfig::new(trust.roots.clone(), trust.intermediates.clone());
        Some(Self {
            urls: urls.to_vec(),
            every,
            job: Arc::new(Job { folder, anchors }),
        })
    }

    /// Fetches every URL on its own schedule until the connector stops (the task is aborted;
    /// dropping the set aborts each URL's task).
    pub async fn run(self, verifier: Arc<Verifier>) {
        let mut tasks = tokio::task::JoinSet::new();
        for url in self.urls {
            let job = self.job.clone();
            tasks.spawn(follow(url, self.every, job, verifier.clone()));
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// One URL, fetched and fetched again.
async fn follow(url: HttpUrl, every: Duration, job: Arc<Job>, verifier: Arc<Verifier>) {
    let mut schedule = Schedule::new(every);
    loop {
        tracing::debug!(%url, "fetching a CRL");
        let outcome = job.fetch(&url, &verifier).await;
        let delay = match outcome {
            Ok(stored) => {
                report_success(&url, &job.folder, stored, schedule.failures);
                schedule.succeeded()
            }
            Err(error) => {
                let retry = schedule.failed();
                report_failure(&url, &error, retry);
                retry.after
            }
        };
        tokio::time::sleep(delay).await;
    }
}

/// What became of a fetched CRL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stored {
    /// Its file changed.
    Changed,
    /// Its file already held it.
    Unchanged,
    /// Older than the CRL in force for its issuer: not stored.
    Older,
}

impl Job {
    async fn fetch(
        self: &Arc<Self>,
        url: &HttpUrl,
        verifier: &Verifier,
    ) -> Result<Stored, FetchError> {
        let body = get::fetch(url, Limits::CRL).await?;
        let in_force = verifier.crl_statuses(rustls_pki_types::UnixTime::now());
        let (job, url) = (self.clone(), url.clone());
        // Checking a signature and writing up to 64 MiB: not on the runtime's threads.
        tokio::task::spawn_blocking(move || job.keep(&url, &body, &in_force))
            .await
            .map_err(|error| FetchError::Store {
                path: self.folder.path().to_owned(),
                source: std::io::Error::other(error),
            })?
    }

    fn keep(
        &self,
        url: &HttpUrl,
        body: &[u8],
        in_force: &[vigie_certs::CrlStatus],
    ) -> Result<Stored, FetchError> {
        match check::check(body, &self.anchors, in_force)? {
            Verdict::Older => Ok(Stored::Older),
            Verdict::Usable if self.folder.store(url, body)? => Ok(Stored::Changed),
            Verdict::Usable => Ok(Stored::Unchanged),
        }
    }
}

fn report_success(url: &HttpUrl, folder: &Folder, stored: Stored, failures_before: u32) {
    if failures_before > 0 {
        tracing::info!(%url, failures = failures_before, "the CRL can be fetched again");
    }
    match stored {
        Stored::Changed => tracing::info!(
            %url,
            file = %folder.file_of(url).display(),
            "fetched a new CRL; it is read at the next look at the revocation files"
        ),
        Stored::Unchanged => tracing::debug!(%url, "fetched the CRL; unchanged"),
        Stored::Older => tracing::debug!(
            %url,
            "fetched a CRL older than the one in force for its issuer; kept the one in force"
        ),
    }
}

/// Warns at the first failure of a run, so a server down for a day is one line, not 300.
fn report_failure(url: &HttpUrl, error: &FetchError, retry: Retry) {
    let retry_in_s = retry.after.as_secs();
    if retry.first {
        tracing::warn!(
            %url,
            %error,
            retry_in_s,
            "cannot fetch a CRL; the CRLs in force stay, and the fetch is tried again"
        );
    } else {
        tracing::debug!(%url, %error, retry_in_s, "the CRL fetch failed again");
    }
}

/// When to try again after a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Retry {
    after: Duration,
    /// The first failure since the last success: the one the operator hears about.
    first: bool,
}

/// When to fetch a URL next, after each outcome. No clock: it only counts.
#[derive(Debug)]
struct Schedule {
    every: Duration,
    /// Failures in a row.
    failures: u32,
}

impl Schedule {
    fn new(every: Duration) -> Self {
        Self { every, failures: 0 }
    }

    /// The delay after a success.
    fn succeeded(&mut self) -> Duration {
        self.failures = 0;
        self.every
    }

    /// The delay after a failure: short at first (a lost packet, a server restarting), then
    /// longer, never longer than a success's.
    fn failed(&mut self) -> Retry {
        self.failures = self.failures.saturating_add(1);
        let doublings = (self.failures - 1).min(16);
        let after = FIRST_RETRY
            .saturating_mul(1 << doublings)
            .min(LONGEST_RETRY)
            .min(self.every);
        Retry {
            after,
            first: self.failures == 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn delays(schedule: &mut Schedule, count: usize) -> Vec<u64> {
        (0..count)
            .map(|_| schedule.failed().after.as_secs())
            .collect()
    }

    #[test]
    fn failures_retry_sooner_and_back_off() {
        let mut schedule = Schedule::new(Duration::from_secs(3600));
        assert_eq!(delays(&mut schedule, 7), [10, 20, 40, 80, 160, 300, 300]);
        assert_eq!(schedule.succeeded(), Duration::from_secs(3600));
        let retry = schedule.failed();
        assert_eq!(
            retry.after, FIRST_RETRY,
            "a success ends the run of failures"
        );
    }

    #[test]
    fn only_the_first_failure_of_a_run_is_for_the_operator() {
        let mut schedule = Schedule::new(Duration::from_secs(3600));
        let firsts: Vec<bool> = (0..4).map(|_| schedule.failed().first).collect();
        assert_eq!(firsts, [true, false, false, false]);
        schedule.succeeded();
        assert!(schedule.failed().first, "a new run of failures");
    }

    #[test]
    fn retries_never_wait_longer_than_the_period() {
        let mut schedule = Schedule::new(Duration::from_secs(60));
        assert_eq!(delays(&mut schedule, 5), [10, 20, 40, 60, 60]);
        delays(&mut schedule, 100);
        assert_eq!(schedule.failed().after, Duration::from_secs(60));
    }
}

//! Revocation data followed while `serve` runs. Every `[trust] refresh` this module looks at
//! the CRL files and the emergency blocklist named in `[trust]`, and at the folder of CRLs
//! the connector fetches itself ([`super::crl_fetch`]); when one has changed (a newer CRL
//! fetched or dropped in by a job of the hospital's, an entry added to the blocklist by an
//! operator), it reads them again and swaps them into the verifier, so the next handshake
//! sees them. Then it judges every live session's card again: a card the new data revokes or
//! blocks ends its session with [`vigie_protocol::Code::CARD_REVOKED`], and the session's
//! task does the rest (the client is told, the tunnel leaves the data plane, the end is
//! audited).
//!
//! A file that cannot be read or parsed changes nothing: the data in force stays, and the
//! operator is warned with the file named. The CRLs and the blocklist are swapped apart, so a
//! broken CRL file never holds back an emergency blocklist entry. A CRL older than the one
//! in force for its issuer is ignored by the verifier, so a replayed CRL cannot un-revoke.
//!
//! Live sessions end only for their card: a CRL gone stale (past its nextUpdate and the
//! grace) fails new admissions closed but does not cut clinicians already at work; the
//! operator is warned instead.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use rustls_pki_types::UnixTime;
use vigie_certs::Fault;

use super::codes::certificate_code;
use super::config::TrustFiles;
use super::files;
use super::pipeline::hex;
use super::{ServeError, Shared};

/// The revocation files and what they looked like at the last read.
pub struct Watch {
    files: TrustFiles,
    stamp: Stamp,
    stale_warned: HashSet<String>,
}

type Stamp = Vec<(PathBuf, Option<(u64, SystemTime)>)>;

impl Watch {
    /// Takes the files' stamp; call it before the start-up read, so that a change made during
    /// that read is seen at the first look.
    pub fn new(files: &TrustFiles) -> Self {
        Self {
            files: files.clone(),
            stamp: files::revocation_stamp(files),
            stale_warned: HashSet::new(),
        }
    }

    /// A watch over new `files` (a reloaded configuration), read and applied now: the live
    /// sessions whose card the new data refuses end at once. Blocks on the files.
    pub fn reconfigured(files: &TrustFiles, shared: &Shared) -> Self {
        let watch = Self::new(files);
        if Read::from_files(files).apply(shared) {
            rejudge(shared);
        }
        watch
    }

    /// Follows the files until the connector stops.
    pub async fn run(mut self, shared: Arc<Shared>) {
        let mut tick = tokio::time::interval(self.files.refresh);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            self.look(&shared).await;
        }
    }

    /// One look: reads the files again if they changed, then judges the live sessions.
    async fn look(&mut self, shared: &Arc<Shared>) {
        self.warn_stale(shared);
        let files = self.files.clone();
        let seen = self.stamp.clone();
        // Only the files' sizes and times are looked at on each tick; they are read and
        // parsed again only when one of them changed.
        let Ok(changed) = tokio::task::spawn_blocking(move || {
            let stamp = files::revocation_stamp(&files);
            (stamp != seen).then(|| (Read::from_files(&files), stamp))
        })
        .await
        else {
            return tracing::warn!("the revocation files could not be looked at");
        };
        let Some((read, stamp)) = changed else {
            return;
        };
        self.stamp = stamp;
        if read.apply(shared) {
            rejudge(shared);
        }
    }

    /// Warns once per issuer whose CRL has gone stale: new admissions under it are refused
    /// until a fresh CRL is in place.
    fn warn_stale(&mut self, shared: &Shared) {
        for status in shared.verifier.crl_statuses(UnixTime::now()) {
            if !status.stale {
                self.stale_warned.remove(&status.issuer);
            } else if self.stale_warned.insert(status.issuer.clone()) {
                tracing::warn!(
                    issuer = status.issuer,
                    "a CRL is past its next update and the grace: new admissions of its cards \
                     are refused; check that [trust] crl_urls lists its URL and that the URL \
                     can be fetched, or put a fresh CRL in the [trust] crls folder"
                );
            }
        }
    }
}

/// The revocation data as read from the files, each part on its own.
struct Read {
    crls: Result<Vec<rustls_pki_types::CertificateRevocationListDer<'static>>, ServeError>,
    blocklist: Result<vigie_certs::Blocklist, ServeError>,
}

impl Read {
    fn from_files(files: &TrustFiles) -> Self {
        Self {
            crls: files::crls(files),
            blocklist: files::blocklist(files),
        }
    }

    /// Swaps what could be read into the verifier; true when anything was swapped.
    fn apply(self, shared: &Shared) -> bool {
        let mut swapped = false;
        match self.crls.map(|crls| shared.verifier.update_crls(&crls)) {
            Ok(Ok(())) => {
                tracing::info!("CRLs read again");
                swapped = true;
            }
            Ok(Err(error)) => keep_warning("CRLs", &error),
            Err(error) => keep_warning("CRLs", &error),
        }
        match self.blocklist {
            Ok(blocklist) => {
                tracing::info!("emergency blocklist read again");
                shared.verifier.set_blocklist(blocklist);
                swapped = true;
            }
            Err(error) => keep_warning("emergency blocklist", &error),
        }
        swapped
    }
}

fn keep_warning(what: &str, error: &dyn std::fmt::Display) {
    tracing::warn!(
        %error,
        "the {what} changed but cannot be used; the ones in force stay until the file is fixed"
    );
}

/// Ends each live session whose card the verifier now refuses for the card's own sake.
fn rejudge(shared: &Shared) {
    let now = UnixTime::now();
    for (id, chain) in shared.registry.certificates() {
        let Some((leaf, presented)) = chain.split_first() else {
            continue;
        };
        let Err(refusal) = shared.verifier.verify(leaf, presented, now) else {
            continue;
        };
        if refusal.fault() == Fault::RevocationData {
            continue;
        }
        let code = certificate_code(&refusal);
        tracing::debug!(
            session = hex(&id),
            reason = refusal.code(),
            "card now refused"
        );
        shared.registry.end(&id, code);
    }
}

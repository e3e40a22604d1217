//! Revocation, as a live connector depends on it: the CRLs in force (one per CA, fresh or
//! not, and CAs with none, whose cards are all refused), the CRL servers of `[trust]
//! crl_urls` (fetched with the connector's own client, and checked like a fetched CRL), and
//! the clock, compared with the servers' `Date` and the CRLs' thisUpdate.

use std::collections::HashSet;

use rustls_pki_types::UnixTime;
use vigie_certs::{CrlStatus, TrustConfig, Verifier};
use x509_cert::Certificate;
use x509_cert::der::Decode as _;

use super::{Finding, date, from_now};
use crate::config::ConnectorConfig;
use crate::serve::crl_fetch::{self, HttpUrl, Limits, check};
use crate::serve::files;

/// A clock this far from a CRL server's warns.
pub const SKEW_WARN: i64 = 60;
/// A clock this far from a CRL server's fails: certificates' and CRLs' dates are misjudged.
pub const SKEW_FAIL: i64 = 3600;

/// The CRLs in force at `now`, per CA.
pub fn in_force(config: &ConnectorConfig, now: u64) -> Vec<Finding> {
    let trust = super::check::trust_as_served(config);
    let Ok(trust) = files::trust_config(&trust) else {
        return Vec::new(); // check-config has said why
    };
    let cas = issuing_cas(&trust);
    let Ok(verifier) = Verifier::new(trust) else {
        return Vec::new();
    };
    let statuses = verifier.crl_statuses(at(now));
    let mut findings: Vec<Finding> = statuses.iter().map(|s| freshness(s, now)).collect();
    let covered: HashSet<&str> = statuses.iter().map(|s| s.issuer.as_str()).collect();
    for ca in cas.iter().filter(|ca| !covered.contains(ca.as_str())) {
        findings.push(Finding::fail(format!(
            "CRL of {ca}: none in force, so every card this CA issued is refused; list its \
             CRL URL in [trust] crl_urls or put its CRL in a [trust] crls folder"
        )));
    }
    findings
}

/// The intermediate CAs, which issue the cards (a root issues CAs, whose CRLs IGC-Santé also
/// publishes, but a card never chains to a root directly).
fn issuing_cas(trust: &TrustConfig) -> Vec<String> {
    trust
        .intermediates
        .iter()
        .filter_map(|der| Certificate::from_der(der).ok())
        .map(|cert| cert.tbs_certificate.subject.to_string())
        .collect()
}

fn freshness(status: &CrlStatus, now: u64) -> Finding {
    let issuer = &status.issuer;
    let signed = |t: u64| i64::try_from(t).unwrap_or(i64::MAX) - i64::try_from(now).unwrap_or(0);
    if signed(status.this_update) > SKEW_WARN {
        return Finding::warn(format!(
            "CRL of {issuer}: issued {} ({}), in the future: this machine's clock is behind; \
             synchronise it (chrony, systemd-timesyncd)",
            date(status.this_update),
            from_now(signed(status.this_update))
        ));
    }
    let Some(next) = status.next_update else {
        return Finding::ok(format!("CRL of {issuer}: in force, without a next update"));
    };
    let when = format!("{} ({})", date(next), from_now(signed(next)));
    if status.stale {
        return Finding::fail(format!(
            "CRL of {issuer}: next update was {when} and the grace is over: new admissions of \
             its cards are refused; check that [trust] crl_urls lists its URL and that the URL \
             can be fetched"
        ));
    }
    if next < now {
        return Finding::warn(format!(
            "CRL of {issuer}: next update was {when}; admissions go on during [trust] \
             crl_grace only: check its fetch"
        ));
    }
    Finding::ok(format!("CRL of {issuer}: in force, next update {when}"))
}

/// Each CRL URL fetched once, and the clock compared with the servers'.
pub async fn urls(config: &ConnectorConfig, now: u64) -> Vec<Finding> {
    let urls = &config.trust.crl_urls;
    if urls.is_empty() {
        return vec![Finding::warn(
            "clock: not compared with any server ([trust] crl_urls is empty); keep it \
             synchronised (chrony, systemd-timesyncd)",
        )];
    }
    let anchors = files::trust_config(&crate::serve::config::TrustFiles {
        crls: Vec::new(),
        blocklist: None,
        ..config.trust.clone()
    });
    let Ok(anchors) = anchors else {
        return Vec::new(); // check-config has said why
    };
    let mut findings = Vec::new();
    let mut skews = Vec::new();
    for url in urls {
        let (finding, skew) = fetch(url, &anchors, now).await;
        findings.push(finding);
        skews.extend(skew);
    }
    findings.extend(clock(&skews));
    findings
}

async fn fetch(url: &HttpUrl, anchors: &TrustConfig, now: u64) -> (Finding, Option<i64>) {
    let fetched = match crl_fetch::fetch_dated(url, Limits::CRL).await {
        Ok(fetched) => fetched,
        Err(error) => {
            let finding = Finding::fail(format!(
                "CRL URL {url}: {error}; check the address, and that this machine can reach \
                 it (firewall, DNS)"
            ));
            return (finding, None);
        }
    };
    let skew = fetched.date.as_deref().and_then(|d| skew(d, now));
    let finding = match check::check(&fetched.body, anchors, &[]) {
        Ok(_) => {
            let issuers = issuers_of(&fetched.body, anchors);
            Finding::ok(format!("CRL URL {url}: answers a CRL of {issuers}"))
        }
        Err(error) => Finding::fail(format!(
            "CRL URL {url}: {error}; check that the URL is the CRL of a CA in [trust]"
        )),
    };
    (finding, skew)
}

/// The issuers of the CRLs in `body` (already checked against `anchors`).
fn issuers_of(body: &[u8], anchors: &TrustConfig) -> String {
    let crls = vigie_certs::pem::crls(body).unwrap_or_default();
    let probe = Verifier::new(TrustConfig {
        crls,
        ..anchors.clone()
    });
    let statuses = probe.map(|v| v.crl_statuses(at(0))).unwrap_or_default();
    let names: Vec<String> = statuses.into_iter().map(|s| s.issuer).collect();
    names.join(", ")
}

/// The server's clock minus ours, from an HTTP `Date` header.
fn skew(header: &str, now: u64) -> Option<i64> {
    let server = chrono::DateTime::parse_from_rfc2822(header)
        .ok()?
        .timestamp();
    Some(server - i64::try_from(now).ok()?)
}

fn clock(skews: &[i64]) -> Option<Finding> {
    let worst = skews.iter().copied().max_by_key(|s| s.unsigned_abs())?;
    let size = worst.unsigned_abs();
    let side = if worst > 0 { "behind" } else { "ahead of" };
    let text = format!("clock: {size} s {side} the CRL servers' clock");
    let remedy = "; synchronise it (chrony, systemd-timesyncd): cards' and CRLs' dates are \
                  judged by it";
    Some(match size {
        s if s > SKEW_FAIL.unsigned_abs() => Finding::fail(text + remedy),
        s if s > SKEW_WARN.unsigned_abs() => Finding::warn(text + remedy),
        _ => Finding::ok(format!("clock: within {size} s of the CRL servers' clock")),
    })
}

fn at(unix: u64) -> UnixTime {
    UnixTime::since_unix_epoch(std::time::Duration::from_secs(unix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clock_is_judged_by_the_worst_server() {
        assert_eq!(skew("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777), Some(0));
        assert_eq!(skew("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_700), Some(77));
        assert_eq!(skew("yesterday", 0), None);
        assert_eq!(clock(&[]), None);
        assert_eq!(clock(&[2, -1]).unwrap().level, super::super::Level::Ok);
        let behind = clock(&[5, 120]).unwrap();
        assert_eq!(behind.level, super::super::Level::Warn);
        assert!(
            behind.text.starts_with("clock: 120 s behind"),
            "{}",
            behind.text
        );
        assert_eq!(clock(&[-7200]).unwrap().level, super::super::Level::Fail);
    }

    #[test]
    fn a_crl_is_judged_by_its_dates() {
        let status = |this_update, next_update, stale| CrlStatus {
            issuer: "CN=AC".into(),
            this_update,
            next_update,
            stale,
        };
        let now = 1_000_000;
        assert_eq!(
            freshness(&status(now - 10, Some(now + 86_400), false), now).level,
            super::super::Level::Ok
        );
        assert_eq!(
            freshness(&status(now - 10, Some(now - 60), false), now).level,
            super::super::Level::Warn
        );
        assert_eq!(
            freshness(&status(now - 10, Some(now - 60), true), now).level,
            super::super::Level::Fail
        );
        let future = freshness(&status(now + 600, Some(now + 86_400), false), now);
        assert!(future.text.contains("clock is behind"), "{}", future.text);
    }
}

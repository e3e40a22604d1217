//! `vigie-connector doctor`: for a deployment live or about to be, everything `check-config`
//! checks, then what the running connector depends on — certificates' expiry, CRLs in force
//! and their servers, the clock, the data plane's prerequisites, and the running connector's
//! own health check.

use std::path::Path;

use super::{Finding, certs, check, crls, system};

/// Every check, in the order they are printed, at `now` (Unix seconds).
pub async fn doctor(path: &Path, now: u64) -> Vec<Finding> {
    let checked = check::check_config(path);
    let mut findings = checked.findings;
    let Some(config) = checked.config else {
        return findings;
    };
    findings.extend(certs::expiries(&config, now));
    findings.extend(crls::in_force(&config, now));
    findings.extend(crls::urls(&config, now).await);
    findings.extend(system::dataplane(&config));
    let admin = tokio::task::spawn_blocking(move || system::health(&config)).await;
    findings.extend(admin.ok().flatten());
    findings
}

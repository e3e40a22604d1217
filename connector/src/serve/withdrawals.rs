//! Access withdrawn while `serve` runs, by another process: an administrator's `session
//! kill`, an `hr sync` that suspends or removes someone, a `card revoke`. Those commands end
//! the sessions' rows in the directory; every [`EVERY`] this module asks the directory which
//! of the live sessions it has ended, and ends each of those with the reason it recorded.
//! The session's task does the rest as for any end: the client is told why, its tunnel
//! leaves the data plane, and the end is audited.
//!
//! Every [`LAST_DAYS_EVERY`] it also ends the sessions of people whose last working day (HR's
//! end date) has passed: the date passing withdraws access, without a new HR export.
//!
//! The look is one cheap question while nobody else writes to the directory: only when
//! another process has committed a change since the last look
//! ([`Directory::data_version`](crate::directory::Directory::data_version)) are the live
//! sessions looked up, one by one (thousands of them, with the directory held meanwhile).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use vigie_protocol::{Code, SessionId};

use super::Shared;
use super::pipeline::hex;

/// How often the directory is asked: the delay between an admin's command and the end of
/// the session it withdraws.
pub const EVERY: Duration = Duration::from_secs(1);

/// How often the live sessions' people are checked for a last working day that has passed.
pub const LAST_DAYS_EVERY: Duration = Duration::from_secs(10);

/// Watches for withdrawals until the connector stops.
pub async fn watch(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(EVERY);
    let mut seen = None;
    let mut last_days: Option<Instant> = None;
    loop {
        tick.tick().await;
        if last_days.is_none_or(|at| at.elapsed() >= LAST_DAYS_EVERY) {
            past_last_day(&shared).await;
            last_days = Some(Instant::now());
        }
        seen = check(&shared, seen).await.or(seen);
    }
}

/// The live sessions, by their directory row's id.
fn live_sessions(shared: &Shared) -> HashMap<String, SessionId> {
    shared
        .registry
        .ids()
        .into_iter()
        .map(|id| (hex(&id), id))
        .collect()
}

/// Ends the sessions of people whose last working day has passed (the hospital's day,
/// [`crate::person::hr_day`]), in the directory and, for those live here, now. Parked ones
/// end through the directory ([`super::roaming::watch`]).
async fn past_last_day(shared: &Arc<Shared>) {
    if shared.registry.is_empty() && shared.parking.is_empty() {
        return;
    }
    let directory = shared.directory.clone();
    let now = Utc::now();
    let ended = tokio::task::spawn_blocking(move || {
        let directory = directory.lock().unwrap_or_else(|e| e.into_inner());
        directory.end_sessions_past_last_day(crate::person::hr_day(now), now)
    })
    .await;
    let ended = match ended {
        Ok(Ok(ended)) => ended,
        Ok(Err(error)) => {
            tracing::warn!(%error, "cannot check the live sessions' last working days");
            return;
        }
        Err(_) => {
            tracing::warn!("the check of the live sessions' last working days failed");
            return;
        }
    };
    if ended.is_empty() {
        return;
    }
    let live = live_sessions(shared);
    for row in ended {
        if let Some(id) = live.get(&row) {
            shared.registry.end(id, Code::HR_DEPARTURE);
            tracing::debug!(session = row, "the person's last working day has passed");
        }
    }
}

/// Ends the live sessions the directory has ended, unless nobody else wrote to it since
/// version `seen`; the version looked at, if the look succeeded.
async fn check(shared: &Arc<Shared>, seen: Option<i64>) -> Option<i64> {
    let live = live_sessions(shared);
    if live.is_empty() {
        return seen;
    }
    let rows: Vec<String> = live.keys().cloned().collect();
    let directory = shared.directory.clone();
    let ended = tokio::task::spawn_blocking(move || {
        let directory = directory.lock().unwrap_or_else(|e| e.into_inner());
        let version = directory.data_version()?;
        if seen == Some(version) {
            return Ok((version, Vec::new()));
        }
        Ok((version, directory.ended_among(&rows)?))
    })
    .await;
    let (version, ended) = match ended {
        Ok(Ok(looked)) => looked,
        Ok(Err(error)) => {
            let error: crate::directory::DirectoryError = error;
            tracing::warn!(%error, "cannot read ended sessions from the directory");
            return None;
        }
        Err(_) => {
            tracing::warn!("the directory lookup of ended sessions failed");
            return None;
        }
    };
    for (row, reason) in ended {
        let code = code_of(&reason);
        if live
            .get(&row)
            .is_some_and(|id| shared.registry.end(id, code))
        {
            tracing::debug!(session = row, %code, "access withdrawn; ending the session");
        }
    }
    Some(version)
}

/// The reason a user is told for an end the directory recorded.
pub fn code_of(reason: &str) -> Code {
    match reason {
        "admin-kill" => Code::ADMIN_KILL,
        "card-revoked" => Code::CARD_REVOKED,
        "person-suspended" => Code::HR_SUSPENSION,
        "person-departed" | "person-ended" => Code::HR_DEPARTURE,
        "unknown-person" => Code::UNKNOWN_PERSON,
        _ => Code::NOT_AUTHORIZED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_recorded_reason_reaches_the_user_as_its_code() {
        assert_eq!(code_of("admin-kill"), Code::ADMIN_KILL);
        assert_eq!(code_of("card-revoked"), Code::CARD_REVOKED);
        assert_eq!(code_of("person-suspended"), Code::HR_SUSPENSION);
        assert_eq!(code_of("person-departed"), Code::HR_DEPARTURE);
        assert_eq!(code_of("person-ended"), Code::HR_DEPARTURE);
        assert_eq!(code_of("person-not-started"), Code::NOT_AUTHORIZED);
    }
}

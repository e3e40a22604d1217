//! Access withdrawn while `serve` runs, by another process: an administrator's `session
//! kill`, an `hr sync` that suspends or removes someone, a `card revoke`. Those commands end
//! the sessions' rows in the directory; every [`EVERY`] this module asks the directory which
//! of the live sessions it has ended, and ends each of those with the reason it recorded.
//! The session's task does the rest as for any end: the client is told why, its tunnel
//! leaves the data plane, and the end is audited.
//!
//! The look is one cheap question while nobody else writes to the directory: only when
//! another process has committed a change since the last look
//! ([`Directory::data_version`](crate::directory::Directory::data_version)) are the live
//! sessions looked up, one by one (thousands of them, with the directory held meanwhile).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use vigie_protocol::{Code, SessionId};

use super::Shared;
use super::pipeline::hex;

/// How often the directory is asked: the delay between an admin's command and the end of
/// the session it withdraws.
pub const EVERY: Duration = Duration::from_secs(1);

/// Watches for withdrawals until the connector stops.
pub async fn watch(shared: Arc<Shared>) {
    let mut tick = tokio::time::interval(EVERY);
    let mut seen = None;
    loop {
        tick.tick().await;
        seen = check(&shared, seen).await.or(seen);
    }
}

/// Ends the live sessions the directory has ended, unless nobody else wrote to it since
/// version `seen`; the version looked at, if the look succeeded.
async fn check(shared: &Arc<Shared>, seen: Option<i64>) -> Option<i64> {
    let live: HashMap<String, SessionId> = shared
        .registry
        .ids()
        .into_iter()
        .map(|id| (hex(&id), id))
        .collect();
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

//! `/health`: whether the connector can do its job now — its listeners and background tasks
//! run, the directory answers, the audit writer writes, and (when enabled) the data plane's
//! packet threads run and its NAT rules are in the kernel. Each part that is not is named, so a monitoring check or
//! `vigie-connector doctor` can say what to look at.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::task::AbortHandle;

use crate::serve::Shared;

/// How long the directory has to answer a health check.
const DIRECTORY_PATIENCE: Duration = Duration::from_secs(5);

/// The tasks `serve` runs, by name, registered as they start.
#[derive(Debug, Default)]
pub struct Tasks(Mutex<Vec<(&'static str, AbortHandle)>>);

impl Tasks {
    /// Follows task `name`.
    pub fn add(&self, name: &'static str, task: AbortHandle) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((name, task));
    }

    /// Replaces the task called `name` (a reload restarted it).
    pub fn replace(&self, name: &'static str, task: AbortHandle) {
        let mut tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|(n, _)| *n != name);
        tasks.push((name, task));
    }

    /// The names of the tasks that have stopped.
    fn stopped(&self) -> Vec<&'static str> {
        let tasks = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        tasks
            .iter()
            .filter(|(_, task)| task.is_finished())
            .map(|(name, _)| *name)
            .collect()
    }
}

/// The parts checked, for the answer when all is well.
pub const PARTS: &str = "listeners, directory, audit writer";

/// Every problem found; empty when the connector is healthy.
pub async fn problems(shared: &Arc<Shared>, tasks: &Tasks) -> Vec<String> {
    let mut found: Vec<String> = tasks
        .stopped()
        .into_iter()
        .map(|name| format!("the {name} stopped"))
        .collect();
    found.extend(directory(shared).await);
    found.extend(shared.audit.trouble().map(str::to_owned));
    if let Some(plane) = &shared.dataplane {
        found.extend(plane.trouble());
        found.extend(nat_rules().await);
    }
    found
}

/// The directory answers a trivial question in time.
async fn directory(shared: &Shared) -> Option<String> {
    let directory = shared.directory.clone();
    let asked = tokio::task::spawn_blocking(move || {
        let directory = directory.lock().unwrap_or_else(PoisonError::into_inner);
        directory.schema_version().map_err(|e| e.to_string())
    });
    match tokio::time::timeout(DIRECTORY_PATIENCE, asked).await {
        Ok(Ok(Ok(_))) => None,
        Ok(Ok(Err(error))) => Some(format!("the directory cannot be read: {error}")),
        Ok(Err(_)) => Some("the directory lookup failed".into()),
        Err(_) => Some(format!(
            "the directory did not answer within {} s",
            DIRECTORY_PATIENCE.as_secs()
        )),
    }
}

/// The data plane's nftables table is in place (a firewall script that flushes the whole
/// ruleset removes it, and the tunnels then reach no app).
async fn nat_rules() -> Option<String> {
    let table = crate::dataplane::nft::TABLE;
    let listed = tokio::task::spawn_blocking(move || {
        std::process::Command::new("nft")
            .args(["list", "table", "ip", table])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
    })
    .await;
    match listed {
        Ok(Ok(status)) if status.success() => None,
        _ => Some(format!(
            "the data plane's NAT rules (nftables table ip {table}) are gone; run \
             `vigie-connector reload` to put them back, and keep firewall scripts from \
             flushing the whole ruleset"
        )),
    }
}

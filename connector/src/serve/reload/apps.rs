//! The apps part of a reload: the file's `[[app]]` applied to the directory and the NAT
//! rules rebuilt from the directory's apps; and, between reloads, the NAT rules kept in step
//! with apps published or withdrawn from the command line.

use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;

use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::config::ConnectorConfig;
use crate::dataplane::hook::NatRules;
use crate::directory::ConfigChange;
use crate::serve::Shared;

/// Applies the file's `[[app]]` to the directory (each change audited) and rebuilds the NAT
/// rules from the directory's apps. An error when the directory refuses the apps (an app's
/// name taken by one published from the command line…): then nothing changed.
pub(super) async fn apply_apps(
    shared: &Arc<Shared>,
    new: &ConnectorConfig,
    started: &ConnectorConfig,
    nat: Option<&Arc<Mutex<NatRules>>>,
) -> Result<Vec<String>, String> {
    let directory = shared.directory.clone();
    let (apps, range) = (new.apps.clone(), started.addresses.apps);
    let nat = nat.cloned();
    let applied = tokio::task::spawn_blocking(move || {
        let mut directory = directory.lock().unwrap_or_else(PoisonError::into_inner);
        let changes = directory.apply_config_apps(&apps, range, Utc::now())?;
        let published = directory.apps()?;
        drop(directory);
        let rules = nat.map(|nat| {
            nat.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sync(&published, true)
        });
        Ok::<_, crate::directory::DirectoryError>((changes, rules))
    })
    .await;
    let (changes, rules) = match applied {
        Ok(Ok(done)) => done,
        Ok(Err(error)) => return Err(format!("[[app]]: the directory refuses them: {error}")),
        Err(error) => return Err(format!("[[app]]: not applied: {error}")),
    };
    let mut lines = Vec::new();
    if !changes.is_empty() {
        let names: Vec<String> = changes.iter().map(describe).collect();
        lines.push(format!("[[app]]: {}", names.join(", ")));
    }
    for change in changes {
        let _ = shared.audit.write(change_event(change)).await;
    }
    match rules {
        Some(Err(error)) => {
            tracing::warn!(%error, "the NAT rules could not be rebuilt; the old ones stay");
            lines.push(format!(
                "data plane: the NAT rules could not be rebuilt: {error}"
            ));
        }
        Some(Ok(true)) if !lines.is_empty() => lines.push("data plane: NAT rules rebuilt".into()),
        _ => {}
    }
    Ok(lines)
}

fn describe(change: &ConfigChange) -> String {
    match change {
        ConfigChange::Published(name, outcome) => {
            format!("{name} {}", format!("{outcome:?}").to_lowercase())
        }
        ConfigChange::Withdrawn(name) => format!("{name} withdrawn"),
        ConfigChange::Granted(name, target) => {
            format!("{name} granted to {} {}", target.kind(), target.name())
        }
        ConfigChange::GrantRemoved(name, target) => {
            format!(
                "{name} no longer granted to {} {}",
                target.kind(),
                target.name()
            )
        }
    }
}

/// The audit record of a change the configuration file's apps made to the directory.
pub fn change_event(change: ConfigChange) -> AuditEvent {
    let event = |kind| AuditEvent::new(kind, Actor::Connector).field("source", "config");
    match change {
        ConfigChange::Published(name, outcome) => event(AuditKind::AppPublished)
            .field("app", name)
            .field("change", format!("{outcome:?}").to_lowercase()),
        ConfigChange::Withdrawn(name) => event(AuditKind::AppWithdrawn).field("app", name),
        ConfigChange::Granted(name, target) => event(AuditKind::AppGranted)
            .field("app", name)
            .field(target.kind(), target.name()),
        ConfigChange::GrantRemoved(name, target) => event(AuditKind::AppGrantRevoked)
            .field("app", name)
            .field(target.kind(), target.name()),
    }
}

/// Rebuilds the NAT rules when the directory's apps change (`app publish`, `app withdraw`
/// from the command line), looking every [`APPS_EVERY`].
pub(crate) async fn watch_apps(shared: Arc<Shared>, nat: Arc<Mutex<NatRules>>) {
    let mut tick = tokio::time::interval(APPS_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let (directory, nat) = (shared.directory.clone(), nat.clone());
        let synced = tokio::task::spawn_blocking(move || {
            let apps = directory
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .apps()
                .map_err(|e| e.to_string())?;
            let mut nat = nat.lock().unwrap_or_else(PoisonError::into_inner);
            nat.sync(&apps, false).map_err(|e| e.to_string())
        })
        .await;
        match synced {
            Ok(Ok(true)) => tracing::info!("the published apps changed: NAT rules rebuilt"),
            Ok(Ok(false)) => {}
            Ok(Err(error)) => tracing::warn!(
                %error,
                "the published apps changed but their NAT rules cannot be made; the old \
                 ones stay: check the apps' backends"
            ),
            Err(_) => tracing::warn!("the look at the published apps failed"),
        }
    }
}

/// How often the directory's apps are compared with the NAT rules.
pub const APPS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

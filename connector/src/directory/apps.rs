//! Apps, grants and virtual addresses.

use std::collections::HashSet;
use std::net::Ipv4Addr;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use super::{Directory, DirectoryError, time_text};
use crate::apps::{AppDefinition, AppSource, Grant, GrantTarget, Ipv4Range, PublishedApp};
use crate::config::AppConfig;

/// What publishing did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// A new app.
    Created,
    /// An existing app whose definition or owner changed.
    Updated,
    /// Nothing changed.
    Unchanged,
}

/// A change made by applying the configuration file's apps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigChange {
    /// An app was created or updated from the file.
    Published(String, Published),
    /// A file app no longer in the file was withdrawn.
    Withdrawn(String),
    /// A file grant was added.
    Granted(String, GrantTarget),
    /// A file grant no longer in the file was removed.
    GrantRemoved(String, GrantTarget),
}

impl Directory {
    /// Every published app with its grants, by name. Read again only when the database
    /// changed under another connection (an `app` command, a configuration applied) or this
    /// connection changed an app; otherwise the last reading is given (each admission asks).
    pub fn apps(&self) -> Result<Vec<PublishedApp>, DirectoryError> {
        let version = self.data_version()?;
        if let Some((read_at, apps)) = &*self.apps_read.borrow() {
            if *read_at == version {
                return Ok(apps.clone());
            }
        }
        let apps = self.read_apps()?;
        *self.apps_read.borrow_mut() = Some((version, apps.clone()));
        Ok(apps)
    }

    /// Forgets the last reading of the apps: this connection is changing them.
    fn apps_changed(&self) {
        self.apps_read.borrow_mut().take();
    }

    fn read_apps(&self) -> Result<Vec<PublishedApp>, DirectoryError> {
        let names: Vec<String> = self
            .conn
            .prepare_cached("SELECT name FROM apps ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        names
            .iter()
            .map(|name| {
                read_app(&self.conn, name)?.ok_or_else(|| DirectoryError::UnknownApp(name.clone()))
            })
            .collect()
    }

    /// The stable virtual address of a built-in service of the connector (such as the SSO
    /// issuer), kept apart from the published apps' addresses. `name` starts with `@`, which
    /// no app name may hold.
    pub fn builtin_address(
        &self,
        name: &str,
        range: Ipv4Range,
    ) -> Result<Ipv4Addr, DirectoryError> {
        self.apps_changed();
        debug_assert!(name.starts_with('@'));
        address_for(&self.conn, name, range)
    }

    /// One app, if published.
    pub fn app(&self, name: &str) -> Result<Option<PublishedApp>, DirectoryError> {
        read_app(&self.conn, name)
    }

    /// Publishes (or updates) an app from the command line; an app owned by the configuration
    /// file is refused.
    pub fn publish_app(
        &mut self,
        definition: &AppDefinition,
        range: Ipv4Range,
        now: DateTime<Utc>,
    ) -> Result<(Published, PublishedApp), DirectoryError> {
        self.apps_changed();
        if let Some(existing) = self
            .app(&definition.name)?
            .filter(|a| a.source == AppSource::Config)
        {
            return Err(DirectoryError::AppConflict(format!(
                "app {:?} is defined in the configuration file; change it there",
                existing.definition.name
            )));
        }
        let tx = self.conn.transaction()?;
        let outcome = upsert(&tx, definition, AppSource::Admin, range, now)?;
        tx.commit()?;
        let app = self
            .app(&definition.name)?
            .ok_or_else(|| DirectoryError::UnknownApp(definition.name.clone()))?;
        Ok((outcome, app))
    }

    /// Withdraws a CLI-published app (its address stays reserved for it). Returns whether it
    /// existed.
    pub fn withdraw_app(&self, name: &str) -> Result<bool, DirectoryError> {
        self.apps_changed();
        if self
            .app(name)?
            .is_some_and(|a| a.source == AppSource::Config)
        {
            return Err(DirectoryError::AppConflict(format!(
                "app {name:?} is defined in the configuration file; remove it there"
            )));
        }
        Ok(self
            .conn
            .execute("DELETE FROM apps WHERE name = ?1", [name])?
            > 0)
    }

    /// Grants an app from the command line. Returns whether the grant is new.
    pub fn grant_app(&self, name: &str, target: &GrantTarget) -> Result<bool, DirectoryError> {
        self.apps_changed();
        if self.app(name)?.is_none() {
            return Err(DirectoryError::UnknownApp(name.to_owned()));
        }
        add_grant(&self.conn, name, target, AppSource::Admin)
    }

    /// Takes back a grant given from the command line. Returns whether it existed; a grant
    /// from the configuration file is refused.
    pub fn revoke_grant(&self, name: &str, target: &GrantTarget) -> Result<bool, DirectoryError> {
        self.apps_changed();
        let app = self
            .app(name)?
            .ok_or_else(|| DirectoryError::UnknownApp(name.to_owned()))?;
        if app
            .grants
            .iter()
            .any(|g| g.target == *target && g.source == AppSource::Config)
        {
            return Err(DirectoryError::AppConflict(format!(
                "the grant of {name:?} to {target} comes from the configuration file; \
                 remove it there"
            )));
        }
        let removed = self.conn.execute(
            "DELETE FROM grants WHERE app_name = ?1 AND kind = ?2 AND target = ?3",
            [name, target.kind(), target.name()],
        )?;
        Ok(removed > 0)
    }

    /// Makes the directory's file-owned apps match the configuration file, in one
    /// transaction. Idempotent: a second run with the same file changes nothing.
    pub fn apply_config_apps(
        &mut self,
        apps: &[AppConfig],
        range: Ipv4Range,
        now: DateTime<Utc>,
    ) -> Result<Vec<ConfigChange>, DirectoryError> {
        self.apps_changed();
        let tx = self.conn.transaction()?;
        let mut changes = Vec::new();
        for app in apps {
            let definition = AppDefinition {
                name: app.name.clone(),
                dns_name: app.dns_name.clone(),
                ports: app.ports.clone(),
                backend: app.backend.clone(),
            };
            match upsert(&tx, &definition, AppSource::Config, range, now)? {
                Published::Unchanged => {}
                outcome => changes.push(ConfigChange::Published(app.name.clone(), outcome)),
            }
            changes.extend(sync_config_grants(&tx, app)?);
        }
        let stale: Vec<String> = tx
            .prepare("SELECT name FROM apps WHERE source = 'config' ORDER BY name")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        for name in stale
            .into_iter()
            .filter(|n| !apps.iter().any(|a| &a.name == n))
        {
            tx.execute("DELETE FROM apps WHERE name = ?1", [&name])?;
            changes.push(ConfigChange::Withdrawn(name));
        }
        tx.commit()?;
        Ok(changes)
    }
}

fn read_app(conn: &Connection, name: &str) -> Result<Option<PublishedApp>, DirectoryError> {
    let row = conn
        .prepare_cached(
            "SELECT apps.dns_name, apps.ports, apps.backend, apps.source, app_addresses.address
             FROM apps JOIN app_addresses USING (name) WHERE name = ?1",
        )?
        .query_row([name], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
            ))
        })
        .optional()?;
    let Some((dns_name, ports, backend, source, address)) = row else {
        return Ok(None);
    };
    let corrupt = |what: &str| DirectoryError::Corrupt(format!("app {name:?}: {what}"));
    let ports = ports
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| corrupt("ports"))?;
    Ok(Some(PublishedApp {
        definition: AppDefinition {
            name: name.to_owned(),
            dns_name,
            ports,
            backend,
        },
        virtual_address: address.parse().map_err(|_| corrupt("address"))?,
        source: source_from(&source).ok_or_else(|| corrupt("source"))?,
        grants: read_grants(conn, name)?,
    }))
}

fn read_grants(conn: &Connection, name: &str) -> Result<Vec<Grant>, DirectoryError> {
    let mut statement = conn.prepare_cached(
        "SELECT kind, target, source FROM grants WHERE app_name = ?1 ORDER BY kind, target",
    )?;
    let rows = statement.query_map([name], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut grants = Vec::new();
    for row in rows {
        let (kind, target, source) = row?;
        let target = match kind.as_str() {
            "group" => GrantTarget::Group(target),
            _ => GrantTarget::Profession(target),
        };
        let source = source_from(&source)
            .ok_or_else(|| DirectoryError::Corrupt(format!("grant source {source:?}")))?;
        grants.push(Grant { target, source });
    }
    Ok(grants)
}

fn source_from(text: &str) -> Option<AppSource> {
    match text {
        "config" => Some(AppSource::Config),
        "admin" => Some(AppSource::Admin),
        _ => None,
    }
}

/// Inserts or updates an app row, giving it its stable address.
fn upsert(
    conn: &Connection,
    definition: &AppDefinition,
    source: AppSource,
    range: Ipv4Range,
    now: DateTime<Utc>,
) -> Result<Published, DirectoryError> {
    let ports = definition
        .ports
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ");
    let taken: Option<String> = conn
        .query_row(
            "SELECT name FROM apps WHERE dns_name = ?1 AND name <> ?2",
            [&definition.dns_name, &definition.name],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(other) = taken {
        return Err(DirectoryError::AppConflict(format!(
            "DNS name {:?} is already used by app {other:?}; choose another",
            definition.dns_name
        )));
    }
    let before = read_app(conn, &definition.name)?;
    address_for(conn, &definition.name, range)?;
    let unchanged = before.as_ref().is_some_and(|b| {
        b.definition == *definition && b.source == source && range.contains(b.virtual_address)
    });
    if unchanged {
        return Ok(Published::Unchanged);
    }
    conn.execute(
        "INSERT INTO apps (name, dns_name, ports, backend, source, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (name) DO UPDATE
         SET dns_name = ?2, ports = ?3, backend = ?4, source = ?5, updated_at = ?6",
        params![
            definition.name,
            definition.dns_name,
            ports,
            definition.backend,
            source.as_str(),
            time_text(now)
        ],
    )?;
    Ok(if before.is_some() {
        Published::Updated
    } else {
        Published::Created
    })
}

/// The app's stored address; a new one (the lowest free in `range`) if it has none or if the
/// range changed under it.
fn address_for(
    conn: &Connection,
    name: &str,
    range: Ipv4Range,
) -> Result<Ipv4Addr, DirectoryError> {
    let stored: Option<String> = conn
        .query_row(
            "SELECT address FROM app_addresses WHERE name = ?1",
            [name],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(address) = stored
        .as_deref()
        .and_then(|a| a.parse().ok())
        .filter(|a| range.contains(*a))
    {
        return Ok(address);
    }
    let used: HashSet<String> = conn
        .prepare("SELECT address FROM app_addresses")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let free = range
        .hosts()
        .find(|a| !used.contains(&a.to_string()))
        .ok_or_else(|| DirectoryError::RangeFull(range.to_string()))?;
    if stored.is_some() {
        let message = "app address outside the configured app range; moved";
        tracing::warn!(app = name, address = %free, "{message}");
    }
    conn.execute(
        "INSERT INTO app_addresses (name, address) VALUES (?1, ?2)
         ON CONFLICT (name) DO UPDATE SET address = ?2",
        [name, &free.to_string()],
    )?;
    Ok(free)
}

fn add_grant(
    conn: &Connection,
    name: &str,
    target: &GrantTarget,
    source: AppSource,
) -> Result<bool, DirectoryError> {
    let added = conn.execute(
        "INSERT INTO grants (app_name, kind, target, source) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT DO NOTHING",
        [name, target.kind(), target.name(), source.as_str()],
    )?;
    Ok(added > 0)
}

/// Makes a file app's file grants match the file; grants from the command line are kept.
fn sync_config_grants(
    conn: &Connection,
    app: &AppConfig,
) -> Result<Vec<ConfigChange>, DirectoryError> {
    let wanted: Vec<GrantTarget> = app
        .groups
        .iter()
        .cloned()
        .map(GrantTarget::Group)
        .chain(app.professions.iter().cloned().map(GrantTarget::Profession))
        .collect();
    let current = read_grants(conn, &app.name)?;
    let mut changes = Vec::new();
    for grant in current
        .iter()
        .filter(|g| g.source == AppSource::Config && !wanted.contains(&g.target))
    {
        conn.execute(
            "DELETE FROM grants WHERE app_name = ?1 AND kind = ?2 AND target = ?3",
            [&app.name, grant.target.kind(), grant.target.name()],
        )?;
        changes.push(ConfigChange::GrantRemoved(
            app.name.clone(),
            grant.target.clone(),
        ));
    }
    for target in wanted
        .iter()
        .filter(|t| !current.iter().any(|g| g.target == **t))
    {
        add_grant(conn, &app.name, target, AppSource::Config)?;
        changes.push(ConfigChange::Granted(app.name.clone(), target.clone()));
    }
    Ok(changes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn definition(name: &str) -> AppDefinition {
        AppDefinition {
            name: name.into(),
            dns_name: format!("{name}.hopital.example"),
            ports: vec!["tcp/443".parse().unwrap()],
            backend: "198.18.10.1".into(),
        }
    }

    fn config_app(name: &str, groups: &[&str]) -> AppConfig {
        let d = definition(name);
        AppConfig {
            name: d.name,
            dns_name: d.dns_name,
            ports: d.ports,
            backend: d.backend,
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            professions: vec![],
        }
    }

    #[test]
    fn the_apps_read_follow_changes_from_this_connection_and_others() {
        let range: Ipv4Range = "100.80.0.0/16".parse().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("connector.db");
        let mut serving = Directory::open(&path).unwrap();
        serving
            .publish_app(&definition("dpi"), range, now())
            .unwrap();
        assert_eq!(serving.apps().unwrap().len(), 1);
        let admin = Directory::open(&path).unwrap();
        let target = GrantTarget::Group("urgences".into());
        admin.grant_app("dpi", &target).unwrap();
        let grants = |d: &Directory| d.apps().unwrap()[0].grants.len();
        assert_eq!(grants(&serving), 1, "another connection's grant is seen");
        serving.revoke_grant("dpi", &target).unwrap();
        assert_eq!(grants(&serving), 0, "its own change is seen");
        assert_eq!(grants(&admin), 0);
    }

    #[test]
    fn addresses_are_stable_across_withdrawal_and_republication() {
        let range: Ipv4Range = "100.80.0.0/16".parse().unwrap();
        let mut directory = Directory::open_in_memory().unwrap();
        let (_, dpi) = directory
            .publish_app(&definition("dpi"), range, now())
            .unwrap();
        let (_, mail) = directory
            .publish_app(&definition("mail"), range, now())
            .unwrap();
        assert_eq!(dpi.virtual_address, Ipv4Addr::new(100, 80, 0, 1));
        assert_ne!(dpi.virtual_address, mail.virtual_address);
        assert!(directory.withdraw_app("dpi").unwrap());
        let (outcome, again) = directory
            .publish_app(&definition("dpi"), range, now())
            .unwrap();
        assert_eq!(
            (outcome, again.virtual_address),
            (Published::Created, dpi.virtual_address)
        );
        let (_, third) = directory
            .publish_app(&definition("pacs"), range, now())
            .unwrap();
        assert_eq!(third.virtual_address, Ipv4Addr::new(100, 80, 0, 3));
    }

    #[test]
    fn config_apps_apply_idempotently_and_keep_admin_grants() {
        let range: Ipv4Range = "100.80.0.0/16".parse().unwrap();
        let mut directory = Directory::open_in_memory().unwrap();
        let file = [config_app("dpi", &["urgences"])];
        assert_eq!(
            directory
                .apply_config_apps(&file, range, now())
                .unwrap()
                .len(),
            2
        );
        assert!(
            directory
                .apply_config_apps(&file, range, now())
                .unwrap()
                .is_empty()
        );
        assert!(
            directory
                .grant_app("dpi", &GrantTarget::Group("pediatrie".into()))
                .unwrap()
        );
        assert!(
            directory
                .publish_app(&definition("dpi"), range, now())
                .is_err()
        );
        assert!(
            directory
                .revoke_grant("dpi", &GrantTarget::Group("urgences".into()))
                .is_err()
        );
        let changes = directory
            .apply_config_apps(&[config_app("dpi", &["reanimation"])], range, now())
            .unwrap();
        assert_eq!(changes.len(), 2);
        let grants: Vec<_> = directory
            .app("dpi")
            .unwrap()
            .unwrap()
            .grants
            .into_iter()
            .map(|g| g.target.name().to_owned())
            .collect();
        assert_eq!(grants, ["pediatrie", "reanimation"]);
        assert_eq!(
            directory.apply_config_apps(&[], range, now()).unwrap(),
            [ConfigChange::Withdrawn("dpi".into())]
        );
    }
}

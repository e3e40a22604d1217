//! Reloading the configuration file while `serve` runs, on SIGHUP (`vigie-connector reload`,
//! systemd's `ExecReload=`), without dropping a session.
//!
//! The file is read and checked whole first: its syntax and values, and the files it names
//! that the reload would use (CRLs, the blocklist, the SSO clients' keys, the apps'
//! backends). If anything is wrong, nothing changes: the problems are logged with their file,
//! line and column, counted, audited and written for the `reload` command, and the running
//! configuration stays whole. Otherwise what can change live changes at once ([`changes`]):
//!
//! - `[[app]]`: the directory is updated as at start (and audited), and the data plane's NAT
//!   rules are rebuilt. New sessions get the new grants. **Live sessions keep the apps of
//!   their grant** until they reconnect: the control protocol has no message to change a
//!   live grant, and the client's routes and names were set from it. An app withdrawn from
//!   the file loses its NAT rules, so live sessions open no new connection to it;
//!   `vigie-connector session kill` ends a session at once where that is not enough.
//! - `[session]` limits and `[enrolment]`: for the sessions admitted from now on.
//! - `[trust]` revocation files and CRL URLs: read or fetched again at once; live sessions
//!   whose card the new data revokes end, as when the files change by themselves.
//! - `[[sso.client]]`: the registered apps and their keys.
//! - `[log] level`.
//!
//! Changed settings that need a restart are named in a warning and in the `reload` command's
//! output; the running connector keeps their old values. Every reload is audited
//! (`config.reload`, with what changed or what was wrong).

mod apps;
pub mod changes;
pub mod status;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::Utc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::admin::health::Tasks;
use super::{Shared, crl_fetch, files, revocation};
use crate::audit::{Actor, AuditEvent, AuditKind};
use crate::config::{ConnectorConfig, LogLevel};
use crate::dataplane::hook::NatRules;
use crate::sso::config::RegisteredClient;
use apps::apply_apps;
pub use apps::change_event;
pub(super) use apps::watch_apps;
use changes::Plan;
use status::Status;

/// Sets the log level of the process (the binary owns the subscriber).
pub type LogHook = Box<dyn Fn(LogLevel) + Send + Sync>;

/// Where reloads come from: the configuration file, a request per SIGHUP, and how to change
/// the log level (none when `--verbose` decides it).
pub struct Reloads {
    /// The configuration file.
    pub path: PathBuf,
    /// One message per reload asked for.
    pub requests: mpsc::Receiver<()>,
    /// Applies `[log] level`.
    pub log_level: Option<LogHook>,
}

/// The background tasks a reload may restart with new settings.
pub(super) struct Restartable {
    /// The revocation files' watcher.
    pub revocation: JoinHandle<()>,
    /// The CRL fetcher, with `[trust] crl_urls`.
    pub crl_fetch: Option<JoinHandle<()>>,
    /// The data plane's NAT rules, with `[dataplane] enabled`.
    pub nat: Option<Arc<Mutex<NatRules>>>,
}

/// What a good file changes, read and checked off the async threads.
struct Prepared {
    config: ConnectorConfig,
    /// `[sso]` clients with their keys read.
    sso_clients: Option<Vec<RegisteredClient>>,
}

/// Reloads the configuration when asked, for the life of `serve`.
pub(super) struct Reloader {
    path: PathBuf,
    log_level: Option<LogHook>,
    started: ConnectorConfig,
    applied: ConnectorConfig,
    sequence: u64,
}

impl Reloader {
    /// A reloader of `path`, whose configuration at start was `started`.
    pub fn new(path: PathBuf, log_level: Option<LogHook>, started: ConnectorConfig) -> Self {
        Self {
            path,
            log_level,
            applied: started.clone(),
            started,
            sequence: 0,
        }
    }

    /// Reads the file again and applies it, or keeps the running configuration.
    pub async fn reload(&mut self, shared: &Arc<Shared>, tasks: &Tasks, run: &mut Restartable) {
        self.sequence += 1;
        let (path, started) = (self.path.clone(), self.started.clone());
        let prepared = tokio::task::spawn_blocking(move || prepare(&path, &started)).await;
        let status = match prepared {
            Ok(Ok(prepared)) => self.apply(prepared, shared, tasks, run).await,
            Ok(Err(problems)) => self.refuse(problems),
            Err(error) => self.refuse(vec![format!("the reload failed: {error}")]),
        };
        let now = status.at;
        let outcome = if status.applied { "applied" } else { "refused" };
        shared.metrics.reloaded(outcome, now);
        let event = AuditEvent::new(AuditKind::ConfigReload, Actor::Connector)
            .field("outcome", outcome)
            .field("file", self.path.display().to_string())
            .field("details", status.lines.clone())
            .field("needs_restart", status.restart.clone());
        if let Err(error) = shared.audit.write(event).await {
            tracing::error!(%error, "the reload could not be audited");
        }
        let state_dir = &self.started.state.dir;
        if let Err(error) = status::write_status(state_dir, &status) {
            tracing::warn!(%error, "cannot write the reload status for `vigie-connector reload`");
        }
    }

    fn refuse(&self, problems: Vec<String>) -> Status {
        for problem in &problems {
            tracing::warn!(
                problem = problem.as_str(),
                "configuration not reloaded: the file has a problem; the running \
                 configuration stays until it is fixed"
            );
        }
        self.status(false, problems, Vec::new())
    }

    async fn apply(
        &mut self,
        prepared: Prepared,
        shared: &Arc<Shared>,
        tasks: &Tasks,
        run: &mut Restartable,
    ) -> Status {
        let Prepared {
            config: new,
            sso_clients,
        } = prepared;
        let plan = Plan::new(&self.started, &self.applied, &new);
        let mut lines = match apply_apps(shared, &new, &self.started, run.nat.as_ref()).await {
            Ok(lines) => lines,
            Err(refused) => return self.refuse(vec![refused]),
        };
        lines.extend(self.apply_limits(&plan, &new, shared));
        lines.extend(
            self.restart_revocation(&plan, &new, shared, tasks, run)
                .await,
        );
        if let (Some(service), Some(clients)) = (&shared.sso, sso_clients) {
            let before = self
                .applied
                .sso
                .as_ref()
                .map(|s| format!("{:?}", s.clients));
            let now = new.sso.as_ref().map(|s| format!("{:?}", s.clients));
            if before != now {
                lines.push(format!("[[sso.client]]: {} registered apps", clients.len()));
            }
            service.set_clients(clients);
        }
        lines.extend(self.apply_log(&plan, &new));
        if lines.is_empty() {
            lines.push("nothing changed".into());
        }
        for line in &lines {
            tracing::info!(change = line.as_str(), "configuration reloaded");
        }
        for setting in &plan.restart {
            tracing::warn!(
                setting = setting.as_str(),
                "a changed setting takes effect only when the connector restarts \
                 (systemctl restart vigie-connector); the running value stays until then"
            );
        }
        self.applied = new;
        self.status(true, lines, plan.restart)
    }

    /// `[session]` limits (but the DNS address the data plane answers) and `[enrolment]`.
    fn apply_limits(&self, plan: &Plan, new: &ConnectorConfig, shared: &Shared) -> Vec<String> {
        let mut lines = Vec::new();
        if plan.session {
            let limits = crate::serve::config::SessionLimits {
                dns_server: self.started.session.dns_server,
                ..new.session.clone()
            };
            let mut slot = shared
                .limits
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            *slot = Arc::new(limits);
            lines.push("[session]: new limits for the sessions admitted from now on".into());
        }
        if plan.enrolment {
            let mut slot = shared
                .enrolment
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            *slot = new.enrolment;
            lines.push("[enrolment]: applied to the admissions from now on".into());
        }
        lines
    }

    /// `[log] level`, unless the command line decided it.
    fn apply_log(&self, plan: &Plan, new: &ConnectorConfig) -> Option<String> {
        if !plan.log {
            return None;
        }
        let level = format!("{:?}", new.log.level).to_lowercase();
        Some(match &self.log_level {
            Some(hook) => {
                hook(new.log.level);
                format!("[log] level: {level}")
            }
            None => format!("[log] level {level}: not applied, -v on the command line decides"),
        })
    }

    /// Starts the revocation watcher and the CRL fetcher again with the new files and URLs.
    async fn restart_revocation(
        &self,
        plan: &Plan,
        new: &ConnectorConfig,
        shared: &Arc<Shared>,
        tasks: &Tasks,
        run: &mut Restartable,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        let config = ConnectorConfig {
            trust: crate::serve::config::TrustFiles {
                roots: self.started.trust.roots.clone(),
                intermediates: self.started.trust.intermediates.clone(),
                crl_grace: self.started.trust.crl_grace,
                ..new.trust.clone()
            },
            ..self.started.clone()
        };
        if plan.crl_fetch {
            if let Some(task) = run.crl_fetch.take() {
                task.abort();
            }
            match start_fetcher(&config, shared) {
                Ok(Some(task)) => {
                    tasks.replace("CRL fetcher", task.abort_handle());
                    run.crl_fetch = Some(task);
                    lines.push("[trust] crl_urls: fetched again now".into());
                }
                Ok(None) => lines.push("[trust] crl_urls: none to fetch any more".into()),
                Err(error) => lines.push(format!("[trust] crl_urls: not fetched: {error}")),
            }
        }
        if plan.revocation_files || plan.crl_fetch {
            let Ok((files, _)) = super::revocation_files(&config) else {
                lines.push("[trust] crls: the folder of fetched CRLs cannot be used".into());
                return lines;
            };
            let shared_now = shared.clone();
            let watch = tokio::task::spawn_blocking(move || {
                revocation::Watch::reconfigured(&files, &shared_now)
            });
            if let Ok(watch) = watch.await {
                run.revocation.abort();
                run.revocation = tokio::spawn(watch.run(shared.clone()));
                tasks.replace("revocation watcher", run.revocation.abort_handle());
                lines.push("[trust] crls, blocklist: read again now".into());
            }
        }
        lines
    }

    fn status(&self, applied: bool, lines: Vec<String>, restart: Vec<String>) -> Status {
        Status {
            pid: std::process::id(),
            sequence: self.sequence,
            applied,
            at: Utc::now().timestamp().max(0).unsigned_abs(),
            lines,
            restart,
        }
    }
}

/// Reads and checks the file and what the reload would read with it.
fn prepare(path: &Path, started: &ConnectorConfig) -> Result<Prepared, Vec<String>> {
    let config = ConnectorConfig::load(path)
        .map_err(|e| e.to_string().lines().map(str::to_owned).collect::<Vec<_>>())?;
    let mut problems = Vec::new();
    let mut trust = config.trust.clone();
    trust.roots.clone_from(&started.trust.roots);
    trust.intermediates.clone_from(&started.trust.intermediates);
    if let Err(error) = files::trust_config(&trust)
        .and_then(|t| vigie_certs::Verifier::new(t).map_err(super::ServeError::from))
    {
        problems.push(format!("[trust]: {error}"));
    }
    let sso_clients = match (&config.sso, &started.sso) {
        (Some(sso), Some(_)) => {
            let mut sso = sso.clone();
            match sso.load_client_keys() {
                Ok(()) => Some(sso.clients),
                Err(error) => {
                    problems.push(format!("[[sso.client]] jwks_file: {error}"));
                    None
                }
            }
        }
        _ => None,
    };
    if started.dataplane.enabled {
        for app in &config.apps {
            if let Err(error) = crate::dataplane::hook::resolve_backend(&app.name, &app.backend) {
                problems.push(error.to_string());
            }
        }
    }
    match problems.is_empty() {
        true => Ok(Prepared {
            config,
            sso_clients,
        }),
        false => Err(problems),
    }
}

/// The CRL fetcher for `config`'s URLs, started; none without URLs.
fn start_fetcher(
    config: &ConnectorConfig,
    shared: &Arc<Shared>,
) -> Result<Option<JoinHandle<()>>, super::ServeError> {
    let folder = crl_fetch::Folder::prepare(&config.state.dir, &config.trust.crl_urls)?;
    let trust = files::trust_config(&crate::serve::config::TrustFiles {
        crls: Vec::new(),
        blocklist: None,
        ..config.trust.clone()
    })?;
    let (urls, every) = (&config.trust.crl_urls, config.trust.crl_fetch_every);
    let fetcher = crl_fetch::Fetcher::new(urls, every, folder, &trust);
    Ok(fetcher.map(|f| tokio::spawn(f.run(shared.verifier.clone()))))
}

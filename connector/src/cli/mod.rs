//! Command-line arguments and dispatch.

mod app;
mod audit;
mod card;
mod check;
mod hr;
mod reload;
mod serve;
mod session;
mod sso;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use vigie_connector::audit::{Actor, AuditEvent, AuditKind, AuditLog};
use vigie_connector::config::{ConnectorConfig, DEFAULT_PATH};
use vigie_connector::directory::Directory;

/// Vigie connector: the hospital side of Vigie's remote access with health-professional cards.
///
/// These commands manage what the connector knows: people (synced from HR), their cards,
/// the published apps and who may reach them, and the audit log. Every change is written to
/// the audit log with your login name.
#[derive(Debug, Parser)]
#[command(name = "vigie-connector", version)]
pub struct Cli {
    /// The configuration file.
    #[arg(long, global = true, env = "VIGIE_CONFIG", default_value = DEFAULT_PATH)]
    config: PathBuf,
    /// Say more about what happens (repeat for more detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, env = "VIGIE_VERBOSE")]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Synchronise people from the HR export.
    #[command(subcommand)]
    Hr(hr::HrCommand),
    /// Enrol, list and revoke cards (the enrolment desk).
    #[command(subcommand)]
    Card(card::CardCommand),
    /// Publish apps and grant them to groups and professions.
    #[command(subcommand)]
    App(app::AppCommand),
    /// Look at a person.
    #[command(subcommand)]
    User(user::UserCommand),
    /// List the live sessions, and end one now.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Check whether a card would be admitted now, and to which apps.
    ///
    /// Runs the directory's admission step for the card's certificate exactly as `serve` does
    /// when the card connects: person, dates, card enrolment (including enrolment on first use
    /// when the policy allows it, which then enrols the card) and apps; the verdict is audited.
    /// The certificate chain and revocation are not checked here. Exit status 0 when accepted,
    /// 3 when refused.
    Admit(card::AdmitArgs),
    /// The SSO issuer's public signing keys.
    #[command(subcommand)]
    Sso(sso::SsoCommand),
    /// Check the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Check the configuration file and everything it names, without starting.
    ///
    /// Reads what `serve` reads at start — the file (every problem, at its line and
    /// column), the connector's certificate and key, the trust anchors, CRLs and blocklist,
    /// the SSO files, the apps' backends with the data plane, the directory and the folders —
    /// and reports every problem with what to do. Changes nothing. Exit status 0 when `serve`
    /// would start with it, 1 otherwise.
    CheckConfig,
    /// Check a deployment that is live or about to be, one line per check (ok, warn, FAIL).
    ///
    /// Everything check-config checks, then: the connector's and the trust anchors'
    /// certificates (warns 30 days before they expire), the CRLs in force and when they
    /// expire, each [trust] crl_urls fetched once, the clock against the CRL servers', the
    /// data plane's prerequisites (TUN device, CAP_NET_ADMIN, nftables, IPv4 forwarding), and
    /// with [admin] the running connector's health. Exit status 0 when all is fine, 1 with
    /// warnings, 2 with failures. Run it as the connector's user.
    Doctor,
    /// Run the connector: accept cards over QUIC (UDP) and TLS (TCP) on [listen] port,
    /// admit them against the directory and grant their sessions, until stopped.
    ///
    /// SIGHUP (or `vigie-connector reload`) reads the configuration file again without
    /// dropping a session; SIGTERM stops it.
    Serve,
    /// Make the running connector read its configuration file again, without dropping a
    /// session.
    ///
    /// Prints what was applied ([[app]], [session] limits for new sessions, [trust]
    /// revocation files, [[sso.client]], [log] level) and which changed settings need a
    /// restart. A file with mistakes is refused with each problem at its line, and the
    /// running configuration stays whole. Exit status 0 when the new configuration is in
    /// force, 1 otherwise. For systemd: ExecReload=/usr/bin/vigie-connector reload
    Reload,
}

/// How the binary's log level is changed: by `[log] level`, unless `--verbose` was given.
pub struct LogControl {
    /// Sets the level.
    pub set: vigie_connector::serve::reload::LogHook,
    /// Whether `--verbose` (or `VIGIE_VERBOSE`) decided the level.
    pub from_command_line: bool,
}

impl Cli {
    /// Whether `--verbose` was given.
    pub fn verbose_given(&self) -> bool {
        self.verbose > 0
    }

    /// The log level the `--verbose` count asks for.
    pub fn log_level(&self) -> tracing::Level {
        match self.verbose {
            0 => tracing::Level::WARN,
            1 => tracing::Level::INFO,
            2 => tracing::Level::DEBUG,
            _ => tracing::Level::TRACE,
        }
    }
}

/// Runs one command at `now`.
pub fn run(cli: Cli, now: DateTime<Utc>, logs: LogControl) -> anyhow::Result<ExitCode> {
    match &cli.command {
        Command::Audit(command) => return audit::run(command, &cli.config),
        Command::Reload => return reload::run(&cli.config),
        Command::CheckConfig => return Ok(check::check_config(&cli.config)),
        Command::Doctor => return check::doctor(&cli.config, now),
        _ => {}
    }
    let mut ctx = Context::open(&cli.config, now)?;
    match cli.command {
        Command::Hr(command) => hr::run(command, &mut ctx),
        Command::Card(command) => card::run(command, &mut ctx),
        Command::App(command) => app::run(command, &mut ctx),
        Command::User(command) => user::run(command, &ctx),
        Command::Session(command) => session::run(command, &mut ctx),
        Command::Sso(command) => sso::run(command, &ctx),
        Command::Admit(args) => card::admit(&args, &mut ctx),
        Command::Serve => serve::run(ctx, &cli.config, logs),
        Command::Audit(_) | Command::Reload | Command::CheckConfig | Command::Doctor => {
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// What every directory command works with.
pub struct Context {
    config: ConnectorConfig,
    directory: Directory,
    audit: AuditLog,
    admin: Actor,
    now: DateTime<Utc>,
}

impl Context {
    fn open(config_path: &std::path::Path, now: DateTime<Utc>) -> anyhow::Result<Self> {
        let config = ConnectorConfig::load(config_path)?;
        let mut directory = Directory::open(&config.directory.path)?;
        let audit = AuditLog::open(&config.audit.dir)?;
        let changes = directory
            .apply_config_apps(&config.apps, config.addresses.apps, now)
            .context("applying the [[app]] entries of the configuration file")?;
        let mut ctx = Self {
            config,
            directory,
            audit,
            admin: Actor::Admin(admin_name()),
            now,
        };
        for change in changes {
            ctx.record(vigie_connector::serve::reload::change_event(change))?;
        }
        Ok(ctx)
    }

    /// Writes one audit record.
    fn record(&mut self, event: AuditEvent) -> anyhow::Result<()> {
        self.audit
            .append(&event, self.now)
            .context("the change was made but could not be audited")?;
        Ok(())
    }

    /// Writes several audit records with one disk flush.
    fn record_all(&mut self, events: &[AuditEvent]) -> anyhow::Result<()> {
        self.audit
            .append_all(events, self.now)
            .context("the changes were made but could not be audited")?;
        Ok(())
    }

    /// An event caused by the admin running this command.
    fn admin_event(&self, kind: AuditKind) -> AuditEvent {
        AuditEvent::new(kind, self.admin.clone())
    }
}

/// The local admin's login name, for the audit log.
fn admin_name() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .find_map(|var| std::env::var(var).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

//! `vigie-connector app …`

use std::process::ExitCode;

use anyhow::bail;
use clap::{Args, Subcommand};
use vigie_connector::apps::{AppDefinition, GrantTarget, PortRange, check_definition};
use vigie_connector::audit::AuditKind;
use vigie_connector::directory::Published;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum AppCommand {
    /// Publish an app (or change one published here). Apps defined in the configuration file
    /// are changed in the file.
    Publish {
        /// A short name (letters, digits, '-', '_'), used in the other commands.
        #[arg(long, env = "VIGIE_APP_NAME")]
        name: String,
        /// The DNS name users type (for example dpi.hopital.example).
        #[arg(long, env = "VIGIE_APP_DNS_NAME")]
        dns_name: String,
        /// A port and protocol: tcp/443, tcp/8000-8010, udp/53. Repeat for several.
        #[arg(
            long = "port",
            env = "VIGIE_APP_PORTS",
            value_delimiter = ',',
            required = true
        )]
        ports: Vec<PortRange>,
        /// The backend on the hospital network: an IP address or a DNS name.
        #[arg(long, env = "VIGIE_APP_BACKEND")]
        backend: String,
    },
    /// Withdraw an app published here (its virtual address stays reserved for it).
    Withdraw {
        /// The app's name.
        #[arg(env = "VIGIE_APP_NAME")]
        name: String,
    },
    /// Grant an app to a group or a profession.
    Grant(GrantArgs),
    /// Take back a grant given here.
    Revoke(GrantArgs),
    /// List the published apps, their virtual addresses and grants.
    List,
}

#[derive(Debug, Args)]
pub struct GrantArgs {
    /// The app's name.
    #[arg(env = "VIGIE_APP_NAME")]
    name: String,
    /// A group from the HR export (for example urgences).
    #[arg(
        long,
        env = "VIGIE_GRANT_GROUP",
        conflicts_with = "profession",
        required_unless_present = "profession"
    )]
    group: Option<String>,
    /// A profession as the HR export writes it (for example Médecin).
    #[arg(long, env = "VIGIE_GRANT_PROFESSION")]
    profession: Option<String>,
}

impl GrantArgs {
    fn target(&self) -> anyhow::Result<GrantTarget> {
        match (&self.group, &self.profession) {
            (Some(group), _) if !group.trim().is_empty() => {
                Ok(GrantTarget::Group(group.trim().to_owned()))
            }
            (_, Some(profession)) if !profession.trim().is_empty() => {
                Ok(GrantTarget::Profession(profession.trim().to_owned()))
            }
            _ => bail!("name a group with --group or a profession with --profession"),
        }
    }
}

pub fn run(command: AppCommand, ctx: &mut Context) -> anyhow::Result<ExitCode> {
    match command {
        AppCommand::Publish {
            name,
            dns_name,
            ports,
            backend,
        } => publish(
            ctx,
            AppDefinition {
                name,
                dns_name,
                ports,
                backend,
            },
        ),
        AppCommand::Withdraw { name } => withdraw(ctx, &name),
        AppCommand::Grant(args) => grant(ctx, &args),
        AppCommand::Revoke(args) => revoke(ctx, &args),
        AppCommand::List => list(ctx),
    }
}

fn publish(ctx: &mut Context, definition: AppDefinition) -> anyhow::Result<ExitCode> {
    check_definition(
        &definition.name,
        &definition.dns_name,
        &definition.backend,
        &definition.ports,
    )
    .map_err(anyhow::Error::msg)?;
    let (outcome, app) =
        ctx.directory
            .publish_app(&definition, ctx.config.addresses.apps, ctx.now)?;
    if outcome == Published::Unchanged {
        println!(
            "App {} is already published as given, at {}.",
            definition.name, app.virtual_address
        );
        return Ok(ExitCode::SUCCESS);
    }
    let ports: Vec<String> = definition.ports.iter().map(ToString::to_string).collect();
    let event = ctx
        .admin_event(AuditKind::AppPublished)
        .field("app", definition.name.as_str())
        .field("dns_name", definition.dns_name.as_str())
        .field("ports", ports.join(" "))
        .field("backend", definition.backend.as_str())
        .field("virtual_address", app.virtual_address.to_string())
        .field("change", format!("{outcome:?}").to_lowercase());
    ctx.record(event)?;
    println!(
        "Published {} ({}) at virtual address {}.",
        definition.name, definition.dns_name, app.virtual_address
    );
    Ok(ExitCode::SUCCESS)
}

fn withdraw(ctx: &mut Context, name: &str) -> anyhow::Result<ExitCode> {
    if !ctx.directory.withdraw_app(name)? {
        bail!("no published app named {name:?}; see `vigie-connector app list`");
    }
    let event = ctx.admin_event(AuditKind::AppWithdrawn).field("app", name);
    ctx.record(event)?;
    println!("Withdrew {name}.");
    Ok(ExitCode::SUCCESS)
}

fn grant(ctx: &mut Context, args: &GrantArgs) -> anyhow::Result<ExitCode> {
    let target = args.target()?;
    if ctx.directory.grant_app(&args.name, &target)? {
        let event = ctx
            .admin_event(AuditKind::AppGranted)
            .field("app", args.name.as_str())
            .field(target.kind(), target.name());
        ctx.record(event)?;
        println!("Granted {} to {target}.", args.name);
    } else {
        println!("{} was already granted to {target}.", args.name);
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(ctx: &mut Context, args: &GrantArgs) -> anyhow::Result<ExitCode> {
    let target = args.target()?;
    if !ctx.directory.revoke_grant(&args.name, &target)? {
        bail!(
            "{} is not granted to {target}; see `vigie-connector app list`",
            args.name
        );
    }
    let event = ctx
        .admin_event(AuditKind::AppGrantRevoked)
        .field("app", args.name.as_str())
        .field(target.kind(), target.name());
    ctx.record(event)?;
    println!("Took back {} from {target}.", args.name);
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Context) -> anyhow::Result<ExitCode> {
    let apps = ctx.directory.apps()?;
    if apps.is_empty() {
        println!("No apps published.");
    }
    for app in apps {
        let d = &app.definition;
        let ports: Vec<String> = d.ports.iter().map(ToString::to_string).collect();
        println!(
            "{} {} {} {} -> {} (from {})",
            d.name,
            d.dns_name,
            app.virtual_address,
            ports.join(" "),
            d.backend,
            app.source.as_str()
        );
        for grant in &app.grants {
            println!(
                "    granted to {} (from {})",
                grant.target,
                grant.source.as_str()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

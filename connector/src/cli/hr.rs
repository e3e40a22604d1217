//! `vigie-connector hr …`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use vigie_connector::audit::{Actor, AuditEvent, AuditKind};
use vigie_connector::config::{HrConfig, HrSource};
use vigie_connector::hr::ldap::read_directory;
use vigie_connector::hr::{HrFileError, HrImport, SyncPlan, parse_csv, plan};
use vigie_connector::person::PersonStatus;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum HrCommand {
    /// Read the HR export or the LDAP directory and bring Vigie's directory in line with it.
    ///
    /// People who are suspended, departed, past their last day or no longer in the export lose
    /// access, and their live sessions are ended. Rows with problems (invalid idNat, bad date,
    /// duplicates…) are listed with their line (LDAP: their entry's DN) and left out; the people
    /// they name keep what the directory had. Exit status: 0 when every row was used, 2 when
    /// some were left out, 1 when nothing could be done.
    Sync {
        /// Show what would change, and change nothing.
        #[arg(long, env = "VIGIE_HR_DRY_RUN")]
        dry_run: bool,
        /// Where people are read from: `csv` ([hr.csv]) or `ldap` ([hr.ldap]). By default
        /// [hr] source, or the only one of the two sections in the configuration.
        #[arg(long, env = "VIGIE_HR_SOURCE", value_enum)]
        source: Option<SourceArg>,
        /// Read this export instead of [hr.csv] path.
        #[arg(long, env = "VIGIE_HR_FILE")]
        file: Option<PathBuf>,
        /// Apply the sync even if it removes more people than max_removed_percent allows
        /// (after checking that the export or directory is complete).
        #[arg(long, env = "VIGIE_HR_ACCEPT_REMOVALS")]
        accept_removals: bool,
    },
}

/// `--source`.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum SourceArg {
    /// The CSV export of [hr.csv].
    Csv,
    /// The LDAP directory or Active Directory of [hr.ldap].
    Ldap,
}

/// What was read, and from where.
struct Read {
    import: HrImport,
    /// The export file, or the LDAP URL and base DN.
    label: String,
    /// `export` or `directory`.
    kind: &'static str,
    /// `rows` or `entries`.
    unit: &'static str,
    /// The audit field that names the source: `file` or `ldap`.
    audit_key: &'static str,
    max_removed_percent: u8,
}

pub fn run(command: HrCommand, ctx: &mut Context) -> anyhow::Result<ExitCode> {
    let HrCommand::Sync {
        dry_run,
        source,
        file,
        accept_removals,
    } = command;
    let read = match choose_source(source, &ctx.config.hr)? {
        HrSource::Csv => read_csv(ctx, file)?,
        HrSource::Ldap => {
            anyhow::ensure!(
                file.is_none(),
                "--file names a CSV export; it does not apply to the LDAP source"
            );
            read_ldap(ctx)?
        }
    };
    let Read {
        import,
        label,
        kind,
        unit,
        audit_key,
        max_removed_percent,
    } = read;
    let read = import.records.len()
        + (import.problems.iter())
            .filter(|p| p.leaves_out_a_record())
            .count();
    for problem in &import.problems {
        eprintln!("{label}: {problem}");
    }
    let people = ctx.directory.people()?;
    let plan = plan(import, &people, vigie_connector::person::hr_day(ctx.now))?;
    let left_out = (plan.problems.iter())
        .filter(|p| p.leaves_out_a_record())
        .count();
    println!("HR {kind} {label}: {read} {unit}, {left_out} left out");
    print_plan(&plan);
    let current = people
        .iter()
        .filter(|p| p.status != PersonStatus::Departed)
        .count();
    let removals = plan.check_removals(current, max_removed_percent);
    if dry_run {
        if let Err(too_many) = removals {
            println!("Applying it would be refused: {too_many}");
        }
        println!("Dry run: nothing was changed.");
        return Ok(ExitCode::SUCCESS);
    }
    if !accept_removals {
        removals?;
    }
    apply(ctx, &plan, (audit_key, &label))?;
    Ok(if left_out > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// `--source`, else `[hr] source`, else the only HR section configured.
fn choose_source(arg: Option<SourceArg>, hr: &HrConfig) -> anyhow::Result<HrSource> {
    let chosen = match arg {
        Some(SourceArg::Csv) => Some(HrSource::Csv),
        Some(SourceArg::Ldap) => Some(HrSource::Ldap),
        None => hr.source,
    };
    match (chosen, &hr.csv, &hr.ldap) {
        (Some(source), ..) => Ok(source),
        (None, Some(_), None) => Ok(HrSource::Csv),
        (None, None, Some(_)) => Ok(HrSource::Ldap),
        (None, Some(_), Some(_)) => anyhow::bail!(
            "both [hr.csv] and [hr.ldap] are configured; choose one with --source csv|ldap \
             or [hr] source"
        ),
        (None, None, None) => anyhow::bail!(
            "no [hr.csv] or [hr.ldap] section in the configuration file; add one that says \
             where people come from"
        ),
    }
}

fn read_csv(ctx: &Context, file: Option<PathBuf>) -> anyhow::Result<Read> {
    let csv = ctx.config.hr.csv.as_ref().context(
        "no [hr.csv] section in the configuration file; add one that names the HR export and \
         its columns",
    )?;
    let path = file.unwrap_or_else(|| csv.path.clone());
    let bytes = std::fs::read(&path).map_err(|source| HrFileError::Unreadable {
        path: path.clone(),
        source,
    })?;
    Ok(Read {
        import: parse_csv(&bytes, csv)?,
        label: path.display().to_string(),
        kind: "export",
        unit: "rows",
        audit_key: "file",
        max_removed_percent: csv.max_removed_percent,
    })
}

fn read_ldap(ctx: &Context) -> anyhow::Result<Read> {
    let ldap = ctx.config.hr.ldap.as_ref().context(
        "no [hr.ldap] section in the configuration file; add one that names the LDAP server, \
         the service account and the attributes",
    )?;
    Ok(Read {
        import: read_directory(ldap)?,
        label: format!("{} {}", ldap.url.trim(), ldap.base_dn),
        kind: "directory",
        unit: "entries",
        audit_key: "ldap",
        max_removed_percent: ldap.max_removed_percent,
    })
}

fn print_plan(plan: &SyncPlan) {
    println!(
        "{} added, {} changed, {} removed, {} unchanged",
        plan.added.len(),
        plan.changed.len(),
        plan.removed.len(),
        plan.unchanged
    );
    for person in &plan.added {
        println!(
            "  + {} {} ({})",
            person.id_nat,
            person.display_name(),
            person.status.as_str()
        );
    }
    for change in &plan.changed {
        println!(
            "  ~ {} {}: {}",
            change.after.id_nat,
            change.after.display_name(),
            change.fields.join(", ")
        );
    }
    for change in &plan.removed {
        println!(
            "  - {} {}: no longer in the export, now departed",
            change.after.id_nat,
            change.after.display_name()
        );
    }
    if !plan.withdrawn.is_empty() {
        println!("Access withdrawn for {} people:", plan.withdrawn.len());
        for withdrawal in &plan.withdrawn {
            println!(
                "  {} {} ({})",
                withdrawal.id_nat,
                withdrawal.reason.code(),
                withdrawal.reason
            );
        }
    }
}

/// Applies the plan; `source` is the audit field naming where people were read.
fn apply(ctx: &mut Context, plan: &SyncPlan, source: (&'static str, &str)) -> anyhow::Result<()> {
    let ended = ctx.directory.apply_sync(plan, source.1, ctx.now)?;
    let people = plan.added.iter().map(|p| (p, "added".to_owned())).chain(
        plan.changed
            .iter()
            .chain(&plan.removed)
            .map(|c| (&c.after, c.fields.join(","))),
    );
    let events: Vec<AuditEvent> = people
        .map(|(person, what)| {
            AuditEvent::new(AuditKind::PersonChanged, Actor::HrSync)
                .field("id_nat", person.id_nat.as_str())
                .field("change", what)
                .field("status", person.status.as_str())
        })
        .chain(plan.withdrawn.iter().map(|w| {
            AuditEvent::new(AuditKind::AccessWithdrawn, Actor::HrSync)
                .field("id_nat", w.id_nat.as_str())
                .field("reason", w.reason.code())
        }))
        .collect();
    ctx.record_all(&events)?;
    let summary = ctx
        .admin_event(AuditKind::HrSync)
        .field(source.0, source.1.to_owned())
        .field("added", plan.added.len())
        .field("changed", plan.changed.len())
        .field("removed", plan.removed.len())
        .field("withdrawn", plan.withdrawn.len())
        .field("rows_left_out", plan.problems.len())
        .field("sessions_ended", ended.len());
    ctx.record(summary)?;
    println!("Applied; {} live sessions ended.", ended.len());
    Ok(())
}

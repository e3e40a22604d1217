//! `vigie-connector hr …`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Subcommand;
use vigie_connector::audit::{Actor, AuditEvent, AuditKind};
use vigie_connector::hr::{HrFileError, SyncPlan, parse_csv, plan};
use vigie_connector::person::PersonStatus;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum HrCommand {
    /// Read the HR export and bring the directory in line with it.
    ///
    /// People who are suspended, departed, past their last day or no longer in the export lose
    /// access, and their live sessions are ended. Rows with problems (invalid idNat, bad date,
    /// duplicates…) are listed with their line and left out; the people they name keep what the
    /// directory had. Exit status: 0 when every row was used, 2 when some were left out, 1 when
    /// nothing could be done.
    Sync {
        /// Show what would change, and change nothing.
        #[arg(long, env = "VIGIE_HR_DRY_RUN")]
        dry_run: bool,
        /// Read this export instead of [hr.csv] path.
        #[arg(long, env = "VIGIE_HR_FILE")]
        file: Option<PathBuf>,
        /// Apply the sync even if it removes more people than [hr.csv] max_removed_percent
        /// allows (after checking that the export is complete).
        #[arg(long, env = "VIGIE_HR_ACCEPT_REMOVALS")]
        accept_removals: bool,
    },
}

pub fn run(command: HrCommand, ctx: &mut Context) -> anyhow::Result<ExitCode> {
    let HrCommand::Sync {
        dry_run,
        file,
        accept_removals,
    } = command;
    let csv = ctx.config.hr.csv.clone().context(
        "no [hr.csv] section in the configuration file; add one that names the HR export and \
         its columns",
    )?;
    let path = file.unwrap_or_else(|| csv.path.clone());
    let bytes = std::fs::read(&path).map_err(|source| HrFileError::Unreadable {
        path: path.clone(),
        source,
    })?;
    let import = parse_csv(&bytes, &csv)?;
    let read = import.records.len() + import.problems.iter().filter(|p| p.line > 1).count();
    for problem in &import.problems {
        eprintln!("{}: {problem}", path.display());
    }
    let people = ctx.directory.people()?;
    let plan = plan(import, &people, ctx.now.date_naive())?;
    let left_out = plan.problems.iter().filter(|p| p.line > 1).count();
    println!(
        "HR export {}: {read} rows, {left_out} left out",
        path.display()
    );
    print_plan(&plan);
    let current = people
        .iter()
        .filter(|p| p.status != PersonStatus::Departed)
        .count();
    let removals = plan.check_removals(current, csv.max_removed_percent);
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
    apply(ctx, &plan, &path)?;
    Ok(if left_out > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
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

fn apply(ctx: &mut Context, plan: &SyncPlan, path: &std::path::Path) -> anyhow::Result<()> {
    let source = path.display().to_string();
    let ended = ctx.directory.apply_sync(plan, &source, ctx.now)?;
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
        .field("file", source)
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

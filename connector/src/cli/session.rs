//! `vigie-connector session list|kill`: the live sessions, and ending one, a person's or
//! all of them now.
//!
//! `kill` works on the directory, like `hr sync` and `card revoke`: a running `serve` sees
//! the session ended there within seconds and ends it, telling the user why.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use vigie_certs::IdNat;
use vigie_connector::audit::AuditKind;

use super::Context;
use super::card::parse_id_nat;

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List the live sessions: session id, idNat, card, and when each started.
    List,
    /// End live sessions now: one (a stolen laptop, a session left open), all of a person's
    /// (a card reported stolen), or every one (an incident). Each user is told the session
    /// was ended by an administrator and must insert the card again; each end is written to
    /// the audit log with your name and the reason.
    Kill {
        /// The session id, as `session list` shows it (the user reads it from `vigie status`).
        #[arg(env = "VIGIE_SESSION", required_unless_present_any = ["person", "all"],
              conflicts_with_all = ["person", "all"])]
        id: Option<String>,
        /// End every live session of the person with this idNat instead.
        #[arg(long, value_name = "IDNAT", conflicts_with = "all")]
        person: Option<String>,
        /// End every live session of every user instead.
        #[arg(long)]
        all: bool,
        /// Why, for the audit log.
        #[arg(long, default_value = "ended by an administrator")]
        reason: String,
    },
}

/// Which live sessions a `kill` ends.
enum Target {
    One(String),
    Person(IdNat),
    All,
}

pub fn run(command: SessionCommand, ctx: &mut Context) -> anyhow::Result<ExitCode> {
    match command {
        SessionCommand::List => list(ctx),
        SessionCommand::Kill {
            id,
            person,
            all,
            reason,
        } => {
            let target = match (id, person) {
                (Some(id), _) => Target::One(id.trim().to_owned()),
                (None, Some(person)) => Target::Person(parse_id_nat(&person)?),
                (None, None) if all => Target::All,
                (None, None) => bail!("name a session id, --person IDNAT or --all"),
            };
            kill(ctx, &target, &reason)
        }
    }
}

fn list(ctx: &Context) -> anyhow::Result<ExitCode> {
    let sessions = ctx.directory.list_live_sessions()?;
    if sessions.is_empty() {
        println!("No live session.");
    }
    for session in sessions {
        println!(
            "{}  {}  card {} from {}  since {}",
            session.id,
            session.id_nat,
            session.card.serial(),
            session.card.issuer(),
            session.started_at
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn kill(ctx: &mut Context, target: &Target, reason: &str) -> anyhow::Result<ExitCode> {
    let ended = match target {
        Target::One(id) => {
            if !ctx.directory.end_session(id, "admin-kill", ctx.now)? {
                bail!("no live session {id:?}; see `vigie-connector session list`");
            }
            vec![id.clone()]
        }
        Target::Person(id_nat) => {
            let ended = ctx
                .directory
                .end_sessions_of_person(id_nat, "admin-kill", ctx.now)?;
            if ended.is_empty() {
                println!("{id_nat} has no live session.");
            }
            ended
        }
        Target::All => {
            let ended = ctx.directory.end_all_sessions("admin-kill", ctx.now)?;
            if ended.is_empty() {
                println!("No live session.");
            }
            ended
        }
    };
    let events: Vec<_> = ended
        .iter()
        .map(|id| {
            ctx.admin_event(AuditKind::SessionEnd)
                .field("session", id.as_str())
                .field("reason", "admin-kill")
                .field("detail", reason)
        })
        .collect();
    if !events.is_empty() {
        ctx.record_all(&events)?;
    }
    for id in &ended {
        println!("Session {id} ended.");
    }
    if !ended.is_empty() {
        println!("A running connector tells each user within seconds.");
    }
    Ok(ExitCode::SUCCESS)
}

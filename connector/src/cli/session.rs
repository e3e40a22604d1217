//! `vigie-connector session list|kill`: the live sessions, and ending one now.
//!
//! `kill` works on the directory, like `hr sync` and `card revoke`: a running `serve` sees
//! the session ended there within seconds and ends it, telling the user why.

use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use vigie_connector::audit::AuditKind;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum SessionCommand {
    /// List the live sessions: session id, idNat, card, and when each started.
    List,
    /// End a live session now (a stolen laptop, a session left open): the user is told it
    /// was ended by an administrator and must insert the card again; written to the audit
    /// log with your name and the reason.
    Kill {
        /// The session id, as `session list` shows it (the user reads it from `vigie status`).
        #[arg(env = "VIGIE_SESSION")]
        id: String,
        /// Why, for the audit log.
        #[arg(long, default_value = "ended by an administrator")]
        reason: String,
    },
}

pub fn run(command: SessionCommand, ctx: &mut Context) -> anyhow::Result<ExitCode> {
    match command {
        SessionCommand::List => list(ctx),
        SessionCommand::Kill { id, reason } => kill(ctx, id.trim(), &reason),
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

fn kill(ctx: &mut Context, id: &str, reason: &str) -> anyhow::Result<ExitCode> {
    if !ctx.directory.end_session(id, "admin-kill", ctx.now)? {
        bail!("no live session {id:?}; see `vigie-connector session list`");
    }
    let event = ctx
        .admin_event(AuditKind::SessionEnd)
        .field("session", id)
        .field("reason", "admin-kill")
        .field("detail", reason);
    ctx.record(event)?;
    println!("Session {id} ended; a running connector tells the user within seconds.");
    Ok(ExitCode::SUCCESS)
}

//! `vigie-connector card …` and `vigie-connector admit`.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Args, Subcommand};
use vigie_certs::IdNat;
use vigie_connector::admission::{self, AdmissionRequest, Verdict};
use vigie_connector::audit::AuditKind;
use vigie_connector::card::{CardRecord, CardRef, EnrolmentKind};
use vigie_connector::cert_file::read_card_certificate;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum CardCommand {
    /// Bind a card to a person, from the card's authentication certificate.
    ///
    /// The certificate (DER or PEM, as exported from the card) gives the card's serial number
    /// and issuer; its idNat must be the person's.
    Enrol {
        /// The person's idNat, as on the card (for example 810012345678).
        #[arg(long = "idnat", env = "VIGIE_IDNAT")]
        id_nat: String,
        /// The card's authentication certificate, DER or PEM.
        #[arg(long, env = "VIGIE_CERT")]
        cert: PathBuf,
    },
    /// List enrolled and revoked cards.
    List {
        /// Only this person's cards.
        #[arg(long = "idnat", env = "VIGIE_IDNAT")]
        id_nat: Option<String>,
    },
    /// Revoke a lost, stolen or replaced card: refused at once, its live sessions ended.
    Revoke {
        /// The card's certificate serial number (hex, as `card list` shows it).
        #[arg(
            long,
            env = "VIGIE_CARD_SERIAL",
            requires = "issuer",
            conflicts_with = "cert"
        )]
        serial: Option<String>,
        /// The card's certificate issuer (as `card list` shows it).
        #[arg(long, env = "VIGIE_CARD_ISSUER", requires = "serial")]
        issuer: Option<String>,
        /// Or the card's authentication certificate, DER or PEM.
        #[arg(long, env = "VIGIE_CERT", required_unless_present = "serial")]
        cert: Option<PathBuf>,
        /// Why (lost, stolen, replaced…); written to the audit log.
        #[arg(long, env = "VIGIE_REVOKE_REASON")]
        reason: String,
    },
}

#[derive(Debug, Args)]
pub struct AdmitArgs {
    /// The card's authentication certificate, DER or PEM.
    #[arg(long, env = "VIGIE_CERT")]
    cert: PathBuf,
}

pub fn run(command: CardCommand, ctx: &mut Context) -> anyhow::Result<ExitCode> {
    match command {
        CardCommand::Enrol { id_nat, cert } => enrol(ctx, &id_nat, &cert),
        CardCommand::List { id_nat } => list(ctx, id_nat.as_deref()),
        CardCommand::Revoke {
            serial,
            issuer,
            cert,
            reason,
        } => {
            let card = match (serial, issuer, cert) {
                (Some(serial), Some(issuer), _) => CardRef::new(&serial, &issuer),
                (_, _, Some(cert)) => read_card_certificate(&cert)?.1,
                _ => bail!("name the card with --serial and --issuer, or with --cert"),
            };
            revoke(ctx, &card, &reason)
        }
    }
}

pub(super) fn parse_id_nat(text: &str) -> anyhow::Result<IdNat> {
    IdNat::parse(text.trim()).with_context(|| {
        format!("{text:?} is not a valid idNat; copy it from the card or the HR export")
    })
}

fn enrol(ctx: &mut Context, id_nat: &str, cert: &std::path::Path) -> anyhow::Result<ExitCode> {
    let id_nat = parse_id_nat(id_nat)?;
    let (identity, card) = read_card_certificate(cert)?;
    if identity.id_nat != id_nat {
        bail!(
            "the certificate in {} is for idNat {}, not {id_nat}; check that you have the \
             right card",
            cert.display(),
            identity.id_nat
        );
    }
    let record = CardRecord {
        card: card.clone(),
        id_nat: id_nat.clone(),
        enrolled_at: ctx.now,
        enrolled_by: ctx.admin.to_field(),
        how: EnrolmentKind::Desk,
        revoked: None,
    };
    if !ctx.directory.enrol_card(&record)? {
        println!(
            "Card {} from {} was already enrolled for {id_nat}.",
            card.serial(),
            card.issuer()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let event = ctx
        .admin_event(AuditKind::CardEnrolled)
        .field("id_nat", id_nat.as_str())
        .field("card_serial", card.serial())
        .field("card_issuer", card.issuer())
        .field("how", "desk");
    ctx.record(event)?;
    println!(
        "Enrolled card {} from {} for {id_nat} ({} {}).",
        card.serial(),
        card.issuer(),
        identity.given_name,
        identity.surname
    );
    Ok(ExitCode::SUCCESS)
}

fn list(ctx: &Context, id_nat: Option<&str>) -> anyhow::Result<ExitCode> {
    let holder = id_nat.map(parse_id_nat).transpose()?;
    let cards = ctx.directory.cards(holder.as_ref())?;
    if cards.is_empty() {
        println!("No cards.");
    }
    for card in cards {
        let state = match &card.revoked {
            Some(r) => format!(
                "revoked {} by {} ({})",
                r.at.format("%Y-%m-%d %H:%M"),
                r.by,
                r.reason
            ),
            None => "enrolled".to_owned(),
        };
        println!(
            "{}  serial {}  issuer {}  {state}; enrolled {} by {} ({})",
            card.id_nat,
            card.card.serial(),
            card.card.issuer(),
            card.enrolled_at.format("%Y-%m-%d %H:%M"),
            card.enrolled_by,
            card.how.as_str()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn revoke(ctx: &mut Context, card: &CardRef, reason: &str) -> anyhow::Result<ExitCode> {
    let by = ctx.admin.to_field();
    let Some(ended) = ctx.directory.revoke_card(card, &by, reason, ctx.now)? else {
        bail!(
            "no card with serial {} from {} was ever enrolled; check `vigie-connector card list`",
            card.serial(),
            card.issuer()
        );
    };
    let event = ctx
        .admin_event(AuditKind::CardRevoked)
        .field("card_serial", card.serial())
        .field("card_issuer", card.issuer())
        .field("reason", reason)
        .field("sessions_ended", ended.len());
    ctx.record(event)?;
    for session in &ended {
        let event = ctx
            .admin_event(AuditKind::SessionEnd)
            .field("session", session.as_str())
            .field("reason", "card-revoked");
        ctx.record(event)?;
    }
    println!(
        "Revoked card {} from {}; {} live sessions ended.",
        card.serial(),
        card.issuer(),
        ended.len()
    );
    Ok(ExitCode::SUCCESS)
}

pub fn admit(args: &AdmitArgs, ctx: &mut Context) -> anyhow::Result<ExitCode> {
    let (identity, card) = read_card_certificate(&args.cert)?;
    let request = AdmissionRequest {
        id_nat: identity.id_nat.clone(),
        card,
    };
    let verdict = admission::admit(&ctx.directory, &request, ctx.config.enrolment, ctx.now)?;
    for event in verdict.audit_events(&request) {
        ctx.record(event)?;
    }
    match verdict {
        Verdict::Accepted(admitted) => {
            let how = if admitted.enrolled_now {
                " (card enrolled on first use)"
            } else {
                ""
            };
            println!(
                "accepted: {} {}{how}",
                admitted.person.id_nat,
                admitted.person.display_name()
            );
            for app in &admitted.apps {
                let ports: Vec<String> = app.ports.iter().map(ToString::to_string).collect();
                println!(
                    "  {} {} {} {}",
                    app.name,
                    app.dns_name,
                    app.virtual_address,
                    ports.join(" ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Verdict::Refused(refusal) => {
            println!("refused: {refusal}");
            Ok(ExitCode::from(3))
        }
    }
}

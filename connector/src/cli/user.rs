//! `vigie-connector user show`: what a person can reach, and why.

use std::process::ExitCode;

use clap::Subcommand;
use vigie_connector::apps::reachable;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Show a person: HR status and dates, cards, and each app they can reach with the grant
    /// that allows it, or why they can reach nothing today.
    Show {
        /// The person's idNat.
        #[arg(env = "VIGIE_IDNAT")]
        id_nat: String,
    },
}

pub fn run(command: UserCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    let UserCommand::Show { id_nat } = command;
    let id_nat = super::card::parse_id_nat(&id_nat)?;
    let Some(person) = ctx.directory.person(&id_nat)? else {
        anyhow::bail!(
            "no person with idNat {id_nat} in the directory; check the HR export and run \
             `vigie-connector hr sync`"
        );
    };
    let date = |d: Option<chrono::NaiveDate>| d.map_or_else(|| "-".to_owned(), |d| d.to_string());
    println!("{} {}", person.id_nat, person.display_name());
    println!(
        "  status: {}, start {}, end {}",
        person.status.as_str(),
        date(person.start_date),
        date(person.end_date)
    );
    println!("  professions: {}", list_or_none(&person.professions));
    println!("  groups: {}", list_or_none(&person.groups));
    let cards = ctx.directory.cards(Some(&id_nat))?;
    let header = if cards.is_empty() {
        "  cards: none enrolled"
    } else {
        "  cards:"
    };
    println!("{header}");
    for card in &cards {
        let state = card.revoked.as_ref().map_or_else(
            || "enrolled".to_owned(),
            |r| format!("revoked ({})", r.reason),
        );
        println!(
            "    serial {} issuer {}: {state}",
            card.card.serial(),
            card.card.issuer()
        );
    }
    let apps = ctx.directory.apps()?;
    let reach = reachable(&person, &apps);
    match person.access(vigie_connector::person::hr_day(ctx.now)) {
        Ok(()) if reach.is_empty() => {
            println!("  can be admitted today but no app is granted to their groups or professions")
        }
        Ok(()) => println!("  can be admitted today and reach:"),
        Err(block) => {
            let then = if reach.is_empty() {
                "; no app is granted to them either"
            } else {
                "; with access they would reach:"
            };
            println!(
                "  cannot be admitted today: {block} ({}){then}",
                block.code()
            );
        }
    }
    for r in &reach {
        let why: Vec<String> = r
            .because
            .iter()
            .map(|g| format!("{} (from {})", g.target, g.source.as_str()))
            .collect();
        println!(
            "    {} {} {}: granted to {}",
            r.app.definition.name,
            r.app.definition.dns_name,
            r.app.virtual_address,
            why.join(", ")
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

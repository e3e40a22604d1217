//! `vigie-connector sso keys`: the issuer's public signing keys, for the apps and mail
//! servers that validate its tokens locally rather than through the JWKS address.

use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Subcommand;
use vigie_connector::sso::keys::KeyRing;

use super::Context;

#[derive(Debug, Subcommand)]
pub enum SsoCommand {
    /// Print each published signing key: its key id (kid), then its public key in PEM. The
    /// newest signs; the other stays published until the next rotation. A mail server that
    /// validates tokens locally (Dovecot's oauth2 `local_validation_key_dict`) needs each
    /// under its kid. Makes the first key if the issuer has none yet.
    Keys,
}

pub fn run(command: SsoCommand, ctx: &Context) -> anyhow::Result<ExitCode> {
    match command {
        SsoCommand::Keys => keys(ctx),
    }
}

fn keys(ctx: &Context) -> anyhow::Result<ExitCode> {
    let Some(sso) = &ctx.config.sso else {
        bail!("no [sso] section in the configuration: the SSO issuer is not set up");
    };
    let now = ctx.now.timestamp().max(0).unsigned_abs();
    let keys = KeyRing::load_or_create(&ctx.config.state.dir, sso.key_rotation, now)
        .context("reading the SSO signing keys")?;
    for key in keys.published() {
        println!("kid {}", key.kid());
        print!("{}", key.public_pem());
    }
    Ok(ExitCode::SUCCESS)
}

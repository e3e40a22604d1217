//! `vigie-pki`: make a test PKI shaped like IGC-Santé, and check card certificates the way the
//! connector does at admission.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use der::Decode;
use rustls_pki_types::{CertificateDer, UnixTime};
use vigie_certs::pki::World;
use vigie_certs::{Blocklist, CardIdentity, IdNatKind, TrustConfig, Verifier, load};
use x509_cert::Certificate;

/// Test PKI and card certificate checks for Vigie.
#[derive(Parser)]
#[command(
    version,
    about = "Make a test PKI shaped like IGC-Santé, and check CPS card certificates as the \
             Vigie connector does at admission"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a complete test world (TEST IGC-Santé CAs, CRLs, connector certificate, CPS3 and
    /// CPS4 card identities) in DIR. The same seed and time give the same files.
    Init {
        /// Folder to create; see DIR/README.txt afterwards for what is inside.
        dir: PathBuf,
        /// Seed for every key and serial number.
        #[arg(long, env = "VIGIE_PKI_SEED", default_value_t = 1)]
        seed: u64,
        /// Generation time (RFC 3339 like 2026-01-01T00:00:00Z, or Unix seconds); default: now.
        #[arg(long, env = "VIGIE_PKI_AT")]
        at: Option<String>,
        /// Write even if DIR already holds a world.
        #[arg(long, env = "VIGIE_PKI_FORCE")]
        force: bool,
    },
    /// Check a card certificate as the connector would, and print the verdict and the identity.
    /// Exits with 0 if the card would be admitted, 1 if it would be refused.
    Verify {
        /// Trusted certificates: PEM/DER files or folders of them. Self-signed ones become
        /// trust anchors, the others known intermediates. Repeat for several hierarchies.
        #[arg(long, env = "VIGIE_TRUST", value_delimiter = ',', required = true)]
        trust: Vec<PathBuf>,
        /// The card certificate (PEM or DER); extra certificates in a PEM file are taken as
        /// intermediates the client presented.
        #[arg(long, env = "VIGIE_CHAIN")]
        chain: PathBuf,
        /// CRL files (DER or PEM) or folders of them.
        #[arg(long, env = "VIGIE_CRL", value_delimiter = ',')]
        crl: Vec<PathBuf>,
        /// Check at this time (RFC 3339 or Unix seconds) instead of now.
        #[arg(long, env = "VIGIE_AT")]
        at: Option<String>,
        /// Emergency blocklist file (TOML: `id_nats = [...]` and `[[certificates]]` with issuer and
        /// serial).
        #[arg(long, env = "VIGIE_BLOCKLIST")]
        blocklist: Option<PathBuf>,
        /// Seconds past a CRL's nextUpdate during which it is still used.
        #[arg(long, env = "VIGIE_CRL_GRACE", default_value_t = 86_400)]
        crl_grace: u64,
        /// Admit cards whose issuer has no CRL loaded (default: refuse them).
        #[arg(long, env = "VIGIE_ALLOW_MISSING_CRL")]
        allow_missing_crl: bool,
    },
    /// Print the identity a card certificate carries, without checking its chain.
    Show {
        /// Certificate file (PEM or DER).
        cert: PathBuf,
    },
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("vigie-pki: {error:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Init {
            dir,
            seed,
            at,
            force,
        } => init(&dir, seed, at.as_deref(), force),
        Command::Verify {
            trust,
            chain,
            crl,
            at,
            blocklist,
            crl_grace,
            allow_missing_crl,
        } => {
            let mut config = load::trust_config(&trust, &crl)?;
            config.crl_grace = Duration::from_secs(crl_grace);
            config.require_crl = !allow_missing_crl;
            if let Some(path) = blocklist {
                let text = read_text(&path)?;
                config.blocklist = Blocklist::from_toml(&text)
                    .with_context(|| format!("{}: fix the blocklist file", path.display()))?;
            }
            verify(config, &chain, at.as_deref())
        }
        Command::Show { cert } => show(&cert),
    }
}

fn init(dir: &Path, seed: u64, at: Option<&str>, force: bool) -> anyhow::Result<ExitCode> {
    if dir.join("world.toml").exists() && !force {
        bail!(
            "{} already holds a test world; pass --force to overwrite it or choose another folder",
            dir.display()
        );
    }
    let now = parse_time(at)?;
    let world = World::generate(dir, seed, now)
        .with_context(|| format!("creating the test world in {}", dir.display()))?;
    println!("test world written to {} (seed {seed})", dir.display());
    for card in &world.index().cards {
        println!(
            "  {:<18} {:?} {:<26} {:<28} {:?}",
            card.name, card.generation, card.id_nat, card.holder, card.expected
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn verify(config: TrustConfig, chain: &Path, at: Option<&str>) -> anyhow::Result<ExitCode> {
    let verifier = Verifier::new(config).context("the trust configuration is not usable")?;
    let certs = read_certificates(chain)?;
    let (leaf, presented) = certs
        .split_first()
        .with_context(|| format!("{} holds no certificate", chain.display()))?;
    let now = parse_time(at)?;
    match verifier.verify(leaf, presented, now) {
        Ok(card) => {
            println!("verdict: accepted");
            print_identity(&card.identity);
            println!("valid until: {}", format_time(card.not_after));
            Ok(ExitCode::SUCCESS)
        }
        Err(refusal) => {
            println!("verdict: refused");
            println!("reason: {} ({:?} side)", refusal.code(), refusal.fault());
            println!("detail: {refusal}");
            if let Ok(identity) = CardIdentity::from_der(leaf) {
                println!("identity as written in the certificate (not trusted):");
                print_identity(&identity);
            }
            Ok(ExitCode::from(1))
        }
    }
}

fn show(path: &Path) -> anyhow::Result<ExitCode> {
    let certs = read_certificates(path)?;
    let leaf = certs
        .first()
        .with_context(|| format!("{} holds no certificate", path.display()))?;
    let cert = Certificate::from_der(leaf).context("the file is not an X.509 certificate")?;
    let identity = CardIdentity::from_certificate(&cert)
        .context("the certificate does not carry a CPS identity")?;
    print_identity(&identity);
    let validity = &cert.tbs_certificate.validity;
    println!("not before: {}", validity.not_before);
    println!("not after: {}", validity.not_after);
    Ok(ExitCode::SUCCESS)
}

fn print_identity(identity: &CardIdentity) {
    let kind = match identity.id_nat.kind() {
        IdNatKind::Rpps => "RPPS".to_owned(),
        IdNatKind::Adeli => "ADELI".to_owned(),
        IdNatKind::Structure {
            prefix,
            structure_id,
            internal_id,
        } => format!("structure {prefix}, id {structure_id}, internal id {internal_id}"),
        other => format!("{other:?}"),
    };
    println!("holder: {} {}", identity.given_name, identity.surname);
    println!("id_nat: {} ({kind})", identity.id_nat);
    println!(
        "profession: {}",
        identity.profession.as_deref().unwrap_or("-")
    );
    println!("upn: {}", identity.upn.as_deref().unwrap_or("-"));
    println!("card serial: {}", identity.card_serial);
    println!("issuer: {}", identity.issuer);
}

fn read_certificates(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    Ok(load::certificates(path)?)
}

fn read_text(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

/// RFC 3339 (`2026-01-01T00:00:00Z`) or Unix seconds; the system clock when absent.
fn parse_time(text: Option<&str>) -> anyhow::Result<UnixTime> {
    let Some(text) = text else {
        return Ok(UnixTime::now());
    };
    let since_epoch = match text.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => text
            .parse::<der::DateTime>()
            .map(|t| t.unix_duration())
            .map_err(|_| {
                anyhow::anyhow!(
                    "{text:?} is not a time; write 2026-01-01T00:00:00Z or Unix seconds"
                )
            })?,
    };
    Ok(UnixTime::since_unix_epoch(since_epoch))
}

fn format_time(secs: u64) -> String {
    der::DateTime::from_system_time(SystemTime::UNIX_EPOCH + Duration::from_secs(secs))
        .map_or_else(|_| format!("{secs} (Unix seconds)"), |t| t.to_string())
}

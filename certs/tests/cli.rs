//! The `vigie-pki` command line: `init` reproduces the shared world byte for byte from the same
//! seed and time, `verify` prints verdicts with exit codes, `show` prints identities.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers stop loudly on a broken fixture"
)]

mod common;

use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn vigie_pki(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigie-pki"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every file under `dir`, relative, sorted, with its bytes.
fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(folder).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let name = path.strip_prefix(dir).unwrap().display().to_string();
                files.push((name, std::fs::read(&path).unwrap()));
            }
        }
    }
    files.sort();
    files
}

#[test]
fn init_is_deterministic_and_verify_and_show_report_on_its_cards() {
    let world = world();
    let scratch = tempfile::tempdir().unwrap();
    let at = world.index().generated_at.to_string();
    let out = vigie_pki(&["init", "w", "--seed", "1", "--at", &at], scratch.path());
    assert!(out.status.success(), "{}", text(&out));
    let dir = scratch.path().join("w");
    let written = tree(&dir);
    assert_eq!(
        written.len(),
        75,
        "{:?}",
        written.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    assert!(
        written == tree(world.dir()),
        "same seed and time, same bytes"
    );

    let again = vigie_pki(&["init", "w"], scratch.path());
    assert_eq!(again.status.code(), Some(2));
    assert!(text(&again).contains("--force"), "{}", text(&again));

    let when = (world.index().generated_at + 3600).to_string();
    let verify = |card: &str| {
        let chain = format!("w/cards/{card}/auth.crt.der");
        vigie_pki(
            &[
                "verify",
                "--trust",
                "w/trust/roots",
                "--trust",
                "w/trust/intermediates",
                "--crl",
                "w/crl",
                "--chain",
                &chain,
                "--at",
                &when,
            ],
            scratch.path(),
        )
    };
    let accepted = verify("cps4-staff");
    assert_eq!(accepted.status.code(), Some(0), "{}", text(&accepted));
    let out = text(&accepted);
    assert!(out.contains("verdict: accepted"), "{out}");
    assert!(out.contains("id_nat: 500000000029751/CPAT0001 (structure 5, id 00000000029751, internal id CPAT0001)"), "{out}");
    for (card, reason) in [
        ("cps3-revoked", "revoked"),
        ("cps4-expired", "expired"),
        ("cps4-unknown-ca", "unknown_issuer"),
    ] {
        let refused = verify(card);
        assert_eq!(refused.status.code(), Some(1), "{card}: {}", text(&refused));
        assert!(
            text(&refused).contains(&format!("reason: {reason}")),
            "{card}: {}",
            text(&refused)
        );
    }

    // The emergency blocklist, by idNat, refuses both cards of the doctor.
    std::fs::write(
        scratch.path().join("block.toml"),
        "id_nats = [\"899700123450\"]\n",
    )
    .unwrap();
    for card in ["cps4-doctor", "cps3-doctor"] {
        let chain = format!("w/cards/{card}/auth.crt.der");
        let out = vigie_pki(
            &[
                "verify",
                "--trust",
                "w/trust",
                "--crl",
                "w/crl",
                "--chain",
                &chain,
                "--at",
                &when,
                "--blocklist",
                "block.toml",
            ],
            scratch.path(),
        );
        assert_eq!(out.status.code(), Some(1), "{card}: {}", text(&out));
        assert!(
            text(&out).contains("reason: blocklisted_id_nat"),
            "{card}: {}",
            text(&out)
        );
    }

    let shown = vigie_pki(&["show", "w/cards/cps4-nurse/auth.crt.der"], scratch.path());
    assert!(shown.status.success(), "{}", text(&shown));
    let out = text(&shown);
    assert!(
        out.contains("holder: HÉLÈNE SOIGNANT") && out.contains("(ADELI)"),
        "{out}"
    );
    assert!(out.contains("profession: Infirmier"), "{out}");

    let chain = "w/cards/cps4-nurse/auth.crt.der";
    let bad_time = vigie_pki(
        &[
            "verify",
            "--trust",
            "w/trust/roots",
            "--chain",
            chain,
            "--at",
            "yesterday",
        ],
        scratch.path(),
    );
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(
        text(&bad_time).contains("2026-01-01T00:00:00Z"),
        "{}",
        text(&bad_time)
    );
    let not_a_cert = vigie_pki(
        &[
            "verify",
            "--trust",
            "w/trust/roots",
            "--chain",
            "w/README.txt",
        ],
        scratch.path(),
    );
    assert_eq!(not_a_cert.status.code(), Some(2));
    assert!(
        text(&not_a_cert).contains("no certificate found"),
        "{}",
        text(&not_a_cert)
    );
}

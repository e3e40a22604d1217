//! The `vigie` command line without a card: what the help says, and what a workstation
//! without the smart-card service is told. (With a card: `tests/tests/client_*.rs` of the lab.)

use std::process::{Command, Output};

fn vigie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(args)
        // A socket nobody listens on: this workstation has no running pcscd.
        .env("PCSCLITE_CSOCK_NAME", "/nonexistent/vigie-test/pcscd.comm")
        .env_remove("VIGIE_PIN")
        .env_remove("VIGIE_PIN_FILE")
        .output()
        .expect("run vigie")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn card_help_names_every_environment_fallback_and_the_unattended_pin() {
    let out = vigie(&["card", "--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for needle in [
        "VIGIE_READER",
        "VIGIE_PINENTRY",
        "VIGIE_PIN_FILE",
        "VIGIE_PIN",
        "--test-pin",
    ] {
        assert!(help.contains(needle), "help lacks {needle}:\n{help}");
    }
    assert!(help.contains("unattended tests only"), "{help}");
}

#[test]
fn no_smart_card_service_says_what_to_do() {
    let out = vigie(&["card"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("pcscd") && err.contains("not running"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "nothing printed as if a card were there"
    );
}

#[test]
fn top_level_help_speaks_to_the_user() {
    let out = vigie(&["--help"]);
    let help = text(&out.stdout);
    assert!(
        help.contains("CPS card") && help.contains("readers"),
        "{help}"
    );
}

#[test]
fn readers_without_the_service_says_what_to_do() {
    let out = vigie(&["readers"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("not running"),
        "{}",
        text(&out.stderr)
    );
}

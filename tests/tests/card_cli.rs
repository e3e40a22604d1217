//! `vigie-lab card`, the emulator run by hand, inserts its card into a running pcscd and
//! pulls it out when stopped.

use std::ffi::CString;
use std::time::{Duration, Instant};

use pcsc::{Context, ReaderState, Scope, State};
use rustls_pki_types::UnixTime;
use vigie_certs::pki::World;
use vigie_lab::{LabProcess, Pcscd, require_root};

/// Waits until pcscd shows the reader with a card (`present`) or empty; returns the ATR.
fn wait_for_card(ctx: &Context, reader: &CString, present: bool, log: &LabProcess) -> Vec<u8> {
    let mut states = [ReaderState::new(reader.clone(), State::UNAWARE)];
    let start = Instant::now();
    loop {
        let _ = ctx.get_status_change(Some(Duration::from_millis(500)), &mut states);
        let state = states[0].event_state();
        if state.contains(State::PRESENT) == present && !state.contains(State::UNKNOWN) {
            return states[0].atr().to_vec();
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "reader never showed present={present}: {state:?}{}",
            log.log_tail(20)
        );
        states[0].sync_current_state();
    }
}

#[test]
fn the_card_command_inserts_a_cps4_until_stopped() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    vigie_lab::init_test_logging();
    let pcscd = Pcscd::shared().expect("pcscd");
    let slot = pcscd.take_slot();
    let world = World::shared(1, UnixTime::now()).expect("test PKI world");
    let identity = world.dir().join("cards").join("cps4-doctor");
    let ctx = Context::establish(Scope::User).expect("PC/SC context");
    let reader = CString::new(slot.reader_name()).expect("reader name");

    let mut command = pcscd.netns().command(env!("CARGO_BIN_EXE_vigie-lab"));
    command.args(["card", "--identity"]).arg(&identity).args([
        "--pin",
        "4321",
        "--vpcd",
        &slot.vpcd_target().addr.to_string(),
    ]);
    let mut card = LabProcess::spawn("vigie-lab-card", command).expect("start vigie-lab card");
    let atr = wait_for_card(&ctx, &reader, true, &card);
    assert_eq!(atr, vigie_lab::card::CPS4_ATR);

    card.stop().expect("stop vigie-lab card");
    wait_for_card(&ctx, &reader, false, &card);
}

#[test]
fn the_card_command_explains_a_bad_identity_folder() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vigie-lab"))
        .args(["card", "--identity", "/nonexistent/cards/cps4-doctor"])
        .output()
        .expect("run vigie-lab");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("card.toml") && stderr.contains("vigie-pki"),
        "{stderr}"
    );
}

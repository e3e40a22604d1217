//! Two pcscd instances side by side, each with its own card, reached by child processes
//! through the socket each instance exposes: no shared socket, pid file or vpcd port.

use std::process::Command;
use std::time::{Duration, Instant};

use rustls_pki_types::UnixTime;
use vigie_certs::pki::World;
use vigie_lab::card::VirtualCard;
use vigie_lab::{Pcscd, PcscdConfig, require_root};

/// The ATR that `opensc-tool`, a child process, reads from `reader` of `pcscd` (retrying
/// until pcscd has noticed the card).
fn atr_seen_by_a_child(pcscd: &Pcscd, reader: &str) -> String {
    let (key, socket) = pcscd.client_env();
    let start = Instant::now();
    loop {
        let output = Command::new("opensc-tool")
            .args(["--reader", reader, "--atr"])
            .env(key, &socket)
            .output()
            .expect("opensc-tool (Debian package opensc)");
        let stdout = String::from_utf8_lossy(&output.stdout).to_lowercase();
        if output.status.success() && stdout.starts_with("3b") {
            return stdout;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no ATR from {reader}: {stdout}{}{}",
            String::from_utf8_lossy(&output.stderr),
            pcscd.log_tail(20)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn two_instances_serve_two_cards_without_colliding() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    vigie_lab::init_test_logging();
    let world = World::shared(1, UnixTime::now()).expect("test PKI world");
    let first = std::sync::Arc::new(Pcscd::start(&PcscdConfig::default()).expect("first pcscd"));
    let second = std::sync::Arc::new(Pcscd::start(&PcscdConfig::default()).expect("second pcscd"));
    assert_ne!(first.socket_path(), second.socket_path());
    assert_ne!(first.netns().name(), second.netns().name());

    let slot_a = first.take_slot();
    let slot_b = second.take_slot();
    assert_eq!(
        slot_a.vpcd_target().addr,
        slot_b.vpcd_target().addr,
        "same port, two namespaces"
    );
    let cps3 = VirtualCard::load(&world.dir().join("cards/cps3-doctor")).expect("cps3");
    let cps4 = VirtualCard::load(&world.dir().join("cards/cps4-doctor")).expect("cps4");
    let _a = cps3.insert(&slot_a).expect("insert into the first");
    let _b = cps4.insert(&slot_b).expect("insert into the second");

    let atr_a = atr_seen_by_a_child(&first, &slot_a.reader_name());
    let atr_b = atr_seen_by_a_child(&second, &slot_b.reader_name());
    assert!(atr_a.contains("3b:ac:00:40"), "first instance: {atr_a}");
    assert!(atr_b.contains("3b:9b:18:80"), "second instance: {atr_b}");

    let pid = first.pid();
    drop((_a, slot_a));
    let socket = first.socket_path();
    drop(first);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "pcscd {pid} still runs"
    );
    assert!(!socket.exists(), "socket left behind: {}", socket.display());
}

/// The readers this process's PC/SC library sees (through the shared instance's link).
fn readers_seen_in_process() -> Vec<String> {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
    let names = ctx.list_readers_owned().expect("SCardListReaders");
    names
        .iter()
        .map(|n| n.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn the_shared_instance_restarts_without_losing_the_process_s_socket() {
    if require_root("pcscd in a network namespace").is_err() {
        return;
    }
    vigie_lab::init_test_logging();
    let first = Pcscd::shared().expect("first shared pcscd");
    let first_socket = first.socket_path();
    assert!(readers_seen_in_process().contains(&Pcscd::reader_name(0)));
    // A second test starting while the first instance is still being torn down.
    let dropper = std::thread::spawn(move || drop(first));
    let second = Pcscd::shared().expect("second shared pcscd");
    dropper.join().expect("drop thread");
    let second = if second.socket_path() == first_socket {
        // The second call came before the drop: take the next instance.
        drop(second);
        Pcscd::shared().expect("next shared pcscd")
    } else {
        second
    };
    assert_ne!(second.socket_path(), first_socket);
    assert!(
        !first_socket.exists(),
        "the first instance's socket is gone"
    );
    assert!(readers_seen_in_process().contains(&Pcscd::reader_name(1)));
}

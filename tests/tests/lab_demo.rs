//! `vigie-lab demo --once`, as root: the whole demo with the real programs, checked from what
//! it prints (the card's holder, the connector serving, the doctor's grant and tunnel, the DPI
//! and the mail reached through it and the HR portal not, the suspended nurse's refusal) and
//! from what it leaves behind (no namespace of its, no process of its).
//!
//! Cargo gives a test the binaries of its own package only, so the test builds `vigie`,
//! `vigie-connector` and `vigie-pki` itself with the cargo that runs it, into the target
//! folder and profile of `vigie-lab`; the demo finds them next to `vigie-lab`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A safety net: a demo that never ends fails the test instead of hanging it.
const PATIENCE: Duration = Duration::from_secs(600);

fn vigie_lab() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vigie-lab"))
}

/// Builds the other packages' programs next to `vigie-lab`.
fn build_binaries() {
    let exe = vigie_lab();
    let profile_dir = exe.parent().expect("<target>/<profile>/vigie-lab");
    let target = profile_dir.parent().expect("a target folder");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile");
    let mut build = vigie_lab::cmd::nested_cargo();
    build
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .env("CARGO_TARGET_DIR", target)
        .args(["build", "--quiet", "--bins"])
        .args([
            "-p",
            "vigie-client",
            "-p",
            "vigie-connector",
            "-p",
            "vigie-certs",
        ]);
    match profile {
        "debug" => {}
        "release" => {
            build.arg("--release");
        }
        other => {
            build.args(["--profile", other]);
        }
    }
    let status = build.status().expect("run cargo build");
    assert!(
        status.success(),
        "cargo build of vigie, vigie-connector and vigie-pki failed"
    );
}

/// Runs the demo to its end; kills it after [`PATIENCE`].
fn run_demo(dir: &Path) -> (u32, Output) {
    let mut child = Command::new(vigie_lab())
        .args(["demo", "--once", "--dir"])
        .arg(dir)
        .env_remove("VIGIE_LAB_BIN_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start vigie-lab demo");
    let pid = child.id();
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > PATIENCE {
            let _ = child.kill();
            let output = child.wait_with_output().expect("output");
            panic!(
                "the demo never ended:\n{}",
                String::from_utf8_lossy(&output.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    (pid, child.wait_with_output().expect("the demo's output"))
}

/// Processes whose command line or environment names `needle`.
fn processes_naming(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let path = entry.path();
        let read = |file: &str| std::fs::read(path.join(file)).unwrap_or_default();
        let text = [read("cmdline"), read("environ")].concat();
        if String::from_utf8_lossy(&text).contains(needle) {
            found.push(String::from_utf8_lossy(&read("cmdline")).replace('\0', " "));
        }
    }
    found
}

#[test]
fn the_demo_shows_the_card_the_connector_and_the_grant_then_leaves_nothing_behind() {
    if vigie_lab::require_root("network namespaces and pcscd").is_err() {
        return;
    }
    build_binaries();
    let dir = vigie_lab::process::log_root().join(vigie_lab::names::unique_name() + "-demo");
    let (pid, output) = run_demo(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n--- stderr\n{stderr}");

    let card = vigie_lab::card::CardIdentity::load(&dir.join("pki/cards/cps4-doctor"))
        .expect("the demo's PKI has the doctor's card");
    assert!(
        stdout.contains(&format!("Holder:       {}", card.holder)),
        "{stdout}"
    );
    assert!(stdout.contains("Card:         CPS4"), "{stdout}");
    assert!(
        stdout.contains("vigie-connector: listening on 198.18."),
        "{stdout}"
    );
    assert!(
        stdout.contains("Applications you can reach (4):"),
        "{stdout}"
    );
    for app in [
        "dpi.hopital.test",
        "mail.hopital.test",
        "portal.hopital.test",
        "sso.vigie.test",
    ] {
        assert!(stdout.contains(app), "{app} missing from\n{stdout}");
    }
    assert!(stdout.contains("Session:      connected"), "{stdout}");
    assert!(
        stdout.contains("Tunnel:       vigie0, WireGuard over UDP"),
        "{stdout}"
    );
    assert!(
        stdout.contains("<p>This is dpi.</p>"),
        "the DPI through the tunnel:\n{stdout}"
    );
    assert!(
        stdout.contains("| * LIST (\\HasNoChildren) \".\" INBOX"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("<p>Signed in</p><p>idnat={}</p>", card.id_nat)),
        "the portal's sign-in through the SSO:\n{stdout}"
    );
    assert!(
        !stdout.contains("This is rh."),
        "the HR portal answered:\n{stdout}"
    );
    assert!(
        stdout.contains("VIGIE-E-203 HR suspension"),
        "the nurse's refusal:\n{stdout}"
    );
    assert!(stdout.contains("chain intact"), "{stdout}");
    assert!(stdout.contains("Session ended."), "{stdout}");

    let namespaces = vigie_lab::cmd::run_args("ip", &["netns", "list"]).expect("ip netns list");
    let ours = format!("vg-{pid}-");
    assert!(!namespaces.contains(&ours), "left behind:\n{namespaces}");
    let left = processes_naming(&ours);
    assert!(left.is_empty(), "processes left behind: {left:#?}");
    let left = processes_naming(&dir.to_string_lossy());
    assert!(left.is_empty(), "processes left behind: {left:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

//! The end-to-end admission lab: the real `vigie-connector serve` on 127.0.0.1 over a
//! hospital directory seeded from the shared `vigie-pki` test world, the lab's pcscd with the
//! virtual card in one of its readers, and the real `vigie` binary run as a clinician would.
//!
//! # Finding the binaries
//!
//! Cargo gives a test the binaries of its own package only (`CARGO_BIN_EXE_*`), and these
//! live in `vigie-client` and `vigie-connector`. [`binaries`] therefore runs `cargo build -p
//! vigie-client -p vigie-connector --bins` once per test process, with the cargo that runs
//! the tests (`CARGO`), into the target folder this test executable was built in (found from
//! its own path: `<target>/<profile>/deps/<test>`), with the same profile. Cargo releases its
//! build lock before running tests, so this works from `cargo test --workspace` on a clean
//! clone as well as from `cargo test -p vigie-lab --test e2e_admission`; when the binaries
//! are up to date it costs a second. The build runs without the variables cargo set for the
//! test ([`vigie_lab::cmd::nested_cargo`]), else it would rebuild crates whose build scripts
//! watch them, and the next build from a shell would rebuild them again.
//!
//! The directory of the site:
//!
//! | card | person | directory | apps |
//! |---|---|---|---|
//! | cps3-doctor | 899700123450, Médecin, urgences | active, card enrolled | dpi, mail |
//! | cps4-nurse | 0751234567, Infirmier, soins | active, card enrolled | mail, soins |
//! | cps3-pharmacist | 899700075122, Pharmacien | suspended | (pharma) |
//! | cps4-staff | — | not in the directory | — |

#![allow(
    dead_code,
    reason = "each test file uses a different part of this module"
)]

pub mod clinician;
pub mod connector;
pub mod hospital_net;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use rustls_pki_types::UnixTime;
use vigie_certs::pki::World;

/// The seed of the test world every Vigie suite shares.
pub const WORLD_SEED: u64 = 1;
/// The name in the connector's test certificate.
pub const SERVER_NAME: &str = "connector.vigie.test";
/// A safety net: a broken client or connector fails the test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(120);

/// Retries `f` until it succeeds, for [`PATIENCE`]: the first packets through a tunnel wait
/// for WireGuard's handshake, a server for its start.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Result<T, String>) -> T {
    let start = std::time::Instant::now();
    loop {
        match f() {
            Ok(value) => return value,
            Err(error) if start.elapsed() > PATIENCE => panic!("{what}: {error}"),
            Err(_) => std::thread::sleep(Duration::from_millis(200)),
        }
    }
}

/// The shared test world.
pub fn world() -> World {
    World::shared(WORLD_SEED, UnixTime::now()).expect("the vigie-pki test world")
}

/// Paths of the `vigie` and `vigie-connector` binaries, built on first use.
pub struct Binaries {
    pub vigie: PathBuf,
    pub connector: PathBuf,
}

/// The binaries, built once per test process (see the module docs).
pub fn binaries() -> &'static Binaries {
    static BUILT: OnceLock<Binaries> = OnceLock::new();
    BUILT.get_or_init(|| {
        let exe = std::env::current_exe().expect("the test executable's path");
        let profile_dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("the test runs from <target>/<profile>/deps");
        let target = profile_dir.parent().expect("a target folder");
        let profile = profile_dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("profile");
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut command = vigie_lab::cmd::nested_cargo();
        command
            .current_dir(&workspace)
            .env("CARGO_TARGET_DIR", target)
            .args([
                "build",
                "--quiet",
                "-p",
                "vigie-client",
                "-p",
                "vigie-connector",
                "--bins",
            ]);
        match profile {
            "debug" => {}
            "release" => {
                command.arg("--release");
            }
            other => {
                command.args(["--profile", other]);
            }
        }
        let status = command.status().expect("run cargo build for the binaries");
        assert!(
            status.success(),
            "cargo build of vigie and vigie-connector failed"
        );
        Binaries {
            vigie: profile_dir.join("vigie"),
            connector: profile_dir.join("vigie-connector"),
        }
    })
}

/// A folder of the test under the lab's log root, removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let dir = vigie_lab::process::log_root().join(vigie_lab::names::unique_name() + label);
        std::fs::create_dir_all(&dir).expect("a test folder");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

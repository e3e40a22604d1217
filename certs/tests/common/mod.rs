//! Shared helpers for the integration tests: the shared world, times relative to it, and
//! running openssl.

#![allow(dead_code, reason = "each test file uses a part of these helpers")]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use rustls_pki_types::{CertificateDer, UnixTime};
use vigie_certs::pki::World;
use vigie_certs::{Refusal, TrustConfig, VerifiedCard, Verifier};

pub const DAY: u64 = 86_400;

/// The machine-wide test world (generated once per day and seed).
pub fn world() -> World {
    World::shared(1, UnixTime::now()).expect("the shared test world")
}

/// `offset` seconds after the world's generation time.
pub fn at(world: &World, offset: u64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(world.index().generated_at + offset))
}

pub fn secs(t: UnixTime) -> u64 {
    t.as_secs()
}

pub fn verifier(config: TrustConfig) -> Verifier {
    Verifier::new(config).expect("verifier")
}

/// The verdict's code, or `"accepted"`.
pub fn code(verdict: &Result<VerifiedCard, Refusal>) -> &'static str {
    verdict.as_ref().map_or_else(|r| r.code(), |_| "accepted")
}

pub fn der(bytes: Vec<u8>) -> CertificateDer<'static> {
    CertificateDer::from(bytes)
}

/// Runs openssl with `args` in `dir`, panicking with its output if it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Like [`openssl`], returning success and the combined output instead of panicking.
pub fn openssl_status(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

//! The packaging test's pieces: the programs and the .deb files, the site a hospital admin
//! would set up in `/etc/vigie`, and what the test reads of the running system.

#![allow(
    dead_code,
    reason = "each test of packaging.rs uses a different part of this module"
)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vigie_certs::pki::World;
use vigie_lab::container::{Container, DebianRoot, stdout};

use super::e2e_support::{PATIENCE, binaries};

/// Where the .deb files go inside the root.
const DEBS: &str = "srv/vigie-debs";

/// The programs of this test run, and where the packaging test keeps its files.
pub struct Programs {
    /// The cargo target folder.
    pub target: PathBuf,
    /// The cargo profile the programs were built in (`dev`, `release`…).
    pub profile: String,
    /// `<target>/pkgtest`: the Debian base system, and each test's root while it runs.
    pub cache: PathBuf,
}

/// Builds `vigie` and `vigie-connector` in this test's profile (see `e2e_support`).
pub fn programs() -> Programs {
    let profile_dir = binaries()
        .connector
        .parent()
        .expect("<target>/<profile>")
        .to_owned();
    let target = profile_dir.parent().expect("a target folder").to_owned();
    let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") => "dev".to_owned(),
        Some(other) => other.to_owned(),
        None => panic!("no profile in {}", profile_dir.display()),
    };
    let cache = target.join("pkgtest");
    std::fs::create_dir_all(&cache).expect("target/pkgtest");
    Programs {
        target,
        profile,
        cache,
    }
}

/// The packaging folder of the sources.
pub fn packaging_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging")
}

/// Runs `packaging/build-debs.sh --no-build` into the root; the .deb paths inside it.
pub fn build_debs(programs: &Programs, root: &Path) -> Vec<String> {
    let out = root.join(DEBS);
    let status = Command::new(packaging_dir().join("build-debs.sh"))
        .env("CARGO_TARGET_DIR", &programs.target)
        .args(["--no-build", "--profile", &programs.profile, "--out"])
        .arg(&out)
        .status()
        .expect("run packaging/build-debs.sh");
    assert!(status.success(), "packaging/build-debs.sh failed");
    let mut debs: Vec<String> = std::fs::read_dir(&out)
        .expect("the .deb folder")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".deb"))
        .map(|name| format!("/{DEBS}/{name}"))
        .collect();
    debs.sort();
    assert_eq!(debs.len(), 2, "{debs:?}");
    assert!(debs[0].contains("/vigie-connector_") && debs[1].contains("/vigie_"));
    debs
}

/// The packages' dependencies into apt's cache, while the root still has the network.
pub fn download_dependencies(root: &DebianRoot, debs: &[String]) {
    let script = format!(
        "apt-get update -qq && apt-get install -y -q --download-only {}",
        debs.join(" ")
    );
    root.run(&["sh", "-c", &script])
        .expect("apt-get can resolve and fetch the packages' dependencies");
}

/// udev makes `/dev/net/tun` 0666 on a Debian machine; no udev runs in a container, whose
/// copy of the node is 0600 like this host's.
pub fn as_udev_would(container: &Container) {
    container
        .exec(&["chmod", "0666", "/dev/net/tun"])
        .expect("chmod /dev/net/tun");
}

/// The site an admin sets up after the install: certificates, authorities, configuration.
pub struct Site {
    /// Where the connector listens.
    pub listen: String,
}

impl Site {
    /// Copies the test world's connector certificate and card authorities into the root's
    /// `/etc/vigie` and writes the configuration: data plane on, one app.
    pub fn write(container: &Container, root: &Path, world: &World) -> Self {
        let etc = root.join("etc/vigie");
        let from = world.dir();
        for name in ["server-chain.pem", "server.key.pem"] {
            copy(
                &from.join("connector").join(name),
                &etc.join("tls").join(name),
            );
        }
        for kind in ["roots", "intermediates"] {
            for entry in std::fs::read_dir(from.join("trust").join(kind)).expect("trust") {
                let path = entry.expect("a trust file").path();
                let name = path.file_name().expect("a file name");
                copy(&path, &etc.join("trust").join(kind).join(name));
            }
        }
        let listen = "127.0.0.1:443".to_owned();
        // Rewritten in place: the file keeps its 0640 root:vigie.
        std::fs::write(etc.join("connector.toml"), config(&listen)).expect("connector.toml");
        container
            .exec(&["chgrp", "-R", "vigie", "/etc/vigie/tls", "/etc/vigie/trust"])
            .expect("chgrp");
        container
            .exec(&["chmod", "0640", "/etc/vigie/tls/server.key.pem"])
            .expect("chmod");
        Self { listen }
    }
}

fn copy(from: &Path, to: &Path) {
    std::fs::copy(from, to)
        .unwrap_or_else(|e| panic!("{} → {}: {e}", from.display(), to.display()));
}

fn config(listen: &str) -> String {
    let (address, port) = listen.split_once(':').expect("address:port");
    format!(
        r#"[log]
level = "info"

[listen]
address = "{address}"
port = {port}
[tls]
certificate = "/etc/vigie/tls/server-chain.pem"
key = "/etc/vigie/tls/server.key.pem"
[trust]
roots = ["/etc/vigie/trust/roots"]
intermediates = ["/etc/vigie/trust/intermediates"]
crls = ["/var/lib/vigie/crl"]
[session]
endpoints = ["198.18.0.2:51820"]
[dataplane]
enabled = true
address = "{address}"
port = 51820
[[app]]
name = "dpi"
dns_name = "dpi.hopital.test"
ports = ["tcp/443"]
backend = "198.18.10.1"
professions = ["Médecin"]
"#
    )
}

/// `systemctl <verb> vigie-connector`'s answer (`is-active`, `is-enabled`).
pub fn unit_state(container: &Container, verb: &str) -> String {
    let output = container.output(&["systemctl", verb, "vigie-connector"]);
    stdout(&output.expect("systemctl")).trim().to_owned()
}

/// The service's main process, on the container's side.
pub fn main_pid(container: &Container) -> u32 {
    let args = [
        "systemctl",
        "show",
        "-p",
        "MainPID",
        "--value",
        "vigie-connector",
    ];
    let output = container.exec(&args).expect("MainPID");
    let pid = stdout(&output).trim().parse().expect("a PID");
    assert_ne!(pid, 0, "the connector has no main process");
    pid
}

/// Waits until systemd restarted the connector after `old` died; the new main PID.
pub fn wait_for_new_main_pid(container: &Container, old: u32) -> u32 {
    let start = Instant::now();
    loop {
        let args = [
            "systemctl",
            "show",
            "-p",
            "MainPID",
            "--value",
            "vigie-connector",
        ];
        let pid: u32 = container
            .exec(&args)
            .ok()
            .and_then(|out| stdout(&out).trim().parse().ok())
            .unwrap_or(0);
        if pid != 0 && pid != old && unit_state(container, "is-active") == "active" {
            return pid;
        }
        let state = unit_state(container, "is-active");
        assert!(start.elapsed() < PATIENCE, "not restarted: {state}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `/proc/<pid>/status` as key → value.
pub fn proc_status(container: &Container, pid: u32) -> HashMap<String, String> {
    let status = container
        .exec(&["cat", &format!("/proc/{pid}/status")])
        .expect("the connector's /proc status");
    stdout(&status)
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.to_owned(), value.trim().to_owned()))
        .collect()
}

/// `<mode> <user>:<group>` of `path` in the container.
pub fn stat(container: &Container, path: &str) -> String {
    let output = container.exec(&["stat", "-c", "%a %U:%G", path]);
    stdout(&output.expect("stat")).trim().to_owned()
}

/// Whether `path` exists in the container.
pub fn exists(container: &Container, path: &str) -> bool {
    let output = container.output(&["test", "-e", path]);
    output.expect("test -e").status.success()
}

/// Whether a `vigie-connector` process runs in the container.
pub fn connector_runs(container: &Container) -> bool {
    let output = container.exec(&["sh", "-c", "cat /proc/[0-9]*/comm 2>/dev/null"]);
    stdout(&output.expect("comm"))
        .lines()
        .any(|c| c == "vigie-connector")
}

/// The service sees the system read-only but for its state and log folders, its
/// configuration included, and a /dev without hardware.
pub fn sandbox_mounts_hold(container: &Container, pid: u32) {
    let info = container
        .exec(&["cat", &format!("/proc/{pid}/mountinfo")])
        .expect("the connector's mounts");
    let info = stdout(&info);
    let options = |mount_point: &str| {
        info.lines()
            .rev()
            .find(|line| line.split(' ').nth(4) == Some(mount_point))
            .map(|line| line.split(' ').nth(5).unwrap_or("").to_owned())
            .unwrap_or_else(|| panic!("no mount at {mount_point}:\n{info}"))
    };
    let read_only = |o: &str| o.split(',').any(|flag| flag == "ro");
    for path in ["/", "/etc/vigie", "/proc/sys", "/home", "/root", "/dev"] {
        assert!(
            read_only(&options(path)),
            "{path} is read-only to the connector"
        );
    }
    for path in ["/var/lib/vigie", "/var/log/vigie", "/tmp", "/dev/net/tun"] {
        assert!(
            !read_only(&options(path)),
            "{path} is writable to the connector"
        );
    }
}

/// The data plane's TUN device and nftables table are there (or gone).
pub fn data_plane_is_up(container: &Container, up: bool) {
    let link = container
        .net_command("ip")
        .args(["link", "show", "vigie0"])
        .output()
        .expect("ip link");
    assert_eq!(link.status.success(), up, "TUN device vigie0 present: {up}");
    let table = container
        .net_command("nft")
        .args(["list", "table", "ip", "vigie"])
        .output()
        .expect("nft");
    assert_eq!(
        table.status.success(),
        up,
        "nftables table ip vigie present: {up}"
    );
    if up {
        assert!(
            stdout(&table).contains("dnat to 198.18.10.1"),
            "{}",
            stdout(&table)
        );
    }
}

/// The audit log is in /var/log/vigie/audit, the service's own, and its chain verifies.
pub fn audit_is_written(container: &Container) {
    assert!(audit_files(container) > 0, "an audit day file");
    let list = container.exec(&["sh", "-c", "stat -c '%U %a' /var/log/vigie/audit/*.jsonl"]);
    for line in stdout(&list.expect("audit files")).lines() {
        assert_eq!(line, "vigie 600", "audit files are the service's alone");
    }
    let verify = container.exec(&[
        "runuser",
        "-u",
        "vigie",
        "--",
        "vigie-connector",
        "audit",
        "verify",
    ]);
    assert!(stdout(&verify.expect("audit verify")).contains("chain intact"));
}

/// How many audit day files there are.
pub fn audit_files(container: &Container) -> usize {
    let list = container.output(&["sh", "-c", "ls /var/log/vigie/audit/ 2>/dev/null"]);
    let list = stdout(&list.expect("ls"));
    list.lines().filter(|name| name.ends_with(".jsonl")).count()
}

/// The overall exposure `systemd-analyze security --offline=yes` gives the unit file.
pub fn exposure(unit: &Path) -> String {
    let output = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit)
        .output()
        .expect("systemd-analyze (package systemd; scripts/setup.sh installs it)");
    let text = stdout(&output);
    let line = text
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no exposure in:\n{text}"));
    line.split(": ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("a figure")
        .to_owned()
}

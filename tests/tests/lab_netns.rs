//! The lab's own foundations: namespaces, veth links, processes, ports, teardown.

use std::net::SocketAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use vigie_lab::{LabProcess, NetNs, VethLink, require_root, wait_for_tcp_port};

fn namespaces() -> String {
    vigie_lab::cmd::run_args("ip", &["netns", "list"]).expect("ip netns list")
}

#[test]
fn two_namespaces_joined_by_a_veth_ping_each_other() {
    if require_root("network namespaces").is_err() {
        return;
    }
    let a = NetNs::new().unwrap();
    let b = NetNs::new().unwrap();
    let link = VethLink::new(&a, &b).unwrap();
    let a_to_b = a.run("ping", &["-c", "1", "-W", "5", &link.addr_b().to_string()]);
    assert!(a_to_b.is_ok(), "{}", a_to_b.unwrap_err());
    let b_to_a = b.run("ping", &["-c", "1", "-W", "5", &link.addr_a().to_string()]);
    assert!(b_to_a.is_ok(), "{}", b_to_a.unwrap_err());
    assert!(link.addr_a().octets()[..2] == [198, 18] || link.addr_a().octets()[..2] == [198, 19]);
}

#[test]
fn a_process_started_in_a_namespace_is_stopped_and_gone() {
    if require_root("network namespaces").is_err() {
        return;
    }
    let ns = NetNs::new().unwrap();
    let mut command = ns.command("sleep");
    command.arg("600");
    let mut process = LabProcess::spawn("sleeper", command).unwrap();
    let pid = process.pid();
    // `ip netns exec` execs in place: the pid becomes sleep's, inside the namespace, once
    // `ip` has entered it.
    let wanted = std::fs::metadata(format!("/var/run/netns/{}", ns.name()))
        .unwrap()
        .ino();
    let in_ns = || {
        std::fs::metadata(format!("/proc/{pid}/ns/net"))
            .map(|m| m.ino())
            .ok()
            == Some(wanted)
    };
    let start = Instant::now();
    while !in_ns() && start.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(in_ns(), "pid {pid} never entered {}", ns.name());
    process.stop().unwrap();
    assert!(!process.is_running());
    drop(process);
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "pid {pid} still exists"
    );
}

#[test]
fn teardown_leaves_no_namespace_or_link_behind() {
    if require_root("network namespaces").is_err() {
        return;
    }
    let (name_a, name_b) = {
        let a = NetNs::new().unwrap();
        let b = NetNs::new().unwrap();
        let _link = VethLink::new(&a, &b).unwrap();
        assert!(namespaces().contains(a.name()));
        (a.name().to_owned(), b.name().to_owned())
    };
    let left = namespaces();
    assert!(
        !left.contains(&format!("{name_a} ")) && !left.lines().any(|l| l.starts_with(&name_a)),
        "{left}"
    );
    assert!(!left.lines().any(|l| l.starts_with(&name_b)), "{left}");
}

#[test]
fn wait_for_tcp_port_sees_a_listener_inside_a_namespace_only() {
    if require_root("network namespaces").is_err() {
        return;
    }
    let ns = NetNs::new().unwrap();
    let addr: SocketAddr = "127.0.0.1:18080".parse().unwrap();
    let err = wait_for_tcp_port(Some(&ns), addr, Duration::from_millis(300)).unwrap_err();
    assert!(err.to_string().contains("127.0.0.1:18080"), "{err}");
    let _listener = ns.listen_tcp(addr).unwrap();
    wait_for_tcp_port(Some(&ns), addr, Duration::from_secs(10)).unwrap();
    let other = NetNs::new().unwrap();
    assert!(wait_for_tcp_port(Some(&other), addr, Duration::from_millis(300)).is_err());
}

#[test]
fn commands_in_a_namespace_fail_with_their_stderr() {
    if require_root("network namespaces").is_err() {
        return;
    }
    let ns = NetNs::new().unwrap();
    let err = ns
        .run("ip", &["link", "set", "nonexistent0", "up"])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(ns.name()) && err.contains("nonexistent0"),
        "{err}"
    );
    assert!(
        ns.run_stdout("ip", &["-o", "link"])
            .unwrap()
            .contains("lo:")
    );
}

#[test]
fn clean_stale_removes_what_a_dead_test_process_left() {
    if require_root("network namespaces").is_err() {
        return;
    }
    // A pid that existed and is gone: the "killed test binary".
    let mut gone = std::process::Command::new("true")
        .spawn()
        .expect("spawn true");
    let dead_pid = gone.id();
    gone.wait().expect("wait");
    let name = format!("vg-{dead_pid}-0");
    vigie_lab::cmd::run_args("ip", &["netns", "add", &name]).expect("stale namespace");
    let mut leftover = std::process::Command::new("ip")
        .args(["netns", "exec", &name, "sleep", "600"])
        .spawn()
        .expect("process left in the namespace");
    let start = Instant::now();
    while vigie_lab::cmd::run_args("ip", &["netns", "pids", &name])
        .unwrap_or_default()
        .trim()
        .is_empty()
        && start.elapsed() < Duration::from_secs(30)
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    let live = NetNs::new().unwrap();

    let deleted = vigie_lab::clean_stale().unwrap();
    assert!(deleted.contains(&name), "{deleted:?}");
    assert!(!namespaces().lines().any(|l| l.starts_with(&name)));
    assert!(
        namespaces().contains(live.name()),
        "a live process's namespace was touched"
    );
    let status = leftover.wait().expect("the leftover process ends");
    assert!(!status.success(), "killed, not exited: {status:?}");
}

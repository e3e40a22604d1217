//! Vigie's Debian packages on a fresh Debian 12: built by `packaging/build-debs.sh` from the
//! programs this test run built (the dev profile under `cargo test`), installed with apt on a
//! debootstrap root booted under its own systemd (`systemd-nspawn --boot`), then the real
//! `vigie-connector.service` started with its hardening in force, stopped, removed, purged.
//!
//! The root's base system is kept in `target/pkgtest/` between runs; everything else (the
//! copy, the container, the .deb files) is deleted at the end. The container has a private
//! network namespace with only `lo`: the connector listens on 127.0.0.1:443 there. Only apt
//! reaches out, to deb.debian.org, before the container boots.

mod e2e_support;
mod packaging_support;

use packaging_support::{Site, main_pid, proc_status, stat, unit_state};
use vigie_lab::container::{Container, DebianRoot, stdout};

/// Both capabilities, and nothing else: CAP_NET_BIND_SERVICE (10) and CAP_NET_ADMIN (12).
const TWO_CAPABILITIES: &str = "0000000000001400";

#[test]
fn the_packages_install_run_hardened_and_remove_cleanly() {
    if vigie_lab::require_root("debootstrap and systemd-nspawn").is_err() {
        return;
    }
    vigie_lab::init_test_logging();
    let built = packaging_support::programs();
    let root = DebianRoot::create(&built.cache).expect("a fresh Debian 12 root");
    let debs = packaging_support::build_debs(&built, root.path());
    packaging_support::download_dependencies(&root, &debs);
    let container = Container::boot(&root).expect("the root boots under systemd");
    packaging_support::as_udev_would(&container);

    install(&container, &debs);
    let site = Site::write(&container, root.path(), &e2e_support::world());
    run_hardened(&container, &site);
    restart_and_reload(&container);
    stop_cleanly(&container);
    remove_then_purge(&container);
}

/// apt installs both packages and their dependencies; the connector is enabled, not started.
fn install(container: &Container, debs: &[String]) {
    let mut args = vec!["apt-get", "install", "-y", "-q"];
    args.extend(debs.iter().map(String::as_str));
    let output = container
        .exec(&args)
        .expect("apt-get install of both packages");
    let said = stdout(&output);
    assert!(said.contains("enabled, but not started"), "{said}");
    assert_eq!(unit_state(container, "is-enabled"), "enabled");
    assert_eq!(unit_state(container, "is-active"), "inactive");

    assert_eq!(stat(container, "/etc/vigie"), "750 root:vigie");
    assert_eq!(
        stat(container, "/etc/vigie/connector.toml"),
        "640 root:vigie"
    );
    for dir in ["/var/lib/vigie", "/var/log/vigie", "/var/log/vigie/audit"] {
        assert_eq!(stat(container, dir), "750 vigie:vigie", "{dir}");
    }
    let forwarding = container.exec(&["cat", "/proc/sys/net/ipv4/ip_forward"]);
    assert_eq!(stdout(&forwarding.expect("ip_forward")).trim(), "1");

    // The shipped configuration parses, read as the service reads it; what stops it from
    // starting is named: the site's own certificate is not there yet.
    let check = container.output(&[
        "runuser",
        "-u",
        "vigie",
        "--",
        "vigie-connector",
        "check-config",
    ]);
    let check = check.expect("check-config");
    let said = stdout(&check);
    assert_eq!(check.status.code(), Some(1), "{said}");
    assert!(
        said.contains("ok    /etc/vigie/connector.toml: syntax, keys and values"),
        "{said}"
    );
    assert!(
        said.contains("FAIL  [tls]: /etc/vigie/tls/server-chain.pem"),
        "{said}"
    );

    // The client runs, reaches pcscd (started by its socket), which has no reader here, and
    // is granted nothing.
    let version = container
        .exec(&["vigie", "--version"])
        .expect("vigie --version");
    let version = stdout(&version);
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    let readers = container
        .output(&["vigie", "readers"])
        .expect("vigie readers");
    let said = String::from_utf8_lossy(&readers.stderr);
    assert!(said.contains("no smart-card reader found"), "{said}");
    assert_eq!(stat(container, "/usr/bin/vigie"), "755 root:root");
    let scripts = container.output(&["ls", "/var/lib/dpkg/info/vigie.postinst"]);
    assert!(
        !scripts.expect("ls").status.success(),
        "vigie has no postinst"
    );
}

/// The unit starts the connector as vigie, with two capabilities, sandboxed.
fn run_hardened(container: &Container, site: &Site) {
    container
        .exec(&["systemctl", "start", "vigie-connector"])
        .expect("systemctl start vigie-connector");
    assert_eq!(unit_state(container, "is-active"), "active");
    let pid = main_pid(container);
    let status = proc_status(container, pid);
    let vigie = container.exec(&["id", "-u", "vigie"]).expect("id -u vigie");
    let uid = stdout(&vigie).trim().to_owned();
    assert!(
        status["Uid"].split_whitespace().all(|id| id == uid),
        "{status:?}"
    );
    for set in ["CapEff", "CapPrm", "CapBnd", "CapAmb"] {
        assert_eq!(status[set], TWO_CAPABILITIES, "{set}");
    }
    assert_eq!(status["NoNewPrivs"], "1");
    assert_eq!(status["Seccomp"], "2", "a system call filter is in force");

    packaging_support::sandbox_mounts_hold(container, pid);
    // systemd has started the program; it says when it listens, in the journal.
    let listening = format!("listening on {}", site.listen);
    let journal = e2e_support::eventually("the connector's journal", || {
        let journal = container.exec(&["journalctl", "-u", "vigie-connector", "--no-pager"]);
        let journal = stdout(&journal.map_err(|e| e.to_string())?);
        match journal.contains(&listening) {
            true => Ok(journal),
            false => Err(journal),
        }
    });
    assert!(journal.contains("data plane up"), "{journal}");
    let connect = format!("exec 3<>/dev/tcp/{}", site.listen.replace(':', "/"));
    container
        .exec(&["bash", "-c", &connect])
        .expect("a TCP connection to the connector's port 443");
    packaging_support::data_plane_is_up(container, true);
    packaging_support::audit_is_written(container);
}

/// Restart=on-failure brings a killed connector back; `systemctl reload` applies the file in
/// the same process.
fn restart_and_reload(container: &Container) {
    let killed = main_pid(container);
    container
        .exec(&["systemctl", "kill", "--signal=SIGKILL", "vigie-connector"])
        .expect("systemctl kill");
    let restarted = packaging_support::wait_for_new_main_pid(container, killed);
    assert_ne!(restarted, killed);

    let reload = container.exec(&["systemctl", "show", "-p", "ExecReload", "vigie-connector"]);
    assert!(stdout(&reload.expect("ExecReload")).contains("vigie-connector"));
    container
        .exec(&["systemctl", "reload", "vigie-connector"])
        .expect("systemctl reload");
    assert_eq!(
        main_pid(container),
        restarted,
        "reload keeps the same process"
    );
    assert_eq!(unit_state(container, "is-active"), "active");
}

/// SIGTERM ends the connector with status 0 and takes its TUN device and nftables table.
fn stop_cleanly(container: &Container) {
    container
        .exec(&["systemctl", "stop", "vigie-connector"])
        .expect("systemctl stop");
    let show = container.exec(&[
        "systemctl",
        "show",
        "-p",
        "ActiveState,Result,ExecMainStatus",
        "vigie-connector",
    ]);
    let show = stdout(&show.expect("systemctl show"));
    for expected in ["ActiveState=inactive", "Result=success", "ExecMainStatus=0"] {
        assert!(show.contains(expected), "{show}");
    }
    packaging_support::data_plane_is_up(container, false);
}

/// remove stops the running connector and keeps configuration, state and audit; purge
/// deletes them and the package's traces; the vigie user stays.
fn remove_then_purge(container: &Container) {
    container
        .exec(&["systemctl", "start", "vigie-connector"])
        .expect("started again before the removal");
    container
        .exec(&["apt-get", "remove", "-y", "-q", "vigie-connector", "vigie"])
        .expect("apt-get remove");
    assert!(
        !packaging_support::connector_runs(container),
        "prerm stopped it"
    );
    let kept = [
        "/etc/vigie/connector.toml",
        "/etc/vigie/tls/server.key.pem",
        "/var/lib/vigie/connector.db",
        "/var/lib/vigie/wireguard.key",
    ];
    for path in kept {
        assert!(
            packaging_support::exists(container, path),
            "{path} kept by remove"
        );
    }
    assert!(
        packaging_support::audit_files(container) > 0,
        "audit kept by remove"
    );
    assert!(!packaging_support::exists(
        container,
        "/usr/bin/vigie-connector"
    ));
    assert!(!packaging_support::exists(container, "/usr/bin/vigie"));

    container
        .exec(&["apt-get", "purge", "-y", "-q", "vigie-connector"])
        .expect("apt-get purge");
    for path in ["/etc/vigie", "/var/lib/vigie", "/var/log/vigie"] {
        assert!(!packaging_support::exists(container, path), "{path} purged");
    }
    let overrides = container.exec(&["dpkg-statoverride", "--list"]);
    assert!(!stdout(&overrides.expect("statoverride")).contains("/etc/vigie"));
    let dpkg = container.output(&["dpkg-query", "-W", "vigie-connector"]);
    assert!(
        !dpkg.expect("dpkg-query").status.success(),
        "no trace in dpkg"
    );
    let links = container.exec(&["find", "/etc/systemd/system", "-name", "vigie*"]);
    assert_eq!(
        stdout(&links.expect("find")).trim(),
        "",
        "no unit links left"
    );
    assert!(container.exec(&["getent", "passwd", "vigie"]).is_ok());
}

#[test]
fn the_unit_keeps_the_hardening_score_its_readme_states() {
    let unit = packaging_support::packaging_dir().join("connector/vigie-connector.service");
    let measured = packaging_support::exposure(&unit);
    let readme = std::fs::read_to_string(packaging_support::packaging_dir().join("README.md"))
        .expect("packaging/README.md");
    let stated = format!("exposure level {measured}");
    assert!(
        readme.contains(&stated),
        "systemd-analyze security --offline=yes measures {measured}; packaging/README.md must \
         say `{stated}` (and why)"
    );
}

//! Making the apps' names resolve on this machine, and undoing it.
//!
//! - **systemd-resolved** (split DNS), where it runs: the tunnel device gets the grant's DNS
//!   server and each app name as a routing domain (`~dpi.chu.example`), and is never the
//!   default route. Only the apps' names go to the connector's resolver, through the tunnel;
//!   every other name resolves as before. resolved forgets these settings when the device
//!   goes, however the process ends.
//! - **`/etc/hosts`**, the fallback everywhere else (and when the grant names no DNS
//!   server): one line per app, each marked `# vigie:<device>`. They are removed when the
//!   tunnel stops, and lines left by a process that died are removed when the next tunnel
//!   on that device starts. The file is rewritten in place, never replaced, so a hosts file
//!   bind-mounted over `/etc/hosts` (as `ip netns exec` does) keeps working.
//! - **off**: nothing is changed; the apps answer at their virtual addresses.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use tracing::{debug, warn};
use vigie_protocol::SessionGrant;

use super::TunnelError;

/// The hosts file changed in fallback mode.
pub const HOSTS_FILE: &str = "/etc/hosts";
/// systemd-resolved's D-Bus-free varlink socket: present while resolved runs.
const RESOLVED_SOCKET: &str = "/run/systemd/resolve/io.systemd.Resolve";

/// How app names are made to resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DnsMode {
    /// systemd-resolved where it runs, else the hosts file.
    Auto,
    /// systemd-resolved's split DNS (fails if it does not run).
    Resolved,
    /// Lines in this hosts file.
    Hosts(PathBuf),
    /// Leave name resolution alone.
    Off,
}

impl std::str::FromStr for DnsMode {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "auto" => Ok(Self::Auto),
            "resolved" => Ok(Self::Resolved),
            "hosts" => Ok(Self::Hosts(HOSTS_FILE.into())),
            "off" => Ok(Self::Off),
            other => Err(format!(
                "{other:?} is not a DNS mode: use auto, resolved, hosts or off"
            )),
        }
    }
}

/// What was changed; undone when dropped.
#[derive(Debug)]
pub struct Applied {
    change: Option<Change>,
}

#[derive(Debug)]
enum Change {
    Resolved { device: String },
    Hosts { path: PathBuf, device: String },
}

impl Applied {
    const NOTHING: Self = Self { change: None };

    /// The hosts-file lines of `device`, as a tunnel that died would have left them.
    pub fn hosts_of(path: &Path, device: &str) -> Self {
        let change = Change::Hosts {
            path: path.to_owned(),
            device: device.to_owned(),
        };
        Self {
            change: Some(change),
        }
    }

    /// How names resolve, for the user.
    pub fn mode(&self) -> &'static str {
        match self.change {
            Some(Change::Resolved { .. }) => "systemd-resolved (split DNS through the tunnel)",
            Some(Change::Hosts { .. }) => "the hosts file",
            None => "unchanged (use the apps' addresses)",
        }
    }

    /// Removes what [`apply`] added. Failures are logged: the tunnel is going anyway.
    pub fn undo(&mut self) {
        match self.change.take() {
            Some(Change::Resolved { device }) => {
                // The settings vanish with the device; reverting first is only tidier.
                let _ = run("resolvectl", &["revert", &device]);
            }
            Some(Change::Hosts { path, device }) => {
                if let Err(error) = rewrite_hosts(&path, |text| without_lines(text, &device)) {
                    warn!(path = %path.display(), %error, "cannot remove the apps from the hosts file");
                }
            }
            None => {}
        }
    }
}

impl Drop for Applied {
    fn drop(&mut self) {
        self.undo();
    }
}

/// Makes the grant's app names resolve as `mode` says, for tunnel device `device`.
pub fn apply(mode: &DnsMode, device: &str, grant: &SessionGrant) -> Result<Applied, TunnelError> {
    let names = app_names(grant);
    match (mode, grant.dns_server) {
        (DnsMode::Off, _) => Ok(Applied::NOTHING),
        (DnsMode::Resolved, None) => Err(TunnelError::Grant(
            "--dns resolved needs a DNS server from the connector, and the grant names none; \
             use --dns hosts, or ask IT to set [session] dns_server"
                .into(),
        )),
        (DnsMode::Resolved, Some(server)) => resolved(device, server, &names),
        (DnsMode::Auto, Some(server)) if resolved_runs() => resolved(device, server, &names),
        (DnsMode::Auto, _) => hosts(Path::new(HOSTS_FILE), device, grant),
        (DnsMode::Hosts(path), _) => hosts(path, device, grant),
    }
}

fn resolved_runs() -> bool {
    Path::new(RESOLVED_SOCKET).exists()
}

fn app_names(grant: &SessionGrant) -> Vec<String> {
    let mut names: Vec<String> = grant.apps.iter().map(|a| a.dns_name.clone()).collect();
    names.sort();
    names.dedup();
    names
}

fn resolved(device: &str, server: IpAddr, names: &[String]) -> Result<Applied, TunnelError> {
    let server = server.to_string();
    run("resolvectl", &["dns", device, &server])?;
    let domains: Vec<String> = names.iter().map(|n| format!("~{n}")).collect();
    let mut args = vec!["domain", device];
    args.extend(domains.iter().map(String::as_str));
    run("resolvectl", &args)?;
    run("resolvectl", &["default-route", device, "false"])?;
    debug!(
        device,
        names = names.len(),
        "app names routed to the connector's resolver"
    );
    let change = Change::Resolved {
        device: device.to_owned(),
    };
    Ok(Applied {
        change: Some(change),
    })
}

fn hosts(path: &Path, device: &str, grant: &SessionGrant) -> Result<Applied, TunnelError> {
    let entries: Vec<(IpAddr, &str)> = grant
        .apps
        .iter()
        .map(|app| (app.address, app.dns_name.as_str()))
        .collect();
    rewrite_hosts(path, |text| with_lines(text, device, &entries)).map_err(|e| {
        TunnelError::System {
            what: "cannot add the apps' names to the hosts file (or run with --dns off)",
            detail: format!("{}: {e}", path.display()),
        }
    })?;
    debug!(path = %path.display(), names = entries.len(), "app names in the hosts file");
    Ok(Applied::hosts_of(path, device))
}

/// The mark that ends each of our lines for `device`.
fn mark(device: &str) -> String {
    format!("# vigie:{device}")
}

/// `text` without the lines marked for `device` (a stale session's, or ours).
pub fn without_lines(text: &str, device: &str) -> String {
    let mark = mark(device);
    let mut kept = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        if !line.trim_end().ends_with(&mark) {
            kept.push_str(line);
        }
    }
    kept
}

/// `text` without stale lines for `device`, then one marked line per entry.
pub fn with_lines(text: &str, device: &str, entries: &[(IpAddr, &str)]) -> String {
    let mut out = without_lines(text, device);
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    let mark = mark(device);
    for (address, name) in entries {
        out.push_str(&format!("{address}\t{name}\t{mark}\n"));
    }
    out
}

/// Rewrites the file in place with `change` applied to its text.
fn rewrite_hosts(path: &Path, change: impl Fn(&str) -> String) -> std::io::Result<()> {
    let text = std::fs::read_to_string(path)?;
    let changed = change(&text);
    if changed != text {
        std::fs::write(path, changed)?;
    }
    Ok(())
}

fn run(program: &str, args: &[&str]) -> Result<(), TunnelError> {
    super::system::run(
        program,
        args,
        "cannot set up the apps' names with systemd-resolved (or use --dns hosts)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n";

    fn entries() -> Vec<(IpAddr, &'static str)> {
        vec![
            (IpAddr::from([100, 80, 0, 1]), "dpi.chu.example"),
            (IpAddr::from([100, 80, 0, 2]), "mail.chu.example"),
        ]
    }

    #[test]
    fn app_lines_are_added_and_removed_leaving_the_rest_untouched() {
        let added = with_lines(HOSTS, "vigie0", &entries());
        assert!(added.starts_with(HOSTS), "{added}");
        assert!(
            added.contains("100.80.0.1\tdpi.chu.example\t# vigie:vigie0\n"),
            "{added}"
        );
        assert_eq!(added.lines().count(), 4);
        assert_eq!(without_lines(&added, "vigie0"), HOSTS);
    }

    #[test]
    fn a_dead_sessions_lines_are_replaced_not_repeated() {
        let stale = with_lines(HOSTS, "vigie0", &entries()[..1]);
        let fresh = with_lines(&stale, "vigie0", &entries());
        assert_eq!(fresh.matches("dpi.chu.example").count(), 1, "{fresh}");
        assert_eq!(fresh, with_lines(HOSTS, "vigie0", &entries()));
    }

    #[test]
    fn another_devices_lines_and_a_file_without_final_newline_are_kept() {
        let other = with_lines("10.0.0.1 nas", "vigie1", &entries());
        assert!(other.starts_with("10.0.0.1 nas\n"), "{other}");
        let both = with_lines(&other, "vigie0", &entries());
        assert_eq!(without_lines(&both, "vigie0"), other);
        assert_eq!(both.matches("# vigie:vigie1").count(), 2);
    }

    #[test]
    fn hosts_mode_writes_and_undoes_a_real_file() {
        let dir = std::env::temp_dir().join(format!("vigie-names-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("hosts");
        std::fs::write(&path, HOSTS).expect("hosts");
        let mut applied = hosts(&path, "vigie9", &grant()).expect("applied");
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(
            text.contains("100.80.0.7\tdpi.chu.example\t# vigie:vigie9"),
            "{text}"
        );
        applied.undo();
        assert_eq!(std::fs::read_to_string(&path).expect("read"), HOSTS);
        std::fs::remove_dir_all(&dir).expect("clean");
    }

    #[test]
    fn modes_are_named_for_the_command_line() {
        assert_eq!("auto".parse(), Ok(DnsMode::Auto));
        assert_eq!("hosts".parse(), Ok(DnsMode::Hosts(HOSTS_FILE.into())));
        let bad = "dnsmasq".parse::<DnsMode>().expect_err("unknown");
        assert!(bad.contains("auto, resolved, hosts or off"), "{bad}");
    }

    #[test]
    fn split_dns_needs_a_server_in_the_grant() {
        let mut grant = grant();
        grant.dns_server = None;
        let error = apply(&DnsMode::Resolved, "vigie9", &grant).expect_err("no server");
        assert!(error.to_string().contains("--dns hosts"), "{error}");
    }

    fn grant() -> SessionGrant {
        use vigie_protocol::{PortRule, PublishedApp, SessionId, WireGuardKey};
        SessionGrant {
            version: 1,
            session_id: SessionId([1; 16]),
            tunnel_address: IpAddr::from([100, 96, 0, 2]),
            connector_key: WireGuardKey([2; 32]),
            endpoints: Vec::new(),
            apps: vec![PublishedApp {
                name: "dpi".into(),
                dns_name: "dpi.chu.example".into(),
                address: IpAddr::from([100, 80, 0, 7]),
                ports: vec![PortRule::tcp(443)],
            }],
            dns_server: Some(IpAddr::from([100, 80, 0, 53])),
            idle_timeout: None,
            max_lifetime: None,
            reproof_interval: None,
            resume_token: None,
        }
    }
}

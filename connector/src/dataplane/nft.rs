//! The kernel's half of forwarding: an nftables ruleset made from the published apps.
//!
//! Packets the filter accepts are written into the connector's TUN device. The kernel then
//! rewrites each app's virtual address to its backend's (DNAT, only on the app's published
//! ports), and the source to the connector's own address on the way out (masquerade), so
//! backends answer the connector and need no route to the tunnel range. Connection
//! tracking undoes both on the replies, which come back out of the TUN device.
//!
//! The ruleset lives in its own table, `ip vigie`, replaced whole and atomically by one
//! `nft -f` run: the table is declared, deleted and written anew in one transaction, so
//! there is never a moment without rules. A forward rule drops whatever leaves the tunnel
//! without having been translated, in case the filter ever let something through.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use crate::apps::{Ipv4Range, PortRange, Protocol};

/// The table's name.
pub const TABLE: &str = "vigie";

/// One app as the kernel translates it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NatApp {
    /// The app's name, for the rule's comment.
    pub name: String,
    /// Its virtual address.
    pub virtual_address: Ipv4Addr,
    /// Its backend on the hospital network.
    pub backend: Ipv4Addr,
    /// Its published ports.
    pub ports: Vec<PortRange>,
}

/// The ruleset text for `apps`, with the tunnel device `tun` and clients in `clients`.
pub fn ruleset(tun: &str, clients: Ipv4Range, apps: &[NatApp]) -> String {
    let mut text = String::new();
    let _ = writeln!(text, "table ip {TABLE} {{}}\ndelete table ip {TABLE}");
    let _ = writeln!(text, "table ip {TABLE} {{");
    let _ = writeln!(text, "  chain prerouting {{");
    let _ = writeln!(
        text,
        "    type nat hook prerouting priority dstnat; policy accept;"
    );
    for app in apps {
        dnat_rules(&mut text, tun, app);
    }
    let _ = writeln!(text, "  }}\n  chain postrouting {{");
    let _ = writeln!(
        text,
        "    type nat hook postrouting priority srcnat; policy accept;"
    );
    let _ = writeln!(
        text,
        "    ip saddr {clients} oifname != \"{tun}\" ct status dnat masquerade"
    );
    let _ = writeln!(text, "  }}\n  chain forward {{");
    let _ = writeln!(
        text,
        "    type filter hook forward priority filter; policy accept;"
    );
    let _ = writeln!(text, "    iifname \"{tun}\" ct status dnat accept");
    let _ = writeln!(text, "    iifname \"{tun}\" counter drop");
    let _ = writeln!(text, "  }}\n}}");
    text
}

fn dnat_rules(text: &mut String, tun: &str, app: &NatApp) {
    let (virtual_address, backend) = (app.virtual_address, app.backend);
    let prefix = format!("    iifname \"{tun}\" ip daddr {virtual_address}");
    for protocol in [Protocol::Tcp, Protocol::Udp] {
        let ports: Vec<String> = app
            .ports
            .iter()
            .filter(|range| range.protocol == protocol)
            .map(|range| match range.first == range.last {
                true => range.first.to_string(),
                false => format!("{}-{}", range.first, range.last),
            })
            .collect();
        if ports.is_empty() {
            continue;
        }
        let _ = writeln!(
            text,
            "{prefix} {} dport {{ {} }} dnat to {backend} comment \"{}\"",
            protocol.as_str(),
            ports.join(", "),
            comment(&app.name)
        );
    }
    let _ = writeln!(
        text,
        "{prefix} icmp type echo-request dnat to {backend} comment \"{}\"",
        comment(&app.name)
    );
}

/// App names are letters, digits, `-` and `_` ([`crate::apps::check_definition`]); anything
/// else is dropped so a name can never end the quoted comment.
fn comment(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Applies `ruleset` with `nft -f -`. The error carries nft's own message.
pub fn apply(ruleset: &str) -> Result<(), String> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run nft: {e}; install the nftables package"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(ruleset.as_bytes())
            .map_err(|e| format!("cannot write the ruleset to nft: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("nft did not finish: {e}"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(format!(
        "nft refused the ruleset: {}",
        String::from_utf8_lossy(&output.stderr).trim()
    ))
}

/// Removes the table (when the data plane stops).
pub fn remove() -> Result<(), String> {
    apply(&format!("table ip {TABLE} {{}}\ndelete table ip {TABLE}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_app_is_translated_on_its_published_ports_only() {
        let apps = [NatApp {
            name: "dpi\"; drop".into(),
            virtual_address: Ipv4Addr::new(100, 80, 0, 1),
            backend: Ipv4Addr::new(198, 18, 2, 2),
            ports: vec![
                "tcp/443".parse().unwrap(),
                "tcp/8000-8010".parse().unwrap(),
                "udp/5000".parse().unwrap(),
            ],
        }];
        let text = ruleset("vigie0", "100.96.0.0/12".parse().unwrap(), &apps);
        assert!(text.starts_with("table ip vigie {}\ndelete table ip vigie\n"));
        assert!(text.contains(
            "iifname \"vigie0\" ip daddr 100.80.0.1 tcp dport { 443, 8000-8010 } \
             dnat to 198.18.2.2 comment \"dpidrop\""
        ));
        assert!(text.contains("ip daddr 100.80.0.1 udp dport { 5000 } dnat to 198.18.2.2"));
        assert!(text.contains("icmp type echo-request dnat to 198.18.2.2"));
        assert!(text.contains("ip saddr 100.96.0.0/12 oifname != \"vigie0\" ct status dnat"));
        assert!(text.contains("iifname \"vigie0\" counter drop"));
        assert_eq!(text.matches('{').count(), text.matches('}').count());
    }
}

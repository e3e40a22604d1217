//! What the machine must give the connector: for the data plane, a TUN device, the right to
//! configure the network, nftables and IPv4 forwarding; and, with `[admin]`, a running
//! connector that says it is healthy.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use super::Finding;
use crate::config::ConnectorConfig;

/// How long the admin endpoint has to answer.
const PATIENCE: Duration = Duration::from_secs(5);

/// The data plane's prerequisites, when it is enabled.
pub fn dataplane(config: &ConnectorConfig) -> Vec<Finding> {
    if !config.dataplane.enabled {
        return Vec::new();
    }
    vec![tun_device(), net_admin(), nftables(), forwarding()]
}

fn tun_device() -> Finding {
    match std::fs::metadata("/dev/net/tun") {
        Ok(_) => Finding::ok("data plane: /dev/net/tun is there"),
        Err(error) => Finding::fail(format!(
            "data plane: /dev/net/tun: {error}; load the tun module (modprobe tun), or give \
             the connector's container the device"
        )),
    }
}

/// CAP_NET_ADMIN (bit 12) in this process's effective capabilities: what `serve` needs for
/// its TUN device and nftables when it runs like this command.
fn net_admin() -> Finding {
    const CAP_NET_ADMIN: u32 = 12;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let effective = status
        .lines()
        .find_map(|line| line.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok());
    match effective {
        Some(caps) if caps & (1 << CAP_NET_ADMIN) != 0 => {
            Finding::ok("data plane: this user may configure the network (CAP_NET_ADMIN)")
        }
        _ => Finding::warn(
            "data plane: this user may not configure the network (no CAP_NET_ADMIN); `serve` \
             needs it for its TUN device and NAT rules: run it as root or with \
             AmbientCapabilities=CAP_NET_ADMIN (run doctor as the connector's user)",
        ),
    }
}

fn nftables() -> Finding {
    let version = std::process::Command::new("nft").arg("--version").output();
    match version {
        Ok(output) if output.status.success() => {
            let text = String::from_utf8_lossy(&output.stdout);
            Finding::ok(format!("data plane: {}", text.trim()))
        }
        _ => Finding::fail(
            "data plane: nft cannot be run; install the nftables package (apt install nftables)",
        ),
    }
}

fn forwarding() -> Finding {
    let value = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap_or_default();
    if value.trim() == "1" {
        return Finding::ok("data plane: IPv4 forwarding is on");
    }
    Finding::warn(
        "data plane: IPv4 forwarding is off; `serve` turns it on for the whole machine when it \
         starts: set net.ipv4.ip_forward = 1 in /etc/sysctl.d/ to make that explicit, and \
         check the host firewall's forward rules",
    )
}

/// The running connector's `/health`, when `[admin]` is configured.
pub fn health(config: &ConnectorConfig) -> Option<Finding> {
    let address = config.admin.as_ref()?.listen;
    let url = format!("http://{address}/health");
    Some(match get_health(address) {
        Ok((200, body)) => Finding::ok(format!("connector {url}: {}", body.trim())),
        Ok((status, body)) => Finding::fail(format!(
            "connector {url}: HTTP {status}: {}; see its log (journalctl -u vigie-connector)",
            body.trim()
        )),
        Err(error) => Finding::warn(format!(
            "connector {url}: no answer ({error}); is it running? (systemctl status \
             vigie-connector)"
        )),
    })
}

/// `GET /health` over HTTP/1.0: the status code and the body.
fn get_health(address: SocketAddr) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&address, PATIENCE)?;
    stream.set_read_timeout(Some(PATIENCE))?;
    stream.write_all(b"GET /health HTTP/1.0\r\nHost: vigie\r\n\r\n")?;
    let mut answer = Vec::new();
    stream.take(64 * 1024).read_to_end(&mut answer)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP answer"))?;
    Ok((status, body.to_owned()))
}

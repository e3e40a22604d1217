//! The machine's side of the tunnel: the TUN device and the routes into it.
//!
//! Routes are added with iproute2's `ip`, which every Linux desktop has; they live on the
//! device, so the kernel removes them with it.

use std::io::Write as _;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use vigie_platform::tun::OffloadTun;

use super::TunnelError;

/// Opens TUN device `name` with `address`/32, up, with offloads when the kernel has them.
/// It is gone when the process closes it.
pub fn open_device(name: &str, address: Ipv4Addr, mtu: u16) -> Result<OffloadTun, TunnelError> {
    let device = OffloadTun::open(name, address, Ipv4Addr::BROADCAST, mtu).map_err(|e| {
        TunnelError::System {
            what: "cannot open the TUN device (vigie up needs root or CAP_NET_ADMIN, and a \
                   device name no other session uses: see --device)",
            detail: e.detail,
        }
    })?;
    // The tunnel carries IPv4 only; without IPv6 the kernel sends nothing of its own into it.
    let ipv6 = format!("/proc/sys/net/ipv6/conf/{name}/disable_ipv6");
    if std::fs::write(&ipv6, "1").is_err() {
        tracing::debug!(device = name, "IPv6 left on the tunnel device");
    }
    Ok(device)
}

/// Whether a network device of this name exists (in this network namespace).
pub fn device_exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

/// Routes each of `addresses` (a /32) into `device`, with one `ip` process for all of them
/// (`ip -batch`): a grant of a hundred apps costs one process start, not a hundred.
pub fn add_routes(device: &str, addresses: &[Ipv4Addr]) -> Result<(), TunnelError> {
    const WHAT: &str = "cannot route the apps into the tunnel (ip, from iproute2)";
    let failed = |detail: String| TunnelError::System { what: WHAT, detail };
    let commands = route_commands(device, addresses);
    let mut child = Command::new("ip")
        .args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot run ip: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(commands.as_bytes())
            .map_err(|e| failed(format!("cannot give ip its routes: {e}")))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| failed(format!("ip did not finish: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    let said = String::from_utf8_lossy(&output.stderr);
    Err(failed(format!("`ip -batch -` failed: {}", said.trim())))
}

/// The `ip -batch` lines routing each address into `device`.
fn route_commands(device: &str, addresses: &[Ipv4Addr]) -> String {
    addresses
        .iter()
        .map(|address| format!("route replace {address}/32 dev {device}\n"))
        .collect()
}

/// Runs `program args…`; a failure is `what`, with the program's own words.
pub fn run(program: &str, args: &[&str], what: &'static str) -> Result<(), TunnelError> {
    let failed = |detail: String| TunnelError::System { what, detail };
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| failed(format!("cannot run {program}: {e}")))?;
    if output.status.success() {
        return Ok(());
    }
    Err(failed(format!(
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_one_line_of_the_batch() {
        let lines = route_commands("vigie0", &[[100, 80, 0, 1].into(), [100, 80, 0, 53].into()]);
        assert_eq!(
            lines,
            "route replace 100.80.0.1/32 dev vigie0\nroute replace 100.80.0.53/32 dev vigie0\n"
        );
    }
}

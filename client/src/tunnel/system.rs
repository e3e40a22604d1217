//! The machine's side of the tunnel: the TUN device and the routes into it.
//!
//! Routes are added with iproute2's `ip`, which every Linux desktop has; they live on the
//! device, so the kernel removes them with it.

use std::net::Ipv4Addr;
use std::process::Command;

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

/// Routes each of `addresses` (a /32) into `device`.
pub fn add_routes(device: &str, addresses: &[Ipv4Addr]) -> Result<(), TunnelError> {
    for address in addresses {
        let target = format!("{address}/32");
        let args = ["route", "replace", &target, "dev", device];
        run(
            "ip",
            &args,
            "cannot route the apps into the tunnel (ip, from iproute2)",
        )?;
    }
    Ok(())
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

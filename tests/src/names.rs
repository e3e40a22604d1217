//! Names unique to this run, short enough for network interfaces (at most 15 bytes).
//!
//! A name is `vg-<pid>-<n>`: the process id keeps two test binaries apart, the counter keeps
//! two objects of one process apart. Nothing the lab creates is named otherwise, so teardown
//! deletes exactly what it made and never a neighbour's namespace.

use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The longest interface name Linux accepts (`IFNAMSIZ` - 1).
pub const MAX_IFNAME_LEN: usize = 15;

/// A fresh name `vg-<pid>-<n>`, unique in this process and among live processes.
pub fn unique_name() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("vg-{}-{}", std::process::id(), n)
}

/// A fresh name that fits an interface name; the counter is shortened to base 36 if needed.
pub fn unique_ifname() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = format!("vg{}-{}", std::process::id(), n);
    if name.len() <= MAX_IFNAME_LEN {
        return name;
    }
    // Process ids are at most 7 digits (pid_max 4194304), so base 36 keeps us under 15.
    format!(
        "v{}-{}",
        base36(u64::from(std::process::id())),
        base36(u64::from(n))
    )
}

fn base36(mut value: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_and_carry_the_pid() {
        let a = unique_name();
        let b = unique_name();
        assert_ne!(a, b);
        assert!(a.starts_with(&format!("vg-{}-", std::process::id())));
    }

    #[test]
    fn interface_names_fit_ifnamsiz() {
        for _ in 0..1000 {
            assert!(unique_ifname().len() <= MAX_IFNAME_LEN);
        }
    }

    #[test]
    fn base36_of_largest_pid_is_short() {
        assert_eq!(base36(0), "0");
        assert_eq!(base36(35), "z");
        assert!(base36(4_194_304).len() <= 5);
    }
}

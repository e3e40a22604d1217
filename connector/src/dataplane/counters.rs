//! Packet and byte counters, per session and for the whole data plane.

use super::filter::DropReason;

/// How many packets (and bytes of IP packets) went where, and how many were dropped for each
/// reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Packets from clients handed to the hospital network.
    pub forwarded: u64,
    /// Packets from the hospital network sent to clients.
    pub to_client: u64,
    /// Bytes of the packets counted in `forwarded` (IP headers included, WireGuard's not).
    pub forwarded_bytes: u64,
    /// Bytes of the packets counted in `to_client` (IP headers included, WireGuard's not).
    pub to_client_bytes: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl Counters {
    /// Counts one packet dropped for `reason`.
    pub fn count_drop(&mut self, reason: DropReason) {
        self.dropped[reason as usize] += 1;
    }

    /// How many packets were dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason as usize]
    }

    /// Every reason with its count, for metrics.
    pub fn by_reason(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.dropped(r)))
    }
}

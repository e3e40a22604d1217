//! The connector's clocks for one granted session: idle and maximum lifetime with their
//! notices, and the card re-proof schedule.

use std::time::{Duration, Instant};

use crate::code::Code;
use crate::ids::Challenge;
use crate::message::{Notice, SessionGrant};

/// The limits of a granted session, enforced by the connector.
#[derive(Debug)]
pub(super) struct Limits {
    idle_timeout: Option<Duration>,
    lifetime_end: Option<Instant>,
    last_activity: Instant,
    /// How long before a limit the client is warned; `None` if it does not show notices.
    notice_before: Option<Duration>,
    idle_notice_sent: bool,
    lifetime_notice_sent: bool,
}

/// What a passing deadline calls for.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Expiry {
    End(Code),
    Notify(Notice),
}

impl Limits {
    pub(super) fn new(grant: &SessionGrant, notice_before: Option<Duration>, now: Instant) -> Self {
        Self {
            idle_timeout: grant.idle_timeout,
            lifetime_end: grant.max_lifetime.map(|lifetime| now + lifetime),
            last_activity: now,
            notice_before,
            idle_notice_sent: false,
            lifetime_notice_sent: false,
        }
    }

    /// Traffic in the tunnel: the idle clock starts again.
    pub(super) fn activity(&mut self, now: Instant) {
        self.last_activity = self.last_activity.max(now);
        self.idle_notice_sent = false;
    }

    /// The earliest deadline among limits and pending notices.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        [
            self.idle_end(),
            self.lifetime_end,
            self.idle_notice_at(),
            self.lifetime_notice_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The first limit reached or notice due at `now`; a notice is given once.
    pub(super) fn expired(&mut self, now: Instant) -> Option<Expiry> {
        if self.lifetime_end.is_some_and(|end| now >= end) {
            return Some(Expiry::End(Code::LIFETIME_REACHED));
        }
        if self.idle_end().is_some_and(|end| now >= end) {
            return Some(Expiry::End(Code::IDLE_TIMEOUT));
        }
        if let Some(end) = self
            .lifetime_notice_at()
            .filter(|&at| now >= at)
            .and(self.lifetime_end)
        {
            self.lifetime_notice_sent = true;
            return Some(notice(Code::LIFETIME_ENDING_SOON, end, now));
        }
        if let Some(end) = self
            .idle_notice_at()
            .filter(|&at| now >= at)
            .and(self.idle_end())
        {
            self.idle_notice_sent = true;
            return Some(notice(Code::IDLE_TIMEOUT_SOON, end, now));
        }
        None
    }

    fn idle_end(&self) -> Option<Instant> {
        self.idle_timeout.map(|idle| self.last_activity + idle)
    }

    fn idle_notice_at(&self) -> Option<Instant> {
        let before = self.notice_before.filter(|_| !self.idle_notice_sent)?;
        let idle = self.idle_timeout.filter(|&idle| idle > before)?;
        Some(self.last_activity + (idle - before))
    }

    fn lifetime_notice_at(&self) -> Option<Instant> {
        let before = self.notice_before.filter(|_| !self.lifetime_notice_sent)?;
        self.lifetime_end?.checked_sub(before)
    }
}

fn notice(reason: Code, end: Instant, now: Instant) -> Expiry {
    Expiry::Notify(Notice {
        reason,
        remaining: end.saturating_duration_since(now),
    })
}

/// Where the card re-proof stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reproof {
    /// No re-proof under way; the next one is due at `next_at`, if ever.
    Idle { next_at: Option<Instant> },
    /// Due: waiting for the binary's random challenge; the card must answer by `deadline`.
    Due { deadline: Instant },
    /// Challenge sent; the card must answer by `deadline`.
    Sent {
        challenge: Challenge,
        deadline: Instant,
    },
    /// The card answered; waiting for the binary's verdict on the signature.
    Answered { challenge: Challenge },
}

impl Reproof {
    /// The next instant this re-proof needs attention.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match *self {
            Self::Idle { next_at } => next_at,
            Self::Due { deadline } | Self::Sent { deadline, .. } => Some(deadline),
            Self::Answered { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{SessionId, WireGuardKey};
    use core::net::{IpAddr, Ipv4Addr};

    fn grant(idle: u64, lifetime: u64) -> SessionGrant {
        SessionGrant {
            version: 1,
            session_id: SessionId([1; 16]),
            tunnel_address: IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2)),
            connector_key: WireGuardKey([2; 32]),
            endpoints: Vec::new(),
            apps: Vec::new(),
            dns_server: None,
            idle_timeout: Some(Duration::from_secs(idle)),
            max_lifetime: Some(Duration::from_secs(lifetime)),
            reproof_interval: None,
            resume_token: None,
        }
    }

    #[test]
    fn notices_come_once_before_the_limit() {
        let start = crate::sim::epoch();
        let before = Some(Duration::from_secs(60));
        let mut limits = Limits::new(&grant(600, 3600), before, start);
        assert_eq!(
            limits.next_deadline(),
            Some(start + Duration::from_secs(540))
        );
        let at = start + Duration::from_secs(540);
        let expected = Notice {
            reason: Code::IDLE_TIMEOUT_SOON,
            remaining: Duration::from_secs(60),
        };
        assert_eq!(limits.expired(at), Some(Expiry::Notify(expected)));
        assert_eq!(limits.expired(at), None);
        assert_eq!(
            limits.next_deadline(),
            Some(start + Duration::from_secs(600))
        );
    }

    #[test]
    fn activity_restarts_the_idle_clock_and_its_notice() {
        let start = crate::sim::epoch();
        let mut limits = Limits::new(&grant(600, 3600), Some(Duration::from_secs(60)), start);
        assert!(limits.expired(start + Duration::from_secs(550)).is_some());
        limits.activity(start + Duration::from_secs(560));
        assert_eq!(limits.expired(start + Duration::from_secs(1090)), None);
        let end = limits.expired(start + Duration::from_secs(1100));
        assert!(matches!(
            end,
            Some(Expiry::Notify(Notice {
                reason: Code::IDLE_TIMEOUT_SOON,
                ..
            }))
        ));
        assert_eq!(limits.expired(start + Duration::from_secs(1159)), None);
        assert_eq!(
            limits.expired(start + Duration::from_secs(1160)),
            Some(Expiry::End(Code::IDLE_TIMEOUT))
        );
    }

    #[test]
    fn lifetime_wins_over_idle_and_needs_no_notice_capability() {
        let start = crate::sim::epoch();
        let mut limits = Limits::new(&grant(600, 300), None, start);
        assert_eq!(
            limits.next_deadline(),
            Some(start + Duration::from_secs(300))
        );
        let expiry = limits.expired(start + Duration::from_secs(700));
        assert_eq!(expiry, Some(Expiry::End(Code::LIFETIME_REACHED)));
    }
}

//! Reason and error codes: stable numbers with a short name and a message for people.
//!
//! Every suspend, resume, end, notice and error carries a [`Code`]. The number is what travels
//! on the wire and what a user reads out to the help desk ("VIGIE-E-201 card revoked"), so a
//! number, once published, never changes meaning. A code this version does not know (sent by
//! a newer peer) still decodes, and prints as `unknown(n)`.
//!
//! The hundreds group codes by cause:
//!
//! | range | cause |
//! |---|---|
//! | 1xx | the user, the card or the connector's operator, in the ordinary course of things |
//! | 2xx | identity and authorization: directory, revocation, administrators |
//! | 3xx | the session's limits: idle, lifetime, card re-proof |
//! | 4xx | the protocol: malformed or unexpected messages, versions, silence |
//! | 5xx | the connector cannot serve the session |

use core::fmt;

/// A stable, machine-readable reason or error code.
///
/// Compare against the associated constants; print with `Display` for people
/// (`VIGIE-E-201 card revoked`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Code(u16);

/// One row of the code table: number, short name, message for the user.
struct Entry(u16, &'static str, &'static str);

/// The single source of truth for names and messages. Numbers are never reused.
const TABLE: &[Entry] = &[
    Entry(100, "client quit", "the user ended the session"),
    Entry(101, "card removed", "the card was removed from the reader"),
    Entry(102, "card reinserted", "the card is back in the reader"),
    Entry(
        103,
        "connector restarting",
        "the connector is restarting; connect again shortly",
    ),
    Entry(
        104,
        "connector shutting down",
        "the connector is shutting down",
    ),
    Entry(
        105,
        "administrator resumed",
        "an administrator resumed the session",
    ),
    Entry(
        106,
        "session moved",
        "the card was inserted on another workstation; the session goes on there",
    ),
    Entry(
        200,
        "not authorized",
        "no application is published to this person",
    ),
    Entry(201, "card revoked", "the card's certificate is revoked"),
    Entry(
        202,
        "HR departure",
        "the directory lists this person as having left",
    ),
    Entry(
        203,
        "HR suspension",
        "the directory lists this person as suspended",
    ),
    Entry(
        204,
        "unknown person",
        "the card holder is not in the hospital's directory",
    ),
    Entry(
        205,
        "administrator kill",
        "an administrator ended the session",
    ),
    Entry(
        206,
        "administrator suspend",
        "an administrator paused the session",
    ),
    Entry(
        207,
        "resume refused",
        "the session to resume is unknown or has ended",
    ),
    Entry(
        208,
        "not started",
        "the directory gives this person a start date still to come",
    ),
    Entry(
        209,
        "card not enrolled",
        "this card is not enrolled at the hospital; take it to the enrolment desk",
    ),
    Entry(
        210,
        "card of another holder",
        "this card is enrolled for another person; take it to the enrolment desk",
    ),
    Entry(300, "idle timeout", "the session was idle for too long"),
    Entry(
        301,
        "lifetime reached",
        "the session reached its maximum lifetime",
    ),
    Entry(
        302,
        "re-proof missed",
        "the card did not answer the re-proof in time",
    ),
    Entry(
        303,
        "re-proof failed",
        "the card's re-proof signature was rejected",
    ),
    Entry(
        304,
        "idle timeout soon",
        "the session will end soon unless it is used",
    ),
    Entry(
        305,
        "lifetime ending soon",
        "the session will reach its maximum lifetime soon",
    ),
    Entry(
        400,
        "protocol error",
        "a peer sent a message that breaks the protocol",
    ),
    Entry(
        401,
        "version unsupported",
        "client and connector share no protocol version",
    ),
    Entry(402, "peer unresponsive", "the other side stopped answering"),
    Entry(
        403,
        "handshake timeout",
        "the session was not set up in time",
    ),
    Entry(
        500,
        "internal error",
        "the connector failed to serve the session",
    ),
    Entry(
        501,
        "overloaded",
        "the connector has no room for another session",
    ),
];

impl Code {
    pub const CLIENT_QUIT: Self = Self(100);
    pub const CARD_REMOVED: Self = Self(101);
    pub const CARD_REINSERTED: Self = Self(102);
    pub const CONNECTOR_RESTARTING: Self = Self(103);
    pub const CONNECTOR_SHUTTING_DOWN: Self = Self(104);
    pub const ADMIN_RESUMED: Self = Self(105);
    pub const SESSION_MOVED: Self = Self(106);
    pub const NOT_AUTHORIZED: Self = Self(200);
    pub const CARD_REVOKED: Self = Self(201);
    pub const HR_DEPARTURE: Self = Self(202);
    pub const HR_SUSPENSION: Self = Self(203);
    pub const UNKNOWN_PERSON: Self = Self(204);
    pub const ADMIN_KILL: Self = Self(205);
    pub const ADMIN_SUSPEND: Self = Self(206);
    pub const RESUME_REFUSED: Self = Self(207);
    pub const NOT_STARTED: Self = Self(208);
    pub const CARD_NOT_ENROLLED: Self = Self(209);
    pub const CARD_OF_ANOTHER_HOLDER: Self = Self(210);
    pub const IDLE_TIMEOUT: Self = Self(300);
    pub const LIFETIME_REACHED: Self = Self(301);
    pub const REPROOF_MISSED: Self = Self(302);
    pub const REPROOF_FAILED: Self = Self(303);
    pub const IDLE_TIMEOUT_SOON: Self = Self(304);
    pub const LIFETIME_ENDING_SOON: Self = Self(305);
    pub const PROTOCOL_ERROR: Self = Self(400);
    pub const VERSION_UNSUPPORTED: Self = Self(401);
    pub const PEER_UNRESPONSIVE: Self = Self(402);
    pub const HANDSHAKE_TIMEOUT: Self = Self(403);
    pub const INTERNAL_ERROR: Self = Self(500);
    pub const OVERLOADED: Self = Self(501);

    /// The code with this number, known to this version or not.
    pub const fn from_number(number: u16) -> Self {
        Self(number)
    }

    /// The number on the wire and in `VIGIE-E-nnn`.
    pub const fn number(self) -> u16 {
        self.0
    }

    /// Whether this version of Vigie knows the code.
    pub fn is_known(self) -> bool {
        self.entry().is_some()
    }

    /// The short name ("card revoked"), or `None` for a code from a newer peer.
    pub fn name(self) -> Option<&'static str> {
        self.entry().map(|entry| entry.1)
    }

    /// A sentence for the user; a generic one for a code from a newer peer.
    pub fn message(self) -> &'static str {
        self.entry().map_or(
            "the other side gave a reason this version does not know",
            |e| e.2,
        )
    }

    fn entry(self) -> Option<&'static Entry> {
        TABLE.iter().find(|entry| entry.0 == self.0)
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "VIGIE-E-{:03} {name}", self.0),
            None => write!(f, "VIGIE-E-{:03} unknown({})", self.0, self.0),
        }
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_names_are_unique() {
        for (i, a) in TABLE.iter().enumerate() {
            for b in &TABLE[i + 1..] {
                assert_ne!(a.0, b.0, "number {} listed twice", a.0);
                assert_ne!(a.1, b.1, "name {:?} listed twice", a.1);
            }
        }
    }

    #[test]
    fn constants_match_the_table() {
        let constants = [
            (Code::CARD_REVOKED, "card revoked"),
            (Code::IDLE_TIMEOUT, "idle timeout"),
            (Code::REPROOF_MISSED, "re-proof missed"),
            (Code::PEER_UNRESPONSIVE, "peer unresponsive"),
            (Code::CONNECTOR_RESTARTING, "connector restarting"),
            (Code::SESSION_MOVED, "session moved"),
            (Code::NOT_STARTED, "not started"),
            (Code::CARD_NOT_ENROLLED, "card not enrolled"),
            (Code::CARD_OF_ANOTHER_HOLDER, "card of another holder"),
        ];
        for (code, name) in constants {
            assert_eq!(code.name(), Some(name));
        }
    }

    #[test]
    fn display_is_what_the_help_desk_reads() {
        assert_eq!(Code::CARD_REVOKED.to_string(), "VIGIE-E-201 card revoked");
        assert_eq!(Code::from_number(7).to_string(), "VIGIE-E-007 unknown(7)");
    }

    #[test]
    fn unknown_codes_survive() {
        let code = Code::from_number(999);
        assert!(!code.is_known());
        assert_eq!(code.number(), 999);
        assert_eq!(code.name(), None);
        assert!(!code.message().is_empty());
    }
}

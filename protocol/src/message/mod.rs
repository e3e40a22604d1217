//! The messages of the control protocol, one file per family, and their encoding.

mod control;
mod grant;
mod hello;
mod reproof;

pub use control::{ErrorMessage, Notice};
pub use grant::{PortRule, PublishedApp, SessionGrant, Transport};
pub use hello::Hello;
pub use reproof::{
    REPROOF_CONTEXT, ReproofAnswer, ReproofChallenge, SignatureScheme, reproof_signing_input,
};

use crate::code::Code;
use crate::error::{DecodeError, EncodeError};
use crate::ids::WireGuardKey;
use crate::wire::Body;

/// Message type numbers. Below 0x80 a peer must understand the type; from 0x80 up it may
/// ignore a type it does not know (see the crate docs).
pub mod message_type {
    pub const HELLO: u8 = 0x01;
    pub const CLIENT_KEY: u8 = 0x02;
    pub const GRANT: u8 = 0x03;
    pub const REPROOF_CHALLENGE: u8 = 0x04;
    pub const REPROOF_ANSWER: u8 = 0x05;
    pub const KEEPALIVE: u8 = 0x06;
    pub const SUSPEND: u8 = 0x07;
    pub const RESUME: u8 = 0x08;
    pub const END: u8 = 0x09;
    pub const ERROR: u8 = 0x0a;
    pub const DATAGRAM: u8 = 0x0b;
    pub const NOTICE: u8 = 0x80;
}

/// One control message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Message {
    /// Client → connector, first: versions, capabilities, an optional resume token.
    Hello(Hello),
    /// Client → connector: the client's ephemeral WireGuard public key.
    ClientKey(WireGuardKey),
    /// Connector → client: the session, its tunnel, its apps and its limits.
    Grant(SessionGrant),
    /// Connector → client: sign this with the card.
    ReproofChallenge(ReproofChallenge),
    /// Client → connector: the card's signature.
    ReproofAnswer(ReproofAnswer),
    /// Either way: still here.
    Keepalive,
    /// Either way: pause the tunnel (the client sends it when the card is removed).
    Suspend { reason: Code },
    /// Client → connector: the card is back, ask for a re-proof. Connector → client: the
    /// tunnel runs again.
    Resume { reason: Code },
    /// Either way: the session is over.
    End { reason: Code },
    /// Either way: the session is over because something went wrong.
    Error(ErrorMessage),
    /// Either way: a WireGuard packet carried in the control connection when UDP is blocked.
    Datagram(Vec<u8>),
    /// Connector → client: something the user should know, such as the session ending soon.
    Notice(Notice),
}

impl Message {
    /// The type number in the frame header.
    pub fn message_type(&self) -> u8 {
        use message_type::*;
        match self {
            Self::Hello(_) => HELLO,
            Self::ClientKey(_) => CLIENT_KEY,
            Self::Grant(_) => GRANT,
            Self::ReproofChallenge(_) => REPROOF_CHALLENGE,
            Self::ReproofAnswer(_) => REPROOF_ANSWER,
            Self::Keepalive => KEEPALIVE,
            Self::Suspend { .. } => SUSPEND,
            Self::Resume { .. } => RESUME,
            Self::End { .. } => END,
            Self::Error(_) => ERROR,
            Self::Datagram(_) => DATAGRAM,
            Self::Notice(_) => NOTICE,
        }
    }

    /// A short name for logs and error reports.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Hello(_) => "hello",
            Self::ClientKey(_) => "client key",
            Self::Grant(_) => "grant",
            Self::ReproofChallenge(_) => "re-proof challenge",
            Self::ReproofAnswer(_) => "re-proof answer",
            Self::Keepalive => "keepalive",
            Self::Suspend { .. } => "suspend",
            Self::Resume { .. } => "resume",
            Self::End { .. } => "end",
            Self::Error(_) => "error",
            Self::Datagram(_) => "datagram",
            Self::Notice(_) => "notice",
        }
    }

    /// The whole frame for this message, length prefix included.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut body = Body::new();
        match self {
            Self::Hello(hello) => hello.encode(&mut body)?,
            Self::ClientKey(key) => hello::encode_key(key, &mut body)?,
            Self::Grant(grant) => grant.encode(&mut body)?,
            Self::ReproofChallenge(challenge) => challenge.encode(&mut body)?,
            Self::ReproofAnswer(answer) => answer.encode(&mut body)?,
            Self::Keepalive => {}
            Self::Suspend { reason } | Self::Resume { reason } | Self::End { reason } => {
                control::encode_reason(*reason, &mut body)?;
            }
            Self::Error(error) => error.encode(&mut body)?,
            Self::Datagram(payload) => control::encode_datagram(payload, &mut body)?,
            Self::Notice(notice) => notice.encode(&mut body)?,
        }
        body.into_frame(self.message_type())
    }

    /// Decodes a body of the given type; `None` for a type this version does not know.
    pub(crate) fn decode_body(message_type: u8, body: &[u8]) -> Result<Option<Self>, DecodeError> {
        use message_type::*;
        let message = match message_type {
            HELLO => Self::Hello(Hello::decode(body)?),
            CLIENT_KEY => Self::ClientKey(hello::decode_key(body)?),
            GRANT => Self::Grant(SessionGrant::decode(body)?),
            REPROOF_CHALLENGE => Self::ReproofChallenge(ReproofChallenge::decode(body)?),
            REPROOF_ANSWER => Self::ReproofAnswer(ReproofAnswer::decode(body)?),
            KEEPALIVE => Self::Keepalive,
            SUSPEND => Self::Suspend {
                reason: control::decode_reason(body, "suspend")?,
            },
            RESUME => Self::Resume {
                reason: control::decode_reason(body, "resume")?,
            },
            END => Self::End {
                reason: control::decode_reason(body, "end")?,
            },
            ERROR => Self::Error(ErrorMessage::decode(body)?),
            DATAGRAM => Self::Datagram(control::decode_datagram(body)?),
            NOTICE => Self::Notice(Notice::decode(body)?),
            _ => return Ok(None),
        };
        Ok(Some(message))
    }
}

#[cfg(test)]
mod tests {
    use core::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::ids::SessionId;
    use crate::limits::{MAX_APPS, MAX_DATAGRAM_LEN};
    use crate::wire::{Decoded, decode_frame};

    fn app(i: usize) -> PublishedApp {
        PublishedApp {
            name: format!("app {i}"),
            dns_name: format!("app{i}.chu.example"),
            address: IpAddr::V4(Ipv4Addr::new(100, 100, 0, 10)),
            ports: vec![PortRule::tcp(443)],
        }
    }

    fn grant(apps: usize) -> SessionGrant {
        SessionGrant {
            version: 1,
            session_id: SessionId([1; 16]),
            tunnel_address: IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2)),
            connector_key: WireGuardKey([2; 32]),
            endpoints: Vec::new(),
            apps: (0..apps).map(app).collect(),
            dns_server: None,
            idle_timeout: None,
            max_lifetime: None,
            reproof_interval: None,
            resume_token: None,
        }
    }

    /// Appends raw fields to a frame and fixes its length prefix.
    fn append(frame: &[u8], fields: &[u8]) -> Vec<u8> {
        let mut frame = [frame, fields].concat();
        let len = u32::try_from(frame.len() - 4).unwrap();
        frame[..4].copy_from_slice(&len.to_be_bytes());
        frame
    }

    #[test]
    fn too_many_apps_fail_to_encode_and_to_decode() {
        let err = Message::Grant(grant(MAX_APPS + 1)).encode().unwrap_err();
        assert_eq!(
            err,
            EncodeError::TooMany {
                field: "app",
                count: MAX_APPS + 1,
                max: MAX_APPS
            }
        );

        let full = Message::Grant(grant(MAX_APPS)).encode().unwrap();
        // The bytes of one app field: what a one-app grant has that an empty one lacks.
        let (one, none) = (Message::Grant(grant(1)), Message::Grant(grant(0)));
        let (one, none) = (one.encode().unwrap(), none.encode().unwrap());
        let at = (4..none.len()).find(|&i| one[i] != none[i]).unwrap();
        let app_field = &one[at..at + one.len() - none.len()];
        let err = decode_frame(&append(&full, app_field)).unwrap_err();
        assert_eq!(
            err,
            DecodeError::TooMany {
                message: "grant",
                field: "app",
                max: MAX_APPS
            }
        );
    }

    #[test]
    fn a_bad_dns_name_or_port_range_is_refused() {
        let frame = Message::Grant(grant(1)).encode().unwrap();
        let text = b"app0.chu.example";
        let at = frame.windows(text.len()).position(|w| w == text).unwrap();
        let mut spaced = frame.clone();
        spaced[at + 4] = b' ';
        let err = decode_frame(&spaced).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::InvalidValue {
                    field: "app.dns_name",
                    ..
                }
            ),
            "{err}"
        );

        let rule = [6, 0x01, 0xbb, 0x01, 0xbb];
        let at = frame.windows(5).position(|w| w == rule).unwrap();
        let mut reversed = frame;
        reversed[at + 3..at + 5].copy_from_slice(&[0, 1]);
        let err = decode_frame(&reversed).unwrap_err();
        assert!(
            matches!(
                err,
                DecodeError::InvalidValue {
                    field: "app.port",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn a_known_field_twice_is_refused() {
        let end = Message::End {
            reason: Code::CLIENT_QUIT,
        }
        .encode()
        .unwrap();
        let err = decode_frame(&append(&end, &[1, 0, 2, 0, 101])).unwrap_err();
        assert_eq!(
            err,
            DecodeError::DuplicateField {
                message: "end",
                field: "reason"
            }
        );
    }

    #[test]
    fn a_missing_required_field_is_named() {
        let err = decode_frame(&[0, 0, 0, 2, 1, message_type::CLIENT_KEY]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "client key: required field `public_key` is missing"
        );
    }

    #[test]
    fn datagrams_are_bounded() {
        let packet = vec![0; MAX_DATAGRAM_LEN];
        let frame = Message::Datagram(packet.clone()).encode().unwrap();
        assert_eq!(
            decode_frame(&frame).unwrap(),
            Decoded::Message(Message::Datagram(packet))
        );
        let err = Message::Datagram(vec![0; MAX_DATAGRAM_LEN + 1])
            .encode()
            .unwrap_err();
        assert!(matches!(
            err,
            EncodeError::TooLong {
                field: "payload",
                ..
            }
        ));
    }
}

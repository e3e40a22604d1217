//! Golden wire fixtures: the exact bytes of every message, checked in as hex under
//! `tests/fixtures/`. Each known message must encode to its fixture and each fixture must
//! decode to its message, so any change to the wire format shows up here and in review.
//!
//! To change the format on purpose, regenerate the files and review the diff:
//! `VIGIE_BLESS=1 cargo test -p vigie-protocol --test fixtures`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use vigie_protocol::{
    Capabilities, Challenge, Code, Decoded, ErrorMessage, Hello, Message, Notice, PortRule,
    PublishedApp, ReproofAnswer, ReproofChallenge, ResumeToken, SessionGrant, SessionId,
    SignatureScheme, Transport, WireGuardKey, decode_frame,
};

fn grant() -> SessionGrant {
    SessionGrant {
        version: 1,
        session_id: SessionId(*b"session-0000001\0"),
        tunnel_address: IpAddr::V4(Ipv4Addr::new(100, 64, 0, 2)),
        connector_key: WireGuardKey([0xc0; 32]),
        endpoints: vec![
            SocketAddr::new(IpAddr::V4(Ipv4Addr::new(198, 18, 0, 1)), 443),
            SocketAddr::new(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
                51820,
            ),
        ],
        apps: vec![
            PublishedApp {
                name: "Dossier patient".into(),
                dns_name: "dpi.chu.example".into(),
                address: IpAddr::V4(Ipv4Addr::new(100, 100, 0, 10)),
                ports: vec![PortRule::tcp(443)],
            },
            PublishedApp {
                name: "Messagerie".into(),
                dns_name: "mail.chu.example".into(),
                address: IpAddr::V4(Ipv4Addr::new(100, 100, 0, 11)),
                ports: vec![
                    PortRule::tcp(993),
                    PortRule {
                        transport: Transport::TCP,
                        first: 587,
                        last: 587,
                    },
                    PortRule {
                        transport: Transport::UDP,
                        first: 5000,
                        last: 5010,
                    },
                ],
            },
        ],
        dns_server: Some(IpAddr::V4(Ipv4Addr::new(100, 100, 0, 53))),
        idle_timeout: Some(Duration::from_secs(900)),
        max_lifetime: Some(Duration::from_secs(12 * 3600)),
        reproof_interval: Some(Duration::from_secs(600)),
        resume_token: Some(ResumeToken::new([0x7e; 32])),
    }
}

fn minimal_grant() -> SessionGrant {
    SessionGrant {
        endpoints: Vec::new(),
        apps: Vec::new(),
        dns_server: None,
        idle_timeout: None,
        max_lifetime: None,
        reproof_interval: None,
        resume_token: None,
        ..grant()
    }
}

fn hello() -> Hello {
    Hello::new(
        Capabilities::DATAGRAMS | Capabilities::NOTICES,
        "vigie 0.1.0 linux",
    )
}

/// Every message this version knows, as each fixture file holds it.
fn fixtures() -> Vec<(&'static str, Message)> {
    let challenge = Challenge(*b"0123456789abcdef0123456789abcdef");
    vec![
        ("hello", Message::Hello(hello())),
        (
            "hello_resume",
            Message::Hello(Hello {
                resume_token: Some(ResumeToken::new([0x7e; 32])),
                ..hello()
            }),
        ),
        ("client_key", Message::ClientKey(WireGuardKey([0xc1; 32]))),
        ("grant", Message::Grant(grant())),
        ("grant_minimal", Message::Grant(minimal_grant())),
        (
            "reproof_challenge",
            Message::ReproofChallenge(ReproofChallenge {
                challenge,
                answer_within: Duration::from_secs(30),
            }),
        ),
        (
            "reproof_answer",
            Message::ReproofAnswer(ReproofAnswer {
                challenge,
                scheme: SignatureScheme::RSA_PKCS1_SHA256,
                signature: vec![0x5a; 256],
            }),
        ),
        ("keepalive", Message::Keepalive),
        (
            "suspend",
            Message::Suspend {
                reason: Code::CARD_REMOVED,
            },
        ),
        (
            "resume",
            Message::Resume {
                reason: Code::CARD_REINSERTED,
            },
        ),
        (
            "end",
            Message::End {
                reason: Code::IDLE_TIMEOUT,
            },
        ),
        (
            "error",
            Message::Error(ErrorMessage::new(
                Code::PROTOCOL_ERROR,
                "unexpected grant while the session is active",
            )),
        ),
        (
            "datagram",
            Message::Datagram(vec![4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef]),
        ),
        (
            "notice",
            Message::Notice(Notice {
                reason: Code::LIFETIME_ENDING_SOON,
                remaining: Duration::from_secs(120),
            }),
        ),
    ]
}

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.hex"))
}

#[expect(
    clippy::disallowed_methods,
    reason = "the fixture test reads its checked-in files"
)]
fn read_hex(name: &str) -> Vec<u8> {
    let text = std::fs::read_to_string(path(name))
        .unwrap_or_else(|e| panic!("{name}.hex: {e}; run with VIGIE_BLESS=1 to create it"));
    let digits: String = text
        .lines()
        .filter(|line| !line.starts_with('#'))
        .flat_map(|line| line.chars().filter(|c| !c.is_whitespace()))
        .collect();
    (0..digits.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&digits[i..i + 2], 16).expect("hex digits"))
        .collect()
}

#[expect(
    clippy::disallowed_methods,
    reason = "blessing writes the fixture files on request"
)]
fn write_hex(name: &str, about: &str, bytes: &[u8]) {
    let mut text = format!("# {about}\n");
    for line in bytes.chunks(32) {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        text.push_str(&hex.join(""));
        text.push('\n');
    }
    std::fs::write(path(name), text).expect("write the fixture");
}

#[expect(
    clippy::disallowed_methods,
    reason = "VIGIE_BLESS is a test-only switch"
)]
fn blessing() -> bool {
    std::env::var_os("VIGIE_BLESS").is_some_and(|v| v == "1")
}

/// A hello from a newer client: the same fields, plus one this version does not know.
fn with_unknown_field(frame: &[u8]) -> Vec<u8> {
    let mut frame = frame.to_vec();
    frame.extend_from_slice(&[0x60, 0, 4, 1, 2, 3, 4]);
    let len = u32::try_from(frame.len() - 4).expect("a small frame");
    frame[..4].copy_from_slice(&len.to_be_bytes());
    frame
}

#[test]
fn every_message_matches_its_fixture() {
    for (name, message) in fixtures() {
        let encoded = message.encode().unwrap();
        if blessing() {
            write_hex(
                name,
                &format!("{} message, wire version 1", message.name()),
                &encoded,
            );
        }
        assert_eq!(
            encoded,
            read_hex(name),
            "{name}: encoding differs from the fixture"
        );
        let decoded = decode_frame(&read_hex(name)).unwrap();
        assert_eq!(
            decoded,
            Decoded::Message(message),
            "{name}: fixture decodes differently"
        );
    }
}

#[test]
fn a_newer_peers_fields_are_skipped() {
    let name = "hello_from_newer_client";
    if blessing() {
        let frame = with_unknown_field(&Message::Hello(hello()).encode().unwrap());
        write_hex(
            name,
            "hello with an extra field of tag 0x60 (from a newer client)",
            &frame,
        );
    }
    let decoded = decode_frame(&read_hex(name)).unwrap();
    assert_eq!(decoded, Decoded::Message(Message::Hello(hello())));
}

#[test]
fn the_fixtures_cover_every_message_type() {
    let mut types: Vec<u8> = fixtures().iter().map(|(_, m)| m.message_type()).collect();
    types.sort_unstable();
    types.dedup();
    assert_eq!(types, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 0x80]);
}

/// Every cut of every fixture is incomplete, and no change of one byte makes the decoder
/// panic: a deterministic slice of what the fuzz target explores at random.
#[test]
fn cut_or_flipped_fixtures_never_panic() {
    for (name, _) in fixtures() {
        let frame = read_hex(name);
        for cut in 0..frame.len() {
            let mut stream = vigie_protocol::FrameDecoder::new();
            stream.push(&frame[..cut]);
            assert_eq!(stream.next_frame(), Ok(None), "{name} cut at {cut}");
            assert!(decode_frame(&frame[..cut]).is_err(), "{name} cut at {cut}");
        }
        for at in 0..frame.len() {
            for flip in [0x01, 0x80, 0xff] {
                let mut changed = frame.clone();
                changed[at] ^= flip;
                if let Ok(Decoded::Message(message)) = decode_frame(&changed) {
                    let again = decode_frame(&message.encode().unwrap()).unwrap();
                    assert_eq!(
                        again,
                        Decoded::Message(message),
                        "{name}: byte {at} ^ {flip}"
                    );
                }
            }
        }
    }
}

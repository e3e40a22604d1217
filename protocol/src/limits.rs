//! Hard limits on everything a peer can make this crate hold in memory.
//!
//! The decoder checks each of them before it allocates; the encoder refuses to produce a
//! message that breaks one, so a connector misconfigured with too many apps fails when it
//! builds the grant, not on the client.

/// The wire version this crate speaks, carried in every frame header.
pub const PROTOCOL_VERSION: u8 = 1;

/// Largest frame, counted after its 4-byte length prefix (256 KiB).
pub const MAX_FRAME_LEN: usize = 256 * 1024;

/// Largest value of one field: the 16-bit length of a tag-length-value field.
pub const MAX_FIELD_LEN: usize = u16::MAX as usize;

/// Most published apps in one grant.
pub const MAX_APPS: usize = 256;

/// Most port rules for one app.
pub const MAX_PORT_RULES: usize = 32;

/// Most WireGuard endpoints offered in one grant.
pub const MAX_ENDPOINTS: usize = 8;

/// Longest app name, in bytes of UTF-8.
pub const MAX_APP_NAME_LEN: usize = 64;

/// Longest DNS name (RFC 1035's limit for a name written out).
pub const MAX_DNS_NAME_LEN: usize = 253;

/// Longest client software description in a hello ("vigie 0.1.0 (Debian 12)").
pub const MAX_SOFTWARE_LEN: usize = 128;

/// Longest human message in an error.
pub const MAX_ERROR_MESSAGE_LEN: usize = 512;

/// Longest re-proof signature: 1,024 bytes, an RSA key of 8,192 bits.
pub const MAX_SIGNATURE_LEN: usize = 1024;

/// Largest tunnelled packet in a datagram message: the largest UDP payload.
pub const MAX_DATAGRAM_LEN: usize = MAX_FIELD_LEN;

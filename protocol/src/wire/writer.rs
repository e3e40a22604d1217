//! Building a message body field by field, checking the limits as it goes.

use core::net::{IpAddr, SocketAddr};
use core::time::Duration;

use super::LENGTH_PREFIX_LEN;
use crate::error::EncodeError;
use crate::limits::{MAX_FIELD_LEN, MAX_FRAME_LEN, PROTOCOL_VERSION};

/// A message body being written: a run of tag-length-value fields.
#[derive(Debug, Default)]
pub(crate) struct Body(Vec<u8>);

impl Body {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Writes one field; `max` is the limit for this field, at most [`MAX_FIELD_LEN`].
    pub(crate) fn bytes(
        &mut self,
        tag: u8,
        field: &'static str,
        value: &[u8],
        max: usize,
    ) -> Result<(), EncodeError> {
        let max = max.min(MAX_FIELD_LEN);
        let len = u16::try_from(value.len())
            .ok()
            .filter(|&len| usize::from(len) <= max)
            .ok_or(EncodeError::TooLong {
                field,
                len: value.len(),
                max,
            })?;
        self.0.push(tag);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(value);
        Ok(())
    }

    /// Writes a field whose size is fixed by its type (integers, keys, addresses).
    pub(crate) fn fixed(
        &mut self,
        tag: u8,
        field: &'static str,
        value: &[u8],
    ) -> Result<(), EncodeError> {
        self.bytes(tag, field, value, MAX_FIELD_LEN)
    }

    pub(crate) fn u8(
        &mut self,
        tag: u8,
        field: &'static str,
        value: u8,
    ) -> Result<(), EncodeError> {
        self.fixed(tag, field, &[value])
    }

    pub(crate) fn u16(
        &mut self,
        tag: u8,
        field: &'static str,
        value: u16,
    ) -> Result<(), EncodeError> {
        self.fixed(tag, field, &value.to_be_bytes())
    }

    pub(crate) fn u32(
        &mut self,
        tag: u8,
        field: &'static str,
        value: u32,
    ) -> Result<(), EncodeError> {
        self.fixed(tag, field, &value.to_be_bytes())
    }

    pub(crate) fn str(
        &mut self,
        tag: u8,
        field: &'static str,
        value: &str,
        max: usize,
    ) -> Result<(), EncodeError> {
        self.bytes(tag, field, value.as_bytes(), max)
    }

    /// An IP address: 4 bytes for IPv4, 16 for IPv6.
    pub(crate) fn ip(
        &mut self,
        tag: u8,
        field: &'static str,
        ip: IpAddr,
    ) -> Result<(), EncodeError> {
        match ip {
            IpAddr::V4(v4) => self.fixed(tag, field, &v4.octets()),
            IpAddr::V6(v6) => self.fixed(tag, field, &v6.octets()),
        }
    }

    /// A socket address: the IP address, then the port in two bytes.
    pub(crate) fn socket_addr(
        &mut self,
        tag: u8,
        field: &'static str,
        addr: SocketAddr,
    ) -> Result<(), EncodeError> {
        let mut value = match addr.ip() {
            IpAddr::V4(v4) => v4.octets().to_vec(),
            IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        value.extend_from_slice(&addr.port().to_be_bytes());
        self.fixed(tag, field, &value)
    }

    /// A duration in whole seconds as a `u32`; `None` (no limit) is written as 0.
    pub(crate) fn secs(
        &mut self,
        tag: u8,
        field: &'static str,
        value: Option<Duration>,
    ) -> Result<(), EncodeError> {
        let secs = match value {
            None => 0,
            Some(d) if d.as_secs() == 0 => {
                return Err(EncodeError::InvalidValue {
                    field,
                    problem: "must be at least 1 s",
                });
            }
            Some(d) => u32::try_from(d.as_secs()).map_err(|_| EncodeError::InvalidValue {
                field,
                problem: "exceeds 2^32 s",
            })?,
        };
        self.u32(tag, field, secs)
    }

    /// A field whose value is itself a body of fields.
    pub(crate) fn nested(
        &mut self,
        tag: u8,
        field: &'static str,
        body: Body,
    ) -> Result<(), EncodeError> {
        self.bytes(tag, field, &body.0, MAX_FIELD_LEN)
    }

    /// Wraps the body into a whole frame: length prefix, version, message type, body.
    pub(crate) fn into_frame(self, message_type: u8) -> Result<Vec<u8>, EncodeError> {
        let len = self.0.len() + 2;
        let prefix = u32::try_from(len)
            .ok()
            .filter(|_| len <= MAX_FRAME_LEN)
            .ok_or(EncodeError::FrameTooLarge {
                len,
                max: MAX_FRAME_LEN,
            })?;
        let mut frame = Vec::with_capacity(LENGTH_PREFIX_LEN + len);
        frame.extend_from_slice(&prefix.to_be_bytes());
        frame.push(PROTOCOL_VERSION);
        frame.push(message_type);
        frame.extend_from_slice(&self.0);
        Ok(frame)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_tag_length_value() {
        let mut body = Body::new();
        body.u16(3, "reason", 0x0102).unwrap();
        assert_eq!(
            body.into_frame(0x09).unwrap(),
            [0, 0, 0, 7, 1, 0x09, 3, 0, 2, 1, 2]
        );
    }

    #[test]
    fn refuses_values_over_their_limit() {
        let err = Body::new().str(1, "app.name", "abcdef", 5).unwrap_err();
        assert_eq!(
            err,
            EncodeError::TooLong {
                field: "app.name",
                len: 6,
                max: 5
            }
        );
    }

    #[test]
    fn refuses_zero_and_huge_durations() {
        let zero = Body::new().secs(1, "idle", Some(Duration::ZERO));
        assert!(matches!(zero, Err(EncodeError::InvalidValue { .. })));
        let huge = Body::new().secs(1, "idle", Some(Duration::from_secs(1 << 40)));
        assert!(matches!(huge, Err(EncodeError::InvalidValue { .. })));
    }
}

//! Reading a message body field by field, with every length checked before it is used.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use core::time::Duration;

use crate::error::DecodeError;

/// The fields of a body, in order. Stops after the first error.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
    message: &'static str,
}

/// One tag-length-value field; `message` names the message for error reports.
#[derive(Debug)]
pub(crate) struct Field<'a> {
    pub(crate) tag: u8,
    value: &'a [u8],
    message: &'static str,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(body: &'a [u8], message: &'static str) -> Self {
        Self {
            rest: body,
            message,
        }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Result<Field<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let rest = core::mem::take(&mut self.rest);
        let Some((&[tag, hi, lo], after)) = rest.split_first_chunk::<3>() else {
            return Some(Err(DecodeError::Truncated {
                message: self.message,
            }));
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        let Some((value, after)) = after.split_at_checked(len) else {
            return Some(Err(DecodeError::Truncated {
                message: self.message,
            }));
        };
        self.rest = after;
        Some(Ok(Field {
            tag,
            value,
            message: self.message,
        }))
    }
}

/// A field that must have appeared.
pub(crate) fn required<T>(
    slot: Option<T>,
    message: &'static str,
    field: &'static str,
) -> Result<T, DecodeError> {
    slot.ok_or(DecodeError::MissingField { message, field })
}

type Parse<'f, 'a, T> = &'f dyn Fn(&Field<'a>, &'static str) -> Result<T, DecodeError>;

impl<'a> Field<'a> {
    /// Parses a field that may appear at most once into `slot`.
    pub(crate) fn once<T>(
        &self,
        slot: &mut Option<T>,
        name: &'static str,
        parse: Parse<'_, 'a, T>,
    ) -> Result<(), DecodeError> {
        if slot.is_some() {
            return Err(DecodeError::DuplicateField {
                message: self.message,
                field: name,
            });
        }
        *slot = Some(parse(self, name)?);
        Ok(())
    }

    /// Parses one more of a repeated field into `list`, which may hold at most `max`.
    pub(crate) fn push<T>(
        &self,
        list: &mut Vec<T>,
        max: usize,
        name: &'static str,
        parse: Parse<'_, 'a, T>,
    ) -> Result<(), DecodeError> {
        if list.len() >= max {
            return Err(DecodeError::TooMany {
                message: self.message,
                field: name,
                max,
            });
        }
        list.push(parse(self, name)?);
        Ok(())
    }

    pub(crate) fn array<const N: usize>(&self, name: &'static str) -> Result<[u8; N], DecodeError> {
        <[u8; N]>::try_from(self.value).map_err(|_| self.bad_length(name))
    }

    pub(crate) fn u8(&self, name: &'static str) -> Result<u8, DecodeError> {
        self.array::<1>(name).map(|[b]| b)
    }

    pub(crate) fn u16(&self, name: &'static str) -> Result<u16, DecodeError> {
        self.array(name).map(u16::from_be_bytes)
    }

    pub(crate) fn u32(&self, name: &'static str) -> Result<u32, DecodeError> {
        self.array(name).map(u32::from_be_bytes)
    }

    /// Raw bytes, at most `max` of them.
    pub(crate) fn bytes(&self, name: &'static str, max: usize) -> Result<Vec<u8>, DecodeError> {
        self.check_len(name, max)?;
        Ok(self.value.to_vec())
    }

    /// UTF-8 text, at most `max` bytes of it.
    pub(crate) fn str(&self, name: &'static str, max: usize) -> Result<String, DecodeError> {
        self.check_len(name, max)?;
        let text = core::str::from_utf8(self.value).map_err(|_| DecodeError::InvalidUtf8 {
            message: self.message,
            field: name,
        })?;
        Ok(text.to_owned())
    }

    pub(crate) fn ip(&self, name: &'static str) -> Result<IpAddr, DecodeError> {
        ip_from(self.value).ok_or_else(|| self.bad_length(name))
    }

    pub(crate) fn socket_addr(&self, name: &'static str) -> Result<SocketAddr, DecodeError> {
        let Some((ip, &[hi, lo])) = self.value.split_last_chunk::<2>() else {
            return Err(self.bad_length(name));
        };
        let ip = ip_from(ip).ok_or_else(|| self.bad_length(name))?;
        Ok(SocketAddr::new(ip, u16::from_be_bytes([hi, lo])))
    }

    /// Whole seconds as a `u32`; 0 means no limit.
    pub(crate) fn secs(&self, name: &'static str) -> Result<Option<Duration>, DecodeError> {
        let secs = self.u32(name)?;
        Ok((secs != 0).then(|| Duration::from_secs(u64::from(secs))))
    }

    /// The fields of a nested body.
    pub(crate) fn fields(&self) -> Fields<'a> {
        Fields::new(self.value, self.message)
    }

    pub(crate) fn invalid(&self, name: &'static str, problem: &'static str) -> DecodeError {
        DecodeError::InvalidValue {
            message: self.message,
            field: name,
            problem,
        }
    }

    fn check_len(&self, name: &'static str, max: usize) -> Result<(), DecodeError> {
        if self.value.len() > max {
            let len = self.value.len();
            return Err(DecodeError::TooLong {
                message: self.message,
                field: name,
                len,
                max,
            });
        }
        Ok(())
    }

    fn bad_length(&self, name: &'static str) -> DecodeError {
        DecodeError::BadLength {
            message: self.message,
            field: name,
            len: self.value.len(),
        }
    }
}

fn ip_from(bytes: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return Some(IpAddr::V4(Ipv4Addr::from(v4)));
    }
    <[u8; 16]>::try_from(bytes)
        .ok()
        .map(|v6| IpAddr::V6(Ipv6Addr::from(v6)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(bytes: &[u8]) -> Field<'_> {
        Fields::new(bytes, "test").next().unwrap().unwrap()
    }

    #[test]
    fn reads_fields_in_order() {
        let body = [1, 0, 1, 7, 2, 0, 0];
        let tags: Vec<u8> = Fields::new(&body, "test").map(|f| f.unwrap().tag).collect();
        assert_eq!(tags, [1, 2]);
    }

    #[test]
    fn a_field_past_the_end_is_truncated() {
        for body in [&[1, 0][..], &[1, 0, 5, 1, 2]] {
            let err = Fields::new(body, "test").next().unwrap().unwrap_err();
            assert_eq!(err, DecodeError::Truncated { message: "test" });
        }
    }

    #[test]
    fn addresses_by_length() {
        assert_eq!(
            one(&[1, 0, 4, 100, 64, 0, 1]).ip("a").unwrap().to_string(),
            "100.64.0.1"
        );
        let sa = one(&[1, 0, 6, 198, 18, 0, 1, 0x01, 0xbb])
            .socket_addr("a")
            .unwrap();
        assert_eq!(sa.to_string(), "198.18.0.1:443");
        assert!(matches!(
            one(&[1, 0, 3, 1, 2, 3]).ip("a"),
            Err(DecodeError::BadLength { .. })
        ));
    }

    #[test]
    fn duplicates_and_overflowing_lists_are_refused() {
        let field = one(&[1, 0, 1, 7]);
        let mut slot = Some(1);
        let dup = field.once(&mut slot, "x", &|f, n| f.u8(n));
        assert!(matches!(
            dup,
            Err(DecodeError::DuplicateField { field: "x", .. })
        ));
        let mut list = vec![1, 2];
        let many = field.push(&mut list, 2, "x", &|f, n| f.u8(n));
        assert!(matches!(many, Err(DecodeError::TooMany { max: 2, .. })));
    }

    #[test]
    fn text_must_be_utf8_and_short_enough() {
        let bad = one(&[1, 0, 2, 0xc3, 0x28]).str("name", 10);
        assert!(matches!(bad, Err(DecodeError::InvalidUtf8 { .. })));
        let long = one(&[1, 0, 3, b'a', b'b', b'c']).str("name", 2);
        assert!(matches!(
            long,
            Err(DecodeError::TooLong { len: 3, max: 2, .. })
        ));
    }
}

//! A small reader of BER-TLV data from the card (FCP templates, PIN data objects, PKCS#15).
//!
//! Input is untrusted: every length is checked against what remains, nothing panics, and a
//! malformed element ends the walk with an error naming what was being read.

use crate::error::CardError;

/// One TLV element borrowed from its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag, all of its bytes packed big-endian (e.g. `0xBF8101`).
    pub tag: u32,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Iterates over the TLV elements at one level of `input`.
///
/// Padding bytes `00` and `FF` between or after elements (fixed-size card files) end the walk.
pub fn elements(input: &[u8]) -> Elements<'_> {
    Elements { rest: input }
}

/// Iterator returned by [`elements`].
#[derive(Debug, Clone)]
pub struct Elements<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Elements<'a> {
    type Item = Result<Tlv<'a>, CardError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.rest.first() {
            None | Some(0x00) | Some(0xFF) => None,
            Some(_) => match split_one(self.rest) {
                Ok((tlv, rest)) => {
                    self.rest = rest;
                    Some(Ok(tlv))
                }
                Err(e) => {
                    self.rest = &[];
                    Some(Err(e))
                }
            },
        }
    }
}

/// The value of the first element tagged `tag` at this level, if any.
pub fn find(input: &[u8], tag: u32) -> Result<Option<&[u8]>, CardError> {
    for element in elements(input) {
        let element = element?;
        if element.tag == tag {
            return Ok(Some(element.value));
        }
    }
    Ok(None)
}

/// Follows a path of tags down nested constructed elements.
pub fn find_path<'a>(input: &'a [u8], tags: &[u32]) -> Result<Option<&'a [u8]>, CardError> {
    let mut current = input;
    for &tag in tags {
        match find(current, tag)? {
            Some(value) => current = value,
            None => return Ok(None),
        }
    }
    Ok(Some(current))
}

/// Reads a big-endian unsigned value of at most four bytes.
pub fn uint(bytes: &[u8]) -> Result<u32, CardError> {
    if bytes.len() > 4 {
        return Err(CardError::malformed("a number longer than four bytes"));
    }
    Ok(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

/// Splits the first element off `input`.
pub fn split_one(input: &[u8]) -> Result<(Tlv<'_>, &[u8]), CardError> {
    let (tag, rest) = split_tag(input)?;
    let (len, rest) = split_len(rest)?;
    if rest.len() < len {
        return Err(CardError::malformed(format!(
            "element {tag:X} announces {len} bytes but only {} follow",
            rest.len()
        )));
    }
    let (value, rest) = rest.split_at(len);
    Ok((Tlv { tag, value }, rest))
}

fn split_tag(input: &[u8]) -> Result<(u32, &[u8]), CardError> {
    let truncated = || CardError::malformed("truncated tag");
    let first = *input.first().ok_or_else(truncated)?;
    let mut tag = u32::from(first);
    let mut used = 1;
    if first & 0x1F == 0x1F {
        loop {
            let byte = *input.get(used).ok_or_else(truncated)?;
            tag = (tag << 8) | u32::from(byte);
            used += 1;
            if byte & 0x80 == 0 {
                break;
            }
            if used >= 4 {
                return Err(CardError::malformed("tag longer than four bytes"));
            }
        }
    }
    Ok((tag, &input[used..]))
}

fn split_len(input: &[u8]) -> Result<(usize, &[u8]), CardError> {
    let truncated = || CardError::malformed("truncated length");
    let first = *input.first().ok_or_else(truncated)?;
    if first < 0x80 {
        return Ok((usize::from(first), &input[1..]));
    }
    let count = usize::from(first & 0x7F);
    if count == 0 || count > 3 {
        return Err(CardError::malformed(format!(
            "unsupported length form {first:02X}"
        )));
    }
    let bytes = input.get(1..1 + count).ok_or_else(truncated)?;
    let len = usize::try_from(uint(bytes)?).map_err(|_| truncated())?;
    Ok((len, &input[1 + count..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_multi_byte_tags_and_long_lengths() {
        let data = [
            0xBF, 0x81, 0x01, 0x03, 0x9B, 0x01, 0x02, 0x5A, 0x81, 0x01, 0x07,
        ];
        let items: Vec<Tlv<'_>> = elements(&data).collect::<Result<_, _>>().expect("parse");
        assert_eq!(items[0].tag, 0xBF8101);
        assert_eq!(
            items[1],
            Tlv {
                tag: 0x5A,
                value: &[0x07]
            }
        );
        let tries = find_path(&data, &[0xBF8101, 0x9B])
            .expect("parse")
            .expect("present");
        assert_eq!(tries, [0x02]);
    }

    #[test]
    fn padding_ends_the_walk() {
        let data = [0x80, 0x01, 0x05, 0x00, 0x00, 0xFF];
        assert_eq!(elements(&data).count(), 1);
    }

    #[test]
    fn lies_about_lengths_are_errors() {
        assert!(split_one(&[0x30, 0x05, 0x01]).is_err());
        assert!(split_one(&[0x30, 0x84, 0, 0, 0, 1]).is_err());
        assert!(split_one(&[0x30, 0x82, 0x01]).is_err());
        assert!(split_one(&[0x1F, 0x81, 0x82, 0x83, 0x84]).is_err());
        assert!(find(&[0x30, 0x05], 0x30).is_err());
    }

    #[test]
    fn uint_reads_big_endian() {
        assert_eq!(uint(&[0x01, 0x00]).expect("ok"), 256);
        assert!(uint(&[1, 2, 3, 4, 5]).is_err());
    }
}

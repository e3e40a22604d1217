//! The connector's own DNS server for app names, answered inside each tunnel.
//!
//! A session asks the grant's DNS address on UDP/53; the connector answers from that
//! session's apps only: an A record with the app's virtual address for a name it may reach,
//! an empty answer for other record types of that name, and NXDOMAIN for any other name, so
//! a session learns nothing of apps it was not granted. Nothing is forwarded anywhere.
//!
//! The query comes from the client: the parser reads one question, without compression
//! (queries carry none), checking every length (fuzz target `dns_query`).

use std::net::Ipv4Addr;

/// A record type A.
const TYPE_A: u16 = 1;
/// Class IN.
const CLASS_IN: u16 = 1;
/// How long clients may cache an answer, in seconds.
const TTL: u32 = 60;
/// The longest query read.
const MAX_QUERY: usize = 512;

/// Response codes.
const NOERROR: u8 = 0;
const FORMERR: u8 = 1;
const NXDOMAIN: u8 = 3;
const NOTIMP: u8 = 4;

/// One question of a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Question<'a> {
    /// The query id.
    pub id: u16,
    /// Whether the client asked for recursion (echoed back).
    pub recursion_desired: bool,
    /// The name, lowercase, dot-separated, without the final dot.
    pub name: String,
    /// The record type.
    pub kind: u16,
    /// The record class.
    pub class: u16,
    /// The question's wire bytes (name, type, class), echoed in the answer.
    pub wire: &'a [u8],
}

/// Why a query was not answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DnsError {
    /// Too short, too long, or a length that runs past the end.
    #[error("malformed DNS query")]
    Malformed,
    /// A response, or not exactly one question.
    #[error("not a DNS query with one question")]
    NotAQuery,
}

/// Reads the one question of a query.
pub fn parse_query(bytes: &[u8]) -> Result<Question<'_>, DnsError> {
    if bytes.len() < 12 || bytes.len() > MAX_QUERY {
        return Err(DnsError::Malformed);
    }
    let flags = u16::from_be_bytes([bytes[2], bytes[3]]);
    let questions = u16::from_be_bytes([bytes[4], bytes[5]]);
    if flags & 0x8000 != 0 || questions != 1 {
        return Err(DnsError::NotAQuery);
    }
    let (name, end) = read_name(bytes, 12)?;
    let fixed = bytes.get(end..end + 4).ok_or(DnsError::Malformed)?;
    Ok(Question {
        id: u16::from_be_bytes([bytes[0], bytes[1]]),
        recursion_desired: flags & 0x0100 != 0,
        name,
        kind: u16::from_be_bytes([fixed[0], fixed[1]]),
        class: u16::from_be_bytes([fixed[2], fixed[3]]),
        wire: &bytes[12..end + 4],
    })
}

/// Reads an uncompressed name at `start`; returns it and where it ends.
fn read_name(bytes: &[u8], start: usize) -> Result<(String, usize), DnsError> {
    let mut name = String::new();
    let mut at = start;
    loop {
        let len = usize::from(*bytes.get(at).ok_or(DnsError::Malformed)?);
        at += 1;
        if len == 0 {
            return Ok((name, at));
        }
        // 0xc0 and up are compression pointers, 0x40..0xc0 reserved: neither belongs here.
        let label = bytes
            .get(at..at + len)
            .filter(|_| len < 64)
            .ok_or(DnsError::Malformed)?;
        if !name.is_empty() {
            name.push('.');
        }
        name.extend(label.iter().map(|b| char::from(b.to_ascii_lowercase())));
        at += len;
        if name.len() > 253 {
            return Err(DnsError::Malformed);
        }
    }
}

/// The answer to `query` for a session whose apps are `names` (DNS name, virtual address).
///
/// `None` when the bytes are not a query worth answering at all (a response, garbage too
/// short to hold an id).
pub fn answer<'n>(
    query: &[u8],
    names: impl IntoIterator<Item = (&'n str, Ipv4Addr)>,
) -> Option<Vec<u8>> {
    let question = match parse_query(query) {
        Ok(question) => question,
        Err(DnsError::NotAQuery) if query.len() >= 12 && query[2] & 0x80 == 0 => {
            return Some(header_only(query, NOTIMP));
        }
        Err(DnsError::Malformed) if query.len() >= 12 && query[2] & 0x80 == 0 => {
            return Some(header_only(query, FORMERR));
        }
        Err(_) => return None,
    };
    let opcode = (query[2] >> 3) & 0x0f;
    if opcode != 0 {
        return Some(header_only(query, NOTIMP));
    }
    let wanted = question.name.strip_suffix('.').unwrap_or(&question.name);
    let found = names
        .into_iter()
        .find(|(name, _)| name.trim_end_matches('.').eq_ignore_ascii_case(wanted));
    let (code, address) = match found {
        None => (NXDOMAIN, None),
        Some((_, address)) if question.kind == TYPE_A && question.class == CLASS_IN => {
            (NOERROR, Some(address))
        }
        Some(_) => (NOERROR, None),
    };
    Some(response(&question, code, address))
}

fn response(question: &Question<'_>, code: u8, address: Option<Ipv4Addr>) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + question.wire.len() + 16);
    out.extend_from_slice(&question.id.to_be_bytes());
    // QR, AA, RD echoed, RA: the connector is the authority for these names.
    out.push(0x84 | u8::from(question.recursion_desired));
    out.push(0x80 | code);
    out.extend_from_slice(&[0, 1, 0, u8::from(address.is_some()), 0, 0, 0, 0]);
    out.extend_from_slice(question.wire);
    if let Some(address) = address {
        out.extend_from_slice(&[0xc0, 12]);
        out.extend_from_slice(&TYPE_A.to_be_bytes());
        out.extend_from_slice(&CLASS_IN.to_be_bytes());
        out.extend_from_slice(&TTL.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&address.octets());
    }
    out
}

/// An answer with no question echoed, for queries that cannot be read.
fn header_only(query: &[u8], code: u8) -> Vec<u8> {
    let mut out = query[..12].to_vec();
    out[2] = 0x80 | (query[2] & 0x79);
    out[3] = 0x80 | code;
    out[4..12].fill(0);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A query for `name` of type `kind`.
    pub fn query(name: &str, kind: u16) -> Vec<u8> {
        let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
        for label in name.split('.') {
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
        q.push(0);
        q.extend_from_slice(&kind.to_be_bytes());
        q.extend_from_slice(&CLASS_IN.to_be_bytes());
        q
    }

    const DPI: Ipv4Addr = Ipv4Addr::new(100, 80, 0, 1);

    fn names() -> Vec<(&'static str, Ipv4Addr)> {
        vec![("dpi.hopital.example", DPI)]
    }

    #[test]
    fn a_granted_name_gets_its_virtual_address() {
        let reply = answer(&query("DPI.Hopital.example", TYPE_A), names()).unwrap();
        assert_eq!(&reply[0..2], &[0x12, 0x34]);
        assert_eq!(reply[3] & 0x0f, NOERROR);
        assert_eq!(&reply[6..8], &[0, 1], "one answer");
        assert_eq!(&reply[reply.len() - 4..], &DPI.octets());
    }

    #[test]
    fn other_names_do_not_exist_and_other_types_are_empty() {
        let reply = answer(&query("paie.hopital.example", TYPE_A), names()).unwrap();
        assert_eq!(reply[3] & 0x0f, NXDOMAIN);
        assert_eq!(&reply[6..8], &[0, 0]);
        let aaaa = answer(&query("dpi.hopital.example", 28), names()).unwrap();
        assert_eq!(aaaa[3] & 0x0f, NOERROR);
        assert_eq!(&aaaa[6..8], &[0, 0], "no IPv6 address, but the name exists");
    }

    #[test]
    fn broken_queries_get_formerr_and_responses_nothing() {
        let mut q = query("dpi.hopital.example", TYPE_A);
        q[12] = 0xc0;
        assert_eq!(answer(&q, names()).unwrap()[3] & 0x0f, FORMERR);
        q[2] |= 0x80;
        assert_eq!(answer(&q, names()), None);
        for cut in 0..12 {
            assert_eq!(answer(&q[..cut], names()), None);
        }
    }
}

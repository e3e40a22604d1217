//! Reading an HTTP/1.0 answer to a CRL request: bytes in, a CRL body, a redirect or an error
//! out. No I/O: the caller feeds what it has read so far and says whether the server closed
//! the connection, and reads on while the answer is [`Parsed::Partial`].
//!
//! The bytes come from a server reached over plain HTTP, so from anyone on the path: nothing
//! here trusts them. Sizes are bounded ([`Limits`]), every malformed answer is an error, and
//! the body is only handed on (its signature is checked later, against the configured CAs).

/// How much an answer may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The status line and headers, blank line included.
    pub headers: usize,
    /// The body.
    pub body: usize,
}

impl Limits {
    /// For real CRLs: IGC-Santé's largest are a few MiB.
    pub const CRL: Self = Self {
        headers: 64 * 1024,
        body: 64 * 1024 * 1024,
    };
}

/// Headers beyond this count make the answer malformed; a CRL server sends a dozen.
const MAX_HEADER_COUNT: usize = 64;

/// What the answer says so far.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed<'a> {
    /// More bytes are needed.
    Partial,
    /// `200 OK`, and the whole body.
    Body(&'a [u8]),
    /// A redirect, and its `Location` as the server wrote it.
    Redirect(&'a str),
}

/// How the server misbehaved.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerError {
    /// Not an HTTP/1.x answer this client understands.
    #[error("not a usable HTTP answer: {0}")]
    Malformed(&'static str),
    /// The status line and headers are too long.
    #[error("the HTTP headers are longer than {limit} bytes")]
    HeadersTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The body is, or says it is, too long.
    #[error("the answer is longer than {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The connection closed before the `Content-Length` bytes came.
    #[error("the connection closed after {got} of {expected} bytes")]
    Truncated {
        /// What `Content-Length` promised.
        expected: u64,
        /// What came.
        got: usize,
    },
    /// Neither `200` nor a redirect.
    #[error("the server answered HTTP {0}")]
    Status(u16),
    /// Redirect after redirect.
    #[error("more than {0} redirects")]
    TooManyRedirects(usize),
    /// A redirect to an address this client cannot fetch.
    #[error("redirected to {location}: {reason}")]
    BadRedirect {
        /// The `Location`, quoted and cut short.
        location: String,
        /// What is wrong with it.
        reason: super::UrlError,
    },
    /// The body is not a CRL.
    #[error("the answer is not a CRL: {0}")]
    NotACrl(String),
    /// The body is a CRL the verifier does not accept (not from a configured CA, or forged).
    #[error("the CRL is refused: {0}")]
    Refused(String),
}

/// The answer's status line, headers, and body, as far as `bytes` go; `closed` when the server
/// has closed the connection (no more bytes will come).
pub fn parse_response(bytes: &[u8], closed: bool, limits: Limits) -> Result<Parsed<'_>, PeerError> {
    let Some(head) = parse_head(bytes, closed, limits)? else {
        return Ok(Parsed::Partial);
    };
    match head.status {
        200 => {}
        301 | 302 | 303 | 307 | 308 => {
            let location = head
                .location
                .ok_or(PeerError::Malformed("a redirect without a Location"))?;
            return Ok(Parsed::Redirect(location));
        }
        other => return Err(PeerError::Status(other)),
    }
    let rest = bytes.get(head.length..).unwrap_or_default();
    Ok(
        match body(rest, head.content_length, closed, limits.body)? {
            Some(body) => Parsed::Body(body),
            None => Parsed::Partial,
        },
    )
}

/// What the status line and headers say.
struct Head<'a> {
    status: u16,
    content_length: Option<u64>,
    location: Option<&'a str>,
    /// Where the body starts.
    length: usize,
}

/// The head, or `None` while it is incomplete.
fn parse_head(bytes: &[u8], closed: bool, limits: Limits) -> Result<Option<Head<'_>>, PeerError> {
    let too_large = PeerError::HeadersTooLarge {
        limit: limits.headers,
    };
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADER_COUNT];
    let mut response = httparse::Response::new(&mut headers);
    let length = match response.parse(bytes) {
        Ok(httparse::Status::Complete(length)) if length > limits.headers => return Err(too_large),
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) if bytes.len() > limits.headers => return Err(too_large),
        Ok(httparse::Status::Partial) if closed => {
            return Err(PeerError::Malformed(
                "the connection closed inside the headers",
            ));
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(PeerError::Malformed(httparse_problem(error))),
    };
    let status = response
        .code
        .ok_or(PeerError::Malformed("no status code"))?;
    let mut head = Head {
        status,
        content_length: None,
        location: None,
        length,
    };
    for header in response.headers.iter() {
        read_header(&mut head, header, limits)?;
    }
    Ok(Some(head))
}

/// Takes what a header says into `head`.
fn read_header<'a>(
    head: &mut Head<'a>,
    header: &httparse::Header<'a>,
    limits: Limits,
) -> Result<(), PeerError> {
    let name = header.name;
    if name.eq_ignore_ascii_case("content-length") {
        let length = content_length(header.value)?;
        if head.content_length.is_some_and(|earlier| earlier != length) {
            return Err(PeerError::Malformed("two different Content-Length headers"));
        }
        if length > u64::try_from(limits.body).unwrap_or(u64::MAX) {
            return Err(PeerError::BodyTooLarge { limit: limits.body });
        }
        head.content_length = Some(length);
    } else if name.eq_ignore_ascii_case("transfer-encoding") {
        // An HTTP/1.0 request gets no chunked answer; reading one as raw bytes would keep
        // the chunk sizes in the CRL.
        return Err(PeerError::Malformed(
            "Transfer-Encoding in an answer to HTTP/1.0",
        ));
    } else if name.eq_ignore_ascii_case("location") {
        let location = std::str::from_utf8(header.value)
            .map_err(|_| PeerError::Malformed("a Location that is not text"))?;
        head.location = Some(location);
    }
    Ok(())
}

/// Digits only, with optional spaces around them.
fn content_length(value: &[u8]) -> Result<u64, PeerError> {
    let bad = PeerError::Malformed("a Content-Length that is not a number");
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or(bad)
}

/// The body, or `None` while more is to come.
fn body(
    rest: &[u8],
    content_length: Option<u64>,
    closed: bool,
    limit: usize,
) -> Result<Option<&[u8]>, PeerError> {
    let Some(expected) = content_length else {
        if rest.len() > limit {
            return Err(PeerError::BodyTooLarge { limit });
        }
        return Ok(closed.then_some(rest));
    };
    // `expected` is at most `limit` (checked with the headers), so it fits in a usize.
    let wanted = usize::try_from(expected).map_err(|_| PeerError::BodyTooLarge { limit })?;
    match rest.get(..wanted) {
        Some(body) => Ok(Some(body)),
        None if closed => Err(PeerError::Truncated {
            expected,
            got: rest.len(),
        }),
        None => Ok(None),
    }
}

/// The value of header `name` in a complete answer's head, if it has one and it is text
/// (`Date`, for the clock check of `vigie-connector doctor`).
pub fn header<'a>(bytes: &'a [u8], name: &str) -> Option<&'a str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADER_COUNT];
    let mut response = httparse::Response::new(&mut headers);
    response.parse(bytes).ok()?;
    let found = response
        .headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name))?;
    std::str::from_utf8(found.value).ok().map(str::trim)
}

/// httparse's diagnosis, in words.
fn httparse_problem(error: httparse::Error) -> &'static str {
    match error {
        httparse::Error::Version => "not HTTP/1.x",
        httparse::Error::Status => "a bad status code",
        httparse::Error::TooManyHeaders => "too many headers",
        httparse::Error::HeaderName | httparse::Error::HeaderValue | httparse::Error::Token => {
            "a bad header"
        }
        httparse::Error::NewLine => "a bad line ending",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(bytes: &[u8], closed: bool) -> Result<Parsed<'_>, PeerError> {
        parse_response(bytes, closed, Limits::CRL)
    }

    #[test]
    fn a_header_is_read_by_name() {
        let answer = b"HTTP/1.0 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\nx";
        assert_eq!(
            header(answer, "date"),
            Some("Sun, 06 Nov 1994 08:49:37 GMT")
        );
        assert_eq!(header(answer, "location"), None);
        assert_eq!(header(b"garbage", "date"), None);
    }

    #[test]
    fn a_body_of_content_length_bytes() {
        let answer =
            b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\nContent-Type: x\r\n\r\n0\x82\x01\x02";
        assert_eq!(parse(answer, false), Ok(Parsed::Body(b"0\x82\x01\x02")));
        let extra = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nabcd";
        assert_eq!(
            parse(extra, false),
            Ok(Parsed::Body(b"ab")),
            "bytes past it are not read"
        );
        let short = b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nabc";
        assert_eq!(parse(short, false), Ok(Parsed::Partial));
        assert_eq!(
            parse(short, true),
            Err(PeerError::Truncated {
                expected: 10,
                got: 3
            })
        );
    }

    #[test]
    fn a_body_without_content_length_ends_with_the_connection() {
        let answer = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nabc";
        assert_eq!(parse(answer, false), Ok(Parsed::Partial));
        assert_eq!(parse(answer, true), Ok(Parsed::Body(b"abc")));
    }

    #[test]
    fn headers_may_come_in_pieces() {
        let answer = b"HTTP/1.0 200 OK\r\nContent-Len";
        assert_eq!(parse(answer, false), Ok(Parsed::Partial));
        assert_eq!(parse(b"", false), Ok(Parsed::Partial));
        assert!(matches!(parse(answer, true), Err(PeerError::Malformed(_))));
    }

    #[test]
    fn other_statuses_are_errors_that_name_them() {
        let error = parse(b"HTTP/1.0 404 File not found\r\n\r\n", false).unwrap_err();
        assert_eq!(error, PeerError::Status(404));
        assert_eq!(error.to_string(), "the server answered HTTP 404");
        let error = parse(b"HTTP/1.1 500 Oops\r\nContent-Length: 1\r\n\r\n", false);
        assert_eq!(error, Err(PeerError::Status(500)));
    }

    #[test]
    fn redirects_give_their_location() {
        let answer = b"HTTP/1.1 301 Moved\r\nLocation: http://mirror.example/a.crl\r\n\r\n";
        assert_eq!(
            parse(answer, false),
            Ok(Parsed::Redirect("http://mirror.example/a.crl"))
        );
        let answer = b"HTTP/1.0 307 Temporary\r\nlocation: /b.crl\r\n\r\nignored";
        assert_eq!(parse(answer, false), Ok(Parsed::Redirect("/b.crl")));
        let nowhere = b"HTTP/1.0 302 Found\r\n\r\n";
        assert!(matches!(
            parse(nowhere, false),
            Err(PeerError::Malformed(_))
        ));
    }

    #[test]
    fn too_large_answers_are_refused_early() {
        let limits = Limits {
            headers: 64,
            body: 8,
        };
        let said = b"HTTP/1.0 200 OK\r\nContent-Length: 9\r\n\r\n";
        let error = parse_response(said, false, limits);
        assert_eq!(error, Err(PeerError::BodyTooLarge { limit: 8 }));
        let huge = b"HTTP/1.0 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert!(parse_response(huge, false, limits).is_err());
        let sent = b"HTTP/1.0 200 OK\r\n\r\n123456789";
        let error = parse_response(sent, false, limits);
        assert_eq!(error, Err(PeerError::BodyTooLarge { limit: 8 }));
        let long_head = [b"HTTP/1.0 200 OK\r\nX: ".as_slice(), &[b'a'; 64]].concat();
        let error = parse_response(&long_head, false, limits);
        assert_eq!(error, Err(PeerError::HeadersTooLarge { limit: 64 }));
        let real = Limits::CRL;
        let over = format!(
            "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n",
            real.body + 1
        );
        let error = parse_response(over.as_bytes(), false, real);
        assert_eq!(error, Err(PeerError::BodyTooLarge { limit: real.body }));
    }

    #[test]
    fn garbage_is_malformed() {
        for garbage in [
            b"<html>hello</html>".as_slice(),
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.0 abc OK\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Length: 1x\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\nBad Header: x\r\n\r\n",
            b"HTTP/1.0 301 Moved\r\nLocation: \xff\r\n\r\n",
        ] {
            let parsed = parse(garbage, true);
            assert!(
                matches!(parsed, Err(PeerError::Malformed(_))),
                "{:?}: {parsed:?}",
                String::from_utf8_lossy(garbage)
            );
        }
        let same_twice = b"HTTP/1.0 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx";
        assert_eq!(parse(same_twice, false), Ok(Parsed::Body(b"x")));
    }

    #[test]
    fn too_many_headers_are_malformed() {
        let mut answer = b"HTTP/1.0 200 OK\r\n".to_vec();
        for _ in 0..=MAX_HEADER_COUNT {
            answer.extend_from_slice(b"X: y\r\n");
        }
        answer.extend_from_slice(b"\r\n");
        assert!(matches!(parse(&answer, true), Err(PeerError::Malformed(_))));
    }
}

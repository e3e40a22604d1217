//! The CRL fetcher's reading of an HTTP answer, on arbitrary bytes (anyone on the path to a
//! CRL server can send them): it never panics, a body is a slice of the answer within the
//! body limit, and once an answer is complete, the server closing the connection changes
//! nothing. The `Date` header `doctor` reads off the same answer is a slice of it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vigie_connector::serve::crl_fetch::{Limits, Parsed, header, parse_response};

fuzz_target!(|data: &[u8]| {
    // The first byte picks small limits, so the fuzzer reaches them; the rest is the answer.
    let Some((&knobs, answer)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        headers: 16 + usize::from(knobs & 0x0f) * 64,
        body: usize::from(knobs >> 4) * 16,
    };
    let open = parse_response(answer, false, limits);
    let closed = parse_response(answer, true, limits);
    if let Ok(Parsed::Body(body)) = &closed {
        assert!(body.len() <= limits.body, "{} > {}", body.len(), limits.body);
        let inside = answer.as_ptr_range();
        let range = body.as_ptr_range();
        assert!(body.is_empty() || (inside.start <= range.start && range.end <= inside.end));
    }
    assert_ne!(closed, Ok(Parsed::Partial), "a closed connection ends the answer");
    if open != Ok(Parsed::Partial) {
        assert_eq!(open, closed, "a complete answer does not depend on the connection");
    }
    let _ = parse_response(answer, true, Limits::CRL);
    if let Some(date) = header(answer, "date") {
        let (inside, range) = (answer.as_ptr_range(), date.as_bytes().as_ptr_range());
        assert!(date.is_empty() || (inside.start <= range.start && range.end <= inside.end));
    }
});

//! The connector's DNS server on arbitrary queries: it never panics, and what it answers
//! always parses back as a DNS header with the query's id.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use vigie_connector::dataplane::dns;

fuzz_target!(|data: &[u8]| {
    let _ = dns::parse_query(data);
    let names = [("dpi.hopital.example", Ipv4Addr::new(100, 80, 0, 1))];
    if let Some(answer) = dns::answer(data, names) {
        assert!(answer.len() >= 12);
        assert_eq!(answer[..2], data[..2], "the answer carries the query's id");
        assert_ne!(answer[2] & 0x80, 0, "an answer is a response");
    }
});

//! The data plane's filter on arbitrary bytes, as a client could send them through its
//! tunnel: parsing, the verdict, and any reset, ICMP error or DNS answer it writes back.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use vigie_connector::admission::AppAccess;
use vigie_connector::dataplane::filter::{SessionFilter, Verdict};
use vigie_connector::dataplane::packet;

fuzz_target!(|data: &[u8]| {
    let app = AppAccess {
        name: "dpi".into(),
        dns_name: "dpi.hopital.example".into(),
        virtual_address: Ipv4Addr::new(100, 80, 0, 1),
        ports: vec!["tcp/443".parse().expect("a rule"), "udp/53-60".parse().expect("a rule")],
    };
    // Sources the filter accepts, so fuzzing reaches past the source check.
    let source = Ipv4Addr::new(100, 96, 0, 2);
    let filter = SessionFilter::new(source, Some(Ipv4Addr::new(100, 80, 0, 53)), vec![app]);
    match filter.check(data) {
        Verdict::Answer(reply) | Verdict::Drop(_, Some(reply)) => {
            let parsed = packet::parse(&reply).expect("the connector's own packets parse");
            assert_eq!(parsed.destination, source);
        }
        Verdict::Forward | Verdict::Drop(_, None) => {}
    }
});

//! The `/metrics` page: the connector's own counters ([`super::Metrics`]) and what the rest
//! of `serve` already knows, read at the moment of the scrape.
//!
//! | family | labels | what |
//! |---|---|---|
//! | `vigie_build_info` | `version` | always 1 |
//! | `vigie_start_time_seconds` | | when `serve` started |
//! | `vigie_sessions` | `transport` | live sessions, by control connection |
//! | `vigie_sessions_waiting_for_card` | | sessions whose card is out, with no connection |
//! | `vigie_session_paths` | `path` | live sessions' tunnels: `udp`, `control`, `none` yet |
//! | `vigie_sessions_ended_total` | `reason` | |
//! | `vigie_handshakes_total` | `transport`, `outcome` | TLS (TCP) and QUIC handshakes |
//! | `vigie_admissions_total` | `verdict`, `step`, `reason` | `reason` is the audit's code |
//! | `vigie_dataplane_packets_total` | `direction` | `to_hospital`, `to_client` |
//! | `vigie_dataplane_bytes_total` | `direction` | IP bytes |
//! | `vigie_dataplane_dropped_packets_total` | `reason` | |
//! | `vigie_crl_age_seconds` | `issuer` | since the CRL's thisUpdate |
//! | `vigie_crl_next_update_seconds` | `issuer` | until its nextUpdate; negative past it |
//! | `vigie_crl_stale` | `issuer` | 1 when new admissions of its cards fail closed |
//! | `vigie_audit_records_written_total` | | |
//! | `vigie_audit_write_failures_total` | | |
//! | `vigie_audit_records_dropped_total` | | certificate refusals not audited (flood) |
//! | `vigie_config_reloads_total` | `outcome` | `applied`, `refused` |
//! | `vigie_config_applied_time_seconds` | | when the running configuration was applied |

use std::sync::atomic::Ordering;

use super::Metrics;
use super::text::{Exposition, Kind};
use crate::dataplane::{DataPlane, Path};
use crate::serve::Shared;

/// The page, at `now` (Unix seconds).
pub fn render(shared: &Shared, now: u64) -> String {
    let mut page = Exposition::default();
    let metrics = &shared.metrics;
    process(&mut page, metrics);
    sessions(&mut page, shared);
    counted(&mut page, metrics);
    if let Some(plane) = &shared.dataplane {
        dataplane(&mut page, plane);
    }
    crls(&mut page, shared, now);
    audit(&mut page, shared);
    page.finish()
}

fn process(page: &mut Exposition, metrics: &Metrics) {
    let version = env!("CARGO_PKG_VERSION");
    page.family("vigie_build_info", Kind::Gauge, "The connector's version.");
    page.sample("vigie_build_info", &[("version", version)], 1);
    let started = metrics.started;
    let help = "When serve started, Unix seconds.";
    page.single("vigie_start_time_seconds", Kind::Gauge, help, started);
}

fn sessions(page: &mut Exposition, shared: &Shared) {
    let metrics = &shared.metrics;
    let name = "vigie_sessions";
    page.family(
        name,
        Kind::Gauge,
        "Live sessions, by transport of their control connection.",
    );
    for (transport, live) in [("quic", &metrics.live_quic), ("tcp", &metrics.live_tcp)] {
        page.sample(
            name,
            &[("transport", transport)],
            live.load(Ordering::Relaxed),
        );
    }
    let help = "Sessions whose card is out of its reader, waiting for it with no connection.";
    let parked = shared.parking.len();
    page.single("vigie_sessions_waiting_for_card", Kind::Gauge, help, parked);
    if let Some(plane) = &shared.dataplane {
        let (mut udp, mut control, mut none) = (0, 0, 0);
        for id in shared.registry.ids() {
            match plane.path(&id) {
                Some(Path::Udp(_)) => udp += 1,
                Some(Path::Control) => control += 1,
                None => none += 1,
            }
        }
        let name = "vigie_session_paths";
        let help = "Live sessions' tunnels: WireGuard over UDP, inside the control connection, \
                    or no packet yet.";
        page.family(name, Kind::Gauge, help);
        for (path, count) in [("udp", udp), ("control", control), ("none", none)] {
            page.sample(name, &[("path", path)], count);
        }
    }
}

fn counted(page: &mut Exposition, metrics: &Metrics) {
    let name = "vigie_sessions_ended_total";
    page.family(name, Kind::Counter, "Sessions ended, by reason.");
    for ([reason], count) in metrics.sessions_ended.snapshot() {
        page.sample(name, &[("reason", reason)], count);
    }
    let name = "vigie_handshakes_total";
    page.family(name, Kind::Counter, "TLS and QUIC handshakes, by outcome.");
    for ([transport, outcome], count) in metrics.handshakes.snapshot() {
        page.sample(
            name,
            &[("transport", transport), ("outcome", outcome)],
            count,
        );
    }
    let name = "vigie_admissions_total";
    let help = "Admission verdicts: refused at the certificate or directory step, by the \
                audit log's reason, or accepted.";
    page.family(name, Kind::Counter, help);
    for ([verdict, step, reason], count) in metrics.admissions.snapshot() {
        let labels = [("verdict", verdict), ("step", step), ("reason", reason)];
        page.sample(name, &labels, count);
    }
    let name = "vigie_config_reloads_total";
    page.family(name, Kind::Counter, "Configuration reloads, by outcome.");
    for ([outcome], count) in metrics.reloads.snapshot() {
        page.sample(name, &[("outcome", outcome)], count);
    }
    let applied = metrics.config_applied.load(Ordering::Relaxed);
    let help = "When the running configuration was applied (start or reload), Unix seconds.";
    page.single(
        "vigie_config_applied_time_seconds",
        Kind::Gauge,
        help,
        applied,
    );
}

fn dataplane(page: &mut Exposition, plane: &DataPlane) {
    let counters = plane.counters();
    let both = |page: &mut Exposition, name: &str, help: &str, values: (u64, u64)| {
        page.family(name, Kind::Counter, help);
        page.sample(name, &[("direction", "to_hospital")], values.0);
        page.sample(name, &[("direction", "to_client")], values.1);
    };
    let packets = (counters.forwarded, counters.to_client);
    both(
        page,
        "vigie_dataplane_packets_total",
        "Packets through the tunnels.",
        packets,
    );
    let bytes = (counters.forwarded_bytes, counters.to_client_bytes);
    let help = "Bytes of IP packets through the tunnels.";
    both(page, "vigie_dataplane_bytes_total", help, bytes);
    let name = "vigie_dataplane_dropped_packets_total";
    page.family(
        name,
        Kind::Counter,
        "Packets dropped by the data plane, by reason.",
    );
    for (reason, count) in counters.by_reason() {
        page.sample(name, &[("reason", reason.name())], count);
    }
}

fn crls(page: &mut Exposition, shared: &Shared, now: u64) {
    let at = rustls_pki_types::UnixTime::since_unix_epoch(std::time::Duration::from_secs(now));
    let statuses = shared.verifier.crl_statuses(at);
    let signed = |a: u64, b: u64| i128::from(a) - i128::from(b);
    let name = "vigie_crl_age_seconds";
    page.family(name, Kind::Gauge, "Seconds since each CRL's thisUpdate.");
    for status in &statuses {
        let labels = [("issuer", status.issuer.as_str())];
        page.sample(name, &labels, signed(now, status.this_update));
    }
    let name = "vigie_crl_next_update_seconds";
    let help = "Seconds until each CRL's nextUpdate; negative once past it.";
    page.family(name, Kind::Gauge, help);
    for status in &statuses {
        let Some(next) = status.next_update else {
            continue;
        };
        page.sample(
            name,
            &[("issuer", status.issuer.as_str())],
            signed(next, now),
        );
    }
    let name = "vigie_crl_stale";
    let help = "1 when a CRL is past its nextUpdate and the grace: new admissions of its \
                cards are refused.";
    page.family(name, Kind::Gauge, help);
    for status in &statuses {
        let labels = [("issuer", status.issuer.as_str())];
        page.sample(name, &labels, u8::from(status.stale));
    }
}

fn audit(page: &mut Exposition, shared: &Shared) {
    let (written, failed) = shared.audit.written_and_failed();
    let help = "Audit records written to disk.";
    page.single(
        "vigie_audit_records_written_total",
        Kind::Counter,
        help,
        written,
    );
    let help = "Audit records that could not be written.";
    page.single(
        "vigie_audit_write_failures_total",
        Kind::Counter,
        help,
        failed,
    );
    let help = "Certificate refusals not audited because the audit queue was full.";
    let dropped = shared.audit.dropped();
    page.single(
        "vigie_audit_records_dropped_total",
        Kind::Counter,
        help,
        dropped,
    );
}

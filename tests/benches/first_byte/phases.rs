//! The phases of one `vigie up`, read from its own debug log (`VIGIE_LOG=vigie_client=debug,
//! boringtun=debug`: its steps, and WireGuard's handshake) without changing what it does: each
//! line carries its UTC wall-clock time, which is compared with the wall-clock time at which
//! the bench started `vigie up`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vigie_lab::process::plain;

/// A step of `vigie up`, as its log tells it.
pub struct Phase {
    /// The metric's name in the TSV rows.
    pub metric: &'static str,
    /// Its name in the table.
    pub label: &'static str,
    /// The log message that ends it.
    message: &'static str,
}

/// In the order they happen.
pub const PHASES: &[Phase] = &[
    Phase {
        metric: "card_connected_ms",
        label: "started, card connected (PC/SC)",
        message: "connected to the card",
    },
    Phase {
        metric: "card_read_ms",
        label: "certificate read",
        message: "authentication certificate read",
    },
    Phase {
        metric: "pin_verified_ms",
        label: "PIN verified",
        message: "PIN verified",
    },
    Phase {
        metric: "card_signed_ms",
        label: "card signature made (TLS)",
        message: "card signature made",
    },
    Phase {
        metric: "tls_done_ms",
        label: "TLS handshake done",
        message: "control channel open",
    },
    Phase {
        metric: "granted_ms",
        label: "grant received",
        message: "session granted",
    },
    Phase {
        metric: "tunnel_up_ms",
        label: "tunnel up (device, routes, names)",
        message: "tunnel up",
    },
    Phase {
        metric: "wireguard_ms",
        label: "WireGuard handshake answered",
        message: "Received handshake_response",
    },
];

/// Each phase's end in milliseconds after `started`, in the order of [`PHASES`]; `None` for
/// a phase the log does not show.
pub fn read(log: &str, started: SystemTime) -> Vec<Option<f64>> {
    let lines: Vec<(SystemTime, String)> = log
        .lines()
        .filter_map(|line| {
            let line = plain(line);
            let (time, rest) = line.split_once(' ')?;
            Some((parse_utc(time)?, rest.to_owned()))
        })
        .collect();
    PHASES
        .iter()
        .map(|phase| {
            let (time, _) = lines.iter().find(|(_, rest)| says(rest, phase.message))?;
            Some(millis_between(started, *time))
        })
        .collect()
}

/// How long the client waited for the card's TLS signature (`took_ms` of its log line).
pub fn client_signing_ms(log: &str) -> Option<f64> {
    let line = log
        .lines()
        .find(|l| says(&plain(l), "card signature made"))?;
    let field = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("took_ms="))?;
    field.parse().ok()
}

/// Whether a log line's message (after `target: `) is `message`.
fn says(rest: &str, message: &str) -> bool {
    rest.split_once(": ").is_some_and(|(_, text)| {
        text.strip_prefix(message)
            .is_some_and(|after| after.is_empty() || after.starts_with(' '))
    })
}

fn millis_between(start: SystemTime, end: SystemTime) -> f64 {
    match end.duration_since(start) {
        Ok(after) => after.as_secs_f64() * 1e3,
        Err(before) => -before.duration().as_secs_f64() * 1e3,
    }
}

/// `2026-12-04T10:13:16.123456Z` as a time.
fn parse_utc(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (year, month, day) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (hms, fraction) = time.split_once('.').unwrap_or((time, "0"));
    let mut hms = hms.splitn(3, ':').map(str::parse::<u64>);
    let (h, m, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    let nanos: u64 = format!("{fraction:0<9}").get(..9)?.parse().ok()?;
    let days = u64::try_from(days_from_civil(year, month, day)).ok()?;
    let seconds = days * 86_400 + h * 3_600 + m * 60 + s;
    Some(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_nanos(nanos))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the classic era-based formula).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

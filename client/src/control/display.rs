//! The session as a clinician reads it: which applications, under which names, for how long.
//! `vigie up` prints it when the grant arrives and `vigie status` from the status file, so
//! both read the same.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use vigie_protocol::{PortRule, SessionGrant, Transport as Ip};

use super::status::{AppStatus, Status};

/// The apps of a grant, as the status file keeps them.
pub fn apps_of(grant: &SessionGrant) -> Vec<AppStatus> {
    grant
        .apps
        .iter()
        .map(|app| AppStatus {
            name: app.name.clone(),
            dns_name: app.dns_name.clone(),
            address: app.address.to_string(),
            ports: app.ports.iter().map(|rule| port_text(*rule)).collect(),
        })
        .collect()
}

/// `tcp/443`, `tcp/8000-8010`, `udp/5060`, `proto-47/0-65535`.
pub fn port_text(rule: PortRule) -> String {
    let transport = match rule.transport {
        Ip::TCP => "tcp".to_owned(),
        Ip::UDP => "udp".to_owned(),
        Ip(other) => format!("proto-{other}"),
    };
    if rule.first == rule.last {
        format!("{transport}/{}", rule.first)
    } else {
        format!("{transport}/{}-{}", rule.first, rule.last)
    }
}

/// The session and its apps, several lines, for the terminal.
pub fn session_text(status: &Status) -> String {
    let mut text = String::new();
    let since = status.granted_at.map_or_else(|| "-".to_owned(), utc_text);
    let state = match status.state.as_str() {
        "active" => "connected",
        "suspended" => "paused (card removed: insert it again to go on)",
        "resuming" => "resuming (the card is being checked)",
        other => other,
    };
    let _ = writeln!(text, "Session:      {state}, since {since}");
    let _ = writeln!(text, "Connector:    {}", status.connector);
    if let Some(transport) = &status.transport {
        let _ = writeln!(text, "Connection:   {transport}");
    }
    let _ = writeln!(text, "Card:         {} in {}", status.card, status.reader);
    if let Some(id) = &status.session_id {
        let _ = writeln!(
            text,
            "Session id:   {id} (give it to the help desk if asked)"
        );
    }
    if let Some(tunnel) = &status.tunnel {
        let batched = if tunnel.offloads { ", batched" } else { "" };
        let _ = writeln!(
            text,
            "Tunnel:       {}, {}{batched}",
            tunnel.device, tunnel.path
        );
        let _ = writeln!(text, "App names:    {}", tunnel.names);
        let _ = writeln!(
            text,
            "Traffic:      {} sent, {} received",
            bytes_text(tunnel.bytes_sent),
            bytes_text(tunnel.bytes_received)
        );
    }
    if let Some(limits) = limits_text(status) {
        let _ = writeln!(text, "Time limits:  {limits}");
    }
    text.push_str(&apps_text(&status.apps));
    text
}

/// The applications, one per line, aligned.
pub fn apps_text(apps: &[AppStatus]) -> String {
    if apps.is_empty() {
        return "Applications: none are published to you; ask the help desk\n".to_owned();
    }
    let name_width = apps
        .iter()
        .map(|a| a.name.chars().count())
        .max()
        .unwrap_or(0);
    let dns_width = apps.iter().map(|a| a.dns_name.len()).max().unwrap_or(0);
    let mut text = format!("Applications you can reach ({}):\n", apps.len());
    for app in apps {
        let _ = writeln!(
            text,
            "  {:name_width$}  {:dns_width$}  {:15}  {}",
            app.name,
            app.dns_name,
            app.address,
            app.ports.join(", ")
        );
    }
    text
}

fn limits_text(status: &Status) -> Option<String> {
    let idle = status
        .idle_timeout
        .map(|s| format!("ends after {} without use", duration_text(s)));
    let lifetime = status
        .max_lifetime
        .map(|s| format!("ends {} after it started", duration_text(s)));
    match (idle, lifetime) {
        (None, None) => None,
        (Some(one), None) | (None, Some(one)) => Some(one),
        (Some(idle), Some(lifetime)) => Some(format!("{idle}; {lifetime} at the latest")),
    }
}

/// `512 B`, `1.5 kB`, `12.0 MB`, `3.2 GB`: decimal units, as file managers show.
pub fn bytes_text(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `15 min`, `12 h`, `1 h 30 min`, `45 s`.
pub fn duration_text(seconds: u64) -> String {
    let (hours, minutes, rest) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    match (hours, minutes, rest) {
        (0, 0, s) => format!("{s} s"),
        (0, m, _) => format!("{m} min"),
        (h, 0, _) => format!("{h} h"),
        (h, m, _) => format!("{h} h {m} min"),
    }
}

/// Seconds since the Unix epoch, now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

/// `2026-12-03 19:40 UTC`.
pub fn utc_text(unix: u64) -> String {
    let (days, seconds) = (unix / 86_400, unix % 86_400);
    let (year, month, day) = civil_date(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        seconds / 3600,
        seconds % 3600 / 60
    )
}

/// The calendar date of a day number since 1970-01-01 (proleptic Gregorian).
fn civil_date(days: u64) -> (u64, u64, u64) {
    // Shift to eras of 400 years starting on 0000-03-01, where leap days fall last.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_durations_read_plainly() {
        assert_eq!(utc_text(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc_text(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc_text(1_796_327_940), "2026-12-03 19:59 UTC");
        assert_eq!(duration_text(900), "15 min");
        assert_eq!(duration_text(12 * 3600), "12 h");
        assert_eq!(duration_text(5400), "1 h 30 min");
        assert_eq!(duration_text(45), "45 s");
        assert_eq!(bytes_text(999), "999 B");
        assert_eq!(bytes_text(1_500), "1.5 kB");
        assert_eq!(bytes_text(12_040_000), "12.0 MB");
        assert_eq!(bytes_text(3_200_000_000_000_000), "3200.0 TB");
    }

    #[test]
    fn ports_and_apps_line_up() {
        let range = PortRule {
            transport: Ip::TCP,
            first: 8000,
            last: 8010,
        };
        assert_eq!(port_text(range), "tcp/8000-8010");
        assert_eq!(port_text(PortRule::tcp(443)), "tcp/443");
        let apps = [
            AppStatus {
                name: "dpi".into(),
                dns_name: "dpi.hopital.example".into(),
                address: "100.80.0.1".into(),
                ports: vec!["tcp/443".into()],
            },
            AppStatus {
                name: "mail".into(),
                dns_name: "mail.hopital.example".into(),
                address: "100.80.0.2".into(),
                ports: vec!["tcp/993".into(), "tcp/587".into()],
            },
        ];
        let text = apps_text(&apps);
        assert!(
            text.starts_with("Applications you can reach (2):\n"),
            "{text}"
        );
        assert!(
            text.contains("  mail  mail.hopital.example  100.80.0.2       tcp/993, tcp/587\n"),
            "{text}"
        );
        assert!(apps_text(&[]).contains("none are published"));
    }
}

//! The Prometheus text exposition format (version 0.0.4), written by hand: a `# HELP` and a
//! `# TYPE` line per metric family, then one line per sample, `name{label="value"} number`.
//!
//! Label values are escaped as the format asks (backslash, double quote, line feed), so a CA
//! name with quotes in it cannot break a line. Names are the caller's constants.

use std::fmt::{Display, Write as _};

/// The content type of the format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// What a metric family is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Only goes up (reset when the connector restarts).
    Counter,
    /// Goes up and down.
    Gauge,
}

/// A page of metrics being written.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts the family `name`.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the family just started.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl Display) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (index, (label, value)) in labels.iter().enumerate() {
                if index > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{label}=\"{}\"", escape(value));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// A family with a single sample without labels.
    pub fn single(&mut self, name: &str, kind: Kind, help: &str, value: impl Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }

    /// The page.
    pub fn finish(self) -> String {
        self.text
    }
}

fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_samples_follow_the_text_format() {
        let mut page = Exposition::default();
        page.family("vigie_handshakes_total", Kind::Counter, "Handshakes.");
        page.sample(
            "vigie_handshakes_total",
            &[("transport", "quic"), ("outcome", "completed")],
            3,
        );
        page.single("vigie_sessions_waiting_for_card", Kind::Gauge, "Parked.", 0);
        assert_eq!(
            page.finish(),
            "# HELP vigie_handshakes_total Handshakes.\n\
             # TYPE vigie_handshakes_total counter\n\
             vigie_handshakes_total{transport=\"quic\",outcome=\"completed\"} 3\n\
             # HELP vigie_sessions_waiting_for_card Parked.\n\
             # TYPE vigie_sessions_waiting_for_card gauge\n\
             vigie_sessions_waiting_for_card 0\n"
        );
    }

    #[test]
    fn label_values_cannot_break_a_line() {
        let mut page = Exposition::default();
        page.sample("m", &[("issuer", "CN=A \"B\"\\\nC")], -5);
        assert_eq!(page.finish(), "m{issuer=\"CN=A \\\"B\\\"\\\\\\nC\"} -5\n");
    }
}

//! The figures over rounds: median [min–max] and p90 of each metric per scenario, as a
//! Markdown table, and as the rows the project's whole-benchmark command gathers
//! (`section<TAB>round<TAB>scenario<TAB>metric<TAB>value`, values in ms).

use std::io::Write as _;
use std::path::Path;

/// The section name of the TSV rows.
pub const SECTION: &str = "first_byte";

/// One measured value.
struct Row {
    round: usize,
    scenario: String,
    metric: &'static str,
    value_ms: f64,
}

/// Every value of the run.
#[derive(Default)]
pub struct Rows(Vec<Row>);

/// The spread of one metric over rounds.
#[derive(Debug, Clone, Copy)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub p90: f64,
}

impl Rows {
    /// Adds `metric` of `scenario` in `round` (milliseconds).
    pub fn push(&mut self, round: usize, scenario: &str, metric: &'static str, ms: f64) {
        self.0.push(Row {
            round,
            scenario: scenario.to_owned(),
            metric,
            value_ms: ms,
        });
    }

    /// The spread of `metric` over the rounds of `scenario`, if it was measured.
    pub fn spread(&self, scenario: &str, metric: &str) -> Option<Spread> {
        let values: Vec<f64> = self
            .0
            .iter()
            .filter(|r| r.scenario == scenario && r.metric == metric)
            .map(|r| r.value_ms)
            .collect();
        spread(values)
    }

    /// Appends the rows to the TSV file at `path` (created if missing).
    pub fn append_tsv(&self, path: &Path) -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        let mut text = String::new();
        for row in &self.0 {
            text += &format!(
                "{SECTION}\t{}\t{}\t{}\t{:.3}\n",
                row.round, row.scenario, row.metric, row.value_ms
            );
        }
        file.write_all(text.as_bytes())
    }
}

/// Median, extremes and 90th percentile (nearest rank) of `values`.
pub fn spread(mut values: Vec<f64>) -> Option<Spread> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    };
    let rank = (n * 9).div_ceil(10).max(1);
    Some(Spread {
        median,
        min: values[0],
        max: values[n - 1],
        p90: values[rank - 1],
    })
}

/// A cell: `median [min–max], p90`, in milliseconds.
pub fn cell(spread: Option<Spread>) -> String {
    match spread {
        None => "—".into(),
        Some(s) => format!(
            "{} [{}–{}], p90 {}",
            ms(s.median),
            ms(s.min),
            ms(s.max),
            ms(s.p90)
        ),
    }
}

/// Milliseconds with a precision that suits their size.
fn ms(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.2}")
    }
}

/// The Markdown table: one line per `(metric, label)`, one column per `(scenario, title)`.
pub fn table(rows: &Rows, scenarios: &[(&str, &str)], metrics: &[(&str, &str)]) -> String {
    let mut out = String::from("| ms |");
    for (_, title) in scenarios {
        out += &format!(" {title} |");
    }
    out += "\n|---|";
    out += &"---|".repeat(scenarios.len());
    for (metric, label) in metrics {
        out += &format!("\n| {label} |");
        for (scenario, _) in scenarios {
            out += &format!(" {} |", cell(rows.spread(scenario, metric)));
        }
    }
    out + "\n"
}

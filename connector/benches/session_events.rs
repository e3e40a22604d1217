//! How long after an event a live session ends: the time from an administrator's command, an
//! HR sync, a revocation, a new CRL or a blocklist entry to the moment the client hears that
//! its session ended (its tunnel comes down right then). The real `vigie-connector serve` on
//! 127.0.0.1, clients with software keys standing in for the cards, 5 rounds per event.
//!
//! Run: `cargo bench -p vigie-connector --bench session_events`. Prints a Markdown table;
//! with `VIGIE_BENCH_TSV=path`, also appends each round as a row `session_events <round>
//! <event> seconds <value>` to that file (the whole benchmark's format).

#[path = "../tests/serve_common/mod.rs"]
mod serve_common;

use std::time::{Duration, Instant};

use serve_common::{Served, next_event, serve_with_own_revocation};
use vigie_protocol::ClientEvent;

const ROUNDS: usize = 5;

/// One kind of event: its name, and what triggers it on `served` for the nurse's card.
struct Event {
    name: &'static str,
    /// Its name in the benchmark's rows.
    key: &'static str,
    trigger: fn(&Served),
    /// Undoes it, so the next round starts from a card that is admitted again.
    undo: fn(&Served),
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let events = [
        Event {
            name: "`session kill`",
            key: "kill",
            trigger: kill,
            undo: |_| {},
        },
        Event {
            name: "HR sync suspending the person",
            key: "hr_suspension",
            trigger: |served| hr(served, "SUSPENDU"),
            undo: |served| hr(served, "ACTIF"),
        },
        Event {
            name: "blocklist entry (idNat)",
            key: "blocklist",
            trigger: |served| blocklist(served, "[\"0751234567\"]"),
            undo: |served| blocklist(served, "[]"),
        },
    ];
    println!("| event | median | max | rounds |\n|---|---|---|---|");
    for event in &events {
        let served = serve_with_own_revocation();
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            times.push(runtime.block_on(measure(&served, event)));
            (event.undo)(&served);
            std::thread::sleep(Duration::from_millis(1500));
        }
        record(event.key, &times);
        times.sort();
        println!(
            "| {} | {:.2} s | {:.2} s | {ROUNDS} |",
            event.name,
            times[ROUNDS / 2].as_secs_f64(),
            times[ROUNDS - 1].as_secs_f64()
        );
    }
    println!(
        "\nThe connector looks at the directory every second (`session kill`, HR) and at the \
         revocation files every `[trust] refresh` (1 s here, 10 s by default)."
    );
}

/// Appends the rounds of `event` to `$VIGIE_BENCH_TSV`, if set.
fn record(event: &str, times: &[Duration]) {
    let Some(path) = std::env::var_os("VIGIE_BENCH_TSV") else {
        return;
    };
    let rows: String = times
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "session_events\t{}\t{event}\tseconds\t{:.3}\n",
                i + 1,
                t.as_secs_f64()
            )
        })
        .collect();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .expect("the benchmark's results file");
    std::io::Write::write_all(&mut file, rows.as_bytes()).expect("written");
}

/// The time from the event to the end of a session granted just before it.
async fn measure(served: &Served, event: &Event) -> Duration {
    let (mut control, _grant, _quic) = served.granted("cps4-nurse").await;
    let started = Instant::now();
    (event.trigger)(served);
    loop {
        if let ClientEvent::Ended(_) = next_event(&mut control).await {
            return started.elapsed();
        }
    }
}

fn kill(served: &Served) {
    let listed = served.site.ok(&["session", "list"]);
    let id = listed
        .lines()
        .find(|l| l.contains("0751234567"))
        .and_then(|l| l.split_whitespace().next())
        .expect("the nurse's session");
    served.site.ok(&["session", "kill", id]);
}

fn hr(served: &Served, status: &str) {
    served.site.hr(&[
        "899700123450;DOCTEUR;Jean;Médecin;urgences;ACTIF;01/01/2020;",
        &format!("0751234567;INFIRMIERE;Claire;Infirmier;soins;{status};01/01/2020;"),
    ]);
    served.site.ok(&["hr", "sync"]);
}

fn blocklist(served: &Served, id_nats: &str) {
    let path = served.site.path("blocklist.toml");
    std::fs::write(path, format!("id_nats = {id_nats}\n")).expect("the blocklist");
}

//! The end of the soak test: what is looked at once the run is over (the clients' records,
//! the probes' counts, `/metrics`, `session list`, the audit log, the connectors' logs, the
//! memory samples), the figures printed for the closing note, and the checks.

use std::collections::BTreeSet;
use std::time::Duration;

use vigie_protocol::Code;

use crate::figures::{self, Phase, mib};
use crate::fleet::Record;
use crate::load::Kind;
use crate::probes::Counts;
use crate::run::{Admitted, Reload, Restart, Soak};
use crate::serve_common::{admin_get, sample};

/// What the run ended with.
pub struct End {
    pub records: Vec<Record>,
    pub probes: Counts,
    /// `vigie_sessions` by transport, and `vigie_sessions_waiting_for_card`.
    pub metrics: (f64, f64, f64),
    /// The ids `session list` shows.
    pub listed: BTreeSet<String>,
    pub ends: usize,
    pub resumed_after_restart: usize,
    /// Which connector logs hold a panic.
    pub panicked: Vec<usize>,
    pub first_memory: Result<(f64, f64), String>,
    pub second_memory: Result<u64, String>,
    pub elapsed: Duration,
}

impl Soak {
    /// Stops the probes and gathers what the checks look at.
    pub fn end(&mut self) -> End {
        self.probing.pause();
        let (_, page) = admin_get(&self.served, "/metrics");
        let number = |name: &str, labels: &str| sample(&page, name, labels).unwrap_or(-1.0);
        let metrics = (
            number("vigie_sessions", "transport=\"quic\""),
            number("vigie_sessions", "transport=\"tcp\""),
            number("vigie_sessions_waiting_for_card", ""),
        );
        let listed = self.served.site.ok(&["session", "list"]);
        let listed = listed
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .map(str::to_owned)
            .collect();
        let resumed = self.served.audit_of("session.resume");
        let resumed_after_restart = resumed
            .iter()
            .filter(|r| r["fields"]["from_peer"] == "connector restart")
            .count();
        let mut logs = self.earlier_logs.clone();
        logs.push(self.served.log());
        let panicked = (0..logs.len())
            .filter(|i| logs[*i].contains("panicked"))
            .collect();
        End {
            records: self.fleet.snapshot(),
            probes: self.probing.counts(),
            metrics,
            listed,
            ends: self.served.audit_of("session.end").len(),
            resumed_after_restart,
            panicked,
            first_memory: self.first_memory(),
            second_memory: self.second_memory(),
            elapsed: self.started().elapsed(),
        }
    }

    /// The first connector's warmed-up samples are flat.
    fn first_memory(&self) -> Result<(f64, f64), String> {
        let (pid, from) = self.first;
        figures::flat(
            &self
                .memory
                .of(pid, &[Phase::Steady, Phase::AfterReload], from),
        )
    }

    /// The restarted connector holds the same sessions in no more memory than the first.
    fn second_memory(&self) -> Result<u64, String> {
        let (first, _) = self.first_memory()?;
        let (pid, from) = self.second.ok_or("no restart")?;
        figures::within(first, &self.memory.of(pid, &[Phase::AfterRestart], from))
    }

    /// The figures, as Markdown rows.
    pub fn print(
        &self,
        admitted: &Admitted,
        late: Admitted,
        reload: &Reload,
        restart: &Restart,
        end: &End,
    ) {
        let plan = &self.plan;
        let kinds = |kind: Kind| (0..plan.sessions).filter(|i| Kind::of(*i) == kind).count();
        let engine = self.lab.impairment().map_or("none", |i| i.engine());
        let mut rows = vec![
            format!(
                "| sessions | {} ({} QUIC TLS 1.3, {} TCP TLS 1.3, {} TCP TLS 1.2): {} at the start, {} after the reload |",
                plan.sessions,
                kinds(Kind::Quic),
                kinds(Kind::Tcp13),
                kinds(Kind::Tcp12),
                plan.initial(),
                plan.late
            ),
            format!(
                "| run, s | {} planned, {:.0} in all |",
                plan.duration.as_secs(),
                end.elapsed.as_secs_f64()
            ),
            format!("| network, each way | 30 ms ± 10 ms, 1 % lost, 5 % reordered ({engine}) |"),
        ];
        if let Some(c) = self.lab.impairment().and_then(|i| i.counts()) {
            rows.push(format!(
                "| packets through the WAN / lost / reordered | {} / {} / {} |",
                c.packets, c.lost, c.reordered
            ));
        }
        let records = &end.records;
        let sum = |f: fn(&Record) -> u32| records.iter().map(f).sum::<u32>();
        rows.extend([
            format!(
                "| admission of the first {}, s (failed attempts retried) | {:.1} ({}) |",
                plan.initial(),
                admitted.took.as_secs_f64(),
                admitted.failed_attempts
            ),
            format!(
                "| admission of the {} after the reload, s | {:.1} ({}) |",
                plan.late,
                late.took.as_secs_f64(),
                late.failed_attempts
            ),
            format!(
                "| re-proofs signed and accepted | {} |",
                sum(|r| r.reproofs)
            ),
            format!(
                "| reload | {} ; live sessions disturbed: {} |",
                reload.said.join(" / ").replace('|', "/"),
                reload.disturbed
            ),
            format!(
                "| kill to the new connector listening, s | {:.1} |",
                restart.down.as_secs_f64()
            ),
            format!(
                "| kill to reconnected, s, min / median / max: TCP | {} |",
                figures::spread(&mut restart.back_tcp.clone())
            ),
            format!(
                "| kill to reconnected, s, min / median / max: QUIC | {} |",
                figures::spread(&mut restart.back_quic.clone())
            ),
            format!(
                "| sessions back with their first id after the kill | {} of {} |",
                same_id(records),
                plan.sessions
            ),
        ]);
        rows.extend(probe_rows(&end.probes));
        rows.extend(self.memory.per_phase());
        rows.extend(memory_rows(end));
        rows.push(format!(
            "| `/metrics` live sessions (QUIC + TCP), waiting for their card | {} + {}, {} |",
            end.metrics.0, end.metrics.1, end.metrics.2
        ));
        println!("\n| soak | figure |\n|---|---|");
        for row in rows {
            println!("{row}");
        }
    }

    /// The assertions on what the run ended with.
    pub fn check(&self, end: &End) {
        let sessions = self.plan.sessions;
        for (index, record) in end.records.iter().enumerate() {
            let what = format!("client {index} ({:?})", Kind::of(index));
            assert!(record.ended.is_none(), "{what} ended: {:?}", record.ended);
            assert!(record.other_ids.is_empty(), "{what} got another session");
            let current = record.current.as_ref().map(|c| c.grant.session_id);
            assert_eq!(
                current,
                record.original(),
                "{what} is live with its first id"
            );
            assert!(record.lost >= 1, "{what} reconnected after the kill");
        }
        let originals: BTreeSet<String> = end
            .records
            .iter()
            .filter_map(Record::original)
            .map(|id| hex(&id.0))
            .collect();
        assert_eq!(originals.len(), sessions, "every session its own id");
        assert_eq!(
            end.listed, originals,
            "`session list` shows the sessions held"
        );
        let quic = (0..sessions).filter(|i| Kind::of(*i) == Kind::Quic).count();
        let expected = (quic as f64, (sessions - quic) as f64, 0.0);
        assert_eq!(end.metrics, expected, "/metrics counts the live sessions");
        assert_eq!(end.ends, 0, "no session ended in the audit log");
        assert_eq!(end.resumed_after_restart, sessions, "every session resumed");
        assert!(
            end.panicked.is_empty(),
            "the connector panicked (logs {:?})",
            end.panicked
        );
        check_probes(&end.probes);
        if let Err(error) = &end.first_memory {
            panic!("the connector's memory before the kill: {error}");
        }
        if let Err(error) = &end.second_memory {
            panic!("the restarted connector's memory: {error}");
        }
    }

    /// Every client quits: each session ends as its user quitting.
    pub fn quit_all(&mut self) {
        self.fleet.stop();
        let ends = self.served.wait_audit("session.end", self.plan.sessions);
        let quit = u64::from(Code::CLIENT_QUIT.number());
        let by_quit = ends
            .iter()
            .filter(|e| e["fields"]["reason"] == quit)
            .count();
        assert_eq!(
            by_quit, self.plan.sessions,
            "sessions ended by their clients"
        );
    }
}

fn same_id(records: &[Record]) -> usize {
    records
        .iter()
        .filter(|r| r.other_ids.is_empty() && r.original().is_some())
        .filter(|r| r.current.as_ref().map(|c| c.grant.session_id) == r.original())
        .count()
}

fn probe_rows(c: &Counts) -> Vec<String> {
    vec![
        format!(
            "| probes (SYN to the granted app and to one not granted) | {} |",
            c.sent
        ),
        format!(
            "| granted app answered / silent (of which the reload's new app answered) | {} / {} ({}) |",
            c.granted_answered, c.granted_silent, c.new_app_answered
        ),
        format!(
            "| app not granted refused / answered / silent | {} / {} / {} |",
            c.other_refused, c.other_answered, c.other_silent
        ),
        format!(
            "| probe packets sent again, probes interrupted by a reconnection, failed | {} , {}, {} |",
            c.resent, c.interrupted, c.failed
        ),
    ]
}

fn memory_rows(end: &End) -> Vec<String> {
    let first = match &end.first_memory {
        Ok((first, last)) => format!(
            "{:.1} → {:.1} MiB (bound: +{:.1} MiB)",
            mib(*first),
            mib(*last),
            mib(figures::allowance(*first))
        ),
        Err(error) => error.clone(),
    };
    let second = match &end.second_memory {
        Ok(highest) => format!("at most {:.1} MiB", mib(*highest as f64)),
        Err(error) => error.clone(),
    };
    vec![
        format!("| memory before the kill, first third → last third | {first} |"),
        format!("| memory of the restarted connector | {second} |"),
    ]
}

fn check_probes(c: &Counts) {
    assert!(c.sent > 0, "probes ran: {c:?}");
    assert_eq!(
        c.other_answered, 0,
        "the filter let a packet through: {c:?}"
    );
    assert_eq!(
        c.other_silent, 0,
        "the app not granted was refused each time: {c:?}"
    );
    assert_eq!(
        c.granted_silent, 0,
        "the granted app answered each time: {c:?}"
    );
    assert!(
        c.new_app_answered > 0,
        "the reload's new app was reached: {c:?}"
    );
    assert_eq!(c.failed, 0, "every probe ran: {c:?}");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! The soak test's run: the lab, the connector, the clients and their probes, and the steps
//! the test takes — admitting sessions, reloading the configuration, killing the connector
//! and starting it again — while the connector's memory is sampled every two seconds.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::figures::{Memory, Phase};
use crate::fleet::{Card, Fleet, Record};
use crate::load::impair::Impairment;
use crate::load::lab::Lab;
use crate::load::{self, Kind};
use crate::probes::{Prober, Probing};
use crate::serve_common::{self, LoadSite, Served, admin_get, load_sections, sample};

/// The granted app's server, and the server of the app the reload adds.
const DPI: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 10, 1), 443);
const LABO: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(198, 18, 10, 9), 8443);
const LABO_APP: &str = "[[app]]\nname = \"labo\"\ndns_name = \"labo.hopital.example\"\n\
                        ports = [\"tcp/8443\"]\nbackend = \"198.18.10.9\"\n\
                        professions = [\"Médecin\"]\n";
/// The connector's port, the same after its restart (its own namespace: nothing else binds).
const PORT: u16 = 443;
const DATAPLANE_PORT: u16 = 51_820;
const IMPAIRMENT: Impairment = Impairment {
    delay: Duration::from_millis(30),
    jitter: Duration::from_millis(10),
    loss_percent: 1,
    reorder_percent: 5,
    seed: 0x5eed,
};
const SAMPLE_EVERY: Duration = Duration::from_secs(2);
const PROBE_EVERY: Duration = Duration::from_secs(5);
/// Safety limits: far beyond what the steps take.
const ADMISSION_PATIENCE: Duration = Duration::from_secs(5 * 60);
const RECONNECTION_PATIENCE: Duration = Duration::from_secs(4 * 60);
/// How long after its sessions are in a connector's memory is taken as warmed up.
const WARM_UP: Duration = Duration::from_secs(10);

/// How big and how long.
#[derive(Clone, Copy, Debug)]
pub struct Plan {
    pub sessions: usize,
    /// Admitted after the reload.
    pub late: usize,
    pub duration: Duration,
}

impl Plan {
    /// From `VIGIE_SOAK_SESSIONS` (200) and `VIGIE_SOAK_SECONDS` (180).
    pub fn from_env() -> Self {
        let number = |name: &str, default: usize| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        let sessions = number("VIGIE_SOAK_SESSIONS", 200).max(2);
        let seconds = number("VIGIE_SOAK_SECONDS", 180).max(60);
        Self {
            sessions,
            late: (sessions / 20).max(1),
            duration: Duration::from_secs(u64::try_from(seconds).unwrap_or(180)),
        }
    }

    /// Admitted at the start.
    pub fn initial(&self) -> usize {
        self.sessions - self.late
    }

    /// The idle timeout in the file, in minutes: well past the run (most sessions send
    /// nothing through their tunnel), ten minutes shorter after the reload.
    pub fn idle_minutes(&self, reloaded: bool) -> u64 {
        let minutes = (self.duration.as_secs() / 30).max(120);
        if reloaded { minutes - 10 } else { minutes }
    }
}

/// The run and everything it started; dropped in this order (clients, connector, lab).
pub struct Soak {
    pub plan: Plan,
    pub fleet: Fleet,
    pub served: Served,
    pub probing: Arc<Probing>,
    pub memory: Memory,
    /// The logs of the connectors that were killed.
    pub earlier_logs: Vec<String>,
    /// The first connector, and when its warmed-up samples start.
    pub first: (u32, Duration),
    /// The restarted connector, and when its warmed-up samples start.
    pub second: Option<(u32, Duration)>,
    started: Instant,
    phase: Phase,
    next_sample: Instant,
    pub lab: Lab,
}

/// What the connector's file says, before the reload or after it.
struct Lines {
    address: String,
    endpoints: String,
    session: String,
    extra: String,
}

impl Lines {
    fn new(lab: &Lab, plan: &Plan, reloaded: bool) -> Self {
        let address = lab.connector_address.to_string();
        let idle = plan.idle_minutes(reloaded);
        let mut extra = format!(
            "[dataplane]\nenabled = true\nport = {DATAPLANE_PORT}\ntun = \"vgsoak0\"\n\
             [admin]\nlisten = \"127.0.0.1:0\"\n"
        );
        if reloaded {
            extra.push_str(LABO_APP);
        }
        Self {
            endpoints: format!("{address}:{DATAPLANE_PORT}"),
            address,
            session: format!(
                "idle_timeout = \"{idle}m\"\nreproof_interval = \"20s\"\ncard_grace = \"5m\""
            ),
            extra,
        }
    }

    fn site<'a>(&'a self, rows: &'a [String], lab: &'a Lab) -> LoadSite<'a> {
        LoadSite {
            hr_rows: rows,
            address: &self.address,
            port: PORT,
            endpoints: &self.endpoints,
            session: &self.session,
            extra: &self.extra,
            verbose: true,
            netns: Some(lab.connector.name()),
            ..LoadSite::default()
        }
    }
}

/// How long an admission step took, and the attempts that failed on the way.
pub struct Admitted {
    pub took: Duration,
    pub failed_attempts: u32,
}

/// What the reload printed, and the sessions it disturbed.
pub struct Reload {
    pub said: Vec<String>,
    pub disturbed: usize,
}

/// What the kill and the restart took.
pub struct Restart {
    /// From the kill to the new connector listening.
    pub down: Duration,
    /// From the kill to each client's new grant, by transport.
    pub back_tcp: Vec<Duration>,
    pub back_quic: Vec<Duration>,
    /// Clients that had their grant again within the safety limit.
    pub back: usize,
}

impl Soak {
    /// The lab, the connector with the data plane, the clients (none connected yet) and
    /// the probes (enabled).
    pub fn new(plan: Plan) -> Self {
        let world = serve_common::world();
        let bulk = load::bulk_cards_of(&world, plan.sessions);
        let rows = load::hr_rows(&bulk.cards);
        let lab = Lab::impaired(&[DPI.into(), LABO.into()], &IMPAIRMENT);
        let lines = Lines::new(&lab, &plan, false);
        let served = serve_common::serve_load(world.clone(), &lines.site(&rows, &lab));
        let cards = bulk.cards.iter().enumerate().map(|(index, card)| {
            let kind = Kind::of(index);
            let (soft, tls) = load::soft_card(&world, card, &bulk.key_pkcs8, kind);
            Card { kind, soft, tls }
        });
        let fleet = Fleet::start(lab.clients.name(), served.address, cards.collect());
        let probing = Arc::new(Probing::default());
        let prober = Prober {
            records: fleet.records.clone(),
            probing: probing.clone(),
            other: (load::app_address(&served, "pharma"), 8443),
            new_app: "labo",
            usual: "dpi",
            every: PROBE_EVERY,
            per_round: (plan.sessions / 10).clamp(4, 40),
        };
        fleet.spawn(prober.run(fleet.quitting()));
        probing.resume();
        let now = Instant::now();
        Self {
            first: (served.pid(), Duration::ZERO),
            second: None,
            plan,
            fleet,
            served,
            probing,
            memory: Memory::default(),
            earlier_logs: Vec::new(),
            started: now,
            phase: Phase::Admission,
            next_sample: now,
            lab,
        }
    }

    /// Samples the connector's memory when due, and waits a little.
    fn tick(&mut self) {
        let now = Instant::now();
        if now >= self.next_sample {
            let at = now - self.started;
            self.memory.sample(at, self.phase, self.served.pid());
            self.next_sample += SAMPLE_EVERY;
        }
        std::thread::sleep(Duration::from_millis(250));
    }

    /// Ticks until `at` into the run.
    pub fn run_until(&mut self, at: Duration) {
        while self.started.elapsed() < at {
            self.tick();
        }
    }

    /// Ticks until `done` holds of the clients' records, or `limit` has passed; whether it
    /// held.
    fn wait_for(&mut self, limit: Duration, done: impl Fn(&[Record]) -> bool) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if done(&self.fleet.snapshot()) {
                return true;
            }
            self.tick();
        }
        false
    }

    /// Clients `range` connect; returns once each has its grant (or gave up).
    pub fn admit(&mut self, range: std::ops::Range<usize>) -> Admitted {
        let started = Instant::now();
        self.fleet.admit(range.clone());
        let all = self.wait_for(ADMISSION_PATIENCE, |records| {
            records[range.clone()]
                .iter()
                .all(|r| r.grants > 0 || r.ended.is_some())
        });
        let took = started.elapsed();
        let records = self.fleet.snapshot();
        let waiting: Vec<String> = records[range.clone()]
            .iter()
            .filter(|r| r.grants == 0)
            .map(|r| format!("{:?} / {:?}", r.ended, r.last_failure))
            .collect();
        assert!(
            all && waiting.is_empty(),
            "sessions not granted: {waiting:?}"
        );
        if self.phase == Phase::Admission {
            self.phase = Phase::Steady;
            self.first.1 = self.started.elapsed() + WARM_UP;
        }
        let failed_attempts = records[range].iter().map(|r| r.failed_attempts).sum();
        Admitted {
            took,
            failed_attempts,
        }
    }

    /// Adds an app and changes the idle timeout in the file, and reloads: applied, and no
    /// live session disturbed.
    pub fn reload(&mut self) -> Reload {
        let before = self.fleet.snapshot();
        let lines = Lines::new(&self.lab, &self.plan, true);
        let text = load_sections(&self.served.world, &lines.site(&[], &self.lab));
        self.served.site.configure(&text);
        let run = self.served.site.run(&["reload"]);
        assert_eq!(run.code, 0, "the reload: {}", run.all());
        for said in ["labo created", "[session]: new limits"] {
            assert!(run.stdout.contains(said), "{said:?} in {}", run.all());
        }
        self.phase = Phase::AfterReload;
        self.run_until(self.started.elapsed() + Duration::from_secs(5));
        let after = self.fleet.snapshot();
        let disturbed = before
            .iter()
            .zip(&after)
            .filter(|(b, a)| a.grants != b.grants || a.ended.is_some())
            .count();
        assert_eq!(disturbed, 0, "live sessions disturbed by the reload");
        assert!(self.served.audit_of("session.end").is_empty());
        let (_, page) = admin_get(&self.served, "/metrics");
        let applied = sample(&page, "vigie_config_reloads_total", "outcome=\"applied\"");
        assert_eq!(applied, Some(1.0), "the reload counted as applied");
        let audited = self.served.wait_audit("config.reload", 1);
        assert_eq!(audited[0]["fields"]["outcome"], "applied", "{audited:?}");
        let said = run.stdout.lines().map(str::to_owned).collect();
        Reload { said, disturbed }
    }

    /// The sessions admitted before the reload have its old grant; those admitted after,
    /// the new app and the new idle timeout.
    pub fn check_late_sessions(&self) {
        let records = self.fleet.snapshot();
        for (index, record) in records.iter().enumerate() {
            let grant = record.first.as_ref().expect("a grant");
            let late = index >= self.plan.initial();
            let has_labo = grant.apps.iter().any(|a| a.name == "labo");
            assert_eq!(has_labo, late, "client {index}'s apps: {:?}", grant.apps);
            let idle = 60 * self.plan.idle_minutes(late);
            assert_eq!(grant.idle_timeout, Some(Duration::from_secs(idle)));
        }
    }

    /// Kills the connector (SIGKILL), starts it again on the same site and address, and
    /// waits for every client to be granted again.
    pub fn kill_and_restart(&mut self) -> Restart {
        self.probing.pause();
        let before = self.fleet.snapshot();
        self.earlier_logs.push(self.served.log());
        let address = self.served.address;
        self.phase = Phase::Restart;
        let killed = Instant::now();
        self.served.kill();
        // As systemd's `Restart=` would, a moment later.
        self.run_until(self.started.elapsed() + Duration::from_secs(1));
        let again = self.served.restart();
        let down = killed.elapsed();
        assert_eq!(again, address, "the connector listens where it did");
        self.wait_for(RECONNECTION_PATIENCE, |records| {
            records
                .iter()
                .zip(&before)
                .all(|(r, b)| r.grants > b.grants || r.ended.is_some())
        });
        let records = self.fleet.snapshot();
        let mut restart = Restart {
            down,
            back_tcp: Vec::new(),
            back_quic: Vec::new(),
            back: 0,
        };
        for (index, (record, before)) in records.iter().zip(&before).enumerate() {
            let Some(at) = record.granted_at.filter(|_| record.grants > before.grants) else {
                continue;
            };
            restart.back += 1;
            let took = at.saturating_duration_since(killed);
            match Kind::of(index) {
                Kind::Quic => restart.back_quic.push(took),
                Kind::Tcp13 | Kind::Tcp12 => restart.back_tcp.push(took),
            }
        }
        self.phase = Phase::AfterRestart;
        self.second = Some((self.served.pid(), self.started.elapsed() + WARM_UP));
        self.probing.resume();
        restart
    }

    pub fn started(&self) -> Instant {
        self.started
    }
}

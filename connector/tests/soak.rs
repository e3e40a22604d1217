//! The soak test: many sessions held for minutes through a bad network, while the
//! configuration is reloaded and the connector is killed and started again, against the
//! real `vigie-connector serve` with its data plane on.
//!
//! ```text
//!  clients ns             wan ns                              connector ns          backend ns
//!  200 clients ──veth──▶ 30 ms ± 10 ms, 1 % lost,  ──veth──▶ vigie-connector ──veth──▶ dpi :443
//!  QUIC and TCP          5 % reordered, both ways            serve, data plane        labo :8443
//! ```
//!
//! The network is a clinician's home or mobile connection to the hospital: 30 ms each way
//! (60 ms round trip) with 10 ms of jitter, one packet in a hundred lost and one in twenty
//! overtaking the others, both ways. That is enough to make TCP retransmit, QUIC recover
//! losses, and WireGuard handshakes and the control protocol's messages arrive late or out
//! of order all through the run, and not so much that the run spends its minutes in
//! retransmission timeouts ([`load::impair`]: netem, or a relay where the kernel has none).
//!
//! The run (`VIGIE_SOAK_SECONDS`, 180 by default; `VIGIE_SOAK_SESSIONS`, 200 by default: 60 %
//! QUIC with TLS 1.3, 20 % TCP with TLS 1.3, 20 % TCP with TLS 1.2):
//!
//! 1. all but a twentieth of the sessions are admitted; each client then holds its session,
//!    answers its re-proofs (every 20 s) with its card's key and lets its control session
//!    keep the connection alive ([`fleet`]); every 5 s a tenth of the sessions, in turn,
//!    look through their WireGuard tunnel: a SYN to their granted app must be answered, one
//!    to an app they are not granted must be refused ([`probes`]);
//! 2. at a third, the file gains an app (`labo`) and a new idle timeout, and is reloaded
//!    (`vigie-connector reload`): the reload is applied, no live session is disturbed, and
//!    the last twentieth of the sessions, admitted now, get the new app and the new limit —
//!    and reach the new app through their tunnels;
//! 3. at two thirds, the connector is killed (SIGKILL) and started again on the same site and
//!    address: every client notices (TCP at once, QUIC when its connection times out),
//!    reconnects with its card, and gets its session back with the same id;
//! 4. at the end: every session is live with its first id, none ended, the connector never
//!    panicked, the filter never let a packet through to the app not granted, every probe's
//!    granted app answered, `/metrics` and `session list` count the sessions the clients
//!    hold, and the connector's memory stayed flat ([`figures`] says how that is judged).
//!    Then every client quits and each session ends as such.
//!
//! The figures are printed (`cargo test -p vigie-connector --test soak -- --nocapture`).
//! Nothing about time is asserted beyond safety limits. Needs root (namespaces, the data
//! plane's TUN device and nftables); skipped otherwise.

mod load;
mod serve_common;

#[path = "soak/figures.rs"]
mod figures;
#[path = "soak/fleet.rs"]
mod fleet;
#[path = "soak/probes.rs"]
mod probes;
#[path = "soak/report.rs"]
mod report;
#[path = "soak/run.rs"]
mod run;

use run::{Plan, Soak};

#[test]
fn sessions_live_through_a_bad_network_a_reload_and_a_killed_connector() {
    if vigie_lab::require_root("namespaces, a TUN device and nftables").is_err() {
        return;
    }
    let plan = Plan::from_env();
    let mut soak = Soak::new(plan);

    let admitted = soak.admit(0..plan.initial());
    soak.run_until(plan.duration / 3);
    let reload = soak.reload();
    let late = soak.admit(plan.initial()..plan.sessions);
    soak.check_late_sessions();
    soak.run_until(plan.duration * 2 / 3);
    let restart = soak.kill_and_restart();
    soak.run_until(plan.duration);

    let end = soak.end();
    soak.print(&admitted, late, &reload, &restart, &end);
    soak.check(&end);
    soak.quit_all();
}

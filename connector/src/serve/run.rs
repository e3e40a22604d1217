//! [`Server::run`]: the connector's tasks, from start to stop — the listeners, the watchers
//! (withdrawals, revocation files, parked sessions, published apps), the CRL fetcher, the
//! SSO issuer and the admin endpoint — and the reloads asked for meanwhile.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::admin::health::Tasks;
use super::reload::{Reloader, Reloads, Restartable};
use super::{Server, admin, listen_quic, listen_tcp, reload, roaming, withdrawals};

impl Server {
    /// Serves until `shutdown` completes, reloading the configuration on each of `reloads`'
    /// requests, then tells every client the connector is restarting
    /// ([`vigie_protocol::Code::CONNECTOR_RESTARTING`]): the sessions stay live in the
    /// directory, and come back with their card when the connector starts again within
    /// `[session] card_grace` ([`super::roaming`]).
    pub async fn run(self, shutdown: impl Future<Output = ()>, reloads: Option<Reloads>) {
        let shared = self.shared.clone();
        let tasks = Arc::new(Tasks::default());
        let endpoint = self.quic.clone();
        let started = self.config.clone();
        let (running, quic, mut restartable) = self.spawn(&tasks);
        tokio::pin!(shutdown);
        if let Some(Reloads {
            path,
            mut requests,
            log_level,
        }) = reloads
        {
            let mut reloader = Reloader::new(path, log_level, started);
            loop {
                tokio::select! {
                    () = &mut shutdown => break,
                    Some(()) = requests.recv() => {
                        reloader.reload(&shared, &tasks, &mut restartable).await;
                    }
                }
            }
        } else {
            shutdown.await;
        }
        running.iter().for_each(JoinHandle::abort);
        restartable.revocation.abort();
        restartable.crl_fetch.iter().for_each(JoinHandle::abort);
        stop(&shared, &endpoint, quic).await;
    }

    /// Starts every task, each followed by the health check under its name.
    fn spawn(self, tasks: &Arc<Tasks>) -> (Vec<JoinHandle<()>>, JoinHandle<()>, Restartable) {
        let shared = self.shared;
        let spawn = |name: &'static str, task: JoinHandle<()>| {
            tasks.add(name, task.abort_handle());
            task
        };
        let tcp = listen_tcp::serve(self.tcp, self.acceptor, shared.clone());
        let mut running = vec![
            spawn("TCP listener", tokio::spawn(tcp)),
            spawn(
                "withdrawals watcher",
                tokio::spawn(withdrawals::watch(shared.clone())),
            ),
            spawn(
                "parked sessions watcher",
                tokio::spawn(roaming::watch(shared.clone())),
            ),
        ];
        let quic = listen_quic::serve(self.quic, shared.clone());
        let quic = spawn("QUIC listener", tokio::spawn(quic));
        if let Some(sso) = self.sso {
            running.push(spawn("SSO issuer", tokio::spawn(sso.run())));
        }
        if let Some(nat) = &self.nat {
            let watch = reload::watch_apps(shared.clone(), nat.clone());
            running.push(spawn("published apps watcher", tokio::spawn(watch)));
        }
        if let Some(listener) = self.admin {
            let endpoint = admin::serve(listener, shared.clone(), tasks.clone());
            running.push(spawn("admin endpoint", tokio::spawn(endpoint)));
        }
        let revocation = tokio::spawn(self.revocation.run(shared.clone()));
        let verifier = shared.verifier.clone();
        let crl_fetch = self.crl_fetch.map(|f| tokio::spawn(f.run(verifier)));
        let restartable = Restartable {
            revocation: spawn("revocation watcher", revocation),
            crl_fetch: crl_fetch.map(|task| spawn("CRL fetcher", task)),
            nat: self.nat,
        };
        (running, quic, restartable)
    }
}

/// Ends every session as a restart, waits a little for clients to hear it, closes QUIC.
async fn stop(shared: &super::Shared, endpoint: &quinn::Endpoint, quic: JoinHandle<()>) {
    let registry = &shared.registry;
    registry.end_all(vigie_protocol::Code::CONNECTOR_RESTARTING);
    // Clients hear the end message and close; QUIC connections close last.
    for _ in 0..50 {
        if registry.is_empty() && endpoint.open_connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    endpoint.close(quinn::VarInt::from_u32(0), b"");
    quic.abort();
    let _ = tokio::time::timeout(Duration::from_secs(2), endpoint.wait_idle()).await;
}

//! The soak test's clients: one task per card, each holding its session for the whole run as
//! `vigie up` does. It answers the connector's re-proofs with its card's key, lets its
//! control session keep the connection alive, and when the connection breaks or the
//! connector says it is restarting, connects again with the same card every two seconds —
//! with a fresh WireGuard key, as `vigie up` does — expecting the same session back.
//!
//! What each client lives through goes into its [`Record`], which the test reads; the
//! clients assert nothing themselves. They run on a runtime of their own, in the clients'
//! network namespace ([`Fleet::start`]).

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};
use vigie_protocol::WireGuardKey;
use vigie_protocol::{ClientEvent, Code, Ending, Initiator, SessionGrant, SessionId};
use x25519_dalek::{PublicKey, StaticSecret};

use crate::load::Kind;
use crate::serve_common::client::{self, Control, SoftCard};

/// Connections being set up at once (as many clients start together).
const IN_FLIGHT: usize = 32;
/// QUIC endpoints the clients share.
const ENDPOINTS: usize = 8;
/// The pause between two connection attempts, as `vigie up`'s.
const RECONNECT_EVERY: Duration = Duration::from_secs(2);
/// How long a client keeps trying before it gives up, as `vigie up`.
const RECONNECT_FOR: Duration = Duration::from_secs(5 * 60);
/// How long a connection may take to be granted.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long a quitting client waits for the connector's last message.
const LAST_WORDS: Duration = Duration::from_secs(10);

/// One simulated clinician's card and how it connects.
pub struct Card {
    pub kind: Kind,
    pub soft: SoftCard,
    pub tls: rustls::ClientConfig,
}

/// The connection a client holds now.
#[derive(Clone)]
pub struct Current {
    pub grant: SessionGrant,
    /// The WireGuard key pair this connection's hello carried.
    pub secret: StaticSecret,
    /// Which of the client's granted connections it is (1 for the first).
    pub connection: u32,
}

/// What one client lived through.
#[derive(Clone, Default)]
pub struct Record {
    /// The first grant: its session id is the one every later grant must carry.
    pub first: Option<SessionGrant>,
    /// While connected and granted.
    pub current: Option<Current>,
    /// Connections granted so far.
    pub grants: u32,
    /// When the last grant came.
    pub granted_at: Option<Instant>,
    /// Grants that carried another session id than the first's.
    pub other_ids: Vec<SessionId>,
    /// How the session ended, when it did without the test asking.
    pub ended: Option<String>,
    pub reproofs: u32,
    /// Connections that broke or were told the connector restarts, each followed by a
    /// reconnection.
    pub lost: u32,
    /// Attempts that did not end in a grant, and the last one's reason.
    pub failed_attempts: u32,
    pub last_failure: Option<String>,
}

impl Record {
    /// The session id every grant must carry.
    pub fn original(&self) -> Option<SessionId> {
        self.first.as_ref().map(|g| g.session_id)
    }
}

/// Every client's record, by card index.
pub type Records = Arc<Vec<Mutex<Record>>>;

/// Client `index`'s record, locked.
pub fn record(records: &Records, index: usize) -> MutexGuard<'_, Record> {
    records[index]
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

type Task = Pin<Box<dyn Future<Output = ()> + Send>>;

enum Command {
    Admit(std::ops::Range<usize>),
    Spawn(Task),
    Stop,
}

/// The clients' runtime and what the test sees of it.
pub struct Fleet {
    pub records: Records,
    commands: mpsc::UnboundedSender<Command>,
    quit: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Fleet {
    /// Starts the runtime in namespace `netns`, with `cards` ready to connect to `address`;
    /// none connects before [`Fleet::admit`].
    pub fn start(netns: &str, address: SocketAddr, cards: Vec<Card>) -> Self {
        let records: Records = Arc::new((0..cards.len()).map(|_| Mutex::default()).collect());
        let (commands, orders) = mpsc::unbounded_channel();
        let (quit, quitting) = watch::channel(false);
        let shared = Shared {
            address,
            cards: cards.into_iter().map(Arc::new).collect(),
            records: records.clone(),
            quitting,
        };
        let thread =
            crate::load::spawn_in_netns(Some(netns.to_owned()), move || drive(shared, orders));
        Self {
            records,
            commands,
            quit,
            thread: Some(thread),
        }
    }

    /// Clients `range` connect and hold their sessions from now on.
    pub fn admit(&self, range: std::ops::Range<usize>) {
        let _ = self.commands.send(Command::Admit(range));
    }

    /// Runs `task` on the clients' runtime, until it ends or the fleet stops.
    pub fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let _ = self.commands.send(Command::Spawn(Box::pin(task)));
    }

    /// A receiver that changes when the fleet stops, for spawned tasks.
    pub fn quitting(&self) -> watch::Receiver<bool> {
        self.quit.subscribe()
    }

    /// Every client ends its session as a user quitting; returns once they are done.
    pub fn stop(&mut self) {
        let _ = self.quit.send(true);
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Every client's record as it is now.
    pub fn snapshot(&self) -> Vec<Record> {
        (0..self.records.len())
            .map(|i| record(&self.records, i).clone())
            .collect()
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What every client task shares.
struct Shared {
    address: SocketAddr,
    cards: Vec<Arc<Card>>,
    records: Records,
    quitting: watch::Receiver<bool>,
}

/// The runtime's main task: starts what the test asks for, then waits for it all to end.
async fn drive(shared: Shared, mut orders: mpsc::UnboundedReceiver<Command>) {
    let any: SocketAddr = "0.0.0.0:0".parse().expect("an address");
    let endpoints: Vec<quinn::Endpoint> = (0..ENDPOINTS)
        .map(|_| quinn::Endpoint::client(any).expect("a UDP socket"))
        .collect();
    let permits = Arc::new(Semaphore::new(IN_FLIGHT));
    let mut tasks = Vec::new();
    while let Some(order) = orders.recv().await {
        match order {
            Command::Admit(range) => {
                for index in range {
                    let card = shared.cards[index].clone();
                    let quic =
                        (card.kind == Kind::Quic).then(|| client::quic_config(card.tls.clone()));
                    let one = Client {
                        index,
                        card,
                        quic,
                        address: shared.address,
                        endpoint: endpoints[index % ENDPOINTS].clone(),
                        permits: permits.clone(),
                        records: shared.records.clone(),
                        quitting: shared.quitting.clone(),
                    };
                    tasks.push(tokio::spawn(one.run()));
                }
            }
            Command::Spawn(task) => tasks.push(tokio::spawn(task)),
            Command::Stop => break,
        }
    }
    for task in tasks {
        let _ = tokio::time::timeout(PATIENCE, task).await;
    }
}

/// How one connection ended.
enum Outcome {
    /// The test asked the client to quit.
    Quit,
    /// Lost as a restart or a broken connection loses it: the client connects again.
    Lost,
    /// The attempt got no grant: tried again.
    Failed(String),
    /// The session ended: the client stops.
    Ended(String),
}

struct Client {
    index: usize,
    card: Arc<Card>,
    quic: Option<quinn::ClientConfig>,
    address: SocketAddr,
    endpoint: quinn::Endpoint,
    permits: Arc<Semaphore>,
    records: Records,
    quitting: watch::Receiver<bool>,
}

impl Client {
    async fn run(mut self) {
        let mut failing_since: Option<Instant> = None;
        loop {
            let secret = StaticSecret::random_from_rng(rand_core::OsRng);
            match self.connection(secret).await {
                Outcome::Quit => return,
                Outcome::Ended(why) => {
                    self.record().ended = Some(why);
                    return;
                }
                Outcome::Lost => {
                    self.record().lost += 1;
                    failing_since = None;
                }
                Outcome::Failed(why) => {
                    let since = *failing_since.get_or_insert_with(Instant::now);
                    let mut record = self.record();
                    record.failed_attempts += 1;
                    if since.elapsed() > RECONNECT_FOR {
                        record.ended = Some(format!("gave up reconnecting: {why}"));
                        return;
                    }
                    record.last_failure = Some(why);
                }
            }
            tokio::select! {
                () = tokio::time::sleep(RECONNECT_EVERY) => {}
                _ = self.quitting.changed() => return,
            }
        }
    }

    fn record(&self) -> MutexGuard<'_, Record> {
        record(&self.records, self.index)
    }

    /// One connection, from its first packet to its end.
    async fn connection(&mut self, secret: StaticSecret) -> Outcome {
        let key = WireGuardKey(PublicKey::from(&secret).to_bytes());
        let Ok(permit) = self.permits.clone().acquire_owned().await else {
            return Outcome::Quit;
        };
        if let Some(config) = self.quic.clone() {
            let connected = client::connect_quic_with(&self.endpoint, self.address, config);
            let connection = match connected.await {
                Ok(connection) => connection,
                Err(error) => return Outcome::Failed(format!("QUIC: {error}")),
            };
            let Ok((send, recv)) = connection.open_bi().await else {
                return Outcome::Failed("no control stream".into());
            };
            let mut control = Control::with_key(recv, send, key);
            let outcome = self.hold(&mut control, secret, permit).await;
            if matches!(outcome, Outcome::Quit) {
                // As `vigie up` closes: the quit message acknowledged, then the connection.
                let (_, mut send) = control.into_parts();
                let _ = send.finish();
                let _ = tokio::time::timeout(LAST_WORDS, send.stopped()).await;
            }
            connection.close(quinn::VarInt::from_u32(0), b"");
            return outcome;
        }
        let stream = match client::connect_tcp(self.address, self.card.tls.clone()).await {
            Ok(stream) => stream,
            Err(error) => return Outcome::Failed(format!("TLS over TCP: {error}")),
        };
        let (reader, writer) = tokio::io::split(stream);
        let mut control = Control::with_key(reader, writer, key);
        self.hold(&mut control, secret, permit).await
    }

    /// Waits for the grant, then answers the connector until the connection ends.
    async fn hold<R, W>(
        &mut self,
        control: &mut Control<R, W>,
        secret: StaticSecret,
        permit: OwnedSemaphorePermit,
    ) -> Outcome
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let grant = match tokio::time::timeout(PATIENCE, control.next_event()).await {
            Ok(Ok(Some(ClientEvent::Granted(grant)))) => grant,
            Ok(Ok(Some(ClientEvent::Ended(ending)))) => return ending_outcome(&ending),
            other => return Outcome::Failed(format!("no grant: {other:?}")),
        };
        drop(permit);
        self.granted(grant, secret);
        let outcome = loop {
            tokio::select! {
                event = control.next_event() => match event {
                    Ok(Some(ClientEvent::ReproofRequested { signing_input, .. })) => {
                        if control.answer(&self.card.soft, &signing_input).await.is_err() {
                            break Outcome::Lost;
                        }
                        self.record().reproofs += 1;
                    }
                    Ok(Some(ClientEvent::Ended(ending))) => break ending_outcome(&ending),
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break Outcome::Lost,
                },
                _ = self.quitting.changed() => {
                    let _ = control.quit().await;
                    while let Ok(Ok(Some(_))) =
                        tokio::time::timeout(LAST_WORDS, control.next_event()).await
                    {}
                    break Outcome::Quit;
                }
            }
        };
        self.record().current = None;
        outcome
    }

    fn granted(&self, grant: SessionGrant, secret: StaticSecret) {
        let mut record = self.record();
        record.grants += 1;
        record.granted_at = Some(Instant::now());
        match record.original() {
            None => record.first = Some(grant.clone()),
            Some(id) if id != grant.session_id => record.other_ids.push(grant.session_id),
            Some(_) => {}
        }
        let connection = record.grants;
        record.current = Some(Current {
            grant,
            secret,
            connection,
        });
    }
}

/// What an ending means to a client: a restart, or its own side giving up on a silent
/// connector, is lost and reconnected (as `vigie up` does); anything else ends the session.
fn ending_outcome(ending: &Ending) -> Outcome {
    let restart = ending.reason == Code::CONNECTOR_RESTARTING;
    let silent = ending.reason == Code::PEER_UNRESPONSIVE && ending.initiator == Initiator::Local;
    if restart || silent {
        return Outcome::Lost;
    }
    Outcome::Ended(format!("{} ({:?})", ending.reason, ending.initiator))
}

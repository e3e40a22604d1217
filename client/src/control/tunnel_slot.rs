//! The session's tunnel as the control loop holds it: started on the grant with the
//! session's key, paused while the card is out, fed with the datagrams that come inside the
//! control connection, and read for `vigie status`.

use tokio::sync::mpsc;
use vigie_protocol::SessionGrant;

use super::status::TunnelStatus;
use super::tunnel_key::TunnelKey;
use crate::tunnel::{ControlLink, Path, Tunnel, TunnelConfig, TunnelError};

/// How many WireGuard datagrams may wait for the control connection; beyond, newer ones are
/// dropped (WireGuard and TCP inside it recover).
const CONTROL_QUEUE: usize = 256;

/// The tunnel of one session, before and after the grant.
pub struct TunnelSlot {
    key: TunnelKey,
    /// `None`: `--no-tunnel`, the session runs without one.
    config: Option<TunnelConfig>,
    udp_blocked: bool,
    outgoing: mpsc::Sender<Vec<u8>>,
    incoming: mpsc::Receiver<Vec<u8>>,
    running: Option<Tunnel>,
    told_path: Option<Path>,
}

impl TunnelSlot {
    /// A slot for a session keyed with `key`; `udp_blocked` when the control connection
    /// itself had to leave UDP.
    pub fn new(key: TunnelKey, config: Option<TunnelConfig>, udp_blocked: bool) -> Self {
        let (outgoing, incoming) = mpsc::channel(CONTROL_QUEUE);
        Self {
            key,
            config,
            udp_blocked,
            outgoing,
            incoming,
            running: None,
            told_path: None,
        }
    }

    /// Brings the tunnel up for `grant`, once; a second grant (a resumed session) keeps it.
    pub fn start(&mut self, grant: &SessionGrant) -> Result<(), TunnelError> {
        let Some(config) = &self.config else {
            return Ok(());
        };
        if self.running.is_some() {
            return Ok(());
        }
        let link = ControlLink {
            datagrams: self.outgoing.clone(),
            udp_blocked: self.udp_blocked,
        };
        let tunnel = Tunnel::start(grant, self.key.secret(), config, link)?;
        self.told_path = Some(tunnel.path());
        self.running = Some(tunnel);
        Ok(())
    }

    /// Holds the machine's packets while the session is not active (card out, paused by
    /// the connector, resuming).
    pub fn set_paused(&self, paused: bool) {
        if let Some(tunnel) = &self.running {
            tunnel.set_paused(paused);
        }
    }

    /// A datagram the connector sent inside the control connection.
    pub fn handle_datagram(&mut self, datagram: &[u8]) {
        if let Some(tunnel) = &mut self.running {
            tunnel.handle_control(datagram);
        }
    }

    /// The next datagram to send inside the control connection.
    pub async fn next_datagram(&mut self) -> Option<Vec<u8>> {
        self.incoming.recv().await
    }

    /// The path, when it changed since the last call (the user is told).
    pub fn path_change(&mut self) -> Option<Path> {
        let now = self.running.as_ref()?.path();
        if self.told_path == Some(now) {
            return None;
        }
        self.told_path = Some(now);
        Some(now)
    }

    /// The tunnel as `vigie status` shows it.
    pub fn status(&self) -> Option<TunnelStatus> {
        let tunnel = self.running.as_ref()?;
        let traffic = tunnel.traffic();
        Some(TunnelStatus {
            device: tunnel.device().to_owned(),
            path: tunnel.path().to_string(),
            names: tunnel.names_mode().to_owned(),
            offloads: tunnel.offloads(),
            bytes_sent: traffic.bytes_sent,
            bytes_received: traffic.bytes_received,
            packets_sent: traffic.packets_sent,
            packets_received: traffic.packets_received,
        })
    }

    /// Stops the tunnel and undoes what it changed on the machine.
    pub fn stop(&mut self) {
        self.running = None;
    }
}

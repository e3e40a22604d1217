//! The card's side of one vpcd connection: a blocking thread reading frames and answering.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::vpcd::{Frame, FrameDecoder, encode};
use super::{VirtualCard, VpcdTarget};
use crate::error::{LabError, Result};
use crate::netns::connect_tcp_in;

/// Fault-injection switches for tests of the client's error paths.
#[derive(Debug, Default)]
pub struct Faults {
    delay: Mutex<Option<Duration>>,
    pull_on_next_apdu: AtomicBool,
}

impl Faults {
    /// Waits `delay` before every APDU answer (a slow card); `None` to stop.
    pub fn set_answer_delay(&self, delay: Option<Duration>) {
        *self
            .delay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = delay;
    }

    /// The next APDU closes the connection without an answer: the card is pulled mid-command.
    pub fn pull_on_next_apdu(&self) {
        self.pull_on_next_apdu.store(true, Ordering::SeqCst);
    }

    fn answer_delay(&self) -> Option<Duration> {
        *self
            .delay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn take_pull(&self) -> bool {
        self.pull_on_next_apdu.swap(false, Ordering::SeqCst)
    }
}

/// A card in a reader. Dropping it (or [`InsertedCard::remove`]) pulls the card out.
#[derive(Debug)]
pub struct InsertedCard {
    card: VirtualCard,
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
    target: VpcdTarget,
}

impl InsertedCard {
    /// The card itself (its PIN counter, its time spent).
    pub fn card(&self) -> &VirtualCard {
        &self.card
    }

    /// Where the card is.
    pub fn target(&self) -> &VpcdTarget {
        &self.target
    }

    /// Whether the connection to vpcd is still up (vpcd may have dropped it).
    pub fn is_connected(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// Pulls the card out: closes the connection and waits for the card thread to end.
    pub fn remove(mut self) {
        self.close();
    }

    fn close(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Both);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for InsertedCard {
    fn drop(&mut self) {
        self.close();
    }
}

pub(super) fn insert(
    card: VirtualCard,
    target: VpcdTarget,
    timeout: Duration,
) -> Result<InsertedCard> {
    let stream = connect_with_retry(&target, timeout)?;
    let _ = stream.set_nodelay(true);
    let served = stream
        .try_clone()
        .map_err(|e| LabError::io("clone the vpcd connection", e))?;
    let name = format!("vpcd-card-{}", target.addr.port());
    let served_card = card.clone();
    let thread = std::thread::Builder::new()
        .name(name)
        .spawn(move || serve(&served_card, served))
        .map_err(|e| LabError::io("start the card thread", e))?;
    tracing::debug!(addr = %target.addr, netns = ?target.netns, "card inserted");
    Ok(InsertedCard {
        card,
        stream,
        thread: Some(thread),
        target,
    })
}

fn connect_with_retry(target: &VpcdTarget, timeout: Duration) -> Result<TcpStream> {
    let start = Instant::now();
    loop {
        match connect_tcp_in(target.netns.as_deref(), target.addr, Duration::from_secs(1)) {
            Ok(stream) => return Ok(stream),
            Err(err) if start.elapsed() >= timeout => {
                return Err(LabError::NotReady {
                    what: format!("vpcd reader at {}", target.addr),
                    waited: start.elapsed(),
                    details: format!(
                        "\nlast error: {err} (is pcscd running with the vpcd driver?)"
                    ),
                });
            }
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Serves frames until the connection ends, then powers the card down.
fn serve(card: &VirtualCard, mut stream: TcpStream) {
    let mut decoder = FrameDecoder::default();
    let mut buffer = [0u8; 4096];
    'connection: loop {
        let read = match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // vpcd writes a frame's length and payload in two sends: with Nagle on its side and
        // delayed ACKs on ours, each APDU would wait ~40 ms. ACK at once (Linux resets the
        // mode by itself, so it is set after every read).
        let _ = socket2::SockRef::from(&stream).set_tcp_quickack(true);
        decoder.push(&buffer[..read]);
        while let Some(frame) = decoder.poll_frame() {
            let Some(answer) = answer(card, frame) else {
                continue;
            };
            if answer.is_empty() {
                let _ = stream.shutdown(Shutdown::Both);
                break 'connection;
            }
            if stream.write_all(&encode(&answer)).is_err() {
                break 'connection;
            }
        }
    }
    card.lock().reset_session();
    tracing::debug!("card removed");
}

fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The answer to one frame: `None` for none, an empty payload to pull the card.
fn answer(card: &VirtualCard, frame: Frame) -> Option<Vec<u8>> {
    match frame {
        Frame::PowerOff | Frame::PowerOn | Frame::Reset => {
            card.lock().reset_session();
            None
        }
        Frame::AtrRequest => Some(card.atr()),
        Frame::UnknownControl(code) => {
            tracing::debug!(code, "unknown vpcd control message ignored");
            None
        }
        Frame::Apdu(apdu) => {
            if card.faults().take_pull() {
                return Some(Vec::new());
            }
            if let Some(delay) = card.faults().answer_delay() {
                std::thread::sleep(delay);
            }
            let response = card.transmit(&apdu);
            tracing::trace!(apdu = %hex(&apdu), response = %hex(&response), "card APDU");
            Some(response)
        }
    }
}

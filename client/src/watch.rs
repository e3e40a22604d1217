//! Watching readers for card insertion and removal.
//!
//! A [`CardWatcher`] runs one thread blocked in `SCardGetStatusChange` with a short timeout
//! (so an event reaches the channel well within a second, and the thread notices it should
//! stop), and follows readers being plugged in or out through PC/SC's PnP notification.
//! Cards already present when the watcher starts are reported as `Inserted` first, so the
//! session layer starts from the true picture.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use pcsc::{Context, ReaderState, State};
use tracing::{debug, trace};

use crate::error::CardError;
use crate::pcsc_transport::{establish, map_error};

/// How long one wait for a change may block.
const POLL: Duration = Duration::from_millis(250);

/// A change of a card in a reader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardEvent {
    /// A card is in `reader` (just inserted, or present when watching began).
    Inserted {
        /// The reader's name.
        reader: String,
        /// The card's ATR.
        atr: Vec<u8>,
    },
    /// The card left `reader` (pulled out, or the reader was unplugged).
    Removed {
        /// The reader's name.
        reader: String,
    },
}

/// A running watch; stopping or dropping it ends the thread.
#[derive(Debug)]
pub struct CardWatcher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl CardWatcher {
    /// Starts watching every reader; events arrive on the returned channel.
    pub fn spawn() -> Result<(Self, Receiver<CardEvent>), CardError> {
        let ctx = establish()?;
        let (tx, rx) = channel();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("vigie-card-watch".into())
            .spawn(move || {
                Watch {
                    ctx,
                    tx,
                    stop: flag,
                    present: HashMap::new(),
                }
                .run()
            })
            .map_err(|e| CardError::Reader(format!("cannot start the card watch: {e}")))?;
        Ok((
            Self {
                stop,
                thread: Some(thread),
            },
            rx,
        ))
    }

    /// Stops the watch and waits for its thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for CardWatcher {
    fn drop(&mut self) {
        self.shutdown();
    }
}

struct Watch {
    ctx: Context,
    tx: Sender<CardEvent>,
    stop: Arc<AtomicBool>,
    /// Readers we know, and whether we last reported a card in them.
    present: HashMap<String, bool>,
}

impl Watch {
    fn run(mut self) {
        let mut states = vec![ReaderState::new(pcsc::PNP_NOTIFICATION(), State::UNAWARE)];
        let mut list_readers = true;
        while !self.stop.load(Ordering::Relaxed) {
            if list_readers {
                self.refresh_readers(&mut states);
            }
            match self.ctx.get_status_change(POLL, &mut states) {
                Ok(()) => {}
                Err(pcsc::Error::Timeout) => continue,
                Err(e) => {
                    self.recover(e);
                    list_readers = true;
                    continue;
                }
            }
            list_readers = states[0].event_state().contains(State::CHANGED)
                || states
                    .iter()
                    .skip(1)
                    .any(|s| s.event_state().contains(State::UNKNOWN));
            states[0].sync_current_state();
            if !self.report_changes(&mut states) {
                return;
            }
        }
    }

    /// After a failed wait: if the PC/SC service went away, every card is gone with it;
    /// reconnect to the service when it comes back.
    fn recover(&mut self, error: pcsc::Error) {
        trace!(error = %map_error(error), "waiting for card changes failed; retrying");
        let service_lost = matches!(
            error,
            pcsc::Error::NoService | pcsc::Error::ServiceStopped | pcsc::Error::InvalidHandle
        );
        if service_lost {
            self.forget_all_readers();
            if let Ok(ctx) = Context::establish(pcsc::Scope::User) {
                self.ctx = ctx;
            }
        }
        std::thread::sleep(POLL);
    }

    fn forget_all_readers(&mut self) {
        for (reader, present) in self.present.drain() {
            if present {
                let _ = self.tx.send(CardEvent::Removed { reader });
            }
        }
    }

    /// Rebuilds the watched reader list; a reader that disappeared with a card is a removal.
    fn refresh_readers(&mut self, states: &mut Vec<ReaderState>) {
        let names: Vec<String> = match self.ctx.list_readers_owned() {
            Ok(names) => names
                .iter()
                .map(|n| n.to_string_lossy().into_owned())
                .collect(),
            Err(pcsc::Error::NoReadersAvailable) => Vec::new(),
            Err(e) => {
                debug!(error = %map_error(e), "cannot list card readers");
                return;
            }
        };
        let gone: Vec<String> = self
            .present
            .keys()
            .filter(|known| !names.contains(known))
            .cloned()
            .collect();
        for reader in gone {
            if self.present.remove(&reader) == Some(true) {
                let _ = self.tx.send(CardEvent::Removed { reader });
            }
        }
        states.truncate(1);
        for name in names {
            self.present.entry(name.clone()).or_insert(false);
            if let Ok(cname) = std::ffi::CString::new(name) {
                states.push(ReaderState::new(cname, State::UNAWARE));
            }
        }
    }

    /// Sends an event for each reader whose card presence changed. False once nobody listens.
    fn report_changes(&mut self, states: &mut [ReaderState]) -> bool {
        for state in states.iter_mut().skip(1) {
            let reader = state.name().to_string_lossy().into_owned();
            let now = state.event_state().contains(State::PRESENT)
                && !state.event_state().contains(State::MUTE);
            let before = self.present.insert(reader.clone(), now).unwrap_or(false);
            state.sync_current_state();
            let event = match (before, now) {
                (false, true) => CardEvent::Inserted {
                    reader,
                    atr: state.atr().to_vec(),
                },
                (true, false) => CardEvent::Removed { reader },
                _ => continue,
            };
            debug!(?event, "card change");
            if self.tx.send(event).is_err() {
                return false;
            }
        }
        true
    }
}

//! Ctrl-C, SIGTERM and the Enter key, as events the demo waits for.
//!
//! SIGINT, SIGTERM and SIGHUP are blocked in the demo's threads and taken with `sigwait` by
//! one thread of their own, so no signal handler (and no `unsafe`) is needed, and a signal
//! never kills the demo before its guards have cleaned up. A blocked mask survives `exec`, so
//! the long-running programs the demo starts get theirs cleared first ([`unblock_in_child`]):
//! otherwise they would ignore the TERM that stops them.

use std::io::BufRead as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex, PoisonError};

use std::os::unix::process::CommandExt as _;
use std::process::Command;

use nix::sys::signal::{SigSet, Signal};

use super::{DemoError, Result};

/// What the person did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Ctrl-C, SIGTERM or SIGHUP.
    Stop,
    /// A line on standard input.
    Enter,
    /// Standard input is closed (not a terminal, or Ctrl-D).
    StdinClosed,
}

/// The demo's stop flag and event queue.
#[derive(Debug)]
pub struct Interrupt {
    stopped: Arc<AtomicBool>,
    sender: Mutex<Sender<Event>>,
    events: Receiver<Event>,
}

impl Interrupt {
    /// Blocks the stop signals in this thread (and the threads it starts from now on) and
    /// starts the thread that waits for them.
    pub fn install() -> Self {
        let mut set = SigSet::empty();
        for signal in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(signal);
        }
        if let Err(err) = set.thread_block() {
            tracing::warn!(%err, "cannot block the stop signals; Ctrl-C may skip the cleanup");
        }
        let (sender, events) = channel();
        let stopped = Arc::new(AtomicBool::new(false));
        let (flag, to_demo) = (Arc::clone(&stopped), sender.clone());
        std::thread::spawn(move || {
            while let Ok(signal) = set.wait() {
                tracing::debug!(?signal, "stop signal");
                flag.store(true, Ordering::SeqCst);
                if to_demo.send(Event::Stop).is_err() {
                    return;
                }
            }
        });
        Self {
            stopped,
            sender: Mutex::new(sender),
            events,
        }
    }

    /// Whether a stop signal arrived.
    pub fn requested(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// `Err(Interrupted)` once a stop signal arrived.
    pub fn check(&self) -> Result<()> {
        if self.requested() {
            return Err(DemoError::Interrupted);
        }
        Ok(())
    }

    /// Starts reading standard input; each line becomes [`Event::Enter`].
    pub fn with_keyboard(&self) -> &Receiver<Event> {
        let sender = self
            .sender
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                if line.is_err() || sender.send(Event::Enter).is_err() {
                    break;
                }
            }
            let _ = sender.send(Event::StdinClosed);
        });
        &self.events
    }

    /// Waits for a stop signal.
    pub fn wait(&self) -> Result<()> {
        while !self.requested() {
            if self.events.recv().is_err() {
                break;
            }
        }
        Ok(())
    }
}

/// Makes `command`'s program start with no signal blocked, whatever the demo blocks.
pub fn unblock_in_child(command: &mut Command) {
    #[expect(
        unsafe_code,
        reason = "only pre_exec runs code in the child between fork and exec, where the mask \
                  inherited from the demo must be cleared"
    )]
    // SAFETY: the closure runs in the forked child before exec and only calls
    // pthread_sigmask on a set built on the stack: async-signal-safe, no allocation, no lock.
    unsafe {
        command.pre_exec(|| {
            SigSet::empty()
                .thread_set_mask()
                .map_err(std::io::Error::from)
        });
    }
}

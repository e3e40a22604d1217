//! The audit log seen from the listeners: one thread owns the [`AuditLog`] (each append waits
//! for `fdatasync`), and connections hand it events through a bounded queue.
//!
//! Admissions and session starts wait until their record is on disk ([`AuditSink::write`]):
//! the connector admits no one it cannot audit. Certificate refusals come from inside the TLS
//! handshake, which cannot wait; they are queued ([`AuditSink::offer`]) and, when a flood of
//! bad handshakes fills the queue, counted and dropped rather than let attackers grow memory.
//!
//! The writer counts what it wrote and what it could not write, for the metrics, and says
//! whether it is healthy: running, and its last write on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use chrono::Utc;
use tokio::sync::oneshot;

use crate::audit::{AuditError, AuditEvent, AuditLog};

/// How many records may wait for the writer.
const QUEUE: usize = 4096;

struct Job {
    event: AuditEvent,
    done: Option<oneshot::Sender<Result<(), String>>>,
}

/// The audit writer's handle; cheap to clone.
#[derive(Clone)]
pub struct AuditSink {
    queue: SyncSender<Job>,
    dropped: Arc<AtomicU64>,
    writer: Arc<WriterState>,
}

/// What the writer thread reports.
#[derive(Debug, Default)]
struct WriterState {
    written: AtomicU64,
    failed: AtomicU64,
    /// The last write failed (a full disk, a folder gone).
    failing: AtomicBool,
    /// The thread has stopped (it only does if it panicked).
    stopped: AtomicBool,
}

/// Marks the writer stopped when its thread ends, however it ends.
struct StopMark(Arc<WriterState>);

impl Drop for StopMark {
    fn drop(&mut self) {
        self.0.stopped.store(true, Ordering::Relaxed);
    }
}

impl std::fmt::Debug for AuditSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditSink")
            .field("dropped", &self.dropped.load(Ordering::Relaxed))
            .finish()
    }
}

impl AuditSink {
    /// Starts the writer thread over `log`.
    pub fn start(mut log: AuditLog) -> std::io::Result<Self> {
        let (queue, jobs) = sync_channel::<Job>(QUEUE);
        let writer = Arc::new(WriterState::default());
        let state = writer.clone();
        std::thread::Builder::new()
            .name("vigie-audit".into())
            .spawn(move || {
                let _mark = StopMark(state.clone());
                for job in jobs {
                    let result = log.append(&job.event, Utc::now());
                    report(&result);
                    state.count(result.is_ok());
                    if let Some(done) = job.done {
                        let _ = done.send(result.map(|_| ()).map_err(|e| e.to_string()));
                    }
                }
            })?;
        Ok(Self {
            queue,
            dropped: Arc::new(AtomicU64::new(0)),
            writer,
        })
    }

    /// Writes `event` and waits until it is on disk.
    pub async fn write(&self, event: AuditEvent) -> Result<(), String> {
        let (done, written) = oneshot::channel();
        let job = Job {
            event,
            done: Some(done),
        };
        let queue = self.queue.clone();
        // `send` blocks while the queue is full: off the async threads.
        tokio::task::spawn_blocking(move || queue.send(job))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|_| "the audit writer stopped".to_owned())?;
        written
            .await
            .map_err(|_| "the audit writer stopped".to_owned())?
    }

    /// Queues `event` without waiting; drops it (and counts it) when the queue is full.
    pub fn offer(&self, event: AuditEvent) {
        match self.queue.try_send(Job { event, done: None }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                let dropped = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if dropped.is_power_of_two() {
                    tracing::warn!(
                        dropped,
                        "audit queue full: certificate refusals not audited"
                    );
                }
            }
            Err(TrySendError::Disconnected(_)) => {
                tracing::error!("the audit writer stopped");
            }
        }
    }

    /// How many offered records were dropped.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// How many records are on disk, and how many could not be written.
    pub fn written_and_failed(&self) -> (u64, u64) {
        let writer = &self.writer;
        let written = writer.written.load(Ordering::Relaxed);
        (written, writer.failed.load(Ordering::Relaxed))
    }

    /// Why the writer cannot audit now, if it cannot.
    pub fn trouble(&self) -> Option<&'static str> {
        if self.writer.stopped.load(Ordering::Relaxed) {
            return Some("the audit writer stopped");
        }
        let failing = self.writer.failing.load(Ordering::Relaxed);
        failing.then_some("the audit log cannot be written (see the connector's log)")
    }
}

impl WriterState {
    fn count(&self, ok: bool) {
        let counter = if ok { &self.written } else { &self.failed };
        counter.fetch_add(1, Ordering::Relaxed);
        self.failing.store(!ok, Ordering::Relaxed);
    }
}

fn report(result: &Result<u64, AuditError>) {
    if let Err(error) = result {
        tracing::error!(%error, "audit record not written");
    }
}

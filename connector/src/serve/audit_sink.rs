//! The audit log seen from the listeners: one thread owns the [`AuditLog`], and connections
//! hand it events through a bounded queue.
//!
//! Admissions and session starts wait until their record is on disk ([`AuditSink::write`]):
//! the connector admits no one it cannot audit. Certificate refusals come from inside the TLS
//! handshake, which cannot wait; they are queued ([`AuditSink::offer`]) and, when a flood of
//! bad handshakes fills the queue, counted and dropped rather than let attackers grow memory.
//!
//! Group commit: the writer takes every record waiting in the queue (up to [`BATCH`]) and
//! appends them with one write and one `fdatasync` ([`AuditLog::append_all`]), in queue order,
//! so the hash chain runs through them as if they had been appended one by one. Nobody is
//! told their record is written before the `fdatasync` that covers it has returned: the
//! durability of each acknowledged record is what it was with one sync per record, and many
//! admissions at once share a sync instead of queueing behind one sync each.
//!
//! The writer counts what it wrote and what it could not write, for the metrics, and says
//! whether it is healthy: running, and its last write on disk.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use chrono::Utc;
use tokio::sync::oneshot;

use crate::audit::{AuditEvent, AuditLog};

/// How many jobs may wait for the writer.
const QUEUE: usize = 4096;

/// At most this many jobs share one write and one sync.
const BATCH: usize = 256;

/// Records written together, in order, and who waits for them.
struct Job {
    events: Vec<AuditEvent>,
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
                while let Ok(first) = jobs.recv() {
                    let mut batch = vec![first];
                    while batch.len() < BATCH {
                        match jobs.try_recv() {
                            Ok(job) => batch.push(job),
                            Err(_) => break,
                        }
                    }
                    commit(&mut log, batch, &state);
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
        self.write_all(vec![event]).await
    }

    /// Writes `events`, in order and next to each other in the chain, and waits until they
    /// are all on disk.
    pub async fn write_all(&self, events: Vec<AuditEvent>) -> Result<(), String> {
        let stopped = || "the audit writer stopped".to_owned();
        let (done, written) = oneshot::channel();
        let job = Job {
            events,
            done: Some(done),
        };
        match self.queue.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Disconnected(_)) => return Err(stopped()),
            Err(TrySendError::Full(job)) => {
                // `send` blocks while the queue is full: off the async threads.
                let queue = self.queue.clone();
                tokio::task::spawn_blocking(move || queue.send(job))
                    .await
                    .map_err(|e| e.to_string())?
                    .map_err(|_| stopped())?;
            }
        }
        written.await.map_err(|_| stopped())?
    }

    /// Queues `event` without waiting; drops it (and counts it) when the queue is full.
    pub fn offer(&self, event: AuditEvent) {
        let job = Job {
            events: vec![event],
            done: None,
        };
        match self.queue.try_send(job) {
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
    fn count(&self, records: usize, ok: bool) {
        let counter = if ok { &self.written } else { &self.failed };
        counter.fetch_add(records as u64, Ordering::Relaxed);
        self.failing.store(!ok, Ordering::Relaxed);
    }
}

/// Appends every record of `batch` with one sync, counts them, then tells each waiting job.
fn commit(log: &mut AuditLog, batch: Vec<Job>, state: &WriterState) {
    let mut events = Vec::new();
    let mut waiting = Vec::with_capacity(batch.len());
    for job in batch {
        events.extend(job.events);
        waiting.extend(job.done);
    }
    let result = log.append_all(&events, Utc::now());
    if let Err(error) = &result {
        tracing::error!(%error, records = events.len(), "audit records not written");
    }
    state.count(events.len(), result.is_ok());
    let answer = result.map(|_| ()).map_err(|e| e.to_string());
    for done in waiting {
        let _ = done.send(answer.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Actor, AuditKind};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn many_writers_share_syncs_and_the_chain_stays_whole() {
        let dir = tempfile::tempdir().unwrap();
        let sink = AuditSink::start(AuditLog::open(dir.path()).unwrap()).unwrap();
        let event = |job: usize, part: usize| {
            AuditEvent::new(AuditKind::SessionStart, Actor::Connector)
                .field("job", job)
                .field("part", part)
        };
        let writers: Vec<_> = (0..64)
            .map(|job| {
                let sink = sink.clone();
                tokio::spawn(
                    async move { sink.write_all(vec![event(job, 0), event(job, 1)]).await },
                )
            })
            .collect();
        for writer in writers {
            writer.await.unwrap().unwrap();
        }
        let report = crate::audit::verify(dir.path()).unwrap();
        assert_eq!((report.records, report.first_break), (128, None));
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
            .collect();
        files.sort();
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for pair in records.chunks(2) {
            let (first, second) = (&pair[0]["fields"], &pair[1]["fields"]);
            assert_eq!(first["job"], second["job"], "a job's records stay together");
            assert_eq!((&first["part"], &second["part"]), (&0.into(), &1.into()));
        }
    }
}
